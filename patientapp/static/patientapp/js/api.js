// The public API of API.md, with the bearer token and its quiet refresh. Used by the
// page and the service worker alike (no DOM here).
import { kv } from "./db.js";

export const BASE = "/api/v1/";

export class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// The refresh token rotates: two tabs (or a tab and the service worker) refreshing with
// the same one would look like a replay and end the whole session. One at a time, and
// whoever comes second uses the pair the first one got.
function exclusive(name, work) {
  if (globalThis.navigator && navigator.locks) return navigator.locks.request(name, work);
  return work();
}

export class SessionEnded extends Error {}

async function refreshAfter(failedAccess) {
  return exclusive("crossroad-auth", async () => {
    const tokens = await kv.get("tokens");
    if (!tokens) throw new SessionEnded();
    if (tokens.access !== failedAccess) return tokens.access;
    const response = await fetch(BASE + "auth/token/refresh/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh: tokens.refresh }),
    });
    if (response.status === 401 || response.status === 400) {
      // Refused: the person logs in again; the outbox stays, it is not theirs to lose.
      await kv.remove("tokens");
      throw new SessionEnded();
    }
    if (!response.ok) throw new ApiError(response.status);
    const fresh = await response.json();
    await kv.set("tokens", fresh);
    return fresh.access;
  });
}

export async function call(method, path, { body, query, auth = true, language } = {}) {
  let url = BASE + path;
  if (query) {
    const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null));
    url += (url.includes("?") ? "&" : "?") + params;
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const lang = language || (await kv.get("language"));
  if (lang) headers["Accept-Language"] = lang;
  let access = null;
  if (auth) {
    const tokens = await kv.get("tokens");
    if (!tokens) throw new SessionEnded();
    access = tokens.access;
  }
  for (let attempt = 0; attempt < 2; attempt += 1) {
    if (access) headers.Authorization = `Bearer ${access}`;
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
    if (response.status === 401 && auth && attempt === 0) {
      access = await refreshAfter(access);
      continue;
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
  throw new SessionEnded();
}

export const api = {
  get: (path, options) => call("GET", path, options),
  post: (path, body, options) => call("POST", path, { ...options, body }),
  patch: (path, body, options) => call("PATCH", path, { ...options, body }),
  del: (path, body, options) => call("DELETE", path, { ...options, body }),
};
