/* Palate: the quality dashboard.
 *
 * Sorts the annotator table by a column (the cells carry data-value), and
 * sends adjudications through the API (CSRF token via api.js) so the decided
 * item leaves the queue without a reload. Without JavaScript the same forms
 * post to the page. Text is only ever set with textContent.
 */
(function () {
  "use strict";

  function sortTable(table, column, th) {
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    const numeric = th.dataset.type === "number";
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const key = (row) => row.cells[column].dataset.value || "";
    rows.sort((a, b) => {
      const x = key(a);
      const y = key(b);
      if (numeric) {
        // Undefined figures sort last whatever the direction.
        if (x === "" || y === "") return (x === "") - (y === "");
        return ascending ? Number(x) - Number(y) : Number(y) - Number(x);
      }
      return ascending ? x.localeCompare(y) : y.localeCompare(x);
    });
    rows.forEach((row) => body.appendChild(row));
    table.querySelectorAll("thead th").forEach((other) => other.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  function makeSortable(table) {
    table.querySelectorAll("thead th").forEach((th, column) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link sort";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", () => sortTable(table, column, th));
    });
  }

  // The decision input of each task type (its "decision" part on the quality
  // page), read into the API's fields; null when nothing was chosen.
  const DECISIONS = {
    // No default decision: an unchosen menu is refused here, never sent as 0 (a tie).
    pairwise: (form) => (form.elements.strength.value === "" ? null : { strength: Number(form.elements.strength.value) }),
    ranking: (form) => ({
      ranking: form.elements.ranking.value
        .split(/[\s,]+/)
        .filter(Boolean)
        .map(Number),
    }),
    feedback: (form) => (form.elements.feedback.value === "" ? null : { feedback: form.elements.feedback.value === "up" }),
  };

  function decision(form) {
    const read = DECISIONS[form.dataset.task];
    if (!read) throw new Error(`unknown task type ${form.dataset.task}`);
    const chosen = read(form);
    return chosen === null ? null : { note: form.elements.note.value, ...chosen };
  }

  function notify(text) {
    const notice = document.getElementById("quality-notice");
    notice.textContent = text;
    notice.hidden = false;
  }

  async function adjudicate(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = form.querySelector("[data-error]");
    const button = form.querySelector("button[type=submit]");
    error.textContent = "";
    const data = decision(form);
    if (data === null) {
      error.textContent = "Choose a decision first.";
      return;
    }
    button.disabled = true;
    try {
      await window.Palate.api.post(form.dataset.api, data);
    } catch (failure) {
      const field = failure.body && failure.body.field ? `${failure.body.field}: ` : "";
      error.textContent = field + failure.message;
      button.disabled = false;
      return;
    }
    const entry = form.closest("li.queue-item");
    const item = entry.dataset.item;
    entry.remove();
    const count = document.getElementById("flagged-count");
    if (count && Number(count.textContent) > 0) count.textContent = String(Number(count.textContent) - 1);
    if (!document.querySelector("#queue li.queue-item")) document.getElementById("queue-empty").hidden = false;
    notify(`Item ${item} decided.`);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("table.sortable").forEach(makeSortable);
    document.querySelectorAll("form.adjudicate").forEach((form) => form.addEventListener("submit", adjudicate));
  });
})();
