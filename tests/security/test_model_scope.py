"""Trained models belong to their project: listed, generated with and trained
from there only. Base models (no project) and models a site administrator
marked shared are usable by every project."""

import pytest

from annotation.models import Role
from generation.models import GenerationJob, ModelRole, ModelSpec
from generation.services.jobs import generation_job_create
from tests.conftest import client_for
from tests.factories import member_add, project_make, prompts_make, user_make
from training.models import TrainingRun


@pytest.fixture
def other_project(db):
    owner = user_make("other_olga")
    return project_make(creator=owner)


@pytest.fixture
def models(project, other_project, tmp_path):
    base = ModelSpec.objects.create(name="base-policy", role=ModelRole.POLICY, path=str(tmp_path))
    ours = ModelSpec.objects.create(name="ours-dpo-run-1", role=ModelRole.POLICY, path=str(tmp_path),
                                    project=project, metadata={"snapshot_hash": "a" * 64})
    theirs = ModelSpec.objects.create(name="theirs-dpo-run-2", role=ModelRole.POLICY,
                                      path=str(tmp_path), project=other_project,
                                      metadata={"snapshot_hash": "b" * 64, "metrics": {"acc": 0.9}})
    return {"base": base, "ours": ours, "theirs": theirs}


def listed(user) -> set[str]:
    response = client_for(user).get("/api/models/")
    assert response.status_code == 200
    return {row["name"] for row in response.json()}


@pytest.mark.parametrize("persona", ["engineer", "admin"])
def test_the_registry_lists_base_models_and_the_projects_own(persona, request, models):
    assert listed(request.getfixturevalue(persona)) == {"base-policy", "ours-dpo-run-1"}


def test_a_model_marked_shared_is_listed_everywhere(engineer, models):
    ModelSpec.objects.filter(pk=models["theirs"].pk).update(shared=True)
    assert "theirs-dpo-run-2" in listed(engineer)


def test_a_superuser_sees_every_model(superuser, models):
    assert listed(superuser) == {"base-policy", "ours-dpo-run-1", "theirs-dpo-run-2"}


def test_a_curator_of_both_projects_sees_both(engineer, other_project, models):
    member_add(other_project, engineer, Role.ENGINEER)
    assert listed(engineer) == {"base-policy", "ours-dpo-run-1", "theirs-dpo-run-2"}


def test_another_projects_model_cannot_generate(engineer, project, models):
    prompts_make(project, 1)
    response = client_for(engineer).post(f"/api/projects/{project.pk}/generation-jobs/",
                                         {"models": ["theirs-dpo-run-2"], "n": 2}, format="json")
    assert response.status_code == 404
    assert "theirs-dpo-run-2" in response.json()["detail"]  # the name the client sent, nothing more
    assert "b" * 64 not in response.content.decode()
    assert not GenerationJob.objects.filter(project=project).exists()


def test_own_and_shared_models_generate(project, models):
    prompts_make(project, 1)
    ModelSpec.objects.filter(pk=models["theirs"].pk).update(shared=True)
    job = generation_job_create(project=project, model_names=["ours-dpo-run-1", "theirs-dpo-run-2"],
                                n=1, sampling={"max_tokens": 5}, enqueue=False)
    assert {spec.name for spec in job.model_specs.all()} == {"ours-dpo-run-1", "theirs-dpo-run-2"}


def test_another_projects_model_cannot_be_a_training_base(engineer, project, models):
    response = client_for(engineer).post(f"/api/projects/{project.pk}/training-runs/",
                                         {"kind": "dpo", "base_model": "theirs-dpo-run-2"},
                                         format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "base_model"
    assert not TrainingRun.objects.filter(project=project).exists()


def test_another_projects_model_cannot_be_a_loop_base_policy(admin, project, models):
    response = client_for(admin).put(f"/api/projects/{project.pk}/loop/",
                                     {"base_policy": "theirs-dpo-run-2"}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "base_policy"


def test_a_trained_model_is_registered_to_its_project(project, tmp_path):
    from annotation.services.datasets import dataset_snapshot_build
    from training.services.registry import reward_model_register

    backbone = ModelSpec.objects.create(name="bb", role=ModelRole.REWARD, path=str(tmp_path))
    run = TrainingRun.objects.create(project=project, snapshot=dataset_snapshot_build(project=project),
                                     base_model=backbone)
    spec = reward_model_register(run=run, model_dir=tmp_path, metrics={})
    assert (spec.project_id, spec.shared) == (project.pk, False)


def test_deleting_a_project_deletes_its_models_instead_of_sharing_them(project, models):
    project.delete()
    assert not ModelSpec.objects.filter(name="ours-dpo-run-1").exists()
    assert ModelSpec.objects.filter(name="base-policy").exists()
