"""The reward scorer generation asks for, provided by the training app.

Best-of-N scores candidates with the project's active reward model, and reward
models belong to ``training``, which sits above ``generation`` in the layer
contract (pyproject.toml, docs/architecture.md): generation must not import it.
So generation declares here what it needs, and training registers the
implementation in its ``AppConfig.ready()`` (``training.reward.scorer``). With
the training app not installed there is no scorer, and best-of-N is refused as
for a project without a reward model.
"""

from __future__ import annotations

from typing import Protocol


class RewardScorer(Protocol):
    def has_model(self, *, project) -> bool:
        """Whether the project has a reward model to score with."""
        ...

    def score(self, *, project, prompt_messages: list[dict], texts: list[str]) -> list[float]:
        """Each text's reward as the response to ``prompt_messages``; Conflict (field
        ``reward_model``) when the project has no reward model."""
        ...


_scorer: RewardScorer | None = None


def reward_scorer_register(scorer: RewardScorer) -> None:
    """Called once by the app that owns reward models (training) when Django is ready."""
    global _scorer
    _scorer = scorer


def reward_scorer() -> RewardScorer | None:
    return _scorer
