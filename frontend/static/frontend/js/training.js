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
  const section = document.getElementById("runs");
  if (!section || !window.Palate || !window.Palate.api) return;

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

  window.Palate.pollLiveRows(section, { idKey: "run", update, intervalMs: POLL_MS });
})();
