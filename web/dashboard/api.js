// The dashboard's calls to Warden's API: the token of this tab (session storage) as
// X-Auth-Token, Masakari's microversion header, and errors as ApiError with the API's message.
const TOKEN_KEY = "warden.token";
const API_VERSION = "instance-ha 1.3";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// One navigation at a time: a new one aborts what the last one still waits for, so a slow
// page or a refresh in flight never draws over the page that replaced it.
let navigation = new AbortController();

export function newNavigation() {
  navigation.abort();
  navigation = new AbortController();
}

export function isAbort(e) {
  return e?.name === "AbortError";
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// The message of an OpenStack fault body ({"badRequest": {"message": ...}}), or the status.
function faultMessage(status, body) {
  if (body && typeof body === "object") {
    for (const v of Object.values(body)) {
      if (v && typeof v === "object" && typeof v.message === "string") return v.message;
    }
  }
  return `HTTP ${status}`;
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { "OpenStack-API-Version": API_VERSION, Accept: "application/json" };
  if (token()) headers["X-Auth-Token"] = token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    // Only reads are dropped by a navigation: a change already sent must get its answer.
    cache: "no-store", signal: method === "GET" ? navigation.signal : undefined,
  });
  const text = await r.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!r.ok) throw new ApiError(r.status, faultMessage(r.status, parsed));
  return parsed;
}
