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

  /** Refresh the server-rendered rows `tr[data-live]` of `section` every `intervalMs`:
   * each row's object is read from `${section.dataset.api}${row.dataset[idKey]}/` and
   * handed to `update(row, data)`. Once one has left the `live` statuses the page
   * reloads, so what only the server draws (results, curves, actions) appears. A failed
   * poll is retried at the next tick; the page stays as it is. */
  Palate.pollLiveRows = function (section, { idKey, update, intervalMs,
                                             live = ["queued", "running"] }) {
    const liveStatuses = new Set(live);
    const base = section.dataset.api;
    async function poll() {
      const rows = Array.from(section.querySelectorAll("tr[data-live]"));
      if (!rows.length) return;
      let ended = false;
      for (const row of rows) {
        try {
          const { data } = await Palate.api.get(`${base}${row.dataset[idKey]}/`);
          update(row, data);
          if (!liveStatuses.has(data.status)) ended = true;
        } catch (error) {
          // retried at the next tick
        }
      }
      if (ended) {
        window.location.reload();
        return;
      }
      window.setTimeout(poll, intervalMs);
    }
    window.setTimeout(poll, intervalMs);
  };
})();
