/* Palate: talking to the server from the labeling page.
 *
 * Every write carries the CSRF token Django put in the page (or its cookie);
 * nothing here is exempt from CSRF. Requests that are safe to repeat are
 * retried on network errors and 502/503/504: GET, "next" (the same live lease
 * comes back), "skip", and "submit" (the idempotency key makes a repeat
 * return the first annotation).
 */
(function () {
  "use strict";

  const Palate = (window.Palate = window.Palate || {});
  const RETRYABLE = new Set([502, 503, 504]);

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) return meta.content;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.detail) || `HTTP ${status}`);
      this.status = status; // 0: the server could not be reached
      this.code = (body && body.code) || (status === 0 ? "network" : "error");
      this.body = body || {};
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function request(method, url, body, retries) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    for (let attempt = 0; ; attempt += 1) {
      let response;
      try {
        response = await fetch(url, {
          method,
          headers,
          credentials: "same-origin",
          cache: "no-store",
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (networkError) {
        if (attempt < retries) {
          await sleep(250 * 2 ** attempt);
          continue;
        }
        throw new ApiError(0, { detail: "The server could not be reached." });
      }
      if (RETRYABLE.has(response.status) && attempt < retries) {
        await sleep(250 * 2 ** attempt);
        continue;
      }
      const data = response.status === 204 ? null : await response.json().catch(() => null);
      if (!response.ok) throw new ApiError(response.status, data);
      return { status: response.status, data };
    }
  }

  /** 32 hex characters from the browser's CSPRNG (works on plain http too). */
  function randomKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  Palate.api = {
    get: (url) => request("GET", url, undefined, 2),
    post: (url, body) => request("POST", url, body, 3),
    ApiError,
  };
  Palate.randomKey = randomKey;
})();
