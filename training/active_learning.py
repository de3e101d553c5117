"""Active learning: send human labels where the reward model is least sure.

Each open item's responses are scored with the project's active reward model.
The model's uncertainty about the item is the normalized entropy of its
Plackett–Luce first-choice distribution p = softmax(r):

    u = −Σ p_i log p_i / log K        (0: one response clearly best; 1: all equal)

For a pair this is the binary entropy of σ(r_A − r_B), largest when
|r_A − r_B| is small; for K-way items it is highest when the ranking is most
open. The item's queue priority is raised to u on the queue's common scale
(annotation.services.queue_priority: round(100 · u)), so the queue (highest
priority first) serves the items the model learns most from first.

Priorities are only ever raised (queue_priority.items_priority_raise), as
disagreement-first does: a priority an admin set, or a higher one from
disagreement or an earlier pass, is never lowered. Re-running after a new
reward model adds its uncertain items on top.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from annotation.errors import Conflict
from annotation.models import ComparisonItem, ItemResponse, Project
from annotation.services.queue_priority import items_priority_raise, priority_for_share
from training.selectors import reward_model_active
from training.services.registry import project_rewards_score

logger = logging.getLogger(__name__)

ITEMS_PER_BATCH = 500


def ranking_uncertainty(rewards: Sequence[float]) -> float:
    """Normalized entropy of softmax(rewards), in [0, 1]. Framework-free."""
    k = len(rewards)
    if k < 2:
        return 0.0
    top = max(rewards)
    weights = [math.exp(r - top) for r in rewards]  # shifted: no overflow for large rewards
    total = sum(weights)
    entropy = -sum((w / total) * math.log(w / total) for w in weights if w > 0)
    return min(1.0, max(0.0, entropy / math.log(k)))


@dataclass
class PrioritizeResult:
    model: str
    scored: int = 0
    raised: int = 0
    # item id → (uncertainty, priority it asks for), for reports and tests
    uncertainty: dict[int, float] = field(default_factory=dict)


def _open_items(project: Project, limit: int | None):
    items = (ComparisonItem.objects.filter(project=project, is_open=True, is_gold=False)
             .select_related("prompt").order_by("pk"))
    return items[:limit] if limit else items


def items_prioritize(*, project: Project, limit: int | None = None) -> PrioritizeResult:
    """Score the project's open, non-gold items with its active reward model and
    raise the priority of the uncertain ones. ``limit``: the oldest N open items."""
    spec = reward_model_active(project=project)
    if spec is None:
        raise Conflict("the project has no active reward model: train one first", field="reward_model")
    result = PrioritizeResult(model=spec.name)
    items = list(_open_items(project, limit))
    for start in range(0, len(items), ITEMS_PER_BATCH):
        batch = items[start:start + ITEMS_PER_BATCH]
        slots: dict[int, list[tuple[int, int, str]]] = defaultdict(list)  # item → (position, response, text)
        for item_id, position, response_id, text in (
                ItemResponse.objects.filter(item__in=batch).order_by("item_id", "position")
                .values_list("item_id", "position", "response_id", "response__text")):
            slots[item_id].append((position, response_id, text))
        # Score each prompt's distinct responses once: items built by all_pairs
        # share responses, and one forward pass per prompt batches them.
        by_prompt: dict[int, list[ComparisonItem]] = defaultdict(list)
        for item in batch:
            by_prompt[item.prompt_id].append(item)
        wanted: dict[int, list[int]] = defaultdict(list)  # priority → item ids
        for prompt_items in by_prompt.values():
            texts: dict[int, str] = {}
            for item in prompt_items:
                for _, response_id, text in slots[item.pk]:
                    texts[response_id] = text
            ids = list(texts)
            scores = dict(zip(ids, project_rewards_score(
                project=project, prompt_messages=prompt_items[0].prompt.messages,
                responses=[texts[i] for i in ids]), strict=True))
            for item in prompt_items:
                rewards = [scores[response_id] for _, response_id, _ in slots[item.pk]]
                u = ranking_uncertainty(rewards)
                result.uncertainty[item.pk] = u
                wanted[priority_for_share(u)].append(item.pk)
            result.scored += len(prompt_items)
        for priority, ids in wanted.items():
            result.raised += items_priority_raise(item_ids=ids, priority=priority)
    logger.info("active learning on project %s with %s: %s items scored, %s raised",
                project.slug, spec.name, result.scored, result.raised)
    return result
