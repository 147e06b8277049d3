// The public /v1 API, as this browser tab calls it (ADR 0036). The account's key is kept in
// sessionStorage: it lives as long as the tab, is sent only as an Authorization header (never a
// cookie, so no other site can make the browser send it: no CSRF), and the page's
// Content-Security-Policy lets no script but ours read it.

const KEY = "convtrack.api_key";
const listeners = new Set();

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  signIn(key) { sessionStorage.setItem(KEY, key); listeners.forEach((f) => f(true)); },
  signOut() { sessionStorage.removeItem(KEY); listeners.forEach((f) => f(false)); },
  onChange(listener) { listeners.add(listener); return () => listeners.delete(listener); },
  // Keys are `ct_<account id hex>_<secret>` (docs/api.md: Authentication): whose the key is.
  isMe(accountId) {
    const hex = /^ct_([0-9a-f]+)_/.exec(sessionStorage.getItem(KEY) || "");
    return Boolean(hex && accountId && accountId.replace(/-/g, "") === hex[1]);
  },
};

// An answer of docs/api.md's error shape: {"error", "detail", "field"}.
export class ApiError extends Error {
  constructor(status, body) {
    super(body.detail || `the server answered ${status}`);
    this.status = status;
    this.code = body.error || "error";
    this.field = body.field || null;
  }
}

function url(path, query) {
  const target = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.set(name, value);
  }
  return target;
}

async function send(method, path, { body, query, accept = "application/json", key } = {}) {
  const headers = { Accept: accept };
  const credential = key || session.key;
  if (credential) headers.Authorization = `Bearer ${credential}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url(path, query), {
      method, headers, cache: "no-store", credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { error: "network", detail: "convtrack did not answer; check the connection and try again" });
  }
  if (!response.ok) {
    let problem = {};
    try { problem = await response.json(); } catch { /* a proxy's page: keep the status */ }
    const error = new ApiError(response.status, problem);
    if (response.status === 401 && !key) session.signOut(); // revoked or expired key
    throw error;
  }
  return response;
}

export const api = {
  async get(path, query) { return (await send("GET", path, { query })).json(); },
  async post(path, body) { return (await send("POST", path, { body: body ?? {} })).json(); },
  async patch(path, body) { return (await send("PATCH", path, { body })).json(); },
  async delete(path) { return (await send("DELETE", path)).json(); },
  async text(path, query, accept) { return (await send("GET", path, { query, accept })).text(); },
  async blob(path, query, accept) { return (await send("GET", path, { query, accept })).blob(); },
  // Checks a key before keeping it: any account call answers 401 to a bad one.
  async check(key) { return (await send("GET", "/v1/tags", { key })).json(); },
};

// Conversions, reports and the audit follow writes asynchronously (docs/api.md: Reading your
// own writes); the read side's lag says how far behind they are.
export async function readSideLag() {
  const status = await api.get("/v1/projections");
  return Math.max(0, ...status.projections.map((p) => p.lag));
}

export function enc(value) { return encodeURIComponent(value); }
