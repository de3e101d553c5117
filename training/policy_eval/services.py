"""Policy evaluations as rows: the reward-model-judged evaluation after
training, and the blind human evaluation through the labeling queue."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation.errors import Conflict, DomainError, Invalid
from annotation.models import (
    Annotation,
    AnnotationSource,
    DatasetSnapshot,
    Project,
    Prompt,
    Response,
    ResponseSource,
    SnapshotPair,
)
from annotation.services.items import ResponseInput, item_create
from annotation.task_types import task_type_of
from audit.services import audit_record
from generation.backends.base import SamplingParams
from generation.models import ModelRole, ModelSpec
from generation.services.labeling import judge_template_for, pair_strengths_judge
from generation.services.registry import model_spec_default
from generation.services.runtime import backend_for, backend_release, spec_path
from training.loop.models import LoopRound
from training.models import TrainingRun
from training.policy_eval.judges import judge_meta
from training.policy_eval.models import HumanEvalItem, PolicyEvaluation
from training.policy_eval.stats import bootstrap_ci
from training.selectors import reward_model_active


# Reward-model-judged evaluation ----------------------------------------------
def held_out_prompts(*, snapshot: DatasetSnapshot, limit: int) -> list[tuple[int, list[dict]]]:
    """(prompt id, messages) of the snapshot's test split, one per prompt, by id."""
    seen: dict[int, list[dict]] = {}
    rows = (SnapshotPair.objects.filter(snapshot=snapshot, split="test").order_by("prompt_id", "pk")
            .values_list("prompt_id", "prompt_messages"))
    for prompt_id, messages in rows.iterator(chunk_size=500):
        if prompt_id not in seen:
            seen[prompt_id] = messages
            if len(seen) >= limit:
                break
    return list(seen.items())


def reward_judge(spec: ModelSpec) -> Callable[[list[dict], list[str]], list[float]]:
    """Score responses with a trained reward model, truncated as in its training."""
    from training.scoring import rewards_score  # torch: only where scores are computed

    max_length = (spec.metadata.get("config") or {}).get("max_length", 512)
    path = spec_path(spec)

    def judge(prompt_messages: list[dict], responses: list[str]) -> list[float]:
        return rewards_score(model_dir=path, prompt_messages=prompt_messages, responses=responses,
                             max_length=max_length)

    return judge


def _checkpoint(spec: ModelSpec, field: str):
    path = spec_path(spec) if spec.path else None
    if path is None or not (path / "config.json").is_file():
        raise Invalid(f"model '{spec.name}' has no local checkpoint to sample from", field=field)
    return path


def eval_config_clean(data: dict | None):
    from training.policy_eval.evaluate import EvalConfig  # the training stack (torch): worker-side only

    try:
        return EvalConfig.from_dict(data)
    except ValueError as error:
        name, _, message = str(error).partition(": ")
        raise Invalid(message or str(error), field=f"eval_config.{name}") from None


def previous_reward_model(*, project: Project, snapshot: DatasetSnapshot) -> ModelSpec | None:
    """The reward model of the project's latest loop round on an older snapshot
    than ``snapshot``: trained before this snapshot's new pairs existed."""
    rnd = (LoopRound.objects.select_related("reward_run__output_model", "snapshot")
           .filter(project=project, snapshot__version__lt=snapshot.version,
                   reward_run__output_model__isnull=False, reward_run__output_model__is_active=True)
           .order_by("-snapshot__version", "-number").first())
    return rnd.reward_run.output_model if rnd is not None and rnd.reward_run is not None else None


def ai_judge_for(*, project: Project, spec: ModelSpec | None = None) -> tuple[ModelSpec | None, str]:
    """(the AI judge, where it came from): the one named, else the registry's
    judge model, else the default policy (no judge model registered)."""
    if spec is not None:
        return spec, "named in the loop setting"
    for roles, how in (((ModelRole.JUDGE,), "the registry's judge model"),
                       ((ModelRole.POLICY,), "the default policy (no judge model is registered)")):
        try:
            return model_spec_default(project=project, roles=roles), how
        except DomainError:
            continue
    return None, "no model is registered"


AI_JUDGE_SAMPLING = SamplingParams(n=1, temperature=0.0, max_tokens=8)  # "Verdict:" is prefilled


def ai_pair_judge(*, project: Project, spec: ModelSpec):
    """A pair judge (see evaluate.PairJudge) asking ``spec`` through the AI
    labeler's prompt, both orders; and a function that frees its backend."""
    backend = backend_for(spec)
    template = judge_template_for(project=project)
    to_score = {-1: 1.0, 0: 0.5, 1: 0.0, None: None}  # strength on (policy, reference) → policy's score

    def judge(prompt_messages: list[dict], pairs: list[tuple[str, str]]) -> list[float | None]:
        strengths = pair_strengths_judge(backend=backend, template=template, prompt_messages=prompt_messages,
                                         pairs=pairs, sampling=AI_JUDGE_SAMPLING)
        return [to_score[s] for s in strengths]

    return judge, lambda: backend_release(backend)


def policy_evaluation_compute(*, project: Project, policy: ModelSpec, reference: ModelSpec,
                              snapshot: DatasetSnapshot, reward_model: ModelSpec | None = None,
                              run=None, config: dict | None = None, created_by=None,
                              on_progress: Callable[[], None] | None = None,
                              independent_reward_model: ModelSpec | None | bool = True,
                              ai_judge: ModelSpec | None | bool = True) -> PolicyEvaluation:
    """Sample, judge and measure; the returned row is not saved yet (the loop
    saves it together with the round's progress).

    Judges: ``reward_model`` (the round's own, not independent); the previous
    round's reward model (``independent_reward_model``: True finds it, a spec
    names it, False/None skips it); an AI judge (``ai_judge``: True the
    registry's, a spec names it, False/None skips it). Each judge's entry in
    ``results["judges"]`` says what it is and whether it is independent."""
    from training.policy_eval.evaluate import policy_evaluate  # the training stack (torch): worker-side only

    cfg = eval_config_clean(config)
    policy_dir, reference_dir = _checkpoint(policy, "policy"), _checkpoint(reference, "reference")
    reward_model = reward_model or reward_model_active(project=project)
    if reward_model is None:
        raise Conflict("the project has no active reward model to judge with: train one first",
                       field="reward_model")
    prompts = held_out_prompts(snapshot=snapshot, limit=cfg.num_prompts)
    if not prompts:
        raise Invalid(f"snapshot v{snapshot.version} has no held-out (test split) prompts",
                      field="snapshot")
    meta = {"own_reward": {**judge_meta("own_reward"), "model": reward_model.name,
                           "source": f"trained on this snapshot (v{snapshot.version}), like the policy"}}
    score_judges, pair_judges, closers, missing = {}, {}, [], {}
    previous = (previous_reward_model(project=project, snapshot=snapshot)
                if independent_reward_model is True else independent_reward_model or None)
    if previous is not None and previous.pk != reward_model.pk:
        score_judges["previous_reward"] = reward_judge(previous)
        meta["previous_reward"] = {**judge_meta("previous_reward"), "model": previous.name,
                                   **_previous_independence(previous, snapshot)}
    elif independent_reward_model is not False:
        missing["previous_reward"] = "no earlier loop round has a reward model"
    if ai_judge is not False and ai_judge is not None:
        spec, how = ai_judge_for(project=project, spec=None if ai_judge is True else ai_judge)
        if spec is None:
            missing["ai_judge"] = how
        else:
            pair_judges["ai_judge"], close = ai_pair_judge(project=project, spec=spec)
            closers.append(close)
            meta["ai_judge"] = {**judge_meta("ai_judge"), "model": spec.name,
                                "source": f"{how}; the AI labeler's prompt, both orders"}
    try:
        outcome = policy_evaluate(policy_dir=policy_dir, reference_dir=reference_dir,
                                  prompts=[messages for _, messages in prompts],
                                  judge=reward_judge(reward_model), config=cfg, on_progress=on_progress,
                                  score_judges=score_judges, pair_judges=pair_judges)
    finally:
        for close in closers:
            close()
    judges = outcome.metrics["judges"]
    for name, summary in judges.items():
        summary.update(meta.get(name, {}))
    for name, reason in missing.items():
        judges[name] = {**judge_meta(name), "available": False, "reason": reason, "prompts": 0,
                        "comparisons": 0}
    for row in outcome.samples:
        row["prompt_id"] = prompts[row["prompt_index"]][0]
    return PolicyEvaluation(project=project, policy=policy, reference=reference,
                            reward_model=reward_model, snapshot=snapshot, run=run,
                            config=cfg.to_dict(), results=outcome.metrics, samples=outcome.samples,
                            created_by=created_by)


def decided_train_pairs(snapshot: DatasetSnapshot) -> set[tuple[int, int]]:
    """The pairs a policy trains on from ``snapshot`` (DPO drops ties), as
    (chosen response, rejected response): the same answers in the same order
    are the same preference, whatever snapshot holds them."""
    return set(SnapshotPair.objects.filter(snapshot=snapshot, split="train", is_tie=False)
               .values_list("chosen_response_id", "rejected_response_id").iterator(chunk_size=2000))


def _previous_independence(spec: ModelSpec, snapshot: DatasetSnapshot) -> dict:
    """Where an earlier reward model came from, how many of the pairs the
    policy was trained on it saw, and whether that leaves it independent.

    It is independent of the pairs that are new in ``snapshot``; when there are
    none (a round whose new items all tied, say) it saw every pair the policy
    learned from and is a second model of the same labels, as circular as the
    round's own: then it is marked not independent, and no promotion rests on it.
    """
    run = TrainingRun.objects.select_related("snapshot").filter(output_model=spec).first()
    if run is None or run.snapshot is None:
        return {"source": "an earlier reward model of this project (its training snapshot is unknown)"}
    older = run.snapshot
    policy_pairs = decided_train_pairs(snapshot)
    seen = len(policy_pairs & decided_train_pairs(older))
    unseen = len(policy_pairs) - seen
    out = {"policy_pairs": len(policy_pairs), "seen_pairs": seen, "unseen_pairs": unseen,
           "source": (f"trained on snapshot v{older.version}, before this round's v{snapshot.version}: "
                      f"it saw {seen} of the {len(policy_pairs)} decided pairs the policy was trained on "
                      f"and not the {unseen} new in v{snapshot.version}")}
    if unseen == 0:
        out.update(independent=False,
                   dependence=f"it saw every pair the policy was trained on (v{snapshot.version} added no "
                              f"decided training pair to v{older.version})")
    return out


def policy_evaluation_run(**kwargs) -> PolicyEvaluation:
    """Compute (see ``policy_evaluation_compute``) and save."""
    evaluation = policy_evaluation_compute(**kwargs)
    evaluation.save()
    return evaluation


# Blind human evaluation --------------------------------------------------------
@transaction.atomic
def human_evaluation_request(*, evaluation: PolicyEvaluation, max_items: int | None = None,
                             priority: int = 0, actor=None, via: str = "") -> int:
    """Put policy-vs-reference items in the labeling queue: one per held-out
    prompt (its first samples), each model's response at a random canonical
    position, so neither position nor anything a labeler sees tells them apart.
    Returns the number of items created."""
    project = evaluation.project
    if not task_type_of(project).head_to_head or project.num_responses != 2:
        raise Invalid("a blind evaluation needs a pairwise project comparing 2 responses",
                      field="project")
    if max_items is not None and max_items < 1:
        raise Invalid("must be at least 1", field="max_items")
    # Lock the evaluation row: two requests at once would both see no items.
    locked = PolicyEvaluation.objects.select_for_update().get(pk=evaluation.pk)
    if locked.human_requested_at is not None:
        raise Conflict("a human evaluation was already requested for this evaluation",
                       field="evaluation")
    rows = [r for r in evaluation.samples if r.get("policy") and r.get("reference")]
    prompts = Prompt.objects.in_bulk([r["prompt_id"] for r in rows if "prompt_id" in r])
    rng = random.SystemRandom()
    created = 0
    for row in rows:
        prompt = prompts.get(row.get("prompt_id"))
        mine, theirs = row["policy"][0].strip(), row["reference"][0].strip()
        if prompt is None or prompt.project_id != project.pk or not mine or not theirs or mine == theirs:
            continue  # the prompt is gone, or there is nothing to tell apart
        policy_position = rng.randrange(2)
        meta = {"policy_evaluation": evaluation.pk}
        responses: list[ResponseInput | Response] = [
            ResponseInput(text=mine, source=ResponseSource.MODEL, model_name=evaluation.policy.name,
                          metadata=meta),
            ResponseInput(text=theirs, source=ResponseSource.MODEL, model_name=evaluation.reference.name,
                          metadata=meta),
        ]
        if policy_position == 1:
            responses.reverse()
        item = item_create(project=project, prompt=prompt, responses=responses, priority=priority)
        HumanEvalItem.objects.create(evaluation=evaluation, item=item, policy_position=policy_position)
        created += 1
        if max_items is not None and created >= max_items:
            break
    if not created:
        raise Conflict("no sample pair to show: every policy answer equals the reference's",
                       field="evaluation")
    PolicyEvaluation.objects.filter(pk=evaluation.pk).update(human_requested_at=timezone.now())
    evaluation.human_requested_at = timezone.now()
    audit_record(actor, "policy_evaluation.human_request", evaluation, items=created, via=via)
    return created


def policy_score(strength: int | None, policy_position: int) -> float:
    """1 when the labeler preferred the policy, 0 the reference, ½ a tie or "both bad"
    without a preference. ``strength`` is relative to the canonical order:
    negative prefers position 0."""
    if not strength:
        return 0.5
    preferred = 0 if strength < 0 else 1
    return 1.0 if preferred == policy_position else 0.0


def human_evaluation_results(*, evaluation: PolicyEvaluation, resamples: int = 2000,
                             level: float = 0.95) -> dict:
    """The human win rate of the policy (per item mean over its human labels,
    bootstrapped over items), stored on the evaluation and returned."""
    positions = dict(HumanEvalItem.objects.filter(evaluation=evaluation).values_list(
        "item_id", "policy_position"))
    if not positions:
        raise Conflict("no human evaluation was requested for this evaluation", field="evaluation")
    per_item: dict[int, list[float]] = {}
    labels = (Annotation.objects.filter(item_id__in=list(positions), source=AnnotationSource.HUMAN)
              .order_by("pk").values_list("item_id", "strength"))
    for item_id, strength in labels:
        per_item.setdefault(item_id, []).append(policy_score(strength, positions[item_id]))
    results: dict[str, Any] = {"items": len(positions), "labeled_items": len(per_item),
               "annotations": sum(len(v) for v in per_item.values()), "level": level}
    if per_item:
        means = [sum(v) / len(v) for v in per_item.values()]
        interval = bootstrap_ci(means, resamples=resamples, level=level, seed=evaluation.pk or 0)
        results.update(win_rate=interval.estimate, win_rate_low=interval.low, win_rate_high=interval.high)
    else:
        results.update(win_rate=None, win_rate_low=None, win_rate_high=None)
    results["computed_at"] = timezone.now().isoformat()
    PolicyEvaluation.objects.filter(pk=evaluation.pk).update(human_results=results)
    evaluation.human_results = results
    return results
