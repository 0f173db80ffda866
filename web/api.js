// The import API: announce, follow, list. Every failure becomes an ApiError that says what the page shows: the
// API's problem document (application/problem+json: title, detail, code, violations), API Gateway's own
// {"message"} answers, or a network error.

import { accessToken } from "./auth.js";

/** What went wrong with a request, as people are told it. */
export class ApiError extends Error {
  /**
   * @param {object} problem { title, detail, code?, status?, violations?: [{path, message, code}] }
   * @param {boolean} signedOut the token was missing, expired or refused: the person must sign in again
   */
  constructor(problem, signedOut = false) {
    super(problem.title);
    this.problem = problem;
    this.signedOut = signedOut;
  }
}

export const NETWORK_PROBLEM = {
  title: "The import service could not be reached",
  detail: "Check your network connection, then try again.",
  code: "network_error",
};

/** A failed answer as a problem: the API's own document when it sent one, else one made from the status. */
export async function problemOf(response) {
  const type = (response.headers.get("content-type") || "").toLowerCase();
  let body = null;
  try {
    body = type.includes("json") ? await response.json() : null;
  } catch {
    body = null;
  }
  if (body && typeof body.title === "string") {
    return {
      title: body.title,
      detail: body.detail || "",
      code: body.code || "",
      status: body.status || response.status,
      violations: Array.isArray(body.violations) ? body.violations : [],
      omittedViolations: body.omittedViolations || 0,
    };
  }
  return {
    title: response.statusText || `HTTP ${response.status}`,
    detail: body && typeof body.message === "string" ? body.message : "",
    code: "",
    status: response.status,
    violations: [],
  };
}

async function request(config, method, path, body) {
  const token = accessToken();
  if (!token) {
    throw new ApiError({ title: "Signed out", detail: "Your session has ended. Sign in again.", code: "" }, true);
  }
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(config.apiUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(NETWORK_PROBLEM);
  }
  if (!response.ok) throw new ApiError(await problemOf(response), response.status === 401);
  return response.json();
}

/** POST /imports/{dataset}: records the upload; answers { importId, status, upload: { method, url, headers } }. */
export function announce(config, dataset, announcement) {
  return request(config, "POST", `/imports/${encodeURIComponent(dataset)}`, announcement);
}

/** GET /imports/{importId}: status, progress, counts and, once ended, report links. */
export function getImport(config, importId) {
  return request(config, "GET", `/imports/${encodeURIComponent(importId)}`);
}

/** GET /imports?study&site&limit: the site's imports, newest first. */
export function listImports(config, study, site, limit = 10) {
  const query = new URLSearchParams({ study, site, limit: String(limit) });
  return request(config, "GET", `/imports?${query}`);
}

/** The statuses after which an import no longer changes. */
export const FINAL_STATUSES = new Set(["completed", "failed", "superseded", "expired"]);
