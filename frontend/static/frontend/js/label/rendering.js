/* Palate labeling page: what the page shows besides the task's own inputs —
 * the prompt's turns, notices and errors, the screen-reader announcer and the
 * criteria sliders. The only HTML inserted comes from the server, sanitized
 * there (frontend/rendering.py); everything else is text.
 */

export function turnElement(message) {
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

/** Notices, errors and announcements of one page. */
export function messages(el) {
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

  function announce(text) {
    el.announcer.textContent = "";
    window.setTimeout(() => {
      el.announcer.textContent = text;
    }, 30);
  }

  return { showNotice, showError, announce };
}

export function explain(error) {
  if (error.status === 0) return "The server could not be reached. Check your connection.";
  if (error.status === 401 || error.status === 403) {
    return "Your session has ended or you no longer have access. Log in again to continue.";
  }
  return error.message || "Something went wrong.";
}

/** A criterion slider: null clears it ("not rated"). */
export function setSlider(slider, value) {
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

/** The rated sliders as the API's ratings: criterion -> per-response scores in
 * canonical order (null where not rated). */
export function ratingsOf(sliders, order, k) {
  const ratings = {};
  sliders.forEach((slider) => {
    if (slider.dataset.unset !== "false") return;
    const name = slider.dataset.criterion;
    if (!ratings[name]) ratings[name] = new Array(k).fill(null);
    ratings[name][order[Number(slider.dataset.slot)]] = Number(slider.value);
  });
  return ratings;
}
