"""A loop round's report: is its gain real? One dict that the round report page
renders and the API returns as JSON.

It puts side by side every judge of the round's evaluation (win rate and
length-controlled win rate, each with its interval and prompt count, and
whether the judge is independent of the labels the policy was trained on),
the KL to the reference, the length change, the reward model's held-out
accuracy, the decision with the rule that made it, and policy and reference
answers to the same prompt drawn with the same seed, diffed word by word.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from annotation.models import Prompt
from training.loop.models import LoopRound
from training.loop.selectors import trained_model_name
from training.policy_eval.judges import JUDGES

# Shown first the judges a promotion may rest on, the circular one last.
JUDGE_ORDER = ("ground_truth", "previous_reward", "ai_judge", "human", "own_reward")
SAMPLES_SHOWN = 20
_TOKENS = re.compile(r"\s+|[^\s]+")


def words_diff(reference: str, policy: str) -> list[dict]:
    """The two answers as runs of {"op": "same" | "reference" | "policy", "text"}:
    what both share, what only the reference says, what only the policy says.
    Word by word (whitespace kept), so reading the runs in order shows each answer."""
    a, b = _TOKENS.findall(reference), _TOKENS.findall(policy)
    runs: list[dict] = []

    def add(op: str, parts: list[str]) -> None:
        text = "".join(parts)
        if not text:
            return
        if runs and runs[-1]["op"] == op:
            runs[-1]["text"] += text
        else:
            runs.append({"op": op, "text": text})

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            add("same", a[i1:i2])
        else:
            add("reference", a[i1:i2])
            add("policy", b[j1:j2])
    return runs


def _human_judge(human: dict) -> dict | None:
    if not human:
        return None
    if human.get("win_rate") is None:
        return {**JUDGES["human"], "available": False, "prompts": 0,
                "reason": f"{human.get('items', 0)} blind items, none labeled yet"}
    return {**JUDGES["human"], "available": True, "win_rate": human["win_rate"],
            "win_rate_low": human["win_rate_low"], "win_rate_high": human["win_rate_high"],
            "prompts": human.get("labeled_items", 0), "comparisons": human.get("annotations", 0),
            "level": human.get("level", 0.95), "lc_win_rate": None,
            "source": "people, blind to which answer is the policy's (one item per held-out prompt)"}


def judges_rows(results: dict, human: dict | None, decided_by: str | None) -> list[dict]:
    """The judges of an evaluation in report order, each with its name and
    whether the decision rested on it."""
    judges = dict(results.get("judges") or {})
    if "own_reward" not in judges and results.get("win_rate") is not None:
        # An evaluation from before the judges were split: its one judge was the own reward model.
        judges["own_reward"] = {"available": True, "prompts": results.get("prompts"),
                                **{k: results.get(k) for k in ("win_rate", "win_rate_low", "win_rate_high")}}
    human_row = _human_judge(human or {})
    if human_row is not None:
        judges["human"] = human_row
    rows = []
    for name in sorted(judges, key=lambda n: JUDGE_ORDER.index(n) if n in JUDGE_ORDER else len(JUDGE_ORDER)):
        row = {**JUDGES.get(name, {"label": name, "independent": None}), **judges[name], "name": name,
               "decided": name == decided_by}
        rows.append(row)
    return rows


def sample_rows(samples: list[dict], *, limit: int = SAMPLES_SHOWN) -> list[dict]:
    """The first answer pair of each of the first ``limit`` held-out prompts:
    sample 0 of both models, drawn with the same seed, with its diff and each
    judge's verdict on it (1: the policy's answer wins, 0: the reference's)."""
    rows = samples[:limit]
    texts = Prompt.objects.in_bulk([r["prompt_id"] for r in rows if r.get("prompt_id")])
    out = []
    for row in rows:
        if not row.get("policy") or not row.get("reference"):
            continue
        prompt = texts.get(row.get("prompt_id"))
        messages = prompt.messages if prompt is not None else []
        policy, reference = row["policy"][0], row["reference"][0]
        out.append({
            "prompt_id": row.get("prompt_id"), "sample": 0,
            "prompt": "\n\n".join(m.get("content", "") for m in messages if m.get("role") == "user"),
            "policy": policy, "reference": reference,
            "policy_tokens": (row.get("policy_tokens") or [None])[0],
            "reference_tokens": (row.get("reference_tokens") or [None])[0],
            "diff": words_diff(reference, policy),
            "verdicts": {name: values[0] for name, values in (row.get("judges") or {}).items() if values},
        })
    return out


def loop_round_report(*, rnd: LoopRound, samples_shown: int = SAMPLES_SHOWN) -> dict:
    """Everything the round report shows, JSON-ready. ``rnd`` comes from a
    permission-checked lookup (training.loop_api.rounds_for)."""
    evaluation = rnd.evaluation
    results = evaluation.results if evaluation is not None else {}
    detail = rnd.decision_detail or {}
    reward_results = (rnd.reward_run.results or {}) if rnd.reward_run is not None else {}
    report: dict[str, Any] = {
        "round": {"id": rnd.pk, "number": rnd.number, "status": rnd.status, "stage": rnd.stage,
                  "created_at": rnd.created_at.isoformat(),
                  "finished_at": rnd.finished_at.isoformat() if rnd.finished_at else None},
        "reference_policy": rnd.reference_policy.name,
        "policy": trained_model_name(rnd.dpo_run),
        "snapshot": ({"version": rnd.snapshot.version, "counts": rnd.snapshot.counts}
                     if rnd.snapshot is not None else None),
        "reward_model": {
            "name": trained_model_name(rnd.reward_run),
            "heldout_accuracy": reward_results.get("accuracy"),
            "heldout_pairs": reward_results.get("pairs"),
        },
        "decision": {"decision": rnd.decision or None, "reason": rnd.decision_reason,
                     "rule": detail, "judge": detail.get("judge")},
        "evaluation": None, "judges": [], "samples": [],
    }
    if evaluation is None:
        return report
    config = evaluation.config or {}
    report["evaluation"] = {
        "id": evaluation.pk, "prompts": results.get("prompts"), "comparisons": results.get("samples"),
        "samples_per_prompt": config.get("samples_per_prompt"), "seed": config.get("seed"),
        "level": results.get("level"), "max_new_tokens": config.get("max_new_tokens"),
        **{k: results.get(k) for k in ("kl", "kl_low", "kl_high", "policy_length", "reference_length",
                                       "length_change", "length_ratio", "policy_truncated")},
    }
    report["judges"] = judges_rows(results, evaluation.human_results, detail.get("judge"))
    report["samples"] = sample_rows(evaluation.samples or [], limit=samples_shown)
    return report
