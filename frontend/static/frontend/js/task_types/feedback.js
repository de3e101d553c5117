/* Palate labeling page, single-response feedback: one response, thumbs up (1)
 * or down (2), optional criteria scores (C focuses the first slider; arrows set
 * it, Tab moves on, Delete clears) and the shared rationale. Hooks as in
 * pairwise.js. */

export function createTask({ form }) {
  const thumbs = Array.from(form.querySelectorAll('input[name="feedback"]'));
  const article = form.querySelector(".response");
  const firstSlider = () => form.querySelector('input[type="range"][data-criterion]');

  function choose(value) {
    const input = thumbs.find((candidate) => candidate.value === value);
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  return {
    render(content) {
      const [response] = content.responses;
      article.dataset.position = String(response.position);
      const body = article.querySelector("[data-body]");
      body.innerHTML = response.html; // sanitized on the server
      body.scrollTop = 0;
    },
    reset() {
      thumbs.forEach((input) => {
        input.checked = false;
      });
    },
    draft() {
      const checked = thumbs.find((input) => input.checked);
      return { feedback: checked ? checked.value : null };
    },
    restore(draft) {
      thumbs.forEach((input) => {
        input.checked = input.value === draft.feedback;
      });
    },
    collect() {
      const checked = thumbs.find((input) => input.checked);
      if (!checked) return { error: "Give the response a thumbs up (1) or down (2)." };
      return { fields: { feedback: checked.value === "up" } };
    },
    onKey(key) {
      if (key === "1") choose("up");
      else if (key === "2") choose("down");
      else if ((key === "c" || key === "C") && firstSlider()) firstSlider().focus();
      else return false;
      return true;
    },
    focus() {
      if (form.contains(document.activeElement)) document.activeElement.blur();
    },
  };
}
