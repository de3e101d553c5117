/* Palate: the labeling page, for every task type.
 *
 * Flow: POST /api/projects/{id}/next/ leases an item; the page's own JSON
 * endpoint returns it rendered (Markdown sanitized on the server, so the only
 * HTML inserted comes from frontend/rendering.py); Submit and Skip go to the
 * REST API. The next item replaces the current one in place, without a page
 * load.
 *
 * The task type's ES module (its name in data-task-module, from the task type
 * registry, annotation.task_types) renders the responses and reads the
 * judgement; this module does the rest: drafts.js (what was entered, and the
 * idempotency key, per assignment), timer.js (the lease), keys.js (keyboard
 * and dialogs), rendering.js (turns, notices, sliders).
 *
 * Submitting twice records one annotation: a second submit is ignored while one
 * is in flight, and every attempt for one assignment reuses the same
 * idempotency key. The page's one global is window.Palate (api.js); its state
 * and Submit→ready timings are under Palate.label (read by the browser tests).
 */
import { draftClear, draftLoad, draftSave, storedKey } from "./drafts.js";
import { keysInstall } from "./keys.js";
import { explain, messages, ratingsOf, setSlider, turnElement } from "./rendering.js";
import { leaseTimer } from "./timer.js";

const app = document.getElementById("label-app");
const Palate = window.Palate;

if (app && Palate && Palate.api) await start();

async function start() {
  const api = Palate.api;
  const cfg = app.dataset;
  const k = Number(cfg.k);
  const form = document.getElementById("judgement");
  const el = {
    turns: document.getElementById("turns"),
    notice: document.getElementById("notice"),
    error: document.getElementById("error"),
    empty: document.getElementById("empty"),
    leaseBox: document.getElementById("lease"),
    leaseTime: document.getElementById("lease-time"),
    doneToday: document.getElementById("done-today"),
    rationale: document.getElementById("rationale"),
    unsafe: document.getElementById("unsafe"),
    submit: document.getElementById("submit"),
    skip: document.getElementById("skip"),
    announcer: document.getElementById("announcer"),
    guidelines: document.getElementById("guidelines"),
    shortcuts: document.getElementById("shortcuts"),
  };
  const sliders = Array.from(form.querySelectorAll('input[type="range"][data-criterion]'));
  const { showNotice, showError, announce } = messages(el);

  const state = {
    content: null, // the rendered lease (frontend/selectors.py:lease_content)
    key: null, // idempotency key of this assignment
    busy: false, // a submit/skip/next is in flight
    readyAt: 0,
    submitStartedAt: null,
  };
  Palate.label = { timings: [], state };

  const urlFor = (template, id) => template.replace("/0/", `/${id}/`);

  let draftTimer = null;
  function saveDraftSoon() {
    window.clearTimeout(draftTimer);
    draftTimer = window.setTimeout(saveDraft, 250);
  }

  const { createTask } = await import(cfg.taskModule);
  const task = createTask({ form, k, announce, showError, changed: saveDraftSoon });
  const timer = leaseTimer({ box: el.leaseBox, time: el.leaseTime, onExpired });

  function setBusy(busy, what) {
    state.busy = busy;
    app.dataset.state = busy ? what : "ready";
    form.setAttribute("aria-busy", String(busy));
    el.submit.disabled = busy;
    el.skip.disabled = busy;
  }

  // ----- loading an item ------------------------------------------------

  async function loadNext() {
    setBusy(true, "loading");
    let lease;
    try {
      lease = await api.post(cfg.urlNext);
    } catch (error) {
      if (error.status === 409 && error.code === "label_cap_reached") {
        showEmpty(error.message); // the project's cap for this labeler: nothing more today
        return;
      }
      setBusy(false);
      app.dataset.state = "error";
      showError(`Could not load the next item. ${explain(error)}`, loadNext);
      return;
    }
    if (lease.status === 204) {
      showEmpty();
      return;
    }
    await loadContent(lease.data.assignment);
  }

  async function loadContent(assignmentId) {
    let content;
    try {
      content = (await api.get(urlFor(cfg.urlContent, assignmentId))).data;
    } catch (error) {
      setBusy(false);
      app.dataset.state = "error";
      showError(`Could not show the item. ${explain(error)}`, () => loadContent(assignmentId));
      return;
    }
    render(content);
  }

  function recordTiming(at) {
    if (state.submitStartedAt !== null) {
      Palate.label.timings.push(at - state.submitStartedAt);
      state.submitStartedAt = null;
    }
  }

  function showEmpty(reason) {
    if (reason) document.getElementById("empty-reason").textContent = reason;
    timer.clear();
    state.content = null;
    form.hidden = true;
    el.empty.hidden = false;
    setBusy(false);
    el.submit.disabled = el.skip.disabled = true;
    app.dataset.state = "empty";
    app.dataset.assignment = "";
    recordTiming(performance.now());
    el.empty.querySelector("a").focus();
  }

  function render(content) {
    state.content = content;
    state.key = storedKey(content.assignment, Palate.randomKey);
    el.turns.replaceChildren(...content.messages.map(turnElement));
    task.render(content);
    resetInputs();
    restoreDraft();
    form.hidden = false;
    el.empty.hidden = true;
    showError("");
    app.dataset.lease = "live";
    timer.start(content.seconds_left);
    app.dataset.assignment = String(content.assignment);
    setBusy(false);
    state.readyAt = performance.now();
    recordTiming(state.readyAt);
    window.scrollTo(0, 0);
    task.focus();
    app.dispatchEvent(new CustomEvent("palate:ready", { detail: { assignment: content.assignment } }));
  }

  function resetInputs() {
    task.reset();
    el.unsafe.checked = false;
    el.rationale.value = "";
    sliders.forEach((slider) => setSlider(slider, null));
  }

  // ----- lease expiry ---------------------------------------------------

  /** The lease ran out: keep the item (and what was typed) if a submit would
   * still be accepted; otherwise say so and move on to a new item. */
  async function onExpired() {
    app.dataset.lease = "expired";
    saveDraft();
    const assignment = state.content && state.content.assignment;
    showNotice("Time is up for this item. Checking whether it is still yours…");
    let leaseState;
    try {
      leaseState = (await api.get(urlFor(cfg.urlState, assignment))).data;
    } catch (error) {
      showNotice("Time is up for this item. You can still try to submit it.");
      return;
    }
    if (!state.content || state.content.assignment !== assignment) return;
    if (leaseState.still_yours) {
      showNotice("Time is up, but this item still needs your label: finish it when you are ready. What you entered is kept.");
      return;
    }
    draftClear(assignment);
    showNotice("Time is up and this item already has all its labels, so here is a new one.");
    if (!state.busy) loadNext();
  }

  // ----- drafts ---------------------------------------------------------

  function saveDraft() {
    if (!state.content) return;
    draftSave(state.content.assignment, {
      ...task.draft(),
      unsafe: el.unsafe.checked,
      rationale: el.rationale.value,
      ratings: sliders.filter((s) => s.dataset.unset === "false").map((s) => [s.id, Number(s.value)]),
    });
  }

  function restoreDraft() {
    const draft = draftLoad(state.content.assignment);
    if (!draft) return;
    task.restore(draft);
    el.unsafe.checked = Boolean(draft.unsafe);
    el.rationale.value = draft.rationale || "";
    (draft.ratings || []).forEach(([id, value]) => {
      const slider = document.getElementById(id);
      if (slider && sliders.includes(slider)) setSlider(slider, value);
    });
  }

  // ----- submit and skip ------------------------------------------------

  /** The judgement in the API's canonical order (position 0 is A). */
  function collect() {
    const order = state.content.display_order;
    const judged = task.collect(order);
    if (judged.error) return judged;
    return {
      data: {
        idempotency_key: state.key,
        rationale: el.rationale.value,
        flagged_unsafe: el.unsafe.checked,
        time_on_task_ms: Math.max(0, Math.round(performance.now() - state.readyAt)),
        ratings: ratingsOf(sliders, order, k),
        ...judged.fields,
      },
    };
  }

  async function submit(startedAt) {
    if (state.busy || !state.content) return;
    const { data, error } = collect();
    if (error) {
      showError(error);
      return;
    }
    showError("");
    showNotice("");
    const assignment = state.content.assignment;
    setBusy(true, "submitting");
    try {
      await api.post(urlFor(cfg.urlSubmit, assignment), data);
    } catch (failure) {
      if (failure.status === 409) {
        // Expired and full, already submitted, or skipped: this item is done.
        draftClear(assignment);
        const notices = {
          lease_expired:
            "Your time on that item ran out and it already had all its labels, so your answer was not needed. Here is a new item.",
          // An earlier attempt reached the server before the answer was changed: that one counts.
          idempotency_mismatch:
            "Your first answer to that item had already been recorded and was kept. Here is a new item.",
        };
        showNotice(notices[failure.code] || `That item is closed (${failure.message}). Here is a new one.`);
        state.submitStartedAt = startedAt;
        await loadNext();
        return;
      }
      setBusy(false);
      saveDraft();
      showError(`Not submitted: ${explain(failure)} What you entered is kept; press Enter to try again.`);
      return;
    }
    draftClear(assignment);
    el.doneToday.textContent = String(Number(el.doneToday.textContent) + 1);
    announce("Submitted. Loading the next item.");
    state.submitStartedAt = startedAt;
    await loadNext();
  }

  async function skip() {
    if (state.busy || !state.content) return;
    const assignment = state.content.assignment;
    showError("");
    showNotice("");
    setBusy(true, "skipping");
    try {
      await api.post(urlFor(cfg.urlSkip, assignment));
    } catch (failure) {
      if (failure.status !== 409) {
        setBusy(false);
        showError(`Not skipped: ${explain(failure)}`);
        return;
      }
    }
    draftClear(assignment);
    showNotice("Skipped.");
    announce("Skipped. Loading the next item.");
    await loadNext();
  }

  // ----- controls -------------------------------------------------------

  keysInstall({ el, task, actions: { submit, skip } });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(performance.now());
  });
  el.skip.addEventListener("click", () => skip());
  form.addEventListener("input", (event) => {
    if (event.target.matches('input[type="range"][data-criterion]')) setSlider(event.target, Number(event.target.value));
    saveDraftSoon();
  });
  form.addEventListener("change", () => {
    showError("");
    saveDraftSoon();
  });
  form.addEventListener("keydown", (event) => {
    // Delete or Backspace on a slider clears that rating.
    if (event.target.matches('input[type="range"]') && (event.key === "Delete" || event.key === "Backspace")) {
      setSlider(event.target, null);
      saveDraftSoon();
      event.preventDefault();
    }
  });

  loadNext();
}
