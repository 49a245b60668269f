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
    cache: "no-store",
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
