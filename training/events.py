"""The training app's project events (annotation.events): what a subscriber to
``training_run.finished`` and ``loop_round.finished`` receives. Called inside
the transaction that writes the final status, so an event goes out exactly
when the status commits."""

from annotation.events import event_emit
from training.loop.models import LoopRound
from training.models import TrainingRun


def training_run_finished_emit(*, run_id: int) -> None:
    run = TrainingRun.objects.select_related("output_model", "snapshot").get(pk=run_id)
    event_emit(project_id=run.project_id, name="training_run.finished", data={
        "run_id": run.pk, "kind": run.kind, "status": run.status, "attempt": run.attempt,
        "snapshot_id": run.snapshot_id, "snapshot_version": run.snapshot.version if run.snapshot else None,
        "snapshot_content_hash": run.snapshot.content_hash if run.snapshot else None,
        "metrics": run.results, "error": run.error[:2000],
        "output_model": run.output_model.name if run.output_model else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None})


def loop_round_finished_emit(*, round_id: int) -> None:
    rnd = LoopRound.objects.select_related("evaluation").get(pk=round_id)
    event_emit(project_id=rnd.project_id, name="loop_round.finished", data={
        "round_id": rnd.pk, "number": rnd.number, "status": rnd.status, "stage": rnd.stage,
        "decision": rnd.decision, "decision_reason": rnd.decision_reason, "error": rnd.error[:2000],
        "snapshot_id": rnd.snapshot_id, "reward_run_id": rnd.reward_run_id, "dpo_run_id": rnd.dpo_run_id,
        "evaluation_id": rnd.evaluation_id,
        "evaluation": rnd.evaluation.results if rnd.evaluation else None,
        "finished_at": rnd.finished_at.isoformat() if rnd.finished_at else None})
