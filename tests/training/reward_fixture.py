"""A project's active reward model whose preferences are known: the tiny BERT
trained on the synthetic preference (responses with "good" words beat those
with "bad" words). Shared by the best-of-N and active-learning tests."""

from tests.training.factories import FAST, snapshot_make
from training.models import RunStatus, TrainingRun
from training.services.runs import training_run_create, training_run_execute

# Enough steps for the tiny model to order good above bad with a clear gap.
KNOWN = {**FAST, "max_steps": 40, "logging_steps": 20, "checkpoint_every_steps": 0}


def reward_model_train(project, backbone) -> TrainingRun:
    snapshot = snapshot_make(project, train=128, test=32)
    run = training_run_create(project=project, snapshot=snapshot, base_model=backbone.name,
                              hyperparameters=KNOWN, enqueue=False)
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.is_active and run.results["accuracy"] >= 0.9, run.results
    return run
