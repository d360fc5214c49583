// The user view: sign in, balance and ledger, a video or image form, the history with live
// status (polled), cancel, the result in the page, and the queue banner.
import { ApiError, createApi, describeError, loadConfig, SubmitKeys } from "./api.js";
import { createAuth, mountSignIn } from "./auth.js";
import { $, announce, el, localTime, showMessage } from "./dom.js";

const TERMINAL = new Set(["draft", "failed", "cancelled"]);
// Only a creation whose generation has not started can be cancelled (and refunded): a started
// one is being paid for to the provider, so the api answers 409 to it.
const CANCELLABLE = new Set(["pending"]);
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
  queueStatus: "ok",
  queuedNotice: null, // the creation the "Video queued" message is about, while it is shown
  ticker: null, // redraws the elapsed time of running cards each second
  submitting: false,
  keys: new SubmitKeys(),
  prices: null, // GET /api/prices: [{kind, tokens, parameters}], shown on the button
  balance: null, // the balance last shown
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
    page.queueStatus = event.detail.status;
    updateSubmitButton();
    for (const c of page.creations.values()) if (!TERMINAL.has(c.status)) renderCreation(c);
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
  loadPrices();
  $(".more").addEventListener("click", () => loadHistory(page.nextCursor));
  page.auth.onChange((user) => (user ? signedIn(user) : signedOut()));
}

function signedOut() {
  page.session += 1;
  clearTimeout(page.pollTimer);
  page.creations.clear();
  page.balance = null;
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
  if (typeof balance !== "number") return;
  $('[data-testid="balance"]').textContent = String(balance);
  page.balance = balance;
  updateSubmitButton();
}

// -- prices -------------------------------------------------------------------------------

async function loadPrices() {
  try {
    const answer = await page.api.get("/api/prices");
    page.prices = Array.isArray(answer.prices) ? answer.prices : null;
  } catch {
    page.prices = null; // no price on the button; the api still says so (402) on submit
  }
  updateSubmitButton();
}

// The price of this order: the most specific price whose parameters all match it.
function priceFor(order) {
  let best = null;
  for (const price of page.prices ?? []) {
    if (price.kind !== order.kind) continue;
    const wanted = Object.entries(price.parameters ?? {});
    if (!wanted.every(([name, value]) => order.body[name] === value)) continue;
    if (!best || wanted.length > Object.keys(best.parameters ?? {}).length) best = price;
  }
  return best ? best.tokens : null;
}

function tokensWord(n) {
  return `${n} token${n === 1 ? "" : "s"}`;
}

async function refreshTokens() {
  const session = page.session;
  try {
    const tokens = await page.api.get("/api/tokens?limit=8");
    if (session !== page.session) return;
    setBalance(tokens.balance);
    $(".ledger").replaceChildren(
      ...tokens.entries.map((e) => {
        // A debit's amount is what was spent; an adjustment's is negative already.
        const moved = e.type === "debit" ? -e.amount : e.amount;
        const shown = moved < 0 ? `−${-moved}` : `+${moved}`;
        const why = el("span", { className: "why" }, ledgerWords(e));
        if (e.by && e.reason) {
          // An operator's or a payment's reason is written for the user: shown, isolated.
          why.append(": ", el("bdi", {}, e.reason));
        } else if (e.reason) {
          why.title = `code: ${e.reason}`; // the code for whoever asks support
        }
        if (e.creationId) {
          // The creation it was for: its card in the history (loaded or not, the link is kept).
          why.replaceChildren(el("a", { href: `#creation-${e.creationId}` }, why.textContent));
        }
        return el(
          "li",
          { className: `entry ${e.type}` },
          el("span", { className: "amount" }, shown),
          why,
          el("time", { dateTime: e.createdAt }, localTime(e.createdAt)),
        );
      }),
    );
  } catch (err) {
    if (session === page.session) showMessage(describeError(err, "balance"));
  }
}

const REFUND_WORDS = {
  cancelled: "refund: cancelled",
  enqueue_failed: "refund: could not be queued",
  content_filtered: "refund: blocked by the safety filter",
  deadline_exceeded: "refund: took too long",
};

// Words for people; the code stays in the title (see refreshTokens).
function ledgerWords(e) {
  if (e.type === "debit") return "spent";
  if (e.type === "grant") return "granted";
  if (e.type === "adjustment") return "corrected";
  if (e.type === "credit") return "bought";
  if (e.type !== "refund") return e.type;
  if (!e.reason) return "refund";
  return REFUND_WORDS[e.reason] ?? (/^generat/.test(e.reason) ? "refund: generation failed" : "refund");
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
  const form = $('[data-testid="create-form"]');
  const order = orderFrom(form);
  const noun = order.kind === "video" ? "video" : "image";
  const price = priceFor(order);
  button.textContent = price == null ? `Generate ${noun}` : `Generate ${noun} · ${tokensWord(price)}`;
  const blocked = order.kind === "video" && !page.queueAvailable;
  const short = price != null && page.balance != null && page.balance < price;
  button.disabled = page.submitting || blocked || short;
  const why = page.queueStatus === "paused" || page.queueStatus === "disabled" ? "paused by the operators" : "unavailable right now";
  note.textContent = blocked
    ? `Video generation is ${why}; images still work. Nothing is charged.`
    : short
      ? `You have ${tokensWord(page.balance)}; ${noun === "video" ? "a video" : "an image"} costs ${price}.`
      : "";
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
    const card = renderCreation(creation, { prepend: true });
    const note = answer.replayed ? " (already submitted: nothing charged again)" : "";
    showMessage(
      order.kind === "video"
        ? `Video queued: ${answer.tokensCharged} tokens charged${note}. Follow it in its card under “Your creations”.`
        : `Image ready: ${answer.tokensCharged} token charged${note}.`,
      "info",
    );
    page.queuedNotice = order.kind === "video" ? creation.creationId : null;
    card.focus(); // the result, in view (on a phone it is below the form)
    card.scrollIntoView({ block: "nearest" });
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
    { className: "creation card", id: `creation-${c.creationId}`, tabIndex: -1 },
    el(
      "div",
      { className: "head" },
      el("span", { className: "kind" }, c.kind === "image" ? "Image" : "Video"),
      el("span", { className: "status" }),
      el("time", { dateTime: c.createdAt }, localTime(c.createdAt)),
    ),
    el("p", { className: "prompt", dir: "auto" }, c.prompt),
    el("p", { className: "params" }, describeParameters(c)),
    el("p", { className: "elapsed" }),
    el("p", { className: "position" }),
    el("div", { className: "media" }),
    el("p", { className: "problem" }),
    el("p", { className: "note" }),
    el("div", { className: "tools" }),
    el("button", { type: "button", className: "cancel secondary" }, "Cancel"),
  );
  card.setAttribute("aria-label", `${c.kind === "image" ? "Image" : "Video"}: ${c.prompt}`);
  card.dataset.id = c.creationId;
  card.dataset.kind = c.kind;
  card.dataset.testid = "creation";
  card.querySelector(".cancel").addEventListener("click", () => cancel(c.creationId, card));
  const list = $(".creations");
  if (prepend) list.prepend(card);
  else list.append(card);
  return card;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// A running card says for how long it has been queued or generating (no made-up percentage).
function drawElapsed(card, c) {
  const line = card.querySelector(".elapsed");
  const running = !TERMINAL.has(c.status) && c.kind === "video";
  line.hidden = !running;
  if (!running) return;
  const since = Date.parse(c.createdAt);
  const seconds = Number.isFinite(since) ? (Date.now() - since) / 1000 : 0;
  line.textContent = `${c.status === "pending" ? "Queued" : "Generating"} for ${clock(seconds)}`;
}

function soon(seconds) {
  if (seconds <= 15) return "in a few seconds";
  if (seconds < 45) return "in less than a minute";
  if (seconds < 90) return "in about a minute";
  return `in about ${Math.round(seconds / 60)} minutes`;
}

// A waiting video's place in line (GET /api/creations/<id> while it waits for its start):
// "2 ahead of you, starts in about a minute"; nothing when the api did not say.
function drawPosition(card, c) {
  const line = card.querySelector(".position");
  const ahead = c.status === "pending" ? c.queuePosition : null;
  const at = Date.parse(c.estimatedStartAt ?? "");
  line.hidden = typeof ahead !== "number";
  if (line.hidden) {
    line.textContent = "";
    return;
  }
  const when = Number.isFinite(at) ? `, starts ${soon((at - Date.now()) / 1000)}` : "";
  line.textContent = `${ahead === 0 ? "You are next" : `${ahead} ahead of you`}${when}`;
}

function tick() {
  clearInterval(page.ticker);
  page.ticker = null;
  const running = [...page.creations.values()].filter((c) => !TERMINAL.has(c.status) && c.kind === "video");
  for (const c of running) {
    const card = document.querySelector(`li.creation[data-id="${CSS.escape(c.creationId)}"]`);
    if (card) drawElapsed(card, c);
  }
  if (running.length) page.ticker = setInterval(tick, 1000);
}

function statusSentence(c) {
  const what = `${c.kind === "image" ? "Image" : "Video"} “${c.prompt.slice(0, 60)}”`;
  switch (c.status) {
    case "pending":
      return `${what} is queued.`;
    case "processing":
      return `${what} is generating.`;
    case "draft":
      return `${what} is ready.`;
    case "cancelled":
      return `${what} was cancelled; tokens refunded.`;
    case "failed":
      return `${what} failed${c.refunded ? "; your tokens were refunded" : ""}.`;
    default:
      return `${what}: ${c.status}.`;
  }
}

function renderCreation(c, { prepend = false } = {}) {
  const card = cardFor(c, prepend);
  const before = card.dataset.status;
  card.dataset.status = c.status;
  const status = card.querySelector(".status");
  status.textContent = STATUS_LABEL[c.status] ?? c.status;
  status.className = `status ${c.status}`;
  drawElapsed(card, c);
  drawPosition(card, c);
  if (!page.ticker) tick();
  card.querySelector(".cancel").hidden = !CANCELLABLE.has(c.status);
  const note = card.querySelector(".note");
  if (c.status === "processing") {
    note.textContent =
      "Its generation has started and is paid for, so it can no longer be cancelled. If it fails, your tokens are refunded.";
  } else if (c.status === "pending" && c.kind === "video" && !page.queueAvailable) {
    note.textContent = "Video generation is unavailable for now: it starts when it is back, or is refunded.";
  } else {
    note.textContent = "";
  }
  const problem = card.querySelector(".problem");
  if (c.status === "failed" || c.status === "cancelled") {
    const why = c.status === "cancelled" ? "Cancelled." : (c.errorMessage ?? "It failed.");
    const refund = `Your ${c.cost} token${c.cost === 1 ? " was" : "s were"} refunded.`;
    // The api's sentence for an error code may say so already.
    problem.textContent = c.refunded && !/refund/i.test(why) ? `${why} ${refund}` : why;
    if (c.errorCode) problem.title = `code: ${c.errorCode}`;
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
  renderTools(card, c);
  if (before && before !== c.status) {
    announce(statusSentence(c));
    if (TERMINAL.has(c.status) && page.queuedNotice === c.creationId) {
      // "Video queued … follow it" is no longer true: say how it ended instead.
      page.queuedNotice = null;
      showMessage(statusSentence(c), c.status === "draft" ? "info" : "error");
    }
  }
  updateEmpty();
  return card;
}

function renderTools(card, c) {
  const tools = card.querySelector(".tools");
  const wanted = [
    c.status === "draft" && c.mediaUrl ? "download" : null,
    "reuse",
    c.status === "failed" ? "retry" : null,
  ].filter(Boolean);
  if (tools.dataset.made === wanted.join()) {
    const link = tools.querySelector("a.download");
    if (link && c.mediaUrl) link.href = c.downloadUrl || c.mediaUrl;
    return;
  }
  tools.dataset.made = wanted.join();
  const noun = c.kind === "image" ? "image" : "video";
  tools.replaceChildren(
    ...wanted.map((tool) => {
      if (tool === "download") {
        // The file's name is the server's (downloadUrl's Content-Disposition: the same rule
        // for a .png, a .jpg or an .mp4); an empty download attribute defers to it.
        return el("a", { className: "button download", href: c.downloadUrl || c.mediaUrl, download: "" }, `Download ${noun}`);
      }
      if (tool === "reuse") {
        const button = el("button", { type: "button", className: "reuse secondary" }, "Use these settings");
        button.addEventListener("click", () => useSettings(c));
        return button;
      }
      const button = el("button", { type: "button", className: "retry" }, `Retry (${c.cost} token${c.cost === 1 ? "" : "s"})`);
      button.addEventListener("click", () => {
        const form = useSettings(c, { focus: false });
        submit(form);
      });
      return button;
    }),
  );
}

// Fills the form with a creation's kind, prompt and options.
function useSettings(c, { focus = true } = {}) {
  const form = $('[data-testid="create-form"]');
  const p = c.parameters ?? {};
  form.querySelector(`input[name="kind"][value="${c.kind === "image" ? "image" : "video"}"]`).checked = true;
  form.prompt.value = c.prompt;
  if (c.kind === "image") {
    if (p.aspectRatio) form.imageAspectRatio.value = p.aspectRatio;
  } else {
    if (p.aspectRatio) form.videoAspectRatio.value = p.aspectRatio;
    if (p.resolution) form.resolution.value = p.resolution;
    if (p.durationSeconds) form.durationSeconds.value = String(p.durationSeconds);
    form.negativePrompt.value = p.negativePrompt ?? "";
  }
  form.dispatchEvent(new Event("change"));
  if (focus) {
    form.prompt.focus();
    showMessage("The form has this creation's settings: change what you like, then Generate.", "info");
  }
  return form;
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
    card.focus(); // the Cancel button is gone: focus stays on its card
  }
}

main();
