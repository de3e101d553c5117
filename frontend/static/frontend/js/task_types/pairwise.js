/* Palate labeling page, pairwise task: two responses side by side, a 5-point
 * scale in the labeler's frame (keys 1–5), "both bad" (X) and a word diff (D).
 *
 * Every task module exports createTask(ctx) returning the same hooks:
 * render(content), reset(), draft(), restore(draft), collect(order) ->
 * {fields} or {error}, onKey(key, event) -> handled, focus().
 */
import { releaseIfClicked, toggleCheckbox } from "../label/keys.js";

export function createTask({ form, showError }) {
  const scaleInputs = Array.from(form.querySelectorAll('input[name="strength"]'));
  const bothBad = document.getElementById("both-bad");
  const diffToggle = document.getElementById("toggle-diff");
  const nearIdentical = document.getElementById("near-identical");
  let diffOn = false;

  function applyDiff() {
    const on = diffOn && !diffToggle.disabled;
    form.querySelectorAll(".response").forEach((article) => {
      article.querySelector("[data-body]").hidden = on;
      article.querySelector("[data-diff]").hidden = !on;
    });
    diffToggle.setAttribute("aria-pressed", String(on));
    diffToggle.firstChild.textContent = on ? "Hide differences " : "Show differences ";
  }

  diffToggle.addEventListener("click", (event) => {
    diffOn = !diffOn;
    applyDiff();
    releaseIfClicked(event);
  });

  function choose(key) {
    const input = scaleInputs.find((candidate) => candidate.dataset.key === key);
    if (!input) {
      showError("This project does not allow ties.");
      return;
    }
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  return {
    render(content) {
      const articles = form.querySelectorAll(".response");
      content.responses.forEach((response, slot) => {
        const article = articles[slot];
        article.dataset.position = String(response.position);
        article.querySelector("[data-body]").innerHTML = response.html; // sanitized on the server
        article.querySelector("[data-diff]").innerHTML = response.diff_html || ""; // escaped on the server
        article.querySelector("[data-body]").scrollTop = 0;
      });
      nearIdentical.hidden = !content.near_identical;
      diffToggle.disabled = !content.responses.every((r) => r.diff_html !== undefined);
      applyDiff();
    },
    reset() {
      scaleInputs.forEach((input) => {
        input.checked = false;
      });
      bothBad.checked = false;
    },
    draft() {
      const checked = scaleInputs.find((input) => input.checked);
      return { strength: checked ? checked.value : null, bothBad: bothBad.checked };
    },
    restore(draft) {
      scaleInputs.forEach((input) => {
        input.checked = input.value === draft.strength;
      });
      bothBad.checked = Boolean(draft.bothBad);
    },
    collect(order) {
      const checked = scaleInputs.find((input) => input.checked);
      if (!checked && !bothBad.checked) {
        return { error: "Choose which response is better (1–5), or mark both bad (X)." };
      }
      // The scale is in the labeler's frame (left is A); the lease may have
      // shown canonical B on the left.
      const shown = checked ? Number(checked.value) : null;
      return { fields: { both_bad: bothBad.checked, strength: shown === null ? null : order[0] === 0 ? shown : -shown } };
    },
    onKey(key) {
      if (/^[1-5]$/.test(key)) choose(key);
      else if (key === "x" || key === "X") toggleCheckbox(bothBad);
      else if (key === "d" || key === "D") diffToggle.click();
      else return false;
      return true;
    },
    focus() {
      if (form.contains(document.activeElement)) document.activeElement.blur();
    },
  };
}
