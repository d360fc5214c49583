// The operator dashboard: the queue's state with pause / resume (who, when, why), the last
// hour's and day's activity, a chart per minute, what is stuck with "reconcile now", and the
// latest failures. It refreshes by itself. Admins only: the api answers 403 to anyone else,
// and the page says so.
import { ApiError, createApi, describeError, loadConfig, SubmitKeys } from "./api.js";
import { createAuth, mountSignIn } from "./auth.js";
import { $, clearError, el, localTime, showMessage } from "./dom.js";

const SERIES = [
  { key: "submitted", label: "Submitted", color: "#2457c5" },
  { key: "drafts", label: "Drafts (done)", color: "#1e7b34" },
  { key: "failed", label: "Failed", color: "#b3261e" },
  { key: "enqueueFailed", label: "Enqueue failures", color: "#e08600" },
  { key: "refunded", label: "Refunded", color: "#7b4bb3" },
];

const board = {
  api: null,
  auth: null,
  config: null,
  timer: null,
  chart: null,
  session: 0,
  action: "pause", // the queue action that applies to the state shown
  changing: false,
  changes: 0, // bumped at each pause / resume: an overview asked for before one is older
  changedAt: 0, // the last change this page made or saw (ms): an older queue is not drawn
  overviewFailed: false, // the error shown is the overview's (cleared when it loads again)
  granting: false,
  grantKeys: new SubmitKeys(), // one Idempotency-Key per grant, the same on its retry
};

async function main() {
  try {
    board.config = await loadConfig();
    board.auth = await createAuth(board.config);
  } catch (err) {
    showMessage(`The dashboard cannot start: ${err.message}`);
    return;
  }
  board.api = createApi(board.config.apiBaseUrl, board.auth);
  mountSignIn($(".sign-in-slot"), board.auth, (text) => showMessage(text));
  $(".sign-out").addEventListener("click", () => board.auth.signOut());
  // The button shown and Enter in the reason field both do the action that applies.
  $(".queue-actions").addEventListener("submit", (event) => {
    event.preventDefault();
    changeQueue(board.action);
  });
  $('[data-testid="reconcile"]').addEventListener("click", reconcile);
  $('[data-testid="grant-form"]').addEventListener("submit", (event) => {
    event.preventDefault();
    grant();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && board.auth.user()) refresh();
  });
  board.auth.onChange((user) => {
    board.session += 1;
    clearTimeout(board.timer);
    showMessage("");
    $(".signed-out").hidden = Boolean(user);
    $(".who").hidden = !user;
    $('[data-testid="refusal"]').hidden = true;
    $('[data-testid="dashboard"]').hidden = true;
    if (user) {
      $('[data-testid="user-name"]').textContent = user.label;
      refresh();
    }
  });
}

async function refresh({ fresh = false } = {}) {
  clearTimeout(board.timer);
  const session = board.session;
  const changes = board.changes;
  try {
    const overview = await board.api.get(`/api/admin/overview${fresh ? "?fresh=1" : ""}`);
    if (session !== board.session) return;
    render(overview, { queue: changes === board.changes });
    if (board.overviewFailed) clearError(); // only the overview's own error: not an action's
    board.overviewFailed = false;
  } catch (err) {
    if (session !== board.session) return;
    if (err instanceof ApiError && err.status === 403) {
      $(".refused-uid").textContent = board.auth.user()?.label ?? "";
      $('[data-testid="refusal"]').hidden = false;
      $('[data-testid="dashboard"]').hidden = true;
      return; // nothing to refresh for a non-admin
    }
    showMessage(`The overview could not be loaded: ${describeError(err, "overview")}`);
    board.overviewFailed = true;
  }
  if (document.visibilityState !== "hidden") {
    board.timer = setTimeout(refresh, board.config.dashboardRefreshSeconds * 1000);
  }
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds ?? 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function render(o, { queue = true } = {}) {
  $('[data-testid="dashboard"]').hidden = false;
  $('[data-testid="refusal"]').hidden = true;
  $('[data-testid="refreshed"]').textContent = `updated ${new Date(o.generatedAt ?? Date.now()).toLocaleTimeString()}`;
  // An overview asked for before a pause or resume, or made before the last change this page
  // knows of (another instance's cache), would show the queue as it was: not drawn.
  if (queue && changeTime(o.queue) >= board.changedAt) renderQueue(o.queue ?? {});
  renderWindows(o.windows ?? {});
  renderMovements(o.movements ?? {});
  renderStarts(o.starts);
  renderChart(o.perMinute ?? []);
  renderRows(
    "stuck",
    (o.stuck ?? []).map((s) => [
      code(s.creationId),
      user(s.userId),
      s.kind,
      s.status,
      localTime(s.updatedAt),
      { text: duration(s.stuckForSeconds), num: true },
    ]),
  );
  renderRows(
    "failures",
    (o.latestFailures ?? []).map((f) => [
      localTime(f.updatedAt),
      code(f.creationId),
      user(f.userId),
      f.kind,
      f.errorCode ?? "—",
      f.queueErrorCode ?? "—",
    ]),
  );
}

function code(text) {
  return el("code", {}, text ?? "");
}

// Text from users (uids, reasons) is isolated: a right-to-left or U+202E inside it cannot
// reorder what is around it.
function user(text) {
  return el("bdi", {}, text ?? "");
}

function changeTime(q) {
  const at = Date.parse(q?.lastChange?.at ?? "");
  return Number.isFinite(at) ? at : 0;
}

function renderQueue(q) {
  board.changedAt = Math.max(board.changedAt, changeTime(q));
  const ok = q.status === "ok";
  const state = $('[data-testid="queue-state"]');
  state.textContent = ok ? "Running" : { paused: "Paused", disabled: "Disabled" }[q.status] ?? "Unavailable";
  state.className = `queue-state ${ok ? "ok" : "bad"}`;
  state.dataset.status = q.status ?? "unknown";
  // The action that applies: Resume a paused (or disabled) queue, Pause any other.
  const paused = q.status === "paused" || q.status === "disabled" || q.state === "paused";
  board.action = paused ? "resume" : "pause";
  $('[data-testid="pause"]').hidden = paused;
  $('[data-testid="resume"]').hidden = !paused;
  const detail = [`status ${q.status ?? "?"}`, q.state && `state ${q.state}`, `checked ${localTime(q.checkedAt)}`];
  if (q.reason) detail.push(q.reason);
  $('[data-testid="queue-detail"]').textContent = detail.filter(Boolean).join(" · ");
  const change = q.lastChange;
  $('[data-testid="queue-change"]').replaceChildren(
    ...(change
      ? [
          `Last ${change.action === "pause" ? "paused" : "resumed"} by `,
          user(change.by),
          ` at ${localTime(change.at)}: “`,
          user(change.reason),
          "”",
        ]
      : ["No pause or resume recorded."]),
  );
}

function breakdown(counts) {
  const entries = Object.entries(counts ?? {}).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  const detail = entries.map(([name, n]) => `${name} ${n}`).join(" · ");
  return { total, detail };
}

function renderWindows(w) {
  const hour = w.hour ?? {};
  const day = w.day ?? {};
  const cell = (window, key) => {
    const value = window[key];
    if (typeof value === "number" || value == null) return el("td", { className: "num" }, String(value ?? 0));
    const { total, detail } = breakdown(value);
    const td = el("td", { className: "num" }, String(total));
    if (detail) td.append(el("div", { className: "muted" }, detail));
    return td;
  };
  const rows = [
    ["Submitted", "submitted"],
    ["Drafts (done)", "drafts"],
    ["In flight", "inFlight"],
    ["Enqueue failures", "enqueueFailed"],
    ["Refunds", "refunded"],
    ["Failed", "failed"],
  ].map(([label, key]) => {
    const row = el("tr", {}, el("th", {}, label), cell(hour, key), cell(day, key));
    row.dataset.metric = key;
    return row;
  });
  $('[data-testid="windows"] tbody').replaceChildren(...rows);
}

const MOVEMENT_ROWS = [
  ["grant", "Grants"],
  ["credit", "Credits (payments)"],
  ["adjustment", "Corrections"],
];

function signed(n) {
  return n > 0 ? `+${n}` : n < 0 ? `−${-n}` : "0";
}

function renderMovements(movements) {
  const rows = MOVEMENT_ROWS.map(([key, label]) => {
    const m = movements[key] ?? { count: 0, tokens: 0 };
    const row = el(
      "tr",
      {},
      el("th", {}, label),
      el("td", { className: "num" }, String(m.count)),
      el("td", { className: "num" }, signed(m.tokens)),
    );
    row.dataset.metric = key;
    return row;
  });
  $('[data-testid="movements"] tbody').replaceChildren(...rows);
}

function renderStarts(starts) {
  const rows = starts
    ? [
        ["pace", "Start pace", `${starts.perMinute} a minute`],
        ["waiting", "Waiting to start", String(starts.waiting)],
        ["oldest", "Oldest wait", starts.oldestWaitSeconds == null ? "—" : duration(starts.oldestWaitSeconds)],
      ]
    : [["pace", "Start pace", "—"]];
  $('[data-testid="starts"] tbody').replaceChildren(
    ...rows.map(([key, label, value]) => {
      const row = el("tr", {}, el("th", {}, label), el("td", { className: "num" }, value));
      row.dataset.metric = key;
      return row;
    }),
  );
}

function renderChart(perMinute) {
  const labels = perMinute.map((m) =>
    new Date(m.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
  );
  const datasets = SERIES.map((s) => ({
    label: s.label,
    data: perMinute.map((m) => m[s.key] ?? 0),
    borderColor: s.color,
    backgroundColor: s.color,
  }));
  if (typeof window.Chart !== "function") return; // the vendored library did not load
  if (!board.chart) {
    board.chart = new window.Chart($('[data-testid="chart"]'), {
      type: "bar",
      data: { labels, datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          y: { beginAtZero: true, ticks: { precision: 0 } },
          x: { ticks: { maxTicksLimit: 12 } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
    return;
  }
  board.chart.data.labels = labels;
  board.chart.data.datasets.forEach((dataset, i) => {
    dataset.data = datasets[i].data;
  });
  board.chart.update("none");
}

function renderRows(name, rows) {
  $(`[data-testid="${name}"] tbody`).replaceChildren(
    ...rows.map((cells) =>
      el(
        "tr",
        {},
        ...cells.map((c) =>
          c && typeof c === "object" && "text" in c
            ? el("td", { className: c.num ? "num" : "" }, c.text)
            : el("td", {}, c ?? ""),
        ),
      ),
    ),
  );
  $(`[data-testid="${name}-empty"]`).hidden = rows.length > 0;
  $(`[data-testid="${name}"]`).hidden = rows.length === 0;
}

const DONE = { pause: "paused", resume: "resumed" };

// An operator's sentence for a failed pause or resume: what failed, what is true now, what to
// do (the api's operator sentences, functions/errors.py), never a user's.
function queueError(err, action) {
  if (!(err instanceof ApiError)) return String(err?.message ?? err);
  const b = err.body;
  if (err.status === 0) {
    return `No answer from the api: the queue may or may not have been ${DONE[action]}. The state below is re-read; try again if it did not change.`;
  }
  if (b.error && [409, 503].includes(err.status)) return [b.error, b.details].filter(Boolean).join(" ");
  return describeError(err, action);
}

async function changeQueue(action) {
  if (board.changing) return;
  const input = $('[data-testid="queue-reason"]');
  const reason = input.value.trim();
  if (!reason) {
    showMessage(`Say why you ${action} the queue: the reason is recorded with your name.`);
    input.focus();
    return;
  }
  const buttons = document.querySelectorAll(".queue-actions button");
  board.changing = true;
  buttons.forEach((b) => (b.disabled = true));
  board.changes += 1; // overviews already asked for show the queue from before
  try {
    const answer = await board.api.post(`/api/admin/queue/${action}`, { reason });
    board.changes += 1;
    renderQueue(answer.queue ?? {});
    input.value = "";
    const at = localTime(answer.queue?.lastChange?.at);
    showMessage(
      action === "pause"
        ? `The queue is paused: new videos are refused until it is resumed. Recorded as yours at ${at}.`
        : `The queue is running again: new videos are accepted. Recorded as yours at ${at}.`,
      "info",
    );
    $('[data-testid="queue-state"]').focus(); // the button pressed is gone: focus the result
  } catch (err) {
    showMessage(queueError(err, action));
    input.focus();
  } finally {
    board.changing = false;
    buttons.forEach((b) => (b.disabled = false));
  }
  refresh({ fresh: true });
}

// An operator's grant (or, negative, a correction): one Idempotency-Key per submission, kept
// while the same form is retried after an unknown outcome (api.js, SubmitKeys), so a retry
// never grants twice.
async function grant() {
  if (board.granting) return;
  const form = $('[data-testid="grant-form"]');
  const uid = form.uid.value.trim();
  const amountText = form.amount.value.trim();
  const amount = Number(amountText);
  const reason = form.reason.value.trim();
  const missing = !uid
    ? [form.uid, "Say whose balance: the user id is required."]
    : !amountText || !Number.isInteger(amount) || amount === 0
      ? [form.amount, "Say how many tokens: a whole number, not 0 (negative for a correction)."]
      : !reason
        ? [form.reason, "Say why: the reason is shown to the user and recorded with your name."]
        : null;
  if (missing) {
    showMessage(missing[1]);
    missing[0].focus();
    return;
  }
  const body = { uid, amount, reason };
  const fingerprint = JSON.stringify(body);
  const key = board.grantKeys.keyFor(fingerprint);
  const button = $('[data-testid="grant-submit"]');
  board.granting = true;
  button.disabled = true;
  showMessage("");
  try {
    const answer = await board.api.post("/api/admin/grants", body, { "Idempotency-Key": key });
    board.grantKeys.settle(fingerprint, 200);
    const tokens = (n) => `${n} token${Math.abs(n) === 1 ? "" : "s"}`;
    const what = amount > 0 ? `Granted ${tokens(amount)} to ${uid}` : `Took ${tokens(-amount)} back from ${uid}`;
    const again = answer.replayed ? " (already done: nothing was moved twice)" : "";
    showMessage(`${what}${again}: their balance is now ${answer.balance}.`, "info");
    form.amount.value = "";
    form.reason.value = "";
    refresh({ fresh: true });
  } catch (err) {
    const status = err instanceof ApiError ? err.status : 0;
    board.grantKeys.settle(fingerprint, status, err.body);
    showMessage(grantError(err));
    (status === 409 ? form.amount : status === 400 ? firstBadField(form, err) : button).focus();
  } finally {
    board.granting = false;
    button.disabled = false;
  }
}

function firstBadField(form, err) {
  const name = Object.keys(err.body?.fields ?? {})[0] ?? "";
  return form[name.split(".")[0]] ?? form.uid;
}

function grantError(err) {
  if (!(err instanceof ApiError)) return String(err?.message ?? err);
  if (err.status === 0) {
    return "No answer from the api: the grant may or may not have been made. Press Grant again with the same form: it is never applied twice.";
  }
  if (err.status === 409 && err.body.code === "balance_too_low") return err.body.error;
  return `The grant was not made: ${describeError(err, "grant")}`;
}

async function reconcile() {
  const button = $('[data-testid="reconcile"]');
  const out = $('[data-testid="reconcile-report"]');
  button.disabled = true;
  out.textContent = "Reconciling…";
  try {
    const { report } = await board.api.post("/api/admin/reconcile");
    const errors = Array.isArray(report.errors) ? report.errors.length : (report.errors ?? 0);
    out.textContent = `Scanned ${report.scanned}, re-queued ${report.requeued}, failed and refunded ${report.failed}, errors ${errors}.`;
    refresh();
  } catch (err) {
    out.textContent = "";
    showMessage(describeError(err, "reconcile"));
  } finally {
    button.disabled = false;
  }
}

main();
