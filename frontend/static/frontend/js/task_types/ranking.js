/* Palate labeling page, ranking task: K cards ordered best first (drag, or the
 * keyboard of RankingList); the canonical ranking is submitted. Hooks as in
 * pairwise.js. */
import { RankingList } from "./ranking_list.js";

export function createTask({ announce, changed }) {
  const ranking = new RankingList(
    document.getElementById("rank-list"),
    document.getElementById("rank-card-template"),
    announce,
    changed,
  );
  let confirmUnchanged = false;

  return {
    render(content) {
      confirmUnchanged = false;
      ranking.load(content.responses);
    },
    reset() {},
    draft() {
      return { order: ranking.touched ? ranking.snapshot() : null };
    },
    restore(draft) {
      if (draft.order) ranking.restore(draft.order);
    },
    collect() {
      if (!ranking.touched && !confirmUnchanged) {
        confirmUnchanged = true;
        return { error: "You have not changed the order shown. Press Enter again to submit it as your ranking." };
      }
      return { fields: { ranking: ranking.canonicalRanking() } };
    },
    onKey(key, event) {
      if ((key === "ArrowUp" || key === "ArrowDown") && !event.target.closest(".rank-list, input, .scroll")) {
        ranking.focus(ranking.focusIndex);
        return true;
      }
      return false;
    },
    focus() {
      ranking.focus(0, true);
    },
  };
}
