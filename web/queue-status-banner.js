// <queue-status-banner api="https://api.example.com">: a drop-in, dependency-free banner that
// says when video generation is unavailable, so that nobody pays for a video that cannot run.
//
// It watches GET <api>/api/health/queue: 200 {"status": "ok"} is available; 503 {"status":
// "paused" | "disabled" | "unavailable", reason?} is not, and so is a check that cannot reach
// the api twice in a row. While available it checks every `interval` seconds (default 30);
// while not, sooner and then less often (backoff from `retry` seconds, default 5, doubling to
// `max-interval`, default 60, never before the answer's Retry-After within that bound).
//
// Host page API:
//   banner.recheck()                 check at once (e.g. after a submit answered 503)
//   document.dispatchEvent(new CustomEvent("queue-status-recheck"))   the same, loosely coupled
//   banner.available, banner.status  the last known state (available until told otherwise)
//   "queue-status-change" event      bubbles, composed; detail {available, status, state,
//                                    reason, checkedAt}; fired at the first answer and at each
//                                    change, e.g. to disable the host's video button
// Theming (CSS custom properties on the element or any ancestor):
//   --queue-banner-bg, --queue-banner-fg, --queue-banner-border, --queue-banner-radius,
//   --queue-banner-padding, --queue-banner-font
// Attributes: api (the api's base URL, "" for the same origin; nothing is checked until it is
// set, so a host may set it once it has read its configuration), interval, retry,
// max-interval (seconds), message (replaces the default sentence).

export const DEFAULT_MESSAGE =
  "Video generation is temporarily unavailable — nothing will be charged; try again in a few minutes";
export const RECHECK_EVENT = "queue-status-recheck";
export const CHANGE_EVENT = "queue-status-change";
const UNAVAILABLE = new Set(["paused", "disabled", "unavailable"]);
const MISSES_BEFORE_UNREACHABLE = 2; // one lost request is not an outage

// What one answer means. `httpStatus` 0 is a request that got no answer.
export function interpret(httpStatus, body) {
  const status = body && typeof body.status === "string" ? body.status : null;
  if (httpStatus === 200 && status === "ok") {
    return { available: true, status: "ok", state: body.state ?? null, reason: null };
  }
  if (httpStatus === 503 && UNAVAILABLE.has(status)) {
    return { available: false, status, state: body.state ?? null, reason: body.reason ?? null };
  }
  return { available: false, status: "unreachable", state: null, reason: null, miss: true };
}

// Seconds until the next check. `failures` counts the checks in a row that were not ok.
export function nextDelaySeconds({ available, failures, retryAfter }, opts) {
  if (available) return opts.interval;
  const backoff = Math.min(opts.maxInterval, opts.retry * 2 ** Math.max(0, failures - 1));
  const hinted = Number.isFinite(retryAfter) ? Math.min(opts.maxInterval, retryAfter) : 0;
  return Math.max(backoff, hinted);
}

function seconds(value, fallback) {
  const n = Number.parseFloat(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

// The live region is always rendered (an empty one takes no room), so that the sentence
// appearing inside it is announced; only the box inside is shown and hidden.
const STYLE = `
  :host { display: block; }
  .banner[hidden] { display: none; }
  .banner {
    background: var(--queue-banner-bg, #fff4e5);
    color: var(--queue-banner-fg, #663c00);
    border: var(--queue-banner-border, 1px solid #f0b35b);
    border-radius: var(--queue-banner-radius, 6px);
    padding: var(--queue-banner-padding, 0.75rem 1rem);
    font: var(--queue-banner-font, inherit);
  }
  .reason { opacity: 0.8; font-size: 0.9em; }
`;

// The style goes in as a constructed stylesheet, not a <style> element: a page whose
// Content-Security-Policy allows no inline style (the console's: style-src 'self') keeps it.
let sheet = null;
function adoptStyle(root) {
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE);
    }
    root.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement("style");
    style.textContent = STYLE;
    root.prepend(style);
  }
}

export class QueueStatusBanner extends HTMLElement {
  static observedAttributes = ["api", "message"];

  constructor() {
    super();
    this.available = true;
    this.status = "unknown";
    this._failures = 0;
    this._misses = 0;
    this._timer = null;
    this._inflight = null;
    this._announced = false;
    const root = this.attachShadow({ mode: "open" });
    root.innerHTML = `<div role="status" aria-live="polite"
      aria-atomic="true"><div class="banner" part="banner" hidden><span class="message"
      part="message"></span> <span class="reason" part="reason" dir="auto"></span></div></div>`;
    adoptStyle(root);
    this._box = root.querySelector(".banner");
    this._message = root.querySelector(".message");
    this._reason = root.querySelector(".reason");
    this._onRecheck = () => this.recheck();
    this._onVisible = () => document.visibilityState === "visible" && this.recheck();
  }

  connectedCallback() {
    document.addEventListener(RECHECK_EVENT, this._onRecheck);
    document.addEventListener("visibilitychange", this._onVisible);
    window.addEventListener("online", this._onRecheck);
    this.recheck();
  }

  disconnectedCallback() {
    document.removeEventListener(RECHECK_EVENT, this._onRecheck);
    document.removeEventListener("visibilitychange", this._onVisible);
    window.removeEventListener("online", this._onRecheck);
    clearTimeout(this._timer);
    this._timer = null;
  }

  attributeChangedCallback(name) {
    if (name === "api" && this.isConnected) this.recheck();
  }

  get options() {
    return {
      interval: seconds(this.getAttribute("interval"), 30),
      retry: seconds(this.getAttribute("retry"), 5),
      maxInterval: seconds(this.getAttribute("max-interval"), 60),
    };
  }

  // Check now; a check already on its way is shared. Resolves with the state.
  recheck() {
    clearTimeout(this._timer);
    this._timer = null;
    if (!this.hasAttribute("api")) {
      return Promise.resolve({ available: this.available, status: this.status }); // not yet told
    }
    if (!this._inflight) {
      this._inflight = this._check().finally(() => {
        this._inflight = null;
      });
    }
    return this._inflight;
  }

  async _check() {
    const base = (this.getAttribute("api") ?? "").replace(/\/+$/, "");
    let httpStatus = 0;
    let body = null;
    let retryAfter = Number.NaN;
    try {
      const response = await fetch(`${base}/api/health/queue`, {
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      httpStatus = response.status;
      retryAfter = Number.parseFloat(response.headers.get("Retry-After") ?? "");
      body = await response.json().catch(() => null);
    } catch {
      httpStatus = 0; // no answer (network, CORS): counted as a miss
    }
    const seen = interpret(httpStatus, body);
    if (seen.miss && ++this._misses < MISSES_BEFORE_UNREACHABLE && this._announced) {
      this._failures += 1; // keep what we knew, look again soon
    } else {
      if (!seen.miss) this._misses = 0;
      this._failures = seen.available ? 0 : this._failures + 1;
      this._apply({ ...seen, checkedAt: body?.checkedAt ?? null });
    }
    if (this.isConnected) {
      const delay = nextDelaySeconds(
        { available: this.available, failures: this._failures, retryAfter },
        this.options,
      );
      this._timer = setTimeout(() => this.recheck(), delay * 1000);
    }
    return { available: this.available, status: this.status };
  }

  _apply({ available, status, state, reason, checkedAt }) {
    const changed = !this._announced || available !== this.available || status !== this.status;
    this.available = available;
    this.status = status;
    this._message.textContent = available ? "" : this.getAttribute("message") || DEFAULT_MESSAGE;
    // A reason that is a code (`queue_unavailable`) is for operators: in a tooltip and
    // ::part(reason)'s data-code, not in the sentence people read; a sentence is shown.
    const code = Boolean(reason) && /^[\w.-]+$/.test(reason);
    this._reason.textContent = !available && reason && !code ? `(${reason})` : "";
    this._reason.dataset.code = !available && code ? reason : "";
    if (!available && reason) this._box.title = `Status: ${reason}`;
    else this._box.removeAttribute("title");
    this._box.hidden = available;
    this.dataset.status = status;
    this.dataset.available = String(available);
    if (changed) {
      this._announced = true;
      this.dispatchEvent(
        new CustomEvent(CHANGE_EVENT, {
          bubbles: true,
          composed: true,
          detail: { available, status, state, reason, checkedAt },
        }),
      );
    }
  }
}

if (!customElements.get("queue-status-banner")) {
  customElements.define("queue-status-banner", QueueStatusBanner);
}
