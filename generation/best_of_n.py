"""Best-of-N: sample N candidates for a prompt, score them with the project's
active reward model, and ask people about the pair that teaches the most.

The first item of a prompt is its **best against its worst** candidate by
reward: the widest gap the reward model sees, so a human label either confirms
the model's strongest opinion on this prompt or catches it being confidently
wrong (the labels that move a reward model most). With ``max_items_per_prompt``
above 1, each further item pairs the **best with a random other** candidate
(uniform, without repeats), which adds pairs nearer the decision boundary
instead of more easy ones. Every pair is shuffled, so the best candidate is not
always in position A.

The selection is a pure function of the rewards (registered in
``generation/strategies.py`` as the strategy ``best_of_n``); the rewards come
from the reward scorer the training app registers (``generation/scorers.py``):
reward models belong to training, which generation does not import.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from annotation.errors import Conflict, Invalid
from generation.scorers import reward_scorer

NAME = "best_of_n"
CHOICE = (NAME, "Best-of-N: the reward model's best candidate against its worst")


def best_of_n(candidates: Sequence, *, k: int, max_items: int | None, rng: random.Random,
              scores: Sequence[float]) -> list[tuple[int, ...]]:
    """Pairs of candidate indices: (best, worst), then (best, random other)…

    ``scores[i]`` is candidate i's reward. Ties in reward keep the earlier
    candidate as best and the later as worst, so equal scores still give a
    pair of two different candidates.
    """
    if len(scores) != len(candidates):
        raise ValueError(f"{len(scores)} scores for {len(candidates)} candidates")
    if k != 2:
        raise ValueError("best-of-N builds pairs (k = 2)")
    if len(candidates) < 2:
        return []
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
    best, worst = order[0], order[-1]
    others = [i for i in range(len(candidates)) if i not in (best, worst)]
    rng.shuffle(others)
    limit = 1 if max_items is None else max_items
    pairs = [(best, other) for other in [worst, *others]][:limit]
    return [_shuffled(pair, rng) for pair in pairs]


def _shuffled(pair: tuple[int, int], rng: random.Random) -> tuple[int, ...]:
    group = list(pair)
    rng.shuffle(group)
    return tuple(group)


def candidates_score(*, project, prompt_messages: list[dict], texts: list[str]) -> list[float]:
    """Each candidate's reward under the project's active reward model; Conflict
    (field ``reward_model``) when the project has none."""
    scorer = reward_scorer()
    if scorer is None:
        raise Conflict("no reward scorer is installed (the training app provides it)",
                       field="reward_model")
    return scorer.score(project=project, prompt_messages=prompt_messages, texts=texts)


def reward_model_check(*, project) -> None:
    """Refuse a best-of-N job up front when there is no reward model to score with."""
    scorer = reward_scorer()
    if scorer is None or not scorer.has_model(project=project):
        raise Invalid("best_of_n scores candidates with the project's active reward model, and "
                      "the project has none: train one first (manage.py train SLUG --kind reward)",
                      field="strategy")
