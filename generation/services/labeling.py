"""The AI labeler: a judge model labels items through the same queue and
submit services as people, as a labeler account of kind "model".

Pairwise items are judged twice (positions swapped); K-way ranking items are
judged pair by pair, each pair in both orders, and the pair verdicts become a
ranking with ties by Copeland's rule (generation.judge explains the choice).
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.errors import Conflict, Invalid
from annotation.models import AnnotationSource, ComparisonItem, Membership, Project, Role
from annotation.selectors import lease_detail
from annotation.services.queue import assignment_skip, item_claim_next
from annotation.services.submissions import annotation_submit
from generation.backends.base import SamplingParams
from generation.judge import (
    ANSWER_PREFIX,
    DEFAULT_TEMPLATE,
    judge_messages,
    ranking_from_pair_strengths,
    ranking_pairs_of,
    strength_from_verdicts,
    template_check,
    verdict_parse,
)
from generation.models import GenerationJob, JudgePrompt, ModelLabeler, ModelSpec
from generation.services.job_progress import ProgressCallback, job_heartbeat, job_progress
from generation.services.runtime import backend_for, backend_release


def judge_username(spec: ModelSpec) -> str:
    return f"model-{spec.name}"[:150]


@transaction.atomic
def judge_labeler_ensure(*, project: Project, spec: ModelSpec):
    """The judge's user (created once, no usable password) and its labeler
    membership in ``project``."""
    User = get_user_model()
    user = User.objects.filter(username=judge_username(spec)).first()
    if user is None:
        user = User(username=judge_username(spec), first_name=spec.name[:150])
        user.set_unusable_password()
        user.save()
        ModelLabeler.objects.create(user=user, model=spec)
    elif not ModelLabeler.objects.filter(user=user).exists():
        raise Conflict(f"a person's account is named '{user.username}'; rename it to let the "
                       f"model '{spec.name}' label", field="models")
    Membership.objects.get_or_create(project=project, user=user,
                                     defaults={"role": Role.LABELER})
    return user


def judge_template_for(*, project: Project) -> str:
    custom = JudgePrompt.objects.filter(project=project).values_list("template", flat=True).first()
    return custom or DEFAULT_TEMPLATE


def judge_prompt_set(*, project: Project, template: str) -> JudgePrompt:
    try:
        template_check(template)
    except ValueError as error:
        raise Invalid(str(error), field="template") from None
    prompt, _ = JudgePrompt.objects.update_or_create(project=project,
                                                      defaults={"template": template})
    return prompt


def label_job_total(*, project: Project, max_items: int | None) -> int:
    open_items = ComparisonItem.objects.filter(project=project, is_open=True, is_gold=False).count()
    return open_items if max_items is None else min(open_items, max_items)


def _conversation_text(messages: list[dict]) -> str:
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def label_job_execute(*, job: GenerationJob, on_progress: ProgressCallback | None = None) -> None:
    project = job.project
    spec = job.model_specs.get()
    labeler = judge_labeler_ensure(project=project, spec=spec)
    template = judge_template_for(project=project)
    sampling = SamplingParams.from_dict(job.sampling)
    backend = backend_for(spec, job.backend)
    try:
        backend.health()
        while job.max_items is None or job.progress_done < job.max_items:
            job_heartbeat(job)
            # Caps ration people's work per day, not a model's.
            assignment = item_claim_next(project=project, labeler=labeler, caps=False)
            if assignment is None:
                return
            _judge_one(job=job, assignment=assignment, template=template, sampling=sampling,
                       backend=backend, judge_name=spec.name)
            job.refresh_from_db(fields=["progress_done", "annotations_created", "tokens_generated"])
            if on_progress is not None:
                on_progress(job)
    finally:
        backend_release(backend)


def judge_check(*, project: Project) -> None:
    """The AI judge compares responses: refuse a label job on a task type it cannot label."""
    if project.task_type not in JUDGES:
        raise Invalid(f"the AI judge labels {' and '.join(JUDGES)} projects, not "
                      f"{project.get_task_type_display()}", field="kind")


def _judge_one(*, job: GenerationJob, assignment, template: str, sampling: SamplingParams,
               backend, judge_name: str) -> None:
    detail = lease_detail(assignment=assignment)
    JUDGES[job.project.task_type](job=job, assignment=assignment, item=detail.item, template=template,
                                  sampling=sampling, backend=backend, judge_name=judge_name)


def _judge_pair(*, job: GenerationJob, assignment, item, template: str,
                sampling: SamplingParams, backend, judge_name: str) -> None:
    """Both orders of the pair; the strength from the two verdicts goes through
    the same submit service as a person's."""
    first, second = [slot.response.text for slot in item.slots.all()]
    prompt = _conversation_text(item.prompt.messages)
    started = time.monotonic()
    results = backend.generate([
        judge_messages(template, prompt=prompt, response_a=first, response_b=second),
        judge_messages(template, prompt=prompt, response_a=second, response_b=first),
    ], sampling)
    texts = [f"{ANSWER_PREFIX}{result.completions[0].text}".strip() for result in results]
    verdicts = [verdict_parse(text) for text in texts]
    strength = strength_from_verdicts(verdicts[0], verdicts[1])
    tokens = sum(result.completion_tokens for result in results)
    with transaction.atomic():
        if strength is None or (strength == 0 and not job.project.allow_ties):
            # No usable verdict: give the item back for people; never guess.
            assignment_skip(assignment=assignment)
            job_progress(job, progress_done=1, tokens_generated=tokens)
            return
        rationale = (f"[{judge_name}, A then B: {verdicts[0] or 'no verdict'}] {texts[0]}\n"
                     f"[{judge_name}, B then A: {verdicts[1] or 'no verdict'}] {texts[1]}")
        annotation_submit(
            assignment=assignment, source=AnnotationSource.MODEL,
            idempotency_key=f"model-judge-assignment-{assignment.pk}",
            data={"strength": strength, "rationale": rationale,
                  "time_on_task_ms": int((time.monotonic() - started) * 1000)},
        )
        job_progress(job, progress_done=1, annotations_created=1, tokens_generated=tokens)



def _judge_ranking(*, job: GenerationJob, assignment, item, template: str,
                   sampling: SamplingParams, backend, judge_name: str) -> None:
    """Every pair of the item in both orders, in one batch; the ranking by
    Copeland's rule goes through the same submit service as a person's."""
    texts = [slot.response.text for slot in item.slots.all()]
    prompt = _conversation_text(item.prompt.messages)
    pairs = ranking_pairs_of(len(texts))
    started = time.monotonic()
    conversations = []
    for i, j in pairs:
        conversations += [
            judge_messages(template, prompt=prompt, response_a=texts[i], response_b=texts[j]),
            judge_messages(template, prompt=prompt, response_a=texts[j], response_b=texts[i]),
        ]
    results = backend.generate(conversations, sampling)
    answers = [f"{ANSWER_PREFIX}{result.completions[0].text}".strip() for result in results]
    verdicts = [verdict_parse(answer) for answer in answers]
    strengths = {pair: strength_from_verdicts(verdicts[2 * n], verdicts[2 * n + 1])
                 for n, pair in enumerate(pairs)}
    ranking = ranking_from_pair_strengths(len(texts), strengths)
    tokens = sum(result.completion_tokens for result in results)
    with transaction.atomic():
        if ranking is None or (len(set(ranking)) < len(ranking) and not job.project.allow_ties):
            # No verdict at all, or ties the project does not allow: people decide.
            assignment_skip(assignment=assignment)
            job_progress(job, progress_done=1, tokens_generated=tokens)
            return
        letters = "ABCDEFGHIJKLMNOP"
        shown = {None: "?", -1: ">", 0: "=", 1: "<"}
        summary = ", ".join(f"{letters[i]}{shown[strengths[(i, j)]]}{letters[j]}" for i, j in pairs)
        lines = [f"[{judge_name}, pairs, both orders, Copeland ranking] {summary}"]
        lines += [f"[{letters[i]} vs {letters[j]}: {verdicts[2 * n] or 'no verdict'} / "
                  f"{verdicts[2 * n + 1] or 'no verdict'}] {answers[2 * n]} | {answers[2 * n + 1]}"
                  for n, (i, j) in enumerate(pairs)]
        annotation_submit(
            assignment=assignment, source=AnnotationSource.MODEL,
            idempotency_key=f"model-judge-assignment-{assignment.pk}",
            data={"ranking": ranking, "rationale": "\n".join(lines),
                  "time_on_task_ms": int((time.monotonic() - started) * 1000)},
        )
        job_progress(job, progress_done=1, annotations_created=1, tokens_generated=tokens)


# How the judge labels each task type it supports (annotation.task_types names).
JUDGES = {"pairwise": _judge_pair, "ranking": _judge_ranking}


def pair_strengths_judge(*, backend, template: str, prompt_messages: list[dict],
                         pairs: list[tuple[str, str]], sampling: SamplingParams) -> list[int | None]:
    """The AI labeler's verdict on each (first, second) pair outside the queue
    (a policy evaluation's comparisons): both orders in one batch, parsed and
    combined exactly as for an item. Per pair: −1 prefers ``first``, +1
    ``second``, 0 a tie, None no usable verdict."""
    prompt = _conversation_text(prompt_messages)
    conversations = []
    for first, second in pairs:
        conversations += [
            judge_messages(template, prompt=prompt, response_a=first, response_b=second),
            judge_messages(template, prompt=prompt, response_a=second, response_b=first),
        ]
    results = backend.generate(conversations, sampling) if conversations else []
    verdicts = [verdict_parse(f"{ANSWER_PREFIX}{result.completions[0].text}".strip()) for result in results]
    return [strength_from_verdicts(verdicts[2 * n], verdicts[2 * n + 1]) for n in range(len(pairs))]
