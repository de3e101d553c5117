"""`make run`'s demo reward run: the bundled pairs are imported into
demo-pairwise and one reward run is queued (once), and that run, as the worker
executes it, trains and reports a held-out accuracy."""

from django.core.management import call_command

from annotation.models import Annotation, ComparisonItem, Project
from training.models import RunStatus, TrainingRun
from training.services.runs import training_run_execute


def _seed(django_capture_on_commit_callbacks, monkeypatch, queued):
    from training import tasks

    monkeypatch.setattr(tasks.training_run_task, "apply_async",
                        lambda args, **_: queued.append(tuple(args)))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--no-generate")
        call_command("seed_demo_training")


def test_the_demo_gets_its_labels_and_one_queued_reward_run(db, backbone, training_dir, monkeypatch,
                                                             django_capture_on_commit_callbacks, capsys):
    queued: list = []
    _seed(django_capture_on_commit_callbacks, monkeypatch, queued)
    project = Project.objects.get(slug="demo-pairwise")
    run = TrainingRun.objects.get(project=project)
    assert queued == [(run.pk,)]
    assert run.status == RunStatus.QUEUED
    assert run.hyperparameters["epochs"] == 4 and run.hyperparameters["max_length"] == 256
    counts = run.snapshot.counts
    assert counts["train"] > 100 and counts["test"] > 20
    imported = ComparisonItem.objects.filter(project=project, annotations__source="imported").distinct()
    assert imported.count() == 170
    assert f"/projects/{project.pk}/training/" in capsys.readouterr().out

    # Started again (make run after make run): no second import, no second run.
    before = Annotation.objects.filter(project=project).count()
    _seed(django_capture_on_commit_callbacks, monkeypatch, queued)
    assert TrainingRun.objects.filter(project=project).count() == 1
    assert Annotation.objects.filter(project=project).count() == before
    assert len(queued) == 1


def test_the_queued_demo_run_trains_and_reports_held_out_accuracy(db, backbone, training_dir, monkeypatch,
                                                                  django_capture_on_commit_callbacks):
    _seed(django_capture_on_commit_callbacks, monkeypatch, [])
    run = training_run_execute(run_id=TrainingRun.objects.get().pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert 0.0 <= run.results["accuracy"] <= 1.0
    assert run.output_model is not None and run.is_active
