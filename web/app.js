// The user view: sign in, balance and ledger, a video or image form, the history with live
// status (polled), cancel, the result in the page, and the queue banner.
import { ApiError, createApi, describeError, loadConfig, SubmitKeys } from "./api.js";
import { createAuth, mountSignIn } from "./auth.js";
import { $, el, localTime, showMessage } from "./dom.js";

const TERMINAL = new Set(["draft", "failed", "cancelled"]);
const CANCELLABLE = new Set(["pending", "processing"]);
const STATUS_LABEL = {
  pending: "Queued",
  processing: "Generating",
  draft: "Ready",
  failed: "Failed",
  cancelled: "Cancelled",
};
const HISTORY_PAGE = 20;

const page = {
  api: null,
  auth: null,
  config: null,
  creations: new Map(), // creationId -> creation, as last seen
  nextCursor: null,
  pollTimer: null,
  queueAvailable: true,
  submitting: false,
  keys: new SubmitKeys(),
  session: 0, // bumped at each sign-in / sign-out: late answers of an old session are dropped
};

async function main() {
  try {
    page.config = await loadConfig();
  } catch (err) {
    showMessage(`The console's configuration could not be loaded (${err.message}).`);
    return;
  }
  const { config } = page;
  const banner = $("queue-status-banner");
  banner.setAttribute("interval", config.queueHealth.intervalSeconds);
  banner.setAttribute("retry", config.queueHealth.retrySeconds);
  banner.setAttribute("max-interval", config.queueHealth.maxIntervalSeconds);
  document.addEventListener("queue-status-change", (event) => {
    page.queueAvailable = event.detail.available;
    updateSubmitButton();
  });
  banner.setAttribute("api", config.apiBaseUrl); // starts watching

  try {
    page.auth = await createAuth(config);
  } catch (err) {
    showMessage(`Sign-in is not available: ${err.message}`);
    return;
  }
  page.api = createApi(config.apiBaseUrl, page.auth);
  mountSignIn($(".sign-in-slot"), page.auth, (text) => showMessage(text));
  $(".sign-out").addEventListener("click", () => page.auth.signOut());
  setUpForm();
  $(".more").addEventListener("click", () => loadHistory(page.nextCursor));
  page.auth.onChange((user) => (user ? signedIn(user) : signedOut()));
}

function signedOut() {
  page.session += 1;
  clearTimeout(page.pollTimer);
  page.creations.clear();
  $(".creations").replaceChildren();
  $(".ledger").replaceChildren();
  $(".who").hidden = true;
  $(".signed-in").hidden = true;
  $(".signed-out").hidden = false;
  showMessage("");
}

async function signedIn(user) {
  page.session += 1;
  showMessage("");
  $('[data-testid="user-name"]').textContent = user.label;
  $(".who").hidden = false;
  $(".signed-out").hidden = true;
  $(".signed-in").hidden = false;
  $(".admin-link").hidden = true;
  const session = page.session;
  try {
    const me = await page.api.get("/api/me");
    if (session === page.session) $(".admin-link").hidden = !me.admin;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      showMessage(describeError(err));
      return;
    }
    // An api without /api/me: no operator link, the rest works.
  }
  await Promise.all([refreshTokens(), loadHistory(null)]);
  schedulePoll();
}

// -- tokens -------------------------------------------------------------------------------

function setBalance(balance) {
  if (typeof balance === "number") $('[data-testid="balance"]').textContent = String(balance);
}

async function refreshTokens() {
  const session = page.session;
  try {
    const tokens = await page.api.get("/api/tokens?limit=8");
    if (session !== page.session) return;
    setBalance(tokens.balance);
    $(".ledger").replaceChildren(
      ...tokens.entries.map((e) => {
        const sign = e.type === "debit" ? "−" : "+";
        // A reason is text we did not write: isolated, so its direction stays inside it.
        const why = e.type === "refund" && e.reason ? ["refund (", el("bdi", {}, e.reason), ")"] : [e.type];
        return el(
          "li",
          { className: `entry ${e.type}` },
          el("span", { className: "amount" }, `${sign}${e.amount}`),
          el("span", { className: "why" }, ...why),
          el("time", { dateTime: e.createdAt }, localTime(e.createdAt)),
        );
      }),
    );
  } catch (err) {
    if (session === page.session) showMessage(describeError(err, "balance"));
  }
}

// -- the form -----------------------------------------------------------------------------

function formKind() {
  return $('input[name="kind"]:checked').value;
}

function setUpForm() {
  const form = $('[data-testid="create-form"]');
  const sync = () => {
    const video = formKind() === "video";
    $(".video-options").hidden = !video;
    $(".image-options").hidden = video;
    const hd = form.resolution.value === "1080p";
    if (hd) form.durationSeconds.value = "8";
    for (const option of form.durationSeconds.options) option.disabled = hd && option.value !== "8";
    updateSubmitButton();
  };
  form.addEventListener("change", sync);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(form);
  });
  sync();
}

function updateSubmitButton() {
  const button = $('[data-testid="submit"]');
  const note = $('[data-testid="form-note"]');
  const video = formKind() === "video";
  button.textContent = video ? "Generate video" : "Generate image";
  const blocked = video && !page.queueAvailable;
  button.disabled = page.submitting || blocked;
  note.textContent = blocked ? "Video generation is paused for now; images still work." : "";
}

function orderFrom(form) {
  const prompt = form.prompt.value.trim();
  if (formKind() === "image") {
    return { kind: "image", body: { prompt, aspectRatio: form.imageAspectRatio.value } };
  }
  const body = {
    prompt,
    aspectRatio: form.videoAspectRatio.value,
    durationSeconds: Number(form.durationSeconds.value),
    resolution: form.resolution.value,
  };
  const negative = form.negativePrompt.value.trim();
  if (negative) body.negativePrompt = negative;
  return { kind: "video", body };
}

async function submit(form) {
  const order = orderFrom(form);
  if (!order.body.prompt) {
    showMessage("Write a prompt first.");
    form.prompt.focus();
    return;
  }
  const fingerprint = JSON.stringify(order);
  const key = page.keys.keyFor(fingerprint); // the same key when this same submit is retried
  page.submitting = true;
  updateSubmitButton();
  showMessage("");
  try {
    const answer = await page.api.post(`/api/generate/${order.kind}`, order.body, {
      "Idempotency-Key": key,
    });
    page.keys.settle(fingerprint, 200);
    setBalance(answer.balance);
    const creation =
      answer.creation ??
      (await page.api.get(`/api/creations/${answer.creationId}`).then((r) => r.creation));
    page.creations.set(creation.creationId, creation);
    renderCreation(creation, { prepend: true });
    const note = answer.replayed ? " (already submitted: nothing charged again)" : "";
    showMessage(
      order.kind === "video"
        ? `Video queued: ${answer.tokensCharged} tokens charged${note}. It appears below when ready.`
        : `Image ready: ${answer.tokensCharged} token charged${note}.`,
      "info",
    );
    refreshTokens();
    schedulePoll();
  } catch (err) {
    const status = err instanceof ApiError ? err.status : 0;
    page.keys.settle(fingerprint, status, err.body);
    showMessage(describeError(err, order.kind));
    if (status === 503 && order.kind === "video") $("queue-status-banner").recheck();
    if (err.body?.creationId) trackCreation(err.body.creationId);
    if (typeof err.body?.balance === "number") setBalance(err.body.balance);
    if (err.body?.refunded) refreshTokens();
  } finally {
    page.submitting = false;
    updateSubmitButton();
  }
}

async function trackCreation(creationId) {
  try {
    const { creation } = await page.api.get(`/api/creations/${creationId}`);
    page.creations.set(creation.creationId, creation);
    renderCreation(creation, { prepend: true });
    schedulePoll();
  } catch {
    // shown at the next history load
  }
}

// -- history ------------------------------------------------------------------------------

async function loadHistory(cursor) {
  const session = page.session;
  const query = new URLSearchParams({ limit: String(HISTORY_PAGE) });
  if (cursor) query.set("cursor", cursor);
  try {
    const answer = await page.api.get(`/api/creations?${query}`);
    if (session !== page.session) return;
    for (const creation of answer.creations) {
      page.creations.set(creation.creationId, creation);
      renderCreation(creation, { prepend: false });
    }
    page.nextCursor = answer.nextCursor ?? null;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) showMessage(describeError(err, "history"));
    page.nextCursor = null; // an api without the history route: this session's creations only
  }
  $(".more").hidden = !page.nextCursor;
  updateEmpty();
}

function updateEmpty() {
  $('[data-testid="history-empty"]').hidden = page.creations.size > 0;
}

function schedulePoll() {
  clearTimeout(page.pollTimer);
  const active = [...page.creations.values()].filter((c) => !TERMINAL.has(c.status));
  if (!active.length) return;
  const session = page.session;
  page.pollTimer = setTimeout(async () => {
    let ended = false;
    await Promise.all(
      active.map(async (old) => {
        try {
          const { creation } = await page.api.get(`/api/creations/${old.creationId}`);
          if (session !== page.session) return;
          page.creations.set(creation.creationId, creation);
          renderCreation(creation);
          ended ||= TERMINAL.has(creation.status) && creation.refunded;
        } catch {
          // looked at again next time
        }
      }),
    );
    if (session !== page.session) return;
    if (ended) refreshTokens();
    schedulePoll();
  }, page.config.pollSeconds * 1000);
}

function describeParameters(c) {
  const p = c.parameters ?? {};
  const parts = [p.aspectRatio, p.durationSeconds && `${p.durationSeconds} s`, p.resolution];
  if (p.negativePrompt) parts.push(`not: ${p.negativePrompt}`);
  return [`${c.cost} token${c.cost === 1 ? "" : "s"}`, ...parts.filter(Boolean)].join(" · ");
}

function cardFor(c, prepend) {
  let card = document.querySelector(`li.creation[data-id="${CSS.escape(c.creationId)}"]`);
  if (card) return card;
  card = el(
    "li",
    { className: "creation card" },
    el(
      "div",
      { className: "head" },
      el("span", { className: "kind" }, c.kind === "image" ? "Image" : "Video"),
      el("span", { className: "status" }),
      el("time", { dateTime: c.createdAt }, localTime(c.createdAt)),
    ),
    el("p", { className: "prompt", dir: "auto" }, c.prompt),
    el("p", { className: "params" }, describeParameters(c)),
    el("div", { className: "progress" }, el("progress", { max: 100 }), el("span", { className: "pct" })),
    el("div", { className: "media" }),
    el("p", { className: "problem" }),
    el("button", { type: "button", className: "cancel secondary" }, "Cancel"),
  );
  card.dataset.id = c.creationId;
  card.dataset.kind = c.kind;
  card.dataset.testid = "creation";
  card.querySelector(".cancel").addEventListener("click", () => cancel(c.creationId, card));
  const list = $(".creations");
  if (prepend) list.prepend(card);
  else list.append(card);
  return card;
}

function renderCreation(c, { prepend = false } = {}) {
  const card = cardFor(c, prepend);
  card.dataset.status = c.status;
  const status = card.querySelector(".status");
  status.textContent = STATUS_LABEL[c.status] ?? c.status;
  status.className = `status ${c.status}`;
  const running = !TERMINAL.has(c.status);
  card.querySelector(".progress").hidden = !running || c.kind === "image";
  card.querySelector("progress").value = c.progress ?? 0;
  card.querySelector(".pct").textContent = `${c.progress ?? 0}%`;
  card.querySelector(".cancel").hidden = !CANCELLABLE.has(c.status);
  const problem = card.querySelector(".problem");
  if (c.status === "failed" || c.status === "cancelled") {
    const why = c.status === "cancelled" ? "Cancelled." : (c.errorMessage ?? "It failed.");
    const refund = `Your ${c.cost} token${c.cost === 1 ? " was" : "s were"} refunded.`;
    // The api's sentence for an error code may say so already.
    problem.textContent = c.refunded && !/refund/i.test(why) ? `${why} ${refund}` : why;
  } else {
    problem.textContent = "";
  }
  const media = card.querySelector(".media");
  if (c.status === "draft" && c.mediaUrl && media.dataset.src !== c.mediaUrl) {
    // A presigned URL changes at each read: keep the element that plays, replace nothing.
    if (!media.firstChild) {
      media.append(
        c.kind === "video"
          ? el("video", { src: c.mediaUrl, controls: true, muted: true, playsInline: true, preload: "metadata" })
          : el("img", { src: c.mediaUrl, alt: c.prompt, loading: "lazy" }),
      );
    }
    media.dataset.src = c.mediaUrl;
  }
  updateEmpty();
}

async function cancel(creationId, card) {
  const button = card.querySelector(".cancel");
  button.disabled = true;
  try {
    const answer = await page.api.post(`/api/creations/${creationId}/cancel`);
    page.creations.set(creationId, answer.creation);
    renderCreation(answer.creation);
    setBalance(answer.balance);
    showMessage(`Cancelled: ${answer.creation.cost} tokens refunded.`, "info");
    refreshTokens();
  } catch (err) {
    showMessage(describeError(err, "cancel"));
    trackCreation(creationId);
  } finally {
    button.disabled = false;
  }
}

main();
