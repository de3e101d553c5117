import json

import pytest
from django.core.management import CommandError, call_command

from tests.training.factories import snapshot_make
from training.models import RunStatus, TrainingRun


def test_train_sync_runs_to_the_end_with_hyperparameters_from_the_command_line(
        project, backbone, training_dir, capsys):
    snapshot = snapshot_make(project)
    call_command("train", project.slug, "--kind", "reward", "--sync", "--snapshot", str(snapshot.version),
                 "--base-model", "tiny-bert", "--max-steps", "4", "--learning-rate", "0.003",
                 "--device", "cpu", "--no-shuffle", "--checkpoint-every-steps", "2")
    run = TrainingRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED and run.step == 4
    assert run.hyperparameters["learning_rate"] == 0.003 and run.hyperparameters["shuffle"] is False
    out = capsys.readouterr().out
    assert f"run {run.pk} succeeded: held-out accuracy" in out
    assert json.loads(out[out.index("\n{") + 1:out.rindex("}") + 1])["device"] == "cpu float32"


def test_train_queues_by_default(project, backbone, training_dir, django_capture_on_commit_callbacks):
    snapshot = snapshot_make(project)
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("train", project.slug, "--snapshot", str(snapshot.version), "--max-steps", "2")
    assert TrainingRun.objects.get().status == RunStatus.QUEUED and len(callbacks) == 1


def test_train_reports_bad_input(project, backbone, training_dir):
    with pytest.raises(CommandError, match="no project"):
        call_command("train", "nope")
    snapshot = snapshot_make(project)
    with pytest.raises(CommandError, match="at least 1"):
        call_command("train", project.slug, "--snapshot", str(snapshot.version), "--batch-size", "0")
