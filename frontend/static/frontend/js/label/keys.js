/* Palate labeling page: the keyboard, and the two dialogs it opens.
 *
 * Page keys (Enter submit, S skip, U unsafe, R rationale, G guidelines,
 * ? shortcuts) are handled here; every other key is offered to the task
 * module (its onKey returns true when it used the key). Inside a text box
 * only Esc (leave the box) and Ctrl+Enter (submit) act.
 */

export function isTyping(target) {
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !["radio", "checkbox", "range", "button", "submit"].includes(target.type);
}

export function toggleCheckbox(box) {
  box.checked = !box.checked;
  box.dispatchEvent(new Event("change", { bubbles: true }));
}

function toggleDialog(dialog) {
  if (dialog.open) dialog.close();
  else {
    document.querySelectorAll("dialog[open]").forEach((d) => d.close());
    dialog.showModal();
  }
}

/** Wire the keyboard and the dialogs: ``actions`` has submit(startedAt),
 * skip(), and ``task`` the current task module. */
export function keysInstall({ el, task, actions }) {
  let openedByPointer = false; // a dialog opened by a mouse click (see the close handler)

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
        actions.submit(performance.now());
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
    } else if (key === "Enter") {
      // A focused button or link keeps its own Enter.
      if (target.closest("button, a, summary")) return;
      if (!event.repeat) actions.submit(performance.now());
    } else if (key === "s" || key === "S") actions.skip();
    else if (key === "u" || key === "U") toggleCheckbox(el.unsafe);
    else if (key === "r" || key === "R") el.rationale.focus();
    else handled = task.onKey(key, event);
    if (handled) event.preventDefault();
  });

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
}

/** After a mouse click on a toolbar button, Enter must submit rather than
 * press that button again; keyboard users keep their focus where it was. */
export function releaseIfClicked(event) {
  if (event.detail > 0) event.currentTarget.blur();
}
