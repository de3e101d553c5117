/* Palate: the data page — upload a file, preview it, import it.
 *
 * The file goes to the import API twice: first with dry_run (the server does
 * the whole import and rolls it back, so the counts shown are the real ones),
 * then for real. Errors name the line and field and nothing is written.
 * Everything the file holds is shown with textContent: it is untrusted text.
 * XMLHttpRequest (not fetch) because it reports upload progress.
 * A large file is imported by a worker: the API answers 202 with the job, and
 * the page polls the job's URL, its progress bar counting the rows imported,
 * until the job has its counts (or the line and field of a bad row).
 */
(function () {
  "use strict";

  const form = document.getElementById("upload");
  if (!form) return;
  const fileInput = document.getElementById("file");
  const drop = document.getElementById("drop");
  const fileName = document.getElementById("file-name");
  const previewButton = document.getElementById("preview-button");
  const importButton = document.getElementById("import-button");
  const statusBox = document.getElementById("upload-status");
  const progress = document.getElementById("upload-progress");
  const rowsBar = document.getElementById("import-progress");
  const rowsLabel = document.getElementById("import-progress-label");
  const POLL_MS = 1000;
  const preview = document.getElementById("preview");
  const summary = document.getElementById("preview-summary");
  const tbody = preview.querySelector("tbody");
  const options = form.querySelector(".preference-options");
  let file = null;
  let previewed = false;

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function kind() {
    return form.querySelector('input[name="kind"]:checked').value;
  }

  function say(text, isError) {
    statusBox.textContent = text;
    statusBox.className = isError ? "notice notice-error" : text ? "notice" : "";
  }

  function choose(chosen) {
    file = chosen || null;
    previewed = false;
    importButton.disabled = true;
    preview.hidden = true;
    previewButton.disabled = !file;
    fileName.textContent = file ? `${file.name} (${Math.ceil(file.size / 1024)} KiB)` : "No file chosen.";
    say("");
    if (file && file.size > Number(form.dataset.maxBytes)) {
      say("This file is larger than the upload limit; use the command line for it.", true);
      previewButton.disabled = true;
    }
  }

  function syncKind() {
    options.hidden = kind() !== "preferences";
    choose(file);
  }

  function send(dryRun) {
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("kind", kind());
    body.append("dry_run", dryRun ? "true" : "false");
    if (kind() === "preferences") {
      body.append("format", form.elements.format.value);
      body.append("relabel", form.elements.relabel.checked ? "true" : "false");
    }
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.api);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      progress.hidden = false;
      progress.value = 0;
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
      });
      xhr.addEventListener("load", () => {
        progress.hidden = true;
        let data = null;
        try {
          data = JSON.parse(xhr.responseText);
        } catch (error) {
          data = null;
        }
        resolve({ status: xhr.status, data });
      });
      xhr.addEventListener("error", () => {
        progress.hidden = true;
        resolve({ status: 0, data: null });
      });
      xhr.send(body);
    });
  }

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => response.json().then((data) => ({ status: response.status, data })))
      .catch(() => ({ status: 0, data: null }));
  }

  function showRows(job) {
    rowsBar.hidden = false;
    rowsLabel.hidden = false;
    if (job.total_rows) {
      rowsBar.max = job.total_rows;
      rowsBar.value = job.progress_rows;
    } else {
      rowsBar.removeAttribute("value"); // indeterminate until the rows are counted
    }
    rowsLabel.textContent = job.total_rows
      ? `${job.progress_rows} of ${job.total_rows} rows`
      : job.status === "queued" ? "Waiting for a worker…" : "Reading the file…";
  }

  /* A 202's job, polled until it is done: resolves like send() would have,
   * 200/201 with the counts, or 400 with the first bad row. */
  async function follow(job, dryRun) {
    form.dataset.job = String(job.id);
    for (;;) {
      showRows(job);
      if (job.status === "succeeded") {
        rowsBar.hidden = true;
        rowsLabel.hidden = true;
        return { status: dryRun ? 200 : 201, data: job.result };
      }
      if (job.status === "failed" || job.status === "cancelled") {
        rowsBar.hidden = true;
        rowsLabel.hidden = true;
        return { status: 400, data: { detail: job.error, line: job.line, field: job.field } };
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const next = await getJson(job.url);
      if (next.status !== 200) return next;
      job = next.data;
    }
  }

  async function run(dryRun) {
    const result = await send(dryRun);
    return result.status === 202 ? follow(result.data, dryRun) : result;
  }

  function problem(result) {
    if (result.status === 0) return "The server could not be reached.";
    const data = result.data || {};
    const where = [];
    if (data.line !== undefined && data.line !== null) where.push(`line ${data.line}`);
    if (data.field) where.push(`field ${data.field}`);
    const detail = data.detail || (data.file && data.file.join(" ")) || `HTTP ${result.status}`;
    return `${where.length ? where.join(", ") + ": " : ""}${detail} Nothing was imported.`;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    row.append(td);
    return td;
  }

  function promptText(row) {
    if (row.messages && row.messages.length) {
      return row.messages.map((m) => `${m.role}: ${m.content}`).join("\n");
    }
    return row.prompt_id ? `prompt #${row.prompt_id}` : "";
  }

  function labelText(row) {
    if (row.ranking) return `ranking ${row.ranking.join(", ")}`;
    if (row.label) return `${row.labeler || ""} ${JSON.stringify(row.label)}`.trim();
    if (row.is_gold) return "gold";
    return "—";
  }

  function showPreview(data) {
    tbody.replaceChildren();
    for (const row of data.preview) {
      const tr = document.createElement("tr");
      cell(tr, row.line === null || row.line === undefined ? "" : String(row.line), "num");
      cell(tr, promptText(row), "pre");
      const responses = cell(tr, "", "");
      const list = document.createElement("ol");
      list.className = "plain-list";
      for (const response of row.responses || []) {
        const item = document.createElement("li");
        item.textContent = response.model_name ? `[${response.model_name}] ${response.text}` : response.text;
        list.append(item);
      }
      responses.append(list);
      cell(tr, labelText(row), "");
      tbody.append(tr);
    }
    const what = data.kind === "prompts" ? "prompts" : "items";
    summary.textContent =
      `${data.rows} rows read: ${data.created} new ${what}, ${data.skipped} already in the project or repeated` +
      (data.kind !== "prompts" ? `, ${data.prompts_created} new prompts` : "") +
      (data.annotations ? `, ${data.annotations} labels` : "") + ".";
    preview.hidden = false;
  }

  previewButton.addEventListener("click", async () => {
    previewButton.disabled = true;
    say("Checking the file…");
    const result = await run(true);
    previewButton.disabled = false;
    if (result.status !== 200) {
      preview.hidden = true;
      say(problem(result), true);
      return;
    }
    previewed = true;
    importButton.disabled = false;
    showPreview(result.data);
    say("The file is valid. Check the preview, then import.");
    importButton.focus();
  });

  importButton.addEventListener("click", async () => {
    if (!previewed) return;
    importButton.disabled = true;
    previewButton.disabled = true;
    say("Importing…");
    const result = await run(false);
    previewButton.disabled = false;
    if (result.status !== 201) {
      say(problem(result), true);
      return;
    }
    const data = result.data;
    const what = data.kind === "prompts" ? "prompts" : "items";
    say(`Imported ${data.created} ${what} (${data.skipped} skipped). Reload to see the new counts.`);
    form.dataset.imported = String(data.created);
    previewed = false;
  });

  fileInput.addEventListener("change", () => choose(fileInput.files[0]));
  for (const radio of form.querySelectorAll('input[name="kind"]')) radio.addEventListener("change", syncKind);
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
  });
  syncKind();
})();
