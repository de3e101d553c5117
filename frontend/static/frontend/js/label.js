/* Palate: the labeling page (pairwise and ranking).
 *
 * Flow: POST /api/projects/{id}/next/ leases an item; the page's own JSON
 * endpoint returns it rendered (Markdown sanitized on the server, so the only
 * HTML this file inserts comes from frontend/rendering.py); Submit and Skip go
 * to the REST API. The next item replaces the current one in place, without a
 * page load.
 *
 * Submitting twice records one annotation: the page ignores a second submit
 * while one is in flight, and every attempt for one assignment reuses the same
 * idempotency key (kept in sessionStorage, so a reload reuses it too).
 *
 * What the labeler entered is kept per assignment in sessionStorage, so a
 * reload or an expired lease that is still theirs loses nothing.
 */
(function () {
  "use strict";

  const app = document.getElementById("label-app");
  const Palate = window.Palate;
  if (!app || !Palate || !Palate.api) return;

  const api = Palate.api;
  const cfg = app.dataset;
  const pairwise = cfg.task === "pairwise";
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
    bothBad: document.getElementById("both-bad"),
    submit: document.getElementById("submit"),
    skip: document.getElementById("skip"),
    diffToggle: document.getElementById("toggle-diff"),
    nearIdentical: document.getElementById("near-identical"),
    announcer: document.getElementById("announcer"),
    guidelines: document.getElementById("guidelines"),
    shortcuts: document.getElementById("shortcuts"),
  };
  const sliders = Array.from(form.querySelectorAll('input[type="range"][data-criterion]'));
  const scaleInputs = Array.from(form.querySelectorAll('input[name="strength"]'));

  const state = {
    content: null, // the rendered lease (frontend/selectors.py:lease_content)
    key: null, // idempotency key of this assignment
    busy: false, // a submit/skip/next is in flight
    readyAt: 0,
    submitStartedAt: null,
    deadline: 0, // performance.now() at which the lease runs out
    expired: false,
    diffOn: false,
    confirmUnchanged: false,
  };
  let openedByPointer = false; // a dialog opened by a mouse click (see releaseIfClicked)
  // Read by the browser tests and handy when debugging: Submit→ready times (ms).
  window.palate = { timings: [], state };

  const urlFor = (template, id) => template.replace("/0/", `/${id}/`);
  const announce = (text) => {
    el.announcer.textContent = "";
    window.setTimeout(() => {
      el.announcer.textContent = text;
    }, 30);
  };

  const ranking = pairwise
    ? null
    : new Palate.RankingList(
        document.getElementById("rank-list"),
        document.getElementById("rank-card-template"),
        announce,
        () => saveDraftSoon(),
      );

  // ----- messages -------------------------------------------------------

  function showNotice(text) {
    el.notice.textContent = text;
    el.notice.hidden = !text;
  }

  function showError(text, retry) {
    el.error.replaceChildren();
    el.error.hidden = !text;
    if (!text) return;
    el.error.append(document.createTextNode(text));
    if (retry) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Try again";
      button.addEventListener("click", () => {
        showError("");
        retry();
      });
      el.error.append(" ", button);
    }
  }

  function explain(error) {
    if (error.status === 0) return "The server could not be reached. Check your connection.";
    if (error.status === 401 || error.status === 403) {
      return "Your session has ended or you no longer have access. Log in again to continue.";
    }
    return error.message || "Something went wrong.";
  }

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

  function showEmpty(reason) {
    if (reason) document.getElementById("empty-reason").textContent = reason;
    stopTimer();
    state.content = null;
    form.hidden = true;
    el.empty.hidden = false;
    el.leaseTime.textContent = "--:--";
    setBusy(false);
    el.submit.disabled = el.skip.disabled = true;
    app.dataset.state = "empty";
    app.dataset.assignment = "";
    if (state.submitStartedAt !== null) {
      window.palate.timings.push(performance.now() - state.submitStartedAt);
      state.submitStartedAt = null;
    }
    el.empty.querySelector("a").focus();
  }

  function turnElement(message) {
    const li = document.createElement("li");
    li.className = `turn turn-${message.role}`;
    const role = document.createElement("span");
    role.className = "turn-role";
    role.textContent = message.title;
    const body = document.createElement("div");
    body.className = "md";
    body.innerHTML = message.html; // sanitized on the server
    li.append(role, body);
    return li;
  }

  function render(content) {
    state.content = content;
    state.key = storedKey(content.assignment);
    state.confirmUnchanged = false;
    el.turns.replaceChildren(...content.messages.map(turnElement));
    if (pairwise) {
      const articles = form.querySelectorAll(".response");
      content.responses.forEach((response, slot) => {
        const article = articles[slot];
        article.dataset.position = String(response.position);
        article.querySelector("[data-body]").innerHTML = response.html; // sanitized on the server
        article.querySelector("[data-diff]").innerHTML = response.diff_html || ""; // escaped on the server
        article.querySelector("[data-body]").scrollTop = 0;
      });
      el.nearIdentical.hidden = !content.near_identical;
      el.diffToggle.disabled = !content.responses.every((r) => r.diff_html !== undefined);
      applyDiff();
    } else {
      ranking.load(content.responses);
    }
    resetInputs();
    restoreDraft();
    form.hidden = false;
    el.empty.hidden = true;
    showError("");
    app.dataset.lease = "live";
    startTimer(content.seconds_left);
    app.dataset.assignment = String(content.assignment);
    setBusy(false);
    state.readyAt = performance.now();
    if (state.submitStartedAt !== null) {
      window.palate.timings.push(state.readyAt - state.submitStartedAt);
      state.submitStartedAt = null;
    }
    window.scrollTo(0, 0);
    if (ranking) ranking.focus(0, true);
    else if (form.contains(document.activeElement)) document.activeElement.blur();
    app.dispatchEvent(new CustomEvent("palate:ready", { detail: { assignment: content.assignment } }));
  }

  function resetInputs() {
    scaleInputs.forEach((input) => {
      input.checked = false;
    });
    if (el.bothBad) el.bothBad.checked = false;
    el.unsafe.checked = false;
    el.rationale.value = "";
    sliders.forEach((slider) => setSlider(slider, null));
  }

  function setSlider(slider, value) {
    const output = slider.parentElement.querySelector("output");
    if (value === null) {
      slider.dataset.unset = "true";
      slider.value = String(Math.round((Number(slider.min) + Number(slider.max)) / 2));
      slider.setAttribute("aria-valuetext", "not rated");
      output.textContent = "–";
    } else {
      slider.dataset.unset = "false";
      slider.value = String(value);
      slider.setAttribute("aria-valuetext", String(value));
      output.textContent = String(value);
    }
  }

  function applyDiff() {
    const available = !el.diffToggle.disabled;
    const on = state.diffOn && available;
    form.querySelectorAll(".response").forEach((article) => {
      article.querySelector("[data-body]").hidden = on;
      article.querySelector("[data-diff]").hidden = !on;
    });
    el.diffToggle.setAttribute("aria-pressed", String(on));
    el.diffToggle.firstChild.textContent = on ? "Hide differences " : "Show differences ";
  }

  // ----- lease timer ----------------------------------------------------

  let timer = null;

  function startTimer(secondsLeft) {
    stopTimer();
    state.expired = false;
    state.deadline = performance.now() + secondsLeft * 1000;
    el.leaseBox.classList.remove("warn", "expired");
    tick();
    timer = window.setInterval(tick, 1000);
  }

  function stopTimer() {
    if (timer !== null) window.clearInterval(timer);
    timer = null;
  }

  function tick() {
    if (state.expired) return;
    const left = Math.max(0, Math.ceil((state.deadline - performance.now()) / 1000));
    const minutes = Math.floor(left / 60);
    el.leaseTime.textContent = `${minutes}:${String(left % 60).padStart(2, "0")}`;
    el.leaseBox.classList.toggle("warn", left > 0 && left <= 60);
    if (left <= 0) onExpired();
  }

  /** The lease ran out: keep the item (and what was typed) if a submit would
   * still be accepted; otherwise say so and move on to a new item. */
  async function onExpired() {
    state.expired = true;
    stopTimer();
    el.leaseTime.textContent = "expired";
    el.leaseBox.classList.remove("warn");
    el.leaseBox.classList.add("expired");
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
    clearDraft(assignment);
    showNotice("Time is up and this item already has all its labels, so here is a new one.");
    if (!state.busy) loadNext();
  }

  // ----- drafts and keys (per assignment, in this tab) ------------------

  const draftKey = (id) => `palate:draft:${id}`;
  const idemKey = (id) => `palate:key:${id}`;

  function storage() {
    try {
      return window.sessionStorage;
    } catch (error) {
      return null; // storage disabled: everything still works, without drafts
    }
  }

  function storedKey(assignmentId) {
    const store = storage();
    let key = store && store.getItem(idemKey(assignmentId));
    if (!key) {
      key = Palate.randomKey();
      if (store) store.setItem(idemKey(assignmentId), key);
    }
    return key;
  }

  function collectDraft() {
    const checked = scaleInputs.find((input) => input.checked);
    return {
      strength: checked ? checked.value : null,
      bothBad: el.bothBad ? el.bothBad.checked : false,
      unsafe: el.unsafe.checked,
      rationale: el.rationale.value,
      ratings: sliders.filter((s) => s.dataset.unset === "false").map((s) => [s.id, Number(s.value)]),
      order: ranking && ranking.touched ? ranking.snapshot() : null,
    };
  }

  function saveDraft() {
    const store = storage();
    if (!store || !state.content) return;
    try {
      store.setItem(draftKey(state.content.assignment), JSON.stringify(collectDraft()));
    } catch (error) {
      /* quota: drafts are a convenience */
    }
  }

  let draftTimer = null;
  function saveDraftSoon() {
    window.clearTimeout(draftTimer);
    draftTimer = window.setTimeout(saveDraft, 250);
  }

  function restoreDraft() {
    const store = storage();
    const raw = store && store.getItem(draftKey(state.content.assignment));
    if (!raw) return;
    let draft;
    try {
      draft = JSON.parse(raw);
    } catch (error) {
      return;
    }
    scaleInputs.forEach((input) => {
      input.checked = input.value === draft.strength;
    });
    if (el.bothBad) el.bothBad.checked = Boolean(draft.bothBad);
    el.unsafe.checked = Boolean(draft.unsafe);
    el.rationale.value = draft.rationale || "";
    (draft.ratings || []).forEach(([id, value]) => {
      const slider = document.getElementById(id);
      if (slider && sliders.includes(slider)) setSlider(slider, value);
    });
    if (ranking && draft.order) ranking.restore(draft.order);
  }

  function clearDraft(assignmentId) {
    const store = storage();
    if (!store) return;
    store.removeItem(draftKey(assignmentId));
    store.removeItem(idemKey(assignmentId));
  }

  // ----- submit and skip ------------------------------------------------

  /** The judgement in the API's canonical order (position 0 is A). */
  function collect() {
    const order = state.content.display_order;
    const data = {
      idempotency_key: state.key,
      rationale: el.rationale.value,
      flagged_unsafe: el.unsafe.checked,
      time_on_task_ms: Math.max(0, Math.round(performance.now() - state.readyAt)),
      ratings: {},
    };
    sliders.forEach((slider) => {
      if (slider.dataset.unset !== "false") return;
      const name = slider.dataset.criterion;
      if (!data.ratings[name]) data.ratings[name] = new Array(k).fill(null);
      data.ratings[name][order[Number(slider.dataset.slot)]] = Number(slider.value);
    });
    if (pairwise) {
      const checked = scaleInputs.find((input) => input.checked);
      data.both_bad = el.bothBad.checked;
      if (!checked && !data.both_bad) {
        return { error: "Choose which response is better (1–5), or mark both bad (X)." };
      }
      // The scale is in the labeler's frame (left is A); the lease may have
      // shown canonical B on the left.
      const shown = checked ? Number(checked.value) : null;
      data.strength = shown === null ? null : order[0] === 0 ? shown : -shown;
    } else {
      if (!ranking.touched && !state.confirmUnchanged) {
        state.confirmUnchanged = true;
        return { error: "You have not changed the order shown. Press Enter again to submit it as your ranking." };
      }
      data.ranking = ranking.canonicalRanking();
    }
    return { data };
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
        clearDraft(assignment);
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
    clearDraft(assignment);
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
    clearDraft(assignment);
    showNotice("Skipped.");
    announce("Skipped. Loading the next item.");
    await loadNext();
  }

  // ----- keyboard -------------------------------------------------------

  function toggleDialog(dialog) {
    if (dialog.open) dialog.close();
    else {
      document.querySelectorAll("dialog[open]").forEach((d) => d.close());
      dialog.showModal();
    }
  }

  function isTyping(target) {
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    return target.tagName === "INPUT" && !["radio", "checkbox", "range", "button", "submit"].includes(target.type);
  }

  function choose(key) {
    const input = scaleInputs.find((candidate) => candidate.dataset.key === key);
    if (!input) {
      showError("This project does not allow ties.");
      return;
    }
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function toggleCheckbox(box) {
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const openDialog = document.querySelector("dialog[open]");
    if (openDialog) {
      // Esc closes natively; G and ? close their own dialog again.
      if ((event.key === "g" || event.key === "G") && openDialog === el.guidelines) el.guidelines.close();
      else if (event.key === "?" && openDialog === el.shortcuts) el.shortcuts.close();
      return;
    }
    if (isTyping(target)) {
      if (event.key === "Escape") {
        target.blur();
        event.preventDefault();
      } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        submit(performance.now());
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || (event.altKey && !event.key.startsWith("Arrow"))) return;
    const key = event.key;
    let handled = true;
    if (key === "?") {
      openedByPointer = false;
      toggleDialog(el.shortcuts);
    } else if (key === "g" || key === "G") {
      openedByPointer = false;
      toggleDialog(el.guidelines);
    }
    else if (key === "Enter") {
      // A focused button or link keeps its own Enter.
      if (target.closest("button, a, summary")) return;
      if (!event.repeat) submit(performance.now());
    } else if (key === "s" || key === "S") skip();
    else if (key === "u" || key === "U") toggleCheckbox(el.unsafe);
    else if (key === "r" || key === "R") el.rationale.focus();
    else if (pairwise && /^[1-5]$/.test(key)) choose(key);
    else if (pairwise && (key === "x" || key === "X")) toggleCheckbox(el.bothBad);
    else if (pairwise && (key === "d" || key === "D")) el.diffToggle.click();
    else if (!pairwise && (key === "ArrowUp" || key === "ArrowDown") && !target.closest(".rank-list, input, .scroll")) {
      ranking.focus(ranking.focusIndex);
    } else handled = false;
    if (handled) event.preventDefault();
  });

  // ----- controls -------------------------------------------------------

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
  // After a mouse click on a toolbar button, Enter must submit rather than
  // press that button again; keyboard users keep their focus where it was.
  const releaseIfClicked = (event) => {
    if (event.detail > 0) event.currentTarget.blur();
  };
  if (el.diffToggle) {
    el.diffToggle.addEventListener("click", (event) => {
      state.diffOn = !state.diffOn;
      applyDiff();
      releaseIfClicked(event);
    });
  }
  ["guidelines", "shortcuts"].forEach((name) => {
    document.getElementById(`open-${name}`).addEventListener("click", (event) => {
      openedByPointer = event.detail > 0;
      toggleDialog(el[name]);
    });
    el[name].addEventListener("close", () => {
      if (openedByPointer && document.activeElement) document.activeElement.blur();
      openedByPointer = false;
    });
  });
  document.querySelectorAll("dialog").forEach((dialog) => {
    dialog.addEventListener("click", (event) => {
      if (event.target.closest("[data-close]")) {
        dialog.close();
        return;
      }
      // A click on the backdrop (outside the dialog's box) closes it too.
      const box = dialog.getBoundingClientRect();
      const outside = event.clientX < box.left || event.clientX > box.right || event.clientY < box.top || event.clientY > box.bottom;
      if (event.target === dialog && outside) dialog.close();
    });
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.content && !state.expired) tick();
  });

  loadNext();
})();
