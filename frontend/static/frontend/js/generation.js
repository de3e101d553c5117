/* Palate: live progress on the generation page.
 *
 * The page is rendered by the server; this refreshes the rows of queued and
 * running jobs from the REST API (GET …/generation-jobs/{id}/) every few
 * seconds, and reloads the page once one of them ends so its samples and
 * actions are drawn by the server. Text goes in with textContent only.
 */
(function () {
  "use strict";

  const POLL_MS = 2000;
  const LABELS = { queued: "Queued", running: "Running", succeeded: "Succeeded",
    failed: "Failed", cancelled: "Cancelled" };
  const section = document.getElementById("jobs");
  if (!section || !window.Palate || !window.Palate.api) return;

  function set(row, field, text) {
    const cell = row.querySelector(`[data-field=${field}]`);
    if (cell) cell.textContent = text;
  }

  function update(row, job) {
    const progress = row.querySelector("progress");
    if (progress) {
      progress.max = Math.max(job.progress_total, 1);
      progress.value = job.progress_done;
      const total = job.progress_total || 0;
      progress.textContent = `${total ? Math.round((100 * job.progress_done) / total) : 0}%`;
    }
    const unit = job.kind === "label" ? "items" : "prompts";
    set(row, "progress", `${job.progress_done} / ${job.progress_total} ${unit}`);
    set(row, "status", LABELS[job.status] || job.status);
    set(row, "error", job.error ? job.error.slice(0, 300) : "");
    set(row, "items", job.kind === "label" ? `${job.annotations_created} labels` : String(job.items_created));
    set(row, "tokens", String(job.tokens_generated));
    row.dataset.status = job.status;
  }

  window.Palate.pollLiveRows(section, { idKey: "job", update, intervalMs: POLL_MS });
})();
