/* Palate: the K-way ranking list.
 *
 * The order of the cards is the ranking (best first). A card can be marked
 * "tied with the one above"; ranks are dense (1, 2, 2, 3). It is operated by
 * pointer (drag a card by its handle; mouse, pen and touch alike) or entirely
 * by keyboard, with a roving tabindex so Tab enters and leaves the list once:
 *
 *   ArrowUp / ArrowDown   move focus            Home / End   first / last
 *   Space                 pick up / drop        Escape       drop
 *   Alt+ArrowUp / Down    move the focused card (also while picked up: arrows)
 *   T                     tie with the one above (again to untie)
 *   PageUp / PageDown     scroll the focused card's text
 *
 * An ES module: the ranking task module (task_types/ranking.js) imports it.
 */
export class RankingList {
  constructor(list, template, announce, onChange) {
    this.list = list;
    this.template = template;
    this.announce = announce;
    this.onChange = onChange;
    this.cards = []; // {el, letter, position, tied}
    this.focusIndex = 0;
    this.grabbed = null;
    this.drag = null;
    this.touched = false;
    list.addEventListener("keydown", (event) => this.onKeyDown(event));
    list.addEventListener("click", (event) => this.onClick(event));
    list.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    list.addEventListener("focusin", (event) => {
      const index = this.indexOfElement(event.target.closest(".rank-card"));
      if (index >= 0) this.focusIndex = index;
      this.updateTabStops();
    });
  }

  /** responses: [{letter, position, html}] in the order the lease shows them. */
  load(responses) {
    this.list.replaceChildren();
    this.cards = responses.map((response) => {
      const el = this.template.content.firstElementChild.cloneNode(true);
      el.dataset.letter = response.letter;
      el.dataset.position = String(response.position);
      el.querySelector("[data-letter]").textContent = response.letter;
      // Sanitized on the server (frontend/rendering.py); see label/main.js.
      el.querySelector("[data-body]").innerHTML = response.html;
      this.list.appendChild(el);
      return { el, letter: response.letter, position: response.position, tied: false };
    });
    this.focusIndex = 0;
    this.grabbed = null;
    this.touched = false;
    this.render();
  }

  /** Dense ranks in display order of the cards: [1, 2, 2, 3]. */
  ranks() {
    let rank = 0;
    return this.cards.map((card, index) => {
      if (index === 0 || !card.tied) rank += 1;
      return rank;
    });
  }

  /** Rank of each response by its canonical position (what the API takes). */
  canonicalRanking() {
    const ranks = this.ranks();
    const ranking = new Array(this.cards.length);
    this.cards.forEach((card, index) => {
      ranking[card.position] = ranks[index];
    });
    return ranking;
  }

  /** For drafts: the letters in order and which are tied with the one above. */
  snapshot() {
    return this.cards.map((card) => ({ letter: card.letter, tied: card.tied }));
  }

  restore(snapshot) {
    if (!Array.isArray(snapshot) || snapshot.length !== this.cards.length) return;
    const byLetter = new Map(this.cards.map((card) => [card.letter, card]));
    if (!snapshot.every((entry) => byLetter.has(entry.letter))) return;
    this.cards = snapshot.map((entry, index) => {
      const card = byLetter.get(entry.letter);
      card.tied = index > 0 && Boolean(entry.tied);
      return card;
    });
    this.touched = true;
    this.render();
  }

  /** Put the card elements in the list's order without moving ``fixed``:
   * moving an element out of the DOM would drop its pointer capture (a drag
   * in progress) and its focus. */
  syncDom(fixed) {
    const index = this.cards.findIndex((card) => card.el === fixed);
    if (index < 0) {
      this.cards.forEach((card) => this.list.appendChild(card.el));
      return;
    }
    const inOrder = Array.from(this.list.children).every((child, i) => child === this.cards[i].el);
    if (inOrder) return;
    for (let i = 0; i < index; i += 1) this.list.insertBefore(this.cards[i].el, fixed);
    for (let i = index + 1; i < this.cards.length; i += 1) this.list.appendChild(this.cards[i].el);
  }

  render() {
    const ranks = this.ranks();
    const focused = document.activeElement && document.activeElement.closest(".rank-card");
    this.syncDom(this.drag ? this.drag.card.el : focused);
    this.cards.forEach((card, index) => {
      card.el.querySelector("[data-rank]").textContent = String(ranks[index]);
      card.el.querySelector("[data-tie-tag]").hidden = !card.tied;
      card.el.classList.toggle("tied", card.tied);
      card.el.classList.toggle("grabbed", this.grabbed === card);
      const tie = card.el.querySelector('[data-act="tie"]');
      tie.setAttribute("aria-pressed", String(card.tied));
      tie.disabled = index === 0;
      card.el.querySelector('[data-act="up"]').disabled = index === 0;
      card.el.querySelector('[data-act="down"]').disabled = index === this.cards.length - 1;
      card.el.setAttribute(
        "aria-label",
        `Response ${card.letter}, rank ${ranks[index]} of ${this.cards.length}` +
          (card.tied ? ", tied with the one above" : "") +
          (this.grabbed === card ? ", picked up" : ""),
      );
    });
    this.updateTabStops();
  }

  updateTabStops() {
    this.cards.forEach((card, index) => {
      card.el.tabIndex = index === this.focusIndex ? 0 : -1;
    });
  }

  indexOfElement(el) {
    return this.cards.findIndex((card) => card.el === el);
  }

  focus(index, preventScroll = false) {
    if (!this.cards.length) return;
    this.focusIndex = Math.max(0, Math.min(this.cards.length - 1, index));
    this.updateTabStops();
    this.cards[this.focusIndex].el.focus({ preventScroll });
  }

  changed() {
    this.touched = true;
    this.render();
    if (this.onChange) this.onChange();
  }

  describe(card) {
    const index = this.cards.indexOf(card);
    const rank = this.ranks()[index];
    return `Response ${card.letter} is now rank ${rank}${card.tied ? ", tied with the one above" : ""}.`;
  }

  move(index, delta) {
    const target = index + delta;
    if (index < 0 || target < 0 || target >= this.cards.length) return false;
    const [card] = this.cards.splice(index, 1);
    this.cards.splice(target, 0, card);
    // A moved card and the one it passed start fresh: a tie is a judgement
    // about two neighbours, and both have new neighbours now.
    card.tied = false;
    this.cards[index].tied = false;
    this.cards[0].tied = false;
    this.focusIndex = target;
    this.changed();
    card.el.focus();
    this.announce(this.describe(card));
    return true;
  }

  toggleTie(index) {
    if (index <= 0) {
      this.announce("The first response has nothing above it to tie with.");
      return;
    }
    const card = this.cards[index];
    card.tied = !card.tied;
    this.changed();
    this.announce(this.describe(card));
  }

  onKeyDown(event) {
    const cardEl = event.target.closest(".rank-card");
    // Keys on the card itself only: the text and buttons inside keep theirs.
    if (!cardEl || event.target !== cardEl || event.ctrlKey || event.metaKey) return;
    const index = this.indexOfElement(cardEl);
    const card = this.cards[index];
    let handled = true;
    switch (event.key) {
      case "ArrowUp":
      case "ArrowDown": {
        const delta = event.key === "ArrowUp" ? -1 : 1;
        if (event.altKey || this.grabbed === card) this.move(index, delta);
        else this.focus(index + delta);
        break;
      }
      case "Home":
        this.focus(0);
        break;
      case "End":
        this.focus(this.cards.length - 1);
        break;
      case " ":
      case "Spacebar":
        this.grabbed = this.grabbed === card ? null : card;
        this.render();
        this.announce(
          this.grabbed
            ? `Picked up response ${card.letter}. Use the arrow keys to move it, Space to drop.`
            : `Dropped. ${this.describe(card)}`,
        );
        break;
      case "Escape":
        if (!this.grabbed) return;
        this.grabbed = null;
        this.render();
        this.announce(`Dropped. ${this.describe(card)}`);
        break;
      case "t":
      case "T":
        if (event.altKey) return;
        this.toggleTie(index);
        break;
      case "PageUp":
      case "PageDown": {
        const body = cardEl.querySelector("[data-body]");
        body.scrollBy({ top: (event.key === "PageUp" ? -0.8 : 0.8) * body.clientHeight });
        break;
      }
      default:
        handled = false;
    }
    if (handled) {
      event.preventDefault();
      event.stopPropagation();
    }
  }

  onClick(event) {
    const button = event.target.closest("button[data-act]");
    if (!button) return;
    const index = this.indexOfElement(button.closest(".rank-card"));
    if (index < 0) return;
    const act = button.dataset.act;
    if (act === "tie") {
      this.toggleTie(index);
      this.focus(index); // so Enter submits instead of pressing Tie again
    } else this.move(index, act === "up" ? -1 : 1);
  }

  onPointerDown(event) {
    const handle = event.target.closest("[data-handle]");
    if (!handle || event.button !== 0) return;
    const el = handle.closest(".rank-card");
    const index = this.indexOfElement(el);
    if (index < 0) return;
    event.preventDefault();
    this.drag = { card: this.cards[index], from: index, pointerId: event.pointerId };
    el.classList.add("dragging");
    handle.setPointerCapture(event.pointerId);
    const move = (e) => this.onPointerMove(e);
    const end = () => {
      handle.removeEventListener("pointermove", move);
      handle.removeEventListener("pointerup", end);
      handle.removeEventListener("pointercancel", end);
      this.onPointerEnd();
    };
    handle.addEventListener("pointermove", move);
    handle.addEventListener("pointerup", end);
    handle.addEventListener("pointercancel", end);
  }

  onPointerMove(event) {
    if (!this.drag) return;
    const dragged = this.drag.card;
    // Near the top or bottom edge the page scrolls, so a long list can be crossed.
    const edge = 48;
    if (event.clientY < edge) window.scrollBy(0, -24);
    else if (event.clientY > window.innerHeight - edge) window.scrollBy(0, 24);
    // The dragged card goes after every other card whose middle is above the pointer.
    let target = 0;
    for (const card of this.cards) {
      if (card === dragged) continue;
      const box = card.el.getBoundingClientRect();
      if (event.clientY > box.top + box.height / 2) target += 1;
    }
    const current = this.cards.indexOf(dragged);
    if (target !== current) {
      this.cards.splice(current, 1);
      this.cards.splice(target, 0, dragged);
      this.render();
    }
  }

  onPointerEnd() {
    if (!this.drag) return;
    const { card, from } = this.drag;
    this.drag = null;
    card.el.classList.remove("dragging");
    const index = this.cards.indexOf(card);
    if (index !== from) {
      card.tied = false;
      this.cards[0].tied = false;
      this.focusIndex = index;
      this.changed();
      this.announce(this.describe(card));
    }
  }
}
