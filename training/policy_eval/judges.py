"""Who judges a policy evaluation, how their verdicts are summarized, and which
one a promotion may rest on. No Django.

Every judge gives, for each policy sample, a win score against the reference
sample drawn for the same prompt with the same seed: 1 the policy's answer
wins, 0 it loses, ½ a tie. The judges:

- ``own_reward``: the round's own reward model. It learned the very labels
  the policy was optimised on, so its verdict is circular: shown, marked not
  independent, never the basis of a promotion;
- ``previous_reward``: the reward model of the project's previous loop round.
  It was trained on an earlier snapshot and saw none of the pairs that are new
  in this round's snapshot (it did see the older ones: the report says how
  many). A round whose snapshot has no new decided pair leaves it a model of
  exactly the policy's labels: its entry is then marked not independent;
- ``ai_judge``: a judge model from the registry, asked through the AI
  labeler's prompt and parser, each pair in both orders (a verdict that flips
  with the order is a tie: the position decided, not the answers);
- ``human``: the blind human evaluation, when its items have labels;
- ``ground_truth``: only where the true preference is known (the loop
  benchmark's synthetic labelers).

Summaries are over prompts: a prompt's comparisons are averaged, and all
judges are bootstrapped with the *same* resampled prompts (a paired bootstrap),
beside a length-controlled win rate (see ``stats.lc_win_rate``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from training.policy_eval.stats import group_means, lc_bootstrap, paired_bootstrap

JUDGES: dict[str, dict] = {
    "own_reward": {"label": "this round's reward model", "independent": False},
    "previous_reward": {"label": "previous round's reward model", "independent": True},
    "ai_judge": {"label": "AI judge", "independent": True},
    "human": {"label": "blind human evaluation", "independent": True},
    "ground_truth": {"label": "ground truth (the labelers' own rule)", "independent": True},
}

# What a loop setting may name as the judge of a promotion. "independent":
# the first of PROMOTION_ORDER that has a verdict. The round's own reward
# model is deliberately absent: a promotion cannot rest on it.
PROMOTION_ORDER = ("previous_reward", "ai_judge")
PROMOTION_CHOICES = ("independent",) + PROMOTION_ORDER


def judge_meta(name: str) -> dict:
    if name not in JUDGES:
        raise ValueError(f"unknown judge '{name}' (known: {', '.join(JUDGES)})")
    return dict(JUDGES[name])


def judges_summarize(wins: Mapping[str, ArrayLike], groups: ArrayLike,
                     length_difference: ArrayLike, *, resamples: int = 2000,
                     level: float = 0.95, seed: int = 0) -> dict[str, dict]:
    """Per judge: raw win rate and interval, LC win rate and interval, counts.

    ``wins[name][i]`` is the judge's score of comparison i (NaN: no verdict,
    left out); ``groups[i]`` its prompt; ``length_difference[i]`` the policy's
    answer length minus the reference's, in tokens.
    """
    prompt_of = np.asarray(groups)
    diff = np.asarray(length_difference, dtype=np.float64)
    out: dict[str, dict] = {}
    per_prompt: dict[str, np.ndarray] = {}
    kept: dict[str, np.ndarray] = {}
    for name, given in wins.items():
        values = np.asarray(given, dtype=np.float64)
        if values.shape != prompt_of.shape:
            raise ValueError(f"judge '{name}': {values.size} scores for {prompt_of.size} comparisons")
        keep = ~np.isnan(values)
        kept[name] = keep
        if not keep.any():
            out[name] = {"available": False, "reason": "no verdict on any comparison",
                         "comparisons": 0, "prompts": 0}
            continue
        per_prompt[name] = group_means(values[keep], prompt_of[keep])
    # Pair only judges that cover the same prompts (a judge with gaps is bootstrapped alone).
    full = {n for n in per_prompt if kept[n].all()}
    intervals = paired_bootstrap({n: per_prompt[n] for n in full}, resamples=resamples, level=level,
                                 seed=seed) if full else {}
    for name in per_prompt:
        if name not in intervals:
            intervals.update(paired_bootstrap({name: per_prompt[name]}, resamples=resamples, level=level,
                                              seed=seed))
    for name, interval in intervals.items():
        values = np.asarray(wins[name], dtype=np.float64)[kept[name]]
        lc = lc_bootstrap(values, diff[kept[name]], prompt_of[kept[name]], resamples=resamples, level=level,
                          seed=seed)
        out[name] = {
            "available": True, "win_rate": interval.estimate, "win_rate_low": interval.low,
            "win_rate_high": interval.high, "prompts": interval.n, "comparisons": int(values.size),
            "lc_win_rate": lc.estimate, "lc_win_rate_low": lc.low, "lc_win_rate_high": lc.high,
            "wins": int((values == 1).sum()), "ties": int((values == 0.5).sum()),
            "losses": int((values == 0).sum()), "no_verdict": int((~kept[name]).sum()), "level": level,
        }
    return out


def promotion_judge_select(judges: dict[str, dict], choice: str = "independent") -> tuple[str | None, str]:
    """(the judge a promotion rests on, why that one) — or (None, why none).

    ``choice`` is a loop setting's ``promotion_judge``: a judge's name, or
    "independent" for the first of PROMOTION_ORDER with a verdict.
    """
    if choice not in PROMOTION_CHOICES:
        raise ValueError(f"unknown promotion judge '{choice}' (choices: {', '.join(PROMOTION_CHOICES)})")
    candidates = PROMOTION_ORDER if choice == "independent" else (choice,)
    missing, passed_over = [], []
    for name in candidates:
        summary = judges.get(name) or {}
        if summary.get("available") and summary.get("independent") is False:
            # The evaluation found this judge saw the policy's labels after all.
            dependence = summary.get("dependence") or "it saw the labels the policy was trained on"
            passed_over.append(f"{JUDGES[name]['label']}: not independent, {dependence}")
            missing.append(passed_over[-1])
            continue
        if summary.get("available"):
            how = ("the first independent judge with a verdict" if choice == "independent"
                   else "set for this loop")
            if passed_over:  # say why a judge first in line did not decide
                how += "; passed over: " + "; ".join(passed_over)
            return name, f"{JUDGES[name]['label']} ({how})"
        missing.append(f"{JUDGES[name]['label']}: {summary.get('reason') or 'not asked'}")
    return None, "no independent judge has a verdict (" + "; ".join(missing) + ")"
