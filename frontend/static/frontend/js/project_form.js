/* Palate: the project form ("New project" and settings).
 *
 * - The guidelines preview: the text goes to the server, which renders it with
 *   the same Markdown sanitizer as the labeling page; the answer is already
 *   inert HTML (and the page's CSP refuses inline script regardless).
 * - K follows the task type: pairwise compares exactly 2 responses.
 * - Delete stays disabled until the project's slug is typed (the server
 *   checks the same).
 */
(function () {
  "use strict";

  const PREVIEW_DELAY_MS = 250;

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function setUpPreview() {
    const source = document.getElementById("id_guidelines");
    const target = document.getElementById("guidelines-preview");
    if (!source || !target) return;
    let timer = null;
    let sent = 0;
    async function refresh() {
      const mine = ++sent;
      const body = new URLSearchParams({ text: source.value });
      let data;
      try {
        const response = await fetch(target.dataset.url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
          body,
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        data = await response.json();
      } catch (error) {
        target.textContent = "The preview is unavailable right now; your text is kept.";
        return;
      }
      if (mine !== sent) return; // an older answer arriving late
      if (data.detail) target.textContent = data.detail;
      else target.innerHTML = data.html; // sanitized by the server
      target.dataset.rendered = String(mine);
    }
    source.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, PREVIEW_DELAY_MS);
    });
    if (source.value && !target.innerHTML.trim()) refresh();
  }

  function setUpTaskType() {
    const type = document.getElementById("id_task_type");
    const k = document.getElementById("id_num_responses");
    if (!type || !k || type.disabled || k.disabled) return;
    // [fewest, most, default] responses per item of each task type (the server's registry).
    const ranges = JSON.parse(type.dataset.taskK || "{}");
    function sync() {
      const range = ranges[type.value];
      if (!range) return;
      const [fewest, most, fallback] = range;
      k.readOnly = fewest === most;
      k.min = String(fewest);
      k.max = String(most);
      if (Number(k.value) < fewest || Number(k.value) > most) k.value = String(fallback);
    }
    type.addEventListener("change", sync);
    sync();
  }

  function setUpDelete() {
    const input = document.getElementById("confirm");
    const button = document.getElementById("delete-button");
    if (!input || !button) return;
    const sync = () => {
      button.disabled = input.value.trim() !== input.dataset.expect;
    };
    input.addEventListener("input", sync);
    sync();
  }

  setUpPreview();
  setUpTaskType();
  setUpDelete();
})();
