"""/api/projects/{id}/training-runs/: who may do what, and what it shows."""

import pytest
from rest_framework.test import APIClient

from tests.training.factories import FAST, snapshot_make
from training.models import RunStatus, TrainingRun
from training.services.runs import training_run_execute


def url(project, run=None, action=None):
    base = f"/api/projects/{project.pk}/training-runs/"
    if run is not None:
        base += f"{run.pk}/"
    return base + (f"{action}/" if action else "")


@pytest.fixture
def snapshot(project):
    return snapshot_make(project)


def body(snapshot, **hyper):
    return {"kind": "reward", "snapshot_id": snapshot.pk, "base_model": "tiny-bert",
            "hyperparameters": {**FAST, **hyper}}


def test_an_engineer_starts_a_run(api, project, engineer, backbone, training_dir, snapshot,
                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api(engineer).post(url(project), body(snapshot), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "queued" and data["snapshot"]["id"] == snapshot.pk
    assert data["base_model"] == "tiny-bert" and data["created_by"] == engineer.username
    assert data["hyperparameters"]["max_steps"] == 6 and data["metrics"] == {"train": [], "eval": []}
    assert len(callbacks) == 1


def test_a_labeler_is_forbidden_and_an_outsider_sees_nothing(
        api, project, labeler, outsider, backbone, training_dir, snapshot):
    assert api(labeler).post(url(project), body(snapshot), format="json").status_code == 403
    assert api(outsider).post(url(project), body(snapshot), format="json").status_code == 404
    assert not TrainingRun.objects.exists()
    run = TrainingRun.objects.create(project=project, snapshot=snapshot, base_model=backbone)
    for user in (labeler, outsider):
        expected = 403 if user == labeler else 404
        assert api(user).get(url(project)).status_code == expected
        assert api(user).get(url(project, run)).status_code == expected
        assert api(user).post(url(project, run, "cancel")).status_code == expected
    assert TrainingRun.objects.get(pk=run.pk).status == RunStatus.QUEUED


def test_a_run_of_another_project_is_not_found(api, admin, engineer, project, backbone, training_dir,
                                               snapshot):
    from tests.factories import project_make

    other = project_make(creator=admin)
    run = TrainingRun.objects.create(project=other, snapshot=snapshot_make(other), base_model=backbone)
    assert api(engineer).get(url(project, run)).status_code == 404
    assert api(engineer).post(url(project, run, "cancel")).status_code == 404


def test_bad_input_is_a_400_naming_the_field(api, project, engineer, backbone, training_dir, snapshot):
    response = api(engineer).post(url(project), body(snapshot, learning_rate=-1), format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "hyperparameters.learning_rate"
    response = api(engineer).post(url(project), {**body(snapshot), "snapshot_id": 999_999}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "snapshot_id"
    assert not TrainingRun.objects.exists()


def test_detail_shows_progress_results_metrics_and_artifacts(
        api, project, engineer, backbone, training_dir, snapshot):
    run = TrainingRun.objects.get(pk=api(engineer).post(url(project), body(snapshot),
                                                        format="json").json()["id"])
    training_run_execute(run_id=run.pk)
    data = api(engineer).get(url(project, run)).json()
    assert data["status"] == "succeeded" and data["progress"] == 1.0 and data["is_active"]
    assert data["output_model"] == f"{project.slug}-reward-run-{run.pk}"
    assert [p["step"] for p in data["metrics"]["train"]] == [2, 4, 6]
    first = data["metrics"]["train"][0]
    assert {"loss", "accuracy", "learning_rate", "grad_norm", "tokens_per_s"} <= set(first)
    assert data["metrics"]["eval"][0]["accuracy"] == data["results"]["accuracy"]
    assert any(a["path"] == "model/model.safetensors" for a in data["artifacts"])
    listing = api(engineer).get(url(project)).json()
    assert listing["count"] == 1 and "metrics" not in listing["results"][0]


def test_cancel_and_resume(api, project, engineer, backbone, training_dir, snapshot,
                           django_capture_on_commit_callbacks):
    run = TrainingRun.objects.create(project=project, snapshot=snapshot, base_model=backbone)
    assert api(engineer).post(url(project, run, "cancel")).json()["status"] == "cancelled"
    assert api(engineer).post(url(project, run, "cancel")).status_code == 200  # idempotent
    with django_capture_on_commit_callbacks() as callbacks:
        assert api(engineer).post(url(project, run, "resume")).json()["status"] == "queued"
    assert len(callbacks) == 1
    assert api(engineer).post(url(project, run, "resume")).status_code == 409


def test_session_posts_need_the_csrf_token(project, engineer, backbone, training_dir, snapshot):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(engineer)
    response = client.post(url(project), body(snapshot), format="json")
    assert response.status_code == 403
    assert not TrainingRun.objects.exists()
