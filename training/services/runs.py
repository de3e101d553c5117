"""Training runs: create, claim and execute, cancel, resume, and the watchdog.

Claiming is a compare-and-set on the row (``status=queued`` → ``running``,
``attempt + 1``; core.jobs.fencing). The attempt number is a fencing token:
every later write of the worker (heartbeat, progress, metrics' companion heartbeat, final status)
is conditional on ``status=running`` and its own attempt. So

- a duplicate delivery of the task finds nothing queued and returns;
- a cancelled run stops its worker at the next heartbeat;
- a run the watchdog requeued (its worker went silent) and another worker
  claimed cannot be finished by the old worker if that one was only slow.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotation.datasets.selection import annotations_for_snapshot
from annotation.errors import Conflict, Invalid, NotFound
from annotation.models import (
    ComparisonItem,
    DatasetSnapshot,
    Project,
    SnapshotCompletion,
    SnapshotPair,
    SnapshotStatus,
)
from annotation.services.datasets import dataset_snapshot_build
from annotation.task_types import task_type_of
from annotation.validation import MAX_ID
from audit.services import audit_record
from core.jobs.fencing import job_claim, job_heartbeat, job_mine, jobs_requeue_stale
from core.jobs.registry import job_kind
from generation.models import ModelRole, ModelSpec
from generation.services.registry import model_specs_usable
from generation.services.runtime import spec_path
from training.distributed.launch import distributed_train
from training.distributed.memory import memory_plan_for_run
from training.distributed.resources import Resources, resources_from_dict
from training.events import training_run_finished_emit
from training.hooks import StopTraining, TimeLimitReached, TrainingHooks
from training.models import ACTIVE_STATUSES, RunKind, RunStatus, TrainingMetric, TrainingRun
from training.observers import RunObservers
from training.policy.config import policy_config_from_dict
from training.reward.config import config_from_dict
from training.services.registry import policy_model_register, reward_model_register

logger = logging.getLogger(__name__)

IMPLEMENTED_KINDS = (RunKind.REWARD, RunKind.DPO, RunKind.SFT)
POLICY_KINDS = (RunKind.DPO, RunKind.SFT)
BACKBONE_ROLES = (ModelRole.REWARD, ModelRole.POLICY)  # a causal policy gets a scalar head too
# The default starting point of dpo/sft runs (a registered policy's name).
POLICY_BASE_DEFAULT = "smollm2-135m-instruct"


# Creating ---------------------------------------------------------------------
def reward_backbone_default(*, project: Project | None) -> ModelSpec:
    """The configured default backbone, else the oldest reward backbone that no
    run produced (a trained reward model is not a default starting point);
    among the models ``project`` may use."""
    specs = model_specs_usable(project=project).filter(role=ModelRole.REWARD)
    spec = specs.filter(name=settings.PALATE_TRAINING_REWARD_BACKBONE).first()
    spec = spec or specs.filter(produced_by_run__isnull=True).order_by("created_at", "pk").first()
    if spec is None:
        raise NotFound("no reward backbone is registered: run `python manage.py bootstrap_models`",
                       field="base_model")
    return spec


def policy_base_default(*, project: Project | None) -> ModelSpec:
    """The configured default policy (PALATE_TRAINING_POLICY_BASE, else SmolLM2-135M-Instruct),
    else the oldest registered policy that no run produced; among the models
    ``project`` may use."""
    specs = model_specs_usable(project=project).filter(role=ModelRole.POLICY).exclude(path="")
    name = getattr(settings, "PALATE_TRAINING_POLICY_BASE", POLICY_BASE_DEFAULT)
    spec = specs.filter(name=name).first()
    spec = spec or specs.filter(produced_by_run__isnull=True).order_by("created_at", "pk").first()
    if spec is None:
        raise NotFound("no policy model is registered: run `python manage.py bootstrap_models`",
                       field="base_model")
    return spec


def _backbone(name: str | None, kind: str, project: Project) -> ModelSpec:
    policy = kind in POLICY_KINDS
    if not name:
        return policy_base_default(project=project) if policy else reward_backbone_default(project=project)
    # Another project's trained model is "no such model" here, as everywhere.
    spec = model_specs_usable(project=project).filter(name=name).first()
    if spec is None:
        raise Invalid(f"no active model named '{name}'", field="base_model")
    if policy and spec.role != ModelRole.POLICY:
        raise Invalid(f"model '{name}' is a {spec.role} model; {kind} training starts from a policy "
                      "(a causal language model)", field="base_model")
    if spec.role not in BACKBONE_ROLES:
        raise Invalid(f"model '{name}' is a {spec.role} model; a backbone is a reward or policy model",
                      field="base_model")
    if not spec.path:
        raise Invalid(f"model '{name}' has no local checkpoint to train from", field="base_model")
    return spec


def _snapshot(project: Project, snapshot_id, created_by, *, keep_ties: bool) -> DatasetSnapshot:
    if snapshot_id is None:
        # No snapshot named: train on the labels as they are now (ties kept
        # only when the trainer uses them).
        return dataset_snapshot_build(project=project, filters={"ties": "keep"} if keep_ties else {},
                                      created_by=created_by)
    # An id past a bigint names nothing (and PostgreSQL would refuse the query).
    in_range = isinstance(snapshot_id, int) and 0 <= snapshot_id <= MAX_ID
    snapshot = DatasetSnapshot.objects.filter(pk=snapshot_id, project=project).first() if in_range else None
    if snapshot is None:
        raise Invalid("no such snapshot in this project", field="snapshot_id")
    return snapshot


def training_run_create(*, project: Project, kind: str = RunKind.REWARD, snapshot_id: int | None = None,
                        base_model: str | None = None, hyperparameters: dict | None = None,
                        created_by=None, schedule=None, snapshot: DatasetSnapshot | None = None,
                        enqueue: bool = True, resources: dict | None = None, via: str = "") -> TrainingRun:
    """Validate, create a queued run and (after commit) send it to the training queue;
    audited as ``created_by`` (None: the system) from ``via`` (page, api, command…).

    Without a snapshot, a fresh one is built from the project's labels first.
    """
    if kind not in RunKind.values:
        raise Invalid(f"kind must be one of {', '.join(RunKind.values)}", field="kind")
    if kind not in IMPLEMENTED_KINDS:
        raise Invalid(f"{kind} training is not available yet; kinds available: "
                      f"{', '.join(IMPLEMENTED_KINDS)}", field="kind")
    config = hyperparameters_clean(kind=kind, hyperparameters=hyperparameters)
    chosen = resources_clean(resources=resources)
    spec = _backbone(base_model, kind, project)
    memory_check(kind=kind, config=config, resources=chosen, spec=spec)
    keep_ties = kind == RunKind.REWARD and config["ties"] == "equal"  # DPO has no use for ties
    snapshot = snapshot or _snapshot(project, snapshot_id, created_by, keep_ties=keep_ties)
    if snapshot.status != SnapshotStatus.READY:
        raise Invalid(f"snapshot v{snapshot.version} is {snapshot.status}, not ready", field="snapshot_id")
    if not (snapshot.counts or {}).get("train"):
        raise Invalid(f"snapshot v{snapshot.version} has no training pairs", field="snapshot_id")
    _unpaired_check(snapshot, kind, config)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            project=project, kind=kind, snapshot=snapshot, base_model=spec,
            hyperparameters=config, resources=chosen.to_dict(), created_by=created_by, schedule=schedule)
        run.artifacts_dir = str(Path(settings.PALATE_TRAINING_DIR) / project.slug / f"run-{run.pk}")
        run.save(update_fields=["artifacts_dir"])
        audit_record(created_by, "training_run.create", run, kind=run.kind, snapshot_id=run.snapshot_id,
                     via=via)
        if enqueue:
            _enqueue(run.pk)
    return run


def hyperparameters_clean(*, kind: str, hyperparameters: dict | None) -> dict:
    """The full configuration of a ``kind`` run from user input (defaults filled in).

    Invalid names the bad field: ``hyperparameters.beta``.
    """
    if hyperparameters is not None and not isinstance(hyperparameters, dict):
        raise Invalid("must be an object of hyper-parameters", field="hyperparameters")
    try:
        if kind in POLICY_KINDS:
            return policy_config_from_dict(hyperparameters, kind=kind).to_dict()
        return config_from_dict(hyperparameters).to_dict()
    except ValueError as error:
        name, _, message = str(error).partition(": ")
        raise Invalid(message or str(error), field=f"hyperparameters.{name}") from None


def resources_clean(*, resources: dict | None) -> Resources:
    """The run's resources from user input; Invalid names the field: ``resources.nodes``."""
    try:
        return resources_from_dict(resources)
    except ValueError as error:
        name, _, message = str(error).partition(": ")
        field = "resources" if name == "resources" else f"resources.{name}"
        raise Invalid(message or str(error), field=field) from None


def memory_check(*, kind: str, config: dict, resources: Resources, spec: ModelSpec) -> None:
    """Refuse a run that will not fit in the GPUs it asks for, before anything is
    allocated: the planner's estimate against ``resources.gpu_memory_gb``."""
    if not resources.gpu_memory_gb:
        return
    plan = memory_plan_for_run(kind=kind, config=config, resources=resources, model_path=spec_path(spec))
    if plan is not None and not plan.fits:
        raise Invalid(plan.refusal(), field="resources.gpu_memory_gb")


def _enqueue(run_id: int) -> None:
    # On commit: a rolled-back creation queues nothing, and the worker never
    # looks for a row that is not committed yet.
    job_kind("training_runs").send(run_id, on_commit=True)


# Cancel, resume, activate -------------------------------------------------------
def training_run_cancel(*, run: TrainingRun, actor=None, via: str = "") -> TrainingRun:
    """Cancel a queued or running run; a running one stops at its next heartbeat."""
    with transaction.atomic():
        updated = TrainingRun.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.CANCELLED, finished_at=timezone.now(), eta_at=None)
        run.refresh_from_db()
        if not updated and run.status != RunStatus.CANCELLED:
            raise Conflict(f"the run has already {run.status}", field="status")
        if updated:
            audit_record(actor, "training_run.cancel", run, via=via)
    return run


def training_run_resume(*, run: TrainingRun, actor=None, via: str = "") -> TrainingRun:
    """Queue a failed or cancelled run again; it continues from its last checkpoint."""
    with transaction.atomic():
        updated = TrainingRun.objects.filter(
            pk=run.pk, status__in=[RunStatus.FAILED, RunStatus.CANCELLED],
        ).update(status=RunStatus.QUEUED, error="", finished_at=None)
        run.refresh_from_db()
        if not updated:
            raise Conflict(f"only failed or cancelled runs resume; this one is {run.status}",
                           field="status")
        audit_record(actor, "training_run.resume", run, via=via)
        _enqueue(run.pk)
    return run


def training_run_activate(*, run: TrainingRun, actor=None, via: str = "") -> TrainingRun:
    """Make a succeeded run the project's model in use for its kind (one per project and kind);
    audited as ``actor`` (None: the system, as when a new reward model takes over)."""
    if run.status != RunStatus.SUCCEEDED or run.output_model_id is None:
        raise Conflict("only a succeeded run with a registered model can be activated", field="status")
    with transaction.atomic():
        # Lock the project row: two activations at once would both clear, then
        # both set; serialised, the later one wins (and the partial unique
        # constraint would refuse two active rows anyway).
        Project.objects.select_for_update().filter(pk=run.project_id).values_list("pk").first()
        TrainingRun.objects.filter(project_id=run.project_id, kind=run.kind, is_active=True).exclude(
            pk=run.pk).update(is_active=False)
        TrainingRun.objects.filter(pk=run.pk).update(is_active=True)
        audit_record(actor, "training_run.activate", run, via=via)
    run.refresh_from_db()
    return run


# Watchdog ---------------------------------------------------------------------
def training_runs_requeue_stale(*, now: datetime | None = None, stale_after: timedelta | None = None,
                                max_attempts: int | None = None, time_limit: timedelta | None = None,
                                ) -> dict[str, int]:
    """Requeue running runs whose worker stopped heartbeating (it died); fail
    them after ``max_attempts`` claims, and fail runs whose current attempt
    passed the hard time limit (their worker stops at its next heartbeat)."""
    now = now or timezone.now()
    stale_after = stale_after or timedelta(seconds=settings.PALATE_TRAINING_STALE_SECONDS)
    max_attempts = max_attempts or settings.PALATE_TRAINING_MAX_ATTEMPTS
    time_limit = time_limit or timedelta(seconds=settings.PALATE_TRAINING_TIME_LIMIT)
    counts = jobs_requeue_stale(kind="training_runs", now=now, stale_after=stale_after,
                                max_attempts=max_attempts, on_give_up=_failed_by_watchdog, eta_at=None)
    counts["timed_out"] = 0
    overdue = TrainingRun.objects.filter(status=RunStatus.RUNNING, claimed_at__lt=now - time_limit)
    for pk in overdue.values_list("pk", flat=True):
        with transaction.atomic():
            if overdue.filter(pk=pk).update(
                    status=RunStatus.FAILED, finished_at=now, eta_at=None,
                    error=f"hard time limit ({int(time_limit.total_seconds())} s) exceeded"):
                counts["timed_out"] += 1
                _failed_by_watchdog(pk)
    return counts


def _failed_by_watchdog(pk: int) -> None:
    """Announce a run the watchdog failed and, once that commits, tell its
    observers, as its worker would have: a dead worker cannot, so a tracked run
    would stay "running" in MLflow or W&B. (A timed-out run's worker, if alive,
    tells them again at its next heartbeat; finishing twice is harmless.)"""
    training_run_finished_emit(run_id=pk)
    transaction.on_commit(lambda: RunObservers(
        TrainingRun.objects.select_related("project", "snapshot", "base_model").get(pk=pk),
    ).on_finish(model_dir=None))


# Running -----------------------------------------------------------------------
def _mine(run: TrainingRun) -> QuerySet[TrainingRun]:
    return job_mine(run)


def training_run_claim(*, run_id: int, worker_id: str = "") -> TrainingRun | None:
    """queued → running for this worker, or None when someone else has it (or
    it was cancelled while queued). Compare-and-set: two deliveries of the same
    task race on this one UPDATE and exactly one sees a row updated."""
    if not job_claim(TrainingRun, pk=run_id, worker_id=worker_id, claimed_at=timezone.now(), eta_at=None):
        return None
    return TrainingRun.objects.select_related("project", "snapshot", "base_model").get(pk=run_id)


class RunHooks(TrainingHooks):
    """The trainer's callbacks, written to the run's row as its own attempt.

    Progress doubles as the heartbeat; writes are throttled to one per
    ``PALATE_TRAINING_HEARTBEAT_SECONDS``. A write that updates no row means
    the run is no longer ours (cancelled, or requeued and claimed again):
    StopTraining ends the loop.
    """

    def __init__(self, run: TrainingRun, *, interval: float | None = None):
        self.run = run
        # Other apps' watchers (experiment tracking): told of the start and every point.
        self.observers = RunObservers(run)
        self.interval = settings.PALATE_TRAINING_HEARTBEAT_SECONDS if interval is None else interval
        self.last_write = 0.0
        self.start_step = 0
        self.started = time.monotonic()

    def _write(self, **fields) -> None:
        if not job_heartbeat(self.run, **fields):
            raise StopTraining(f"run {self.run.pk} is no longer attempt {self.run.attempt}'s")
        self.last_write = time.monotonic()

    def on_heartbeat(self) -> None:
        if time.monotonic() - self.last_write >= self.interval:
            self._write()

    def on_start(self, *, total_steps: int, start_step: int, device: str) -> None:
        self.start_step, self.started = start_step, time.monotonic()
        # A resumed run repeats the steps after its checkpoint: drop their points.
        TrainingMetric.objects.filter(run_id=self.run.pk, step__gt=start_step).delete()
        self._write(total_steps=total_steps, step=start_step, device=device[:200])
        self.observers.on_start(total_steps=total_steps, start_step=start_step, device=device)

    def on_log(self, *, step: int, split: str, values: dict) -> None:
        TrainingMetric.objects.bulk_create(
            [TrainingMetric(run_id=self.run.pk, split=split, step=step, values=values)],
            update_conflicts=True, unique_fields=["run", "split", "step"], update_fields=["values"])
        self.observers.on_log(step=step, split=split, values=values)

    def on_progress(self, *, step: int, total_steps: int) -> None:
        if time.monotonic() - self.last_write < self.interval and step < total_steps:
            return
        done = step - self.start_step
        eta = None
        if done > 0:
            per_step = (time.monotonic() - self.started) / done
            eta = timezone.now() + timedelta(seconds=per_step * (total_steps - step))
        self._write(step=step, eta_at=eta)


def _pairs(snapshot: DatasetSnapshot, split: str) -> list:
    from training.reward.data import PreferencePair  # the training stack: worker-side only

    rows = (SnapshotPair.objects.filter(snapshot=snapshot, split=split).order_by("pk")
            .values_list("prompt_messages", "chosen", "rejected", "margin", "is_tie", "weight"))
    return [PreferencePair(prompt_messages=m, chosen=c, rejected=r, margin=margin, is_tie=tie, weight=w)
            for m, c, r, margin, tie, w in rows.iterator(chunk_size=2000)]


def _unpaired_check(snapshot: DatasetSnapshot, kind: str, config: dict) -> None:
    """A snapshot of labeled single completions (single-response feedback) has no
    pairs: only KTO, which trains on thumbs up and down natively, takes it."""
    if not task_type_of(snapshot.project).unpaired:
        return
    if kind != RunKind.DPO:
        raise Invalid(f"snapshot v{snapshot.version} holds single completions with a thumbs up or "
                      f"down, not pairs: train a policy (kind dpo) with the kto loss", field="kind")
    if config.get("loss") != "kto":
        raise Invalid(f"snapshot v{snapshot.version} holds single completions with a thumbs up or "
                      f"down, not pairs: only the kto loss trains on them",
                      field="hyperparameters.loss")


def _completions(snapshot: DatasetSnapshot, split: str) -> list:
    """An unpaired snapshot's completions as KTO examples: thumbs up desirable,
    down undesirable, with the snapshot's per-prompt weight."""
    from training.policy.data import UnpairedResponse  # the training stack: worker-side only

    rows = (SnapshotCompletion.objects.filter(snapshot=snapshot, split=split).order_by("pk")
            .values_list("prompt_messages", "completion", "label", "weight"))
    return [UnpairedResponse(prompt_messages=m, response=c, desirable=label, weight=w)
            for m, c, label, w in rows.iterator(chunk_size=2000)]


def _both_bad_responses(snapshot: DatasetSnapshot) -> list:
    """Responses of items that labelers marked 'both bad' (majority of the item's
    labels), as undesirable single responses for KTO. Same cut-off as the
    snapshot: labels that existed when it was created, the snapshot's filters,
    prompts of the train split only (held-out prompts stay unseen)."""
    from training.policy.data import UnpairedResponse  # the training stack (torch): worker-side only

    votes: dict[int, list[bool]] = {}
    for item_id, both_bad in annotations_for_snapshot(snapshot).values_list("item_id", "both_bad"):
        votes.setdefault(item_id, []).append(both_bad)
    bad_items = [i for i, v in votes.items() if sum(v) * 2 > len(v)]
    out = []
    items = (ComparisonItem.objects.filter(pk__in=bad_items, prompt__split="train")
             .select_related("prompt").order_by("pk"))
    for item in items.prefetch_related("responses"):
        for response in item.responses.all():
            out.append(UnpairedResponse(prompt_messages=item.prompt.messages, response=response.text,
                                        desirable=False))
    return out


def _execute_policy(run: TrainingRun, hooks: RunHooks):
    from training.policy.trainer import train_policy  # the training stack (torch): worker-side only

    config = policy_config_from_dict(run.hyperparameters, kind=run.kind)
    extra = _both_bad_responses(run.snapshot) if config.loss == "kto" and config.kto_both_bad else []
    train_pairs, eval_pairs = _pairs(run.snapshot, "train"), _pairs(run.snapshot, "test")
    if task_type_of(run.snapshot.project).unpaired:
        # Feedback: the labeled completions themselves are KTO's examples (no pairs;
        # held-out metrics are computed on pairs, so such a run reports none).
        extra += _completions(run.snapshot, "train")
    resources = resources_from_dict(run.resources or None)
    if resources.distributed:
        return distributed_train(
            trainer="policy", kind=run.kind, config=config.to_dict(), resources=resources,
            model_path=spec_path(run.base_model), train_pairs=train_pairs,
            eval_pairs=eval_pairs, extra_unpaired=extra, output_dir=run.artifacts_dir,
            hooks=hooks, deadline=time.time() + settings.PALATE_TRAINING_SOFT_TIME_LIMIT,
            reference_cache_dir=Path(run.artifacts_dir).parent / "reference-cache")
    return train_policy(
        config, model_path=spec_path(run.base_model), train_pairs=train_pairs,
        eval_pairs=eval_pairs, extra_unpaired=extra, output_dir=run.artifacts_dir,
        hooks=hooks, deadline=time.time() + settings.PALATE_TRAINING_SOFT_TIME_LIMIT,
        # Beside the project's run folders (artifacts_dir is <training dir>/<slug>/run-N), shared
        # by its runs: a second run on the same snapshot and base model reuses the log-probs.
        reference_cache_dir=Path(run.artifacts_dir).parent / "reference-cache")


def _execute_reward(run: TrainingRun, hooks: RunHooks):
    from training.reward.trainer import train_reward_model  # the training stack (torch): worker-side only

    config = config_from_dict(run.hyperparameters)
    resources = resources_from_dict(run.resources or None)
    if resources.distributed:
        # The ranks run in their own processes (torchrun); this worker relays
        # rank 0's progress to the row and turns a cancel into SIGTERM.
        return distributed_train(
            trainer="reward", kind=run.kind, config=config.to_dict(), resources=resources,
            model_path=spec_path(run.base_model), train_pairs=_pairs(run.snapshot, "train"),
            eval_pairs=_pairs(run.snapshot, "test"), output_dir=run.artifacts_dir, hooks=hooks,
            deadline=time.time() + settings.PALATE_TRAINING_SOFT_TIME_LIMIT)
    return train_reward_model(
        config, model_path=spec_path(run.base_model), train_pairs=_pairs(run.snapshot, "train"),
        eval_pairs=_pairs(run.snapshot, "test"), output_dir=run.artifacts_dir, hooks=hooks,
        deadline=time.time() + settings.PALATE_TRAINING_SOFT_TIME_LIMIT)


def policy_results(result) -> dict:
    """A policy run's ``results``: the held-out metrics at the top level (loss,
    accuracy, margin, rewards, log-probs, lengths, pairs), the last training
    window under ``train``, and the likelihood-displacement verdict."""
    return {**result.eval_metrics, "train": result.train_metrics,
            "likelihood_displacement_step": result.displacement_step,
            "reference_cached": result.reference_cached}


def _finish_succeeded(run: TrainingRun, result) -> bool:
    policy = run.kind in POLICY_KINDS
    results = policy_results(result) if policy else result.eval_metrics
    with transaction.atomic():
        # Lock our row as our attempt: registering must not race a cancel.
        if _mine(run).select_for_update().first() is None:
            return False
        if policy:
            spec = policy_model_register(run=run, model_dir=result.model_dir, metrics=results)
        else:
            spec = reward_model_register(run=run, model_dir=result.model_dir, metrics=results)
        _mine(run).update(status=RunStatus.SUCCEEDED, finished_at=timezone.now(), eta_at=None,
                          step=result.steps, results=results,
                          timings={k: round(v, 3) for k, v in result.timings.items()},
                          device=result.device[:200], output_model=spec, heartbeat_at=timezone.now())
        run.refresh_from_db()
        training_run_finished_emit(run_id=run.pk)
        if not policy:
            # A new reward model takes over at once (in the same transaction, so
            # no one sees it succeeded but not in use); whether a new policy
            # replaces the one in use is for its evaluation (the loop) to decide.
            training_run_activate(run=run, via="worker")
    return True


def _fail(run: TrainingRun, message: str) -> None:
    with transaction.atomic():  # the status and its announcement commit together
        if _mine(run).update(status=RunStatus.FAILED, finished_at=timezone.now(), eta_at=None,
                             error=message[:10_000]):
            training_run_finished_emit(run_id=run.pk)


def training_run_execute(*, run_id: int, worker_id: str = "") -> TrainingRun | None:
    """Claim and run a queued run to the end. None when there was nothing to claim."""
    run = training_run_claim(run_id=run_id, worker_id=worker_id)
    if run is None:
        logger.info("training run %s: nothing to claim (duplicate delivery, or not queued)", run_id)
        return None
    hooks = RunHooks(run)
    model_dir = None
    try:
        result = _execute_policy(run, hooks) if run.kind in POLICY_KINDS else _execute_reward(run, hooks)
    except StopTraining:
        logger.info("training run %s stopped: cancelled, or no longer attempt %s's", run.pk, run.attempt)
    except TimeLimitReached as error:
        _fail(run, f"{error}; resume continues from the checkpoint")
    except Exception as error:
        if isinstance(error, SoftTimeLimitExceeded):
            message = "Celery soft time limit exceeded; resume continues from the last checkpoint"
        else:
            logger.exception("training run %s failed", run.pk)
            message = f"{type(error).__name__}: {error}"
        _fail(run, message)
    else:
        if _finish_succeeded(run, result):
            model_dir = result.model_dir
        else:
            logger.info("training run %s finished but was cancelled meanwhile", run.pk)
    run.refresh_from_db()
    # After the final status committed; an observer's failure never changes it.
    hooks.observers.on_finish(model_dir=model_dir)
    return run
