"""A finished loop round, tracked as a run of its own: the round's settings and
outcome as parameters, its snapshot as the dataset input, the policy
evaluation as metrics, and its reward and DPO runs nested under it (MLflow's
parent tag; W&B lists their ids in the config)."""

from __future__ import annotations

import logging

from django.db import transaction

from integrations.tracking.backends import TrackedRunSpec, tracker_build, trackers_enabled
from integrations.tracking.flatten import metrics_flatten, params_flatten
from integrations.tracking.records import tracked_run_existing_id, tracked_run_record
from integrations.tracking.runs import experiment_name, snapshot_dataset
from training.loop.models import LoopRound, RoundStatus

logger = logging.getLogger(__name__)


def round_spec(rnd: LoopRound) -> TrackedRunSpec:
    params = params_flatten({
        "number": rnd.number, "reference_policy": rnd.reference_policy.name,
        "decision": rnd.decision, "decision_reason": rnd.decision_reason,
        "reward_run": rnd.reward_run_id, "dpo_run": rnd.dpo_run_id, "evaluation": rnd.evaluation_id,
        "snapshot": {"version": rnd.snapshot.version, "content_hash": rnd.snapshot.content_hash}
        if rnd.snapshot else {}}, prefix="palate.round.")
    return TrackedRunSpec(
        key=f"loop-round-{rnd.pk}", name=f"{rnd.project.slug} loop round {rnd.number}",
        experiment=experiment_name(rnd.project), job_type="loop-round", params=params,
        tags={"palate.project": rnd.project.slug, "palate.loop_round": str(rnd.pk),
              "palate.status": rnd.status})


def loop_round_track(*, round_id: int) -> None:
    """Log a finished round to every tracker that is on; failures go to the
    round's TrackedRun rows, never further."""
    rnd = (LoopRound.objects.select_related("project", "reference_policy", "snapshot", "snapshot__project",
                                            "evaluation").filter(pk=round_id).first())
    if rnd is None:
        return
    status = {RoundStatus.SUCCEEDED: "succeeded", RoundStatus.FAILED: "failed",
              RoundStatus.CANCELLED: "cancelled"}.get(rnd.status)
    for name in trackers_enabled():
        try:
            tracker = tracker_build(name)
            existing = tracked_run_existing_id(backend=name, loop_round_id=rnd.pk)
            external_id, location = tracker.start(round_spec(rnd) if not existing else TrackedRunSpec(
                key=f"loop-round-{rnd.pk}", name="", experiment="", job_type="loop-round",
                existing_id=existing))
            tracked_run_record(backend=name, loop_round_id=rnd.pk, external_id=external_id,
                               location=location[:2000], error="")
            if rnd.snapshot is not None and not existing:
                tracker.log_dataset(snapshot_dataset(rnd.snapshot), context="train")
            evaluation = metrics_flatten(rnd.evaluation.results if rnd.evaluation else {}, prefix="final/")
            if evaluation:
                tracker.log_metrics(step=rnd.number, metrics=evaluation)
            children = [tracked_run_existing_id(backend=name, training_run_id=pk)
                        for pk in (rnd.reward_run_id, rnd.dpo_run_id) if pk]
            if any(children):
                tracker.link_children([child for child in children if child])
            tracker.finish(status=status)
            tracked_run_record(backend=name, loop_round_id=rnd.pk, finished=True)
        except Exception as error:
            logger.warning("tracking loop round %s in %s failed: %s", round_id, name, error, exc_info=True)
            try:
                tracked_run_record(backend=name, loop_round_id=rnd.pk,
                                   error=f"{type(error).__name__}: {error}"[:5000])
            except Exception:
                logger.exception("recording the tracking error of round %s failed", round_id)


def loop_round_track_on_commit(*, round_id: int) -> None:
    """Called where ``loop_round.finished`` is announced (inside its transaction,
    in the training worker): tracked once the status is committed."""
    if trackers_enabled():
        transaction.on_commit(lambda: loop_round_track(round_id=round_id))
