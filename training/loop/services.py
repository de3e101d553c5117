"""The closed loop: rounds of snapshot → reward model → DPO → evaluation →
decision → (on a win) the next candidates from the new policy.

A round is a chain of durable steps. Each stage writes its result (the
snapshot, the run, the evaluation, the job) to the round's row before the next
stage begins, and every stage looks at what the row already has before doing
anything, so running a stage twice does not repeat work. The database, not the
broker, says where a round is:

- a worker advancing a round claims it with a compare-and-set that bumps
  ``attempt`` and sets ``lease_until``; all its writes are conditional on its
  own attempt (a fencing token), so a worker that lost the round stops;
- long stages run inside the claim: training runs through the training run
  machinery (its own claim, heartbeat and watchdog), evaluation heartbeats the
  round's lease;
- a killed worker leaves the round ``running`` with a lease that runs out;
  the periodic sweep (``loop_rounds_resume_stale``) then sends the round to a
  worker again, which continues at the stage the row names. A round waiting
  on a training run or generation job that is still alive elsewhere is left
  alone until that finishes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from annotation import access
from annotation.errors import Conflict, DomainError, Forbidden, Invalid
from annotation.models import ComparisonItem, DatasetSnapshot, Project, Prompt, Role
from annotation.services.datasets import dataset_snapshot_build, filters_clean
from audit.services import audit_record
from core.jobs.fencing import job_claim, job_heartbeat, job_mine
from core.jobs.registry import job_kind
from generation.models import JobStatus, ModelRole, ModelSpec
from generation.services.jobs import (
    backend_check,
    generation_job_cancel,
    generation_job_create,
    generation_job_run,
)
from generation.services.registry import model_spec_default
from generation.signals import policy_promoted
from training.beat import periodic_task_sync
from training.events import loop_round_finished_emit
from training.loop.models import Decision, LoopRound, LoopSetting, RoundStage, RoundStatus
from training.models import RunKind, RunStatus, TrainingRun
from training.policy_eval.judges import JUDGES, PROMOTION_CHOICES, promotion_judge_select
from training.policy_eval.services import eval_config_clean, policy_evaluation_compute
from training.services import runs
from training.services.runs import training_run_cancel, training_run_create, training_run_execute
from training.services.schedules import new_pairs_upper_bound, snapshot_pairs

T = TypeVar("T")

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)
HEARTBEAT_SECONDS = 30.0
TICK_TASK = "training.loop_tasks.loop_tick_task"


class RoundStopped(Exception):
    """This worker no longer holds the round (cancelled, or taken over)."""


class RoundFailed(Exception):
    """A stage cannot succeed; the message says why."""


def _recorded(value: T | None, what: str) -> T:
    """What an earlier stage recorded on the round (the stage order guarantees
    it): a row that lost it fails the round saying so, not with an AttributeError."""
    if value is None:
        raise RoundFailed(f"the round has no {what}: an earlier stage did not record it")
    return value


def _trained(run: TrainingRun | None, what: str) -> ModelSpec:
    return _recorded(_recorded(run, f"{what} run").output_model, f"model from its {what} run")


# Settings ---------------------------------------------------------------------
def loop_setting_for(*, project: Project) -> LoopSetting:
    setting, _ = LoopSetting.objects.get_or_create(project=project)
    return setting


def loop_setting_clean(setting: LoopSetting) -> None:
    if setting.min_interval_hours < 0:
        raise Invalid("must be zero or more", field="min_interval_hours")
    if not 0.0 <= setting.win_threshold < 1.0:
        raise Invalid("must be in [0, 1)", field="win_threshold")
    if setting.promotion_judge not in PROMOTION_CHOICES:
        raise Invalid(f"must be one of {', '.join(PROMOTION_CHOICES)} (never the round's own reward model)",
                      field="promotion_judge")
    if setting.min_eval_prompts < 1:
        raise Invalid("must be at least 1", field="min_eval_prompts")
    if setting.prompts_per_round < 1:
        raise Invalid("must be at least 1", field="prompts_per_round")
    for kind, name in ((RunKind.REWARD, "reward_hyperparameters"), (RunKind.DPO, "dpo_hyperparameters")):
        try:
            runs.hyperparameters_clean(kind=kind, hyperparameters=getattr(setting, name))
        except Invalid as error:
            raise Invalid(error.message, field=name + (error.field or "").removeprefix("hyperparameters")
                          ) from None
    eval_config_clean(setting.eval_config)
    for name in ("base_policy", "reward_base_model"):
        spec = getattr(setting, name)
        if spec is not None and not spec.path:
            raise Invalid(f"model '{spec.name}' has no local checkpoint to train from", field=name)
    if setting.base_policy is not None and setting.base_policy.role != ModelRole.POLICY:
        raise Invalid(f"model '{setting.base_policy.name}' is not a policy", field="base_policy")
    filters_clean(setting.snapshot_filters)


def loop_setting_evidence_check(*, setting: LoopSetting, by) -> None:
    """Forbidden unless ``by`` is a project admin, when the save would weaken
    the evidence a promotion needs (the override, or a lower minimum)."""
    stored = LoopSetting.objects.filter(pk=setting.pk).values(
        "allow_few_eval_prompts", "min_eval_prompts").first() if setting.pk else None
    stored = stored or {"allow_few_eval_prompts": False, "min_eval_prompts": 50}
    weaker = ((setting.allow_few_eval_prompts and not stored["allow_few_eval_prompts"])
              or setting.min_eval_prompts < stored["min_eval_prompts"])
    if weaker and access.project_role(user=by, project=setting.project) != Role.ADMIN:
        raise Forbidden("only a project admin may let a round promote on fewer held-out prompts",
                        field="allow_few_eval_prompts")


def periodic_task_name(setting: LoopSetting) -> str:
    return f"training-loop-{setting.pk}"


def loop_setting_sync(*, setting: LoopSetting) -> PeriodicTask:
    """Create or update the setting's beat PeriodicTask to match the row."""
    return periodic_task_sync(setting, name=periodic_task_name(setting), task=TICK_TASK,
                              description=f"training loop for project {setting.project.slug}")


@transaction.atomic
def loop_setting_save(*, setting: LoopSetting, actor=None, fields: Iterable[str] = (),
                      via: str = "") -> LoopSetting:
    """Validate and save the row, then its PeriodicTask (one transaction); audited
    with the names of the ``fields`` the caller set.

    ``actor`` (the user saving, when a person does): only a project admin may
    turn on promotion on fewer held-out prompts than the minimum, or set the
    minimum lower than it was: the evidence rule is the admins' call."""
    loop_setting_clean(setting)
    if actor is not None:
        loop_setting_evidence_check(setting=setting, by=actor)
    setting.save()
    loop_setting_sync(setting=setting)
    audit_record(actor, "training_loop.update", setting, project=setting.project_id,
                 fields=sorted(fields), via=via)
    return setting


# Starting, cancelling -------------------------------------------------------------
def loop_reference_policy(*, setting: LoopSetting) -> ModelSpec:
    """Where the next round starts: the last winning policy, else the base policy,
    else the default one."""
    for spec in (setting.current_policy, setting.base_policy):
        if spec is not None and spec.is_active:
            return spec
    return model_spec_default(project=setting.project, roles=(ModelRole.POLICY,))


def loop_round_start(*, project: Project, snapshot: DatasetSnapshot | None = None, created_by=None,
                     enqueue: bool = True, via: str = "") -> LoopRound:
    """A new running round (number = last + 1), sent to a worker after commit."""
    setting = loop_setting_for(project=project)
    reference = loop_reference_policy(setting=setting)
    if not reference.path:
        raise Invalid(f"policy '{reference.name}' has no local checkpoint to train from",
                      field="base_policy")
    with transaction.atomic():
        # The project row lock serializes two starts; the partial unique
        # constraint would refuse a second running round anyway.
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
        running = LoopRound.objects.filter(project=project, status=RoundStatus.RUNNING).first()
        if running is not None:
            raise Conflict(f"round {running.number} is still running ({running.stage})", field="round")
        number = (LoopRound.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        rnd = LoopRound.objects.create(
            project=project, number=number, reference_policy=reference, snapshot=snapshot,
            stage=RoundStage.REWARD if snapshot is not None else RoundStage.SNAPSHOT,
            created_by=created_by, lease_until=timezone.now() + LEASE)
        audit_record(created_by, "training_loop.round_start", rnd, project=project, number=rnd.number,
                     via=via)
        if enqueue:
            _enqueue(rnd.pk)
    return rnd


def _enqueue(round_id: int) -> None:
    job_kind("loop_rounds").send(round_id, on_commit=True)


def loop_round_cancel(*, rnd: LoopRound, actor=None, via: str = "") -> LoopRound:
    """Stop a running round; its training run or generation job in flight is cancelled too."""
    with transaction.atomic():
        if not LoopRound.objects.filter(pk=rnd.pk, status=RoundStatus.RUNNING).update(
                status=RoundStatus.CANCELLED, finished_at=timezone.now(), lease_until=None):
            rnd.refresh_from_db()
            raise Conflict(f"the round has already {rnd.status}", field="status")
        rnd.refresh_from_db()
        audit_record(actor, "training_loop.round_cancel", rnd, number=rnd.number, via=via)
    for run in (rnd.reward_run, rnd.dpo_run):
        if run is not None and run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            training_run_cancel(run=run, actor=actor, via="loop")
    job = rnd.generation_job
    if job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        generation_job_cancel(job=job, actor=actor)
    return rnd


# Advancing ---------------------------------------------------------------------------
def _waiting_elsewhere(rnd: LoopRound) -> bool:
    """The stage's training run or generation job is being worked on by
    someone (their own watchdogs requeue it if that someone died)."""
    sub = (rnd.reward_run if rnd.stage == RoundStage.REWARD
           else rnd.dpo_run if rnd.stage == RoundStage.DPO else None)
    if sub is not None:
        return sub.status == RunStatus.RUNNING
    if rnd.stage == RoundStage.GENERATE and rnd.generation_job is not None:
        return rnd.generation_job.status == JobStatus.RUNNING
    return False


def _related(queryset):
    return queryset.select_related("project", "reference_policy", "snapshot", "reward_run",
                                   "reward_run__output_model", "dpo_run", "dpo_run__output_model",
                                   "evaluation", "generation_job")


def loop_round_claim(*, round_id: int, worker_id: str = "", now: datetime | None = None) -> LoopRound | None:
    """Take the round for this worker, or None: finished, someone holds its
    lease, or its stage waits on a run or job alive elsewhere."""
    now = now or timezone.now()
    rnd = _related(LoopRound.objects).filter(pk=round_id).first()
    if rnd is None or rnd.status != RoundStatus.RUNNING:
        return None
    # A round never claimed is free (its lease only keeps the sweep from
    # resending it while its first task waits in the queue).
    if rnd.attempt and rnd.lease_until is not None and rnd.lease_until > now:
        return None
    if _waiting_elsewhere(rnd):
        return None
    # Compare-and-set on the attempt we read: of two workers (a redelivery and
    # the sweep, say), exactly one updates the row.
    if not job_claim(LoopRound, pk=round_id, status=RoundStatus.RUNNING, attempt=rnd.attempt,
                     worker_id=worker_id, now=now, lease_until=now + LEASE):
        return None
    return _related(LoopRound.objects).get(pk=round_id)


class _Worker:
    """The writes of the worker holding a round, all fenced by its attempt."""

    def __init__(self, rnd: LoopRound):
        self.rnd = rnd
        self.last_beat = time.monotonic()

    def write(self, **fields) -> None:
        fields.setdefault("lease_until", timezone.now() + LEASE)
        if not job_heartbeat(self.rnd, **fields):
            raise RoundStopped(f"round {self.rnd.pk} is no longer attempt {self.rnd.attempt}'s")
        for name, value in fields.items():
            setattr(self.rnd, name, value)

    def heartbeat(self) -> None:
        if time.monotonic() - self.last_beat >= HEARTBEAT_SECONDS:
            self.write()
            self.last_beat = time.monotonic()


def loop_round_advance(*, round_id: int, worker_id: str = "") -> LoopRound | None:
    """Claim the round and run its stages until it finishes or waits on work
    held elsewhere. Returns the round as it stands (None: no such round)."""
    rnd = loop_round_claim(round_id=round_id, worker_id=worker_id)
    if rnd is None:
        return LoopRound.objects.filter(pk=round_id).first()
    worker = _Worker(rnd)
    try:
        while worker.rnd.status == RoundStatus.RUNNING:
            stage, started = worker.rnd.stage, time.monotonic()
            moved = STAGES[stage](worker)
            timings = dict(worker.rnd.timings)
            timings[stage] = round(timings.get(stage, 0.0) + time.monotonic() - started, 3)
            if worker.rnd.status == RoundStatus.RUNNING:
                worker.write(timings=timings, **({} if moved else {"lease_until": None}))
            else:  # finished by this stage: still ours (same attempt), no longer running
                LoopRound.objects.filter(pk=rnd.pk, attempt=rnd.attempt).update(timings=timings)
            if not moved:
                break  # waiting on a run or job held elsewhere; the sweep comes back
    except RoundStopped as stopped:
        logger.info("loop round %s: %s", round_id, stopped)
    except Exception as error:
        if isinstance(error, (RoundFailed, DomainError)):
            message = str(error)
        else:
            logger.exception("loop round %s failed", round_id)
            message = f"{type(error).__name__}: {error}"
        with transaction.atomic():  # the status and its announcement commit together
            if job_mine(rnd).update(
                    status=RoundStatus.FAILED, error=message[:10_000], finished_at=timezone.now(),
                    lease_until=None):
                loop_round_finished_emit(round_id=rnd.pk)
    return LoopRound.objects.filter(pk=round_id).first()


def _finish(worker: _Worker, **fields) -> bool:
    with transaction.atomic():  # the status and its announcement commit together
        worker.write(status=RoundStatus.SUCCEEDED, stage=RoundStage.DONE, finished_at=timezone.now(),
                     lease_until=None, **fields)
        loop_round_finished_emit(round_id=worker.rnd.pk)
    return True


# Stages: each returns True when the round moved on, False when it must wait.
def _stage_snapshot(worker: _Worker) -> bool:
    rnd = worker.rnd
    if rnd.snapshot is None:
        setting = loop_setting_for(project=rnd.project)
        # Killed between this build and the write below, the snapshot is left
        # unreferenced and the resumed round builds another: cheap, and a
        # snapshot is immutable data, never half-used.
        snapshot = dataset_snapshot_build(project=rnd.project, filters=setting.snapshot_filters)
        worker.write(snapshot=snapshot)
    snapshot = _recorded(worker.rnd.snapshot, "snapshot")
    if not (snapshot.counts or {}).get("train"):
        raise RoundFailed(f"snapshot v{snapshot.version} has no training pairs: label more first")
    worker.write(stage=RoundStage.REWARD)
    return True


def _train(worker: _Worker, *, kind: str, field: str, next_stage: str,
           create: Callable[[], TrainingRun]) -> bool:
    run: TrainingRun | None = getattr(worker.rnd, field)
    if run is None:
        with transaction.atomic():  # the run and the round's pointer to it, together
            run = create()
            worker.write(**{field: run})
    if run.status == RunStatus.QUEUED:
        # Trained here, in this claim. A duplicate delivery of the run's own
        # task (redelivery, watchdog) races on the run's claim; the loser waits.
        worker.write()  # a fresh lease for the time the run takes to start
        training_run_execute(run_id=run.pk, worker_id=worker.rnd.worker_id)
        run.refresh_from_db()
    if run.status == RunStatus.RUNNING:
        return False
    if run.status != RunStatus.SUCCEEDED or run.output_model_id is None:
        raise RoundFailed(f"{kind} run {run.pk} {run.status}" + (f": {run.error}" if run.error else ""))
    worker.write(stage=next_stage)
    return True


def _stage_reward(worker: _Worker) -> bool:
    rnd = worker.rnd
    setting = loop_setting_for(project=rnd.project)
    return _train(worker, kind=RunKind.REWARD, field="reward_run", next_stage=RoundStage.DPO,
                  create=lambda: training_run_create(
                      project=rnd.project, kind=RunKind.REWARD, snapshot=rnd.snapshot,
                      base_model=setting.reward_base_model.name if setting.reward_base_model else None,
                      hyperparameters=setting.reward_hyperparameters, created_by=rnd.created_by,
                      enqueue=False, via="loop"))


def _stage_dpo(worker: _Worker) -> bool:
    rnd = worker.rnd
    setting = loop_setting_for(project=rnd.project)
    return _train(worker, kind=RunKind.DPO, field="dpo_run", next_stage=RoundStage.EVALUATE,
                  create=lambda: training_run_create(
                      project=rnd.project, kind=RunKind.DPO, snapshot=rnd.snapshot,
                      base_model=rnd.reference_policy.name, hyperparameters=setting.dpo_hyperparameters,
                      created_by=rnd.created_by, enqueue=False, via="loop"))


def _stage_evaluate(worker: _Worker) -> bool:
    rnd = worker.rnd
    if rnd.evaluation is None:
        setting = loop_setting_for(project=rnd.project)
        evaluation = policy_evaluation_compute(
            project=rnd.project, policy=_trained(rnd.dpo_run, "DPO"), reference=rnd.reference_policy,
            snapshot=_recorded(rnd.snapshot, "snapshot"), reward_model=_trained(rnd.reward_run, "reward"),
            run=rnd.dpo_run,
            config=setting.eval_config, created_by=rnd.created_by, on_progress=worker.heartbeat,
            independent_reward_model=True,
            ai_judge=(setting.ai_judge or True) if setting.ai_judge_enabled else False)
        with transaction.atomic():  # saved only with the round's pointer to it
            evaluation.save()
            worker.write(evaluation=evaluation)
    worker.write(stage=RoundStage.DECIDE)
    return True


def promotion_decide(*, results: dict, setting: LoopSetting) -> tuple[bool, dict, str]:
    """(promote?, the rule as applied, one line saying why) for an evaluation's
    results under a loop setting. The rule: enough held-out prompts (or a
    project admin's override), and an independent judge whose interval lies
    above the threshold; the round's own reward model never decides."""
    prompts = results.get("prompts", 0)
    detail = {"promotion_judge": setting.promotion_judge, "threshold": setting.win_threshold,
              "min_prompts": setting.min_eval_prompts, "prompts": prompts,
              "override_few_prompts": setting.allow_few_eval_prompts, "judge": None}
    judges = results.get("judges") or {}
    name, why = promotion_judge_select(judges, setting.promotion_judge)
    detail["judge_choice"] = why
    if prompts < setting.min_eval_prompts and not setting.allow_few_eval_prompts:
        return False, detail, (f"only {prompts} held-out prompts (< {setting.min_eval_prompts}): too few "
                               f"to promote on; label more, or a project admin allows fewer")
    if name is None:
        return False, detail, why
    judge = judges[name]
    level = round(100 * judge.get("level", 0.95))
    detail.update(judge=name, win_rate=judge["win_rate"], win_rate_low=judge["win_rate_low"],
                  win_rate_high=judge["win_rate_high"], judge_prompts=judge["prompts"],
                  lc_win_rate=judge.get("lc_win_rate"))
    interval = (f"{JUDGES[name]['label']}: win rate {judge['win_rate']:.1%} ({level}% interval "
                f"{judge['win_rate_low']:.1%}–{judge['win_rate_high']:.1%}, {judge['prompts']} prompts)")
    if judge["win_rate_low"] <= setting.win_threshold:
        return False, detail, f"{interval}: not above {setting.win_threshold:.0%}"
    return True, detail, f"{interval}: above {setting.win_threshold:.0%}"


def _stage_decide(worker: _Worker) -> bool:
    rnd = worker.rnd
    setting = loop_setting_for(project=rnd.project)
    results = _recorded(rnd.evaluation, "evaluation").results
    promote, detail, reason = promotion_decide(results=results, setting=setting)
    if not promote:
        return _finish(worker, decision=Decision.REJECTED, decision_reason=reason[:300],
                       decision_detail=detail)
    policy = _trained(rnd.dpo_run, "DPO")
    with transaction.atomic():
        # The winner serves from now on: the next round starts from it and its
        # candidates come from it. Its registry entry says which round made it.
        LoopSetting.objects.filter(project=rnd.project).update(current_policy=policy)
        metadata = dict(policy.metadata or {})
        metadata["loop"] = {"round": rnd.number, "judge": detail["judge"], "win_rate": detail["win_rate"],
                            "win_rate_low": detail["win_rate_low"], "kl": results.get("kl"),
                            "evaluation": rnd.evaluation_id}
        ModelSpec.objects.filter(pk=policy.pk).update(metadata=metadata)
        # Listeners (the arena's pool) learn of the new policy once it is committed.
        project = rnd.project
        transaction.on_commit(lambda: policy_promoted.send(sender=LoopRound, project=project,
                                                           spec=policy))
        worker.write(decision=Decision.ACCEPTED, stage=RoundStage.GENERATE, decision_reason=reason[:300],
                     decision_detail=detail)
    return True


def fresh_prompt_ids(*, project: Project, limit: int) -> list[int]:
    """Prompts no comparison item uses yet, oldest first."""
    used = ComparisonItem.objects.filter(project=project).values("prompt_id")
    return list(Prompt.objects.filter(project=project).exclude(pk__in=used).order_by("pk")
                .values_list("pk", flat=True)[:limit])


def _stage_generate(worker: _Worker) -> bool:
    rnd = worker.rnd
    job = rnd.generation_job
    if job is None:
        setting = loop_setting_for(project=rnd.project)
        prompt_ids = fresh_prompt_ids(project=rnd.project, limit=setting.prompts_per_round)
        if not prompt_ids:
            return _finish(worker, note="no fresh prompts left: import more to generate from the new policy")
        policy = _trained(rnd.dpo_run, "DPO")
        backend_check(policy, setting.generation_backend)  # outside the transaction: it may ask a server
        with transaction.atomic():  # the job and the round's pointer to it, together
            sampling = dict(setting.generation_sampling or {})
            job = generation_job_create(
                project=rnd.project, model_names=[policy.name], backend=setting.generation_backend,
                n=sampling.pop("n", None), sampling=sampling or None, prompt_ids=prompt_ids,
                user=rnd.created_by, check_backend=False, enqueue=False)
            worker.write(generation_job=job)
    if job.status == JobStatus.QUEUED:
        generation_job_run(job_id=job.pk, on_progress=lambda _job: worker.heartbeat())
        job.refresh_from_db()
    if job.status == JobStatus.RUNNING:
        return False
    if job.status != JobStatus.SUCCEEDED:
        raise RoundFailed(f"generation job {job.pk} {job.status}" + (f": {job.error}" if job.error else ""))
    return _finish(worker, note=f"{job.items_created} new items from {job.progress_done} fresh prompts")


STAGES: dict[str, Callable[[_Worker], bool]] = {
    RoundStage.SNAPSHOT: _stage_snapshot,
    RoundStage.REWARD: _stage_reward,
    RoundStage.DPO: _stage_dpo,
    RoundStage.EVALUATE: _stage_evaluate,
    RoundStage.DECIDE: _stage_decide,
    RoundStage.GENERATE: _stage_generate,
}


# Periodic ---------------------------------------------------------------------------
def loop_rounds_resume_stale(*, now: datetime | None = None) -> list[int]:
    """Send running rounds that nobody holds (lease run out: their worker died,
    or they waited on a run or job that has finished) to a worker again."""
    now = now or timezone.now()
    stale = LoopRound.objects.filter(status=RoundStatus.RUNNING).exclude(lease_until__gt=now)
    sent = []
    for rnd in _related(stale).order_by("pk"):
        if not _waiting_elsewhere(rnd):
            _enqueue(rnd.pk)
            sent.append(rnd.pk)
    return sent


def loop_tick(*, setting_id: int, now: datetime | None = None, enqueue: bool = True) -> str:
    """Check one project's loop; start a round when it is due. The message is
    also kept in ``last_message`` for the admin and the training page."""
    now = now or timezone.now()
    setting = LoopSetting.objects.select_related("project").filter(pk=setting_id).first()
    if setting is None:
        return "no such loop setting"
    message = _tick(setting, now, enqueue=enqueue)
    LoopSetting.objects.filter(pk=setting.pk).update(last_message=message[:300])
    logger.info("training loop %s: %s", setting.pk, message)
    return message


def _tick(setting: LoopSetting, now: datetime, *, enqueue: bool) -> str:
    project = setting.project
    if not setting.enabled:
        return "disabled"
    running = LoopRound.objects.filter(project=project, status=RoundStatus.RUNNING).first()
    if running is not None:
        return f"round {running.number} is running ({running.stage})"
    last = (LoopRound.objects.select_related("snapshot").filter(project=project)
            .order_by("-number").first())
    if last is not None and now - last.created_at < timedelta(hours=setting.min_interval_hours):
        return f"too soon: round {last.number} started at {last.created_at:%Y-%m-%d %H:%M} UTC"
    since = last.snapshot.created_at if last is not None and last.snapshot is not None else None
    baseline = snapshot_pairs(last.snapshot if last is not None else None)
    bound = new_pairs_upper_bound(project=project, since=since)
    if bound < setting.min_new_pairs:
        return f"at most {bound} new pairs since the last round (< {setting.min_new_pairs})"
    # One check at a time: two deliveries of the tick race on this
    # compare-and-set; only one builds a snapshot.
    if not LoopSetting.objects.filter(pk=setting.pk, last_checked_at=setting.last_checked_at).update(
            last_checked_at=now):
        return "another check of this loop is in progress"
    snapshot = dataset_snapshot_build(project=project, filters=setting.snapshot_filters)
    new_pairs = snapshot_pairs(snapshot) - baseline
    if new_pairs < setting.min_new_pairs:
        snapshot.delete()  # built only to count; nothing refers to it
        return f"{new_pairs} new consensus pairs since the last round (< {setting.min_new_pairs})"
    try:
        rnd = loop_round_start(project=project, snapshot=snapshot, enqueue=enqueue, via="schedule")
    except DomainError as error:
        snapshot.delete()
        return f"not started: {error}"
    return f"started round {rnd.number} on snapshot v{snapshot.version} ({new_pairs} new pairs)"


def loop_round_summary(rnd: LoopRound) -> str:
    """One paragraph on a round, for the command line and logs."""
    lines = [f"round {rnd.number}: {rnd.status}, stage {rnd.stage}"
             + (f", {rnd.decision}" if rnd.decision else "")]
    if rnd.snapshot is not None:
        lines.append(f"  snapshot v{rnd.snapshot.version}: {rnd.snapshot.counts}")
    for label, run in (("reward run", rnd.reward_run), ("dpo run", rnd.dpo_run)):
        if run is not None:
            model = run.output_model.name if run.output_model is not None else "-"
            lines.append(f"  {label} {run.pk}: {run.status} → {model}")
    if rnd.evaluation is not None:
        r = rnd.evaluation.results
        lines.append(f"  win rate over {rnd.reference_policy.name}: {r['win_rate']:.1%} "
                     f"[{r['win_rate_low']:.1%}, {r['win_rate_high']:.1%}] on {r['prompts']} held-out "
                     f"prompts; KL {r['kl']:.2f} nats [{r['kl_low']:.2f}, {r['kl_high']:.2f}]; "
                     f"length {r['length_change']:+.1f} tokens")
        for line in judge_lines(r):
            lines.append("    " + line)
    if rnd.decision_reason:
        lines.append(f"  decision: {rnd.decision_reason}")
    if rnd.generation_job is not None:
        job = rnd.generation_job
        lines.append(f"  generation job {job.pk}: {job.status}, {job.items_created} new items")
    if rnd.note:
        lines.append(f"  note: {rnd.note}")
    if rnd.error:
        lines.append(f"  error: {rnd.error}")
    if rnd.timings:
        lines.append("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in stage_timings(rnd).items()))
    return "\n".join(lines)


def judge_lines(results: dict) -> list[str]:
    """One line per judge of an evaluation: raw and length-controlled win rate,
    interval, prompts, and whether it is independent of the policy's labels."""
    lines = []
    for name, j in (results.get("judges") or {}).items():
        label = JUDGES.get(name, {}).get("label", name) + (f" {j['model']}" if j.get("model") else "")
        independent = j.get("independent", JUDGES.get(name, {}).get("independent"))
        tag = "independent" if independent else "NOT independent"
        if not j.get("available"):
            lines.append(f"{label}: no verdict ({j.get('reason', '')})")
            continue
        lines.append(f"{label} [{tag}]: {j['win_rate']:.1%} "
                     f"[{j['win_rate_low']:.1%}, {j['win_rate_high']:.1%}]"
                     f", LC {j['lc_win_rate']:.1%} [{j['lc_win_rate_low']:.1%}, {j['lc_win_rate_high']:.1%}]"
                     f" on {j['prompts']} prompts ({j['wins']} wins, {j['ties']} ties, {j['losses']} losses"
                     + (f", {j['no_verdict']} without verdict" if j.get("no_verdict") else "") + ")")
    return lines


def stage_timings(rnd: LoopRound) -> dict[str, float]:
    """Seconds per stage in the order the stages run (jsonb does not keep key order)."""
    return {stage: rnd.timings[stage] for stage in STAGES if stage in rnd.timings}
