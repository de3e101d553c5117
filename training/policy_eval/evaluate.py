"""Evaluate a trained policy against its reference on held-out prompts. No Django.

For each prompt, ``samples_per_prompt`` samples from the policy and as many
from the reference (the same seeds). Then

- win rate: each judge (see ``judges``: the round's own reward model, and the
  independent ones) compares sample i of the policy with sample i of the
  reference (same prompt, same seed); a win is 1, a tie ½, a loss 0;
  averaged per prompt and bootstrapped over prompts (the same resampled
  prompts for every judge) for the interval, beside the length-controlled
  win rate;
- KL(policy ‖ reference) ≈ mean over the policy's samples of
  log π(y|x) − log π_ref(y|x), each summed over the response tokens
  (an unbiased estimate; it can come out slightly negative on few samples);
- length change: mean response tokens of policy minus reference.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from training.policy_eval.judges import judges_summarize
from training.policy_eval.sampling import (
    Sample,
    causal_lm_load,
    prompt_ids_render,
    samples_draw,
    sequence_logprobs,
)
from training.policy_eval.stats import bootstrap_ci, group_means, win_scores

# judge(prompt_messages, responses) -> one score per response (higher is better)
Judge = Callable[[list[dict], list[str]], list[float]]
# pair judge(prompt_messages, [(policy text, reference text), ...]) -> per pair the
# policy's win score (1, ½, 0) or None when the judge said nothing usable
PairJudge = Callable[[list[dict], list[tuple[str, str]]], list[float | None]]


@dataclass(frozen=True)
class EvalConfig:
    num_prompts: int = 10_000
    """At most this many held-out prompts (the first ones by id); the default: all of them."""
    samples_per_prompt: int = 4
    """Samples from each model per prompt."""
    max_new_tokens: int = 128
    """Longest response sampled."""
    temperature: float = 1.0
    """Sampling temperature; the KL is between the models tempered alike (1: the models' own)."""
    seed: int = 0
    """Seeds sampling and the bootstrap."""
    batch_size: int = 8
    """Sequences per forward pass."""
    resamples: int = 2000
    """Bootstrap resamples."""
    level: float = 0.95
    """Interval coverage."""

    def __post_init__(self):
        checks = [
            ("num_prompts", 1 <= self.num_prompts <= 10_000, "must be from 1 to 10000"),
            ("samples_per_prompt", 1 <= self.samples_per_prompt <= 64, "must be from 1 to 64"),
            ("max_new_tokens", 1 <= self.max_new_tokens <= 4096, "must be from 1 to 4096"),
            ("temperature", 0 < self.temperature <= 5, "must be in (0, 5]"),
            ("seed", self.seed >= 0, "must be zero or more"),
            ("batch_size", 1 <= self.batch_size <= 512, "must be from 1 to 512"),
            ("resamples", 100 <= self.resamples <= 100_000, "must be from 100 to 100000"),
            ("level", 0.5 <= self.level < 1, "must be in [0.5, 1)"),
        ]
        for name, ok, message in checks:
            if not ok:
                raise ValueError(f"{name}: {message}")

    @classmethod
    def from_dict(cls, data: dict | None) -> EvalConfig:
        """Raises ValueError("field: message") on an unknown field or a bad value."""
        data = dict(data or {})
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown evaluation setting")
        for name, value in data.items():
            kind = float if known[name] == "float" else int
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    kind is int and not float(value).is_integer()):
                raise ValueError(f"{name}: must be {'a number' if kind is float else 'an integer'}")
            data[name] = kind(value)
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EvalOutcome:
    metrics: dict
    samples: list[dict]  # per prompt: its index, policy and reference texts and scores


def policy_evaluate(*, policy_dir: str | Path, reference_dir: str | Path, prompts: Sequence[list[dict]],
                    judge: Judge, config: EvalConfig | None = None, device: str = "cpu",
                    on_progress: Callable[[], None] | None = None,
                    score_judges: dict[str, Judge] | None = None,
                    pair_judges: dict[str, PairJudge] | None = None) -> EvalOutcome:
    """Sample both models on ``prompts``, judge, estimate the KL; see the module doc.

    ``judge`` is the round's own reward model (reported as "own_reward", the
    top-level win rate); ``score_judges`` score responses like it,
    ``pair_judges`` compare a policy answer with a reference answer.
    """
    config = config or EvalConfig()
    if not prompts:
        raise ValueError("no prompts to evaluate on")
    prompts = list(prompts)[:config.num_prompts]
    timings: dict[str, float] = {}
    beat = on_progress or (lambda: None)

    started = time.monotonic()
    policy, tokenizer = causal_lm_load(policy_dir, device=device)
    same = Path(policy_dir).resolve() == Path(reference_dir).resolve()
    reference, ref_tokenizer = (policy, tokenizer) if same else causal_lm_load(reference_dir, device=device)
    # The DPO trainer keeps the base tokenizer, so both render prompts alike;
    # log-probs of one model's tokens under the other need the same vocabulary.
    if not same and ref_tokenizer.get_vocab() != tokenizer.get_vocab():
        raise ValueError("the policy and the reference use different tokenizers; their KL is undefined")
    encoded = [prompt_ids_render(tokenizer, messages) for messages in prompts]
    timings["load"] = time.monotonic() - started

    started = time.monotonic()
    draw = {"n": config.samples_per_prompt, "max_new_tokens": config.max_new_tokens,
            "temperature": config.temperature, "seed": config.seed, "batch_size": config.batch_size,
            "on_batch": lambda _: beat()}
    policy_samples = samples_draw(policy, tokenizer, encoded, **draw)
    reference_samples = samples_draw(reference, tokenizer, encoded, **draw)
    timings["sample"] = time.monotonic() - started

    started = time.monotonic()
    pad = tokenizer.pad_token_id or 0
    logp_policy = sequence_logprobs(policy, policy_samples, temperature=config.temperature,
                                    batch_size=config.batch_size, pad_id=pad)
    beat()
    logp_reference = (logp_policy if same else sequence_logprobs(
        reference, policy_samples, temperature=config.temperature, batch_size=config.batch_size,
        pad_id=pad))
    log_ratio = np.asarray(logp_policy) - np.asarray(logp_reference)
    timings["kl"] = time.monotonic() - started
    del policy, reference  # the judge may load a model of its own

    started = time.monotonic()
    k = config.samples_per_prompt
    policy_scores: list[float] = []
    reference_scores: list[float] = []
    for index, messages in enumerate(prompts):
        mine = [s.text for s in policy_samples[index * k:(index + 1) * k]]
        theirs = [s.text for s in reference_samples[index * k:(index + 1) * k]]
        scores = list(judge(messages, mine + theirs))
        if len(scores) != 2 * k:
            raise ValueError(f"the judge returned {len(scores)} scores for {2 * k} responses")
        policy_scores.extend(scores[:k])
        reference_scores.extend(scores[k:])
        beat()
    groups = [s.prompt_index for s in policy_samples]
    # Identical texts tie whatever the judge says (it may not be deterministic).
    same_text = np.array([a.text == b.text for a, b in zip(policy_samples, reference_samples, strict=True)])
    wins = win_scores(policy_scores, reference_scores)
    wins[same_text] = 0.5
    all_wins = {"own_reward": wins}
    for name, other in (score_judges or {}).items():
        all_wins[name] = _scored_wins(other, prompts, policy_samples, reference_samples, k, beat)
    for name, pair_judge in (pair_judges or {}).items():
        all_wins[name] = _paired_wins(pair_judge, prompts, policy_samples, reference_samples, k, beat)
    for name in all_wins:
        all_wins[name][same_text] = 0.5
    timings["judge"] = time.monotonic() - started

    length_difference = [len(a.response_ids) - len(b.response_ids)
                         for a, b in zip(policy_samples, reference_samples, strict=True)]
    judges = judges_summarize(all_wins, groups, length_difference, resamples=config.resamples,
                              level=config.level, seed=config.seed)
    win = bootstrap_ci(group_means(wins, groups), resamples=config.resamples, level=config.level,
                       seed=config.seed)
    kl = bootstrap_ci(group_means(log_ratio, groups), resamples=config.resamples, level=config.level,
                      seed=config.seed)
    policy_len = float(np.mean([len(s.response_ids) for s in policy_samples]))
    reference_len = float(np.mean([len(s.response_ids) for s in reference_samples]))
    metrics = {
        "prompts": len(prompts), "samples": len(policy_samples),
        "win_rate": win.estimate, "win_rate_low": win.low, "win_rate_high": win.high,
        "wins": int((wins == 1).sum()), "ties": int((wins == 0.5).sum()), "losses": int((wins == 0).sum()),
        "kl": kl.estimate, "kl_low": kl.low, "kl_high": kl.high,
        "policy_length": policy_len, "reference_length": reference_len,
        "length_change": policy_len - reference_len,
        "length_ratio": policy_len / reference_len if reference_len else None,
        "policy_truncated": float(np.mean([not s.finished for s in policy_samples])),
        "mean_policy_reward": float(np.mean(policy_scores)),
        "mean_reference_reward": float(np.mean(reference_scores)),
        "level": config.level, "timings": {k: round(v, 3) for k, v in timings.items()},
        "judges": judges,
    }
    # The top-level win rate stays the own reward model's (older readers); its LC rate beside it.
    own = judges["own_reward"]
    metrics.update(lc_win_rate=own.get("lc_win_rate"), lc_win_rate_low=own.get("lc_win_rate_low"),
                   lc_win_rate_high=own.get("lc_win_rate_high"))
    rows = _per_prompt(prompts, policy_samples, reference_samples, policy_scores, reference_scores, k)
    for row in rows:
        part = slice(row["prompt_index"] * k, (row["prompt_index"] + 1) * k)
        row["policy_tokens"] = [len(s.response_ids) for s in policy_samples[part]]
        row["reference_tokens"] = [len(s.response_ids) for s in reference_samples[part]]
        row["judges"] = {name: [None if np.isnan(x) else float(x) for x in values[part]]
                         for name, values in all_wins.items()}
    return EvalOutcome(metrics=metrics, samples=rows)


def _scored_wins(judge: Judge, prompts, policy_samples: list[Sample], reference_samples: list[Sample],
                 k: int, beat: Callable[[], None]) -> np.ndarray:
    mine_all, theirs_all = [], []
    for index, messages in enumerate(prompts):
        mine = [s.text for s in policy_samples[index * k:(index + 1) * k]]
        theirs = [s.text for s in reference_samples[index * k:(index + 1) * k]]
        scores = list(judge(messages, mine + theirs))
        if len(scores) != 2 * k:
            raise ValueError(f"the judge returned {len(scores)} scores for {2 * k} responses")
        mine_all.extend(scores[:k])
        theirs_all.extend(scores[k:])
        beat()
    return win_scores(mine_all, theirs_all)


def _paired_wins(judge: PairJudge, prompts, policy_samples: list[Sample], reference_samples: list[Sample],
                 k: int, beat: Callable[[], None]) -> np.ndarray:
    out: list[float] = []
    for index, messages in enumerate(prompts):
        pairs = [(a.text, b.text) for a, b in zip(policy_samples[index * k:(index + 1) * k],
                                                  reference_samples[index * k:(index + 1) * k], strict=True)]
        verdicts = list(judge(messages, pairs))
        if len(verdicts) != k:
            raise ValueError(f"the pair judge returned {len(verdicts)} verdicts for {k} pairs")
        out.extend(np.nan if v is None else float(v) for v in verdicts)
        beat()
    return np.asarray(out, dtype=np.float64)


def _per_prompt(prompts, policy_samples: list[Sample], reference_samples: list[Sample],
                policy_scores: list[float], reference_scores: list[float], k: int) -> list[dict]:
    rows = []
    for index in range(len(prompts)):
        part = slice(index * k, (index + 1) * k)
        rows.append({
            "prompt_index": index,
            "policy": [s.text for s in policy_samples[part]],
            "reference": [s.text for s in reference_samples[part]],
            "policy_scores": [round(x, 5) for x in policy_scores[part]],
            "reference_scores": [round(x, 5) for x in reference_scores[part]],
        })
    return rows
