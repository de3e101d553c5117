/* Palate: live progress on the training page.
 *
 * The page is rendered by the server; this only refreshes the rows of queued
 * and running runs from the REST API (GET …/training-runs/{id}/) every few
 * seconds, and reloads the page once one of them ends, so its results and
 * curves are drawn by the server. Text goes in with textContent only.
 */
(function () {
  "use strict";

  const POLL_MS = 3000;
  const LIVE = new Set(["queued", "running"]);
  const section = document.getElementById("runs");
  if (!section || !window.Palate || !window.Palate.api) return;
  const base = section.dataset.api;

  function formatEta(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 90) return `· ETA ${Math.round(seconds)} s`;
    return `· ETA ${Math.round(seconds / 60)} min`;
  }

  function update(row, run) {
    const progress = row.querySelector("progress");
    if (progress) {
      progress.max = Math.max(run.total_steps, 1);
      progress.value = run.step;
      progress.textContent = `${Math.round(run.progress * 100)}%`;
    }
    const steps = row.querySelector("[data-field=steps]");
    if (steps) steps.textContent = `${run.step} / ${run.total_steps || "?"} steps`;
    const eta = row.querySelector("[data-field=eta]");
    if (eta) eta.textContent = formatEta(run.eta_seconds);
    const device = row.querySelector("[data-field=device]");
    if (device && run.device) device.textContent = run.device;
    row.dataset.status = run.status;
  }

  async function poll() {
    const rows = Array.from(section.querySelectorAll("tr[data-live]"));
    if (!rows.length) return;
    let ended = false;
    for (const row of rows) {
      try {
        const { data } = await window.Palate.api.get(`${base}${row.dataset.run}/`);
        update(row, data);
        if (!LIVE.has(data.status)) ended = true;
      } catch (error) {
        // A failed poll is retried at the next tick; the page stays as it is.
      }
    }
    if (ended) {
      window.location.reload();
      return;
    }
    window.setTimeout(poll, POLL_MS);
  }

  window.setTimeout(poll, POLL_MS);
})();
