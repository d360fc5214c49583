// The console's side of the api: its runtime configuration, authenticated calls, the error
// bodies turned into sentences, and the Idempotency-Key rule for submits.

const DEFAULT_CONFIG = {
  apiBaseUrl: "",
  authMode: "dev",
  firebase: null,
  pollSeconds: 2,
  dashboardRefreshSeconds: 10,
  queueHealth: { intervalSeconds: 30, retrySeconds: 5, maxIntervalSeconds: 60 },
};

// config.json beside the pages: written at deploy time in production, served by
// devtools/web_server.py locally (with the local api's URL).
export async function loadConfig(url = "/config.json") {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const loaded = await response.json();
  return {
    ...DEFAULT_CONFIG,
    ...loaded,
    queueHealth: { ...DEFAULT_CONFIG.queueHealth, ...(loaded.queueHealth ?? {}) },
  };
}

export class ApiError extends Error {
  constructor(status, body, headers) {
    super(body?.error ?? (status ? `HTTP ${status}` : "no answer from the api"));
    this.status = status; // 0: no answer (network, CORS, server down)
    this.body = body ?? {};
    this.code = this.body.code ?? null;
    const retryAfter = Number.parseFloat(headers?.get("Retry-After") ?? "");
    this.retryAfter = Number.isFinite(retryAfter) ? retryAfter : null;
  }
}

export function createApi(baseUrl, auth) {
  const base = (baseUrl ?? "").replace(/\/+$/, "");
  async function call(method, path, { body, headers = {} } = {}) {
    const token = await auth.token();
    const sent = { Accept: "application/json", ...headers };
    if (token) sent.Authorization = `Bearer ${token}`;
    if (body !== undefined) sent["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(base + path, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, null, null);
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data, response.headers);
    return data ?? {};
  }
  return {
    base,
    get: (path) => call("GET", path),
    post: (path, body, headers) => call("POST", path, { body: body ?? {}, headers }),
  };
}

// A sentence a person can act on, for an ApiError from a call about `what` ("video", ...).
export function describeError(err, what = "request") {
  if (!(err instanceof ApiError)) return String(err?.message ?? err);
  const b = err.body;
  const later = err.retryAfter ? ` in about ${Math.ceil(err.retryAfter)} s` : " in a moment";
  switch (err.status) {
    case 0:
      return "The service cannot be reached. Check your connection and try again; retrying the same request never charges twice.";
    case 400: {
      const fields = b.fields ? Object.entries(b.fields).map(([k, v]) => `${k}: ${v}`) : [];
      return [b.error ?? "The request is not valid.", ...fields].join(" — ");
    }
    case 401:
      return "Your sign-in is missing or has expired. Please sign in again.";
    case 402:
      return `Not enough tokens: this ${what} costs ${b.required ?? "more"} and your balance is ${b.balance ?? 0}. Nothing was charged.`;
    case 404:
      return b.error ? `Not found: ${b.error}.` : "Not found.";
    case 409:
      if (b.code === "not_cancellable") return b.error ?? "This creation can no longer be cancelled.";
      return `${b.error ?? "The request conflicts with another one."} Try again${later}.`;
    case 429:
      if (b.code === "rate_limited") {
        const count = b.inFlight != null && b.limit != null ? ` (${b.inFlight} of ${b.limit})` : "";
        return `You have as many videos in progress as allowed${count}. Nothing was charged; try again${later}, when one has finished.`;
      }
      return `Too many requests. Nothing was charged; try again${later}.`;
    case 503:
      if (b.code === "queue_unavailable") {
        if (b.refunded) return "Video generation is temporarily unavailable. Your tokens were refunded; try again in a few minutes.";
        if (b.charged === false) return "Video generation is temporarily unavailable — nothing was charged; try again in a few minutes.";
        return `Video generation is temporarily unavailable. ${b.details ?? "This creation will be generated or refunded automatically."}`;
      }
      return `${b.error ?? "The service is temporarily unavailable."} ${b.details ?? ""}`.trim();
    default:
      return b.error ?? `The ${what} failed (HTTP ${err.status}).`;
  }
}

// Whether an answer settles a submit for good, so that the next submit, even of the same form,
// is a new one with a new Idempotency-Key. Unsettled (no answer, a conflict, a server error
// that charged or may have charged), the same form is sent again with the same key: the api
// then returns what the first attempt made and never charges twice.
export function submitSettled(status, body) {
  if (status >= 200 && status < 300) return true;
  if (status === 0 || status === 409) return false;
  if (status >= 500) return body?.refunded === true || body?.charged === false;
  return true; // refused (400, 401, 402, 413, 422, 429): nothing was made with that key
}

function randomKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// One Idempotency-Key per submit; the same key while the same form is retried unsettled.
export class SubmitKeys {
  constructor(newKey = randomKey) {
    this._newKey = newKey;
    this._pending = null;
  }

  keyFor(fingerprint) {
    if (this._pending?.fingerprint !== fingerprint) {
      this._pending = { fingerprint, key: this._newKey() };
    }
    return this._pending.key;
  }

  settle(fingerprint, status, body) {
    if (this._pending?.fingerprint === fingerprint && submitSettled(status, body)) {
      this._pending = null;
    }
  }
}
