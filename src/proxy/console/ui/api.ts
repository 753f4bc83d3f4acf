/** The console API from the browser: same-origin fetches (the session cookie goes along), the CSRF token on every change. */
import { CSRF_HEADER, type ConsoleErrorBody } from "../../../shared/console-api.ts";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ConsoleErrorBody,
  ) {
    super(body.error.message);
  }
}

let csrfToken = "";
export const setCsrfToken = (token: string) => {
  csrfToken = token;
};

/** Called on every 401 (the session ended) and 403 forbidden, so the app shows sign-in or forbidden. */
let onAuthFailure: (e: ApiError) => void = () => {};
export const setAuthFailureHandler = (handler: (e: ApiError) => void) => {
  onAuthFailure = handler;
};

/** `api/<endpoint>?<search>` relative to the console's own URL. */
export const apiUrl = (endpoint: string, search = "") => `api/${endpoint}${search ? `?${search}` : ""}`;

async function call<T>(method: string, endpoint: string, search: string, body: unknown, quietAuth: boolean): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (method !== "GET") headers[CSRF_HEADER] = csrfToken;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(apiUrl(endpoint, search), { method, headers, credentials: "same-origin", cache: "no-store", ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { error: { type: "internal", message: `the gateway answered ${response.status} without JSON` } };
  }
  if (!response.ok) {
    const error = new ApiError(response.status, (parsed as ConsoleErrorBody).error ? (parsed as ConsoleErrorBody) : { error: { type: "internal", message: `HTTP ${response.status}` } });
    if (!quietAuth && (response.status === 401 || error.body.error.type === "forbidden")) onAuthFailure(error);
    throw error;
  }
  return parsed as T;
}

export const getJson = <T>(endpoint: string, search = "", quietAuth = false) => call<T>("GET", endpoint, search, undefined, quietAuth);
export const send = <T>(method: "POST" | "PUT" | "DELETE", endpoint: string, body?: unknown, search = "") => call<T>(method, endpoint, search, body, false);
