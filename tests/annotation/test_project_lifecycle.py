"""Projects from creation to deletion through the API and the services the
pages share: audited create/update/archive/delete, settings that lock once
data exists, and an archived project that hands out nothing."""

import pytest

from annotation.errors import Conflict, Invalid
from annotation.models import Assignment, Project, TaskType
from annotation.services.projects import (
    project_delete,
    project_locked_fields,
    project_set_archived,
    project_update,
)
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from audit.models import AuditEvent
from tests.conftest import client_for
from tests.factories import items_make

pytestmark = pytest.mark.django_db


def actions(project_id: int) -> list[str]:
    return list(AuditEvent.objects.filter(project_id=project_id).order_by("pk")
                .values_list("action", flat=True))


def test_creating_a_project_is_recorded_with_its_shape(superuser):
    response = client_for(superuser).post("/api/projects/", {
        "name": "Ranked", "slug": "ranked", "task_type": "ranking", "num_responses": 5,
        "consensus_method": "mean"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["num_responses"], body["consensus_method"], body["archived_at"]) == (5, "mean", None)
    event = AuditEvent.objects.get(action="project.create")
    assert (event.actor_id, event.project_id) == (superuser.pk, body["id"])
    assert event.details == {"slug": "ranked", "task_type": "ranking", "num_responses": 5}


def test_dawid_skene_default_is_refused_for_rankings(superuser):
    response = client_for(superuser).post("/api/projects/", {
        "name": "R", "slug": "r-ds", "task_type": "ranking", "consensus_method": "dawid_skene"},
        format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "consensus_method"
    assert not Project.objects.filter(slug="r-ds").exists()


def test_an_update_records_the_changed_field_names_only(project, admin):
    response = client_for(admin).patch(f"/api/projects/{project.pk}/",
                                       {"overlap": 5, "name": project.name}, format="json")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="project.update")
    assert (event.actor_id, event.details) == (admin.pk, {"fields": ["overlap"]})


def test_k_locks_once_items_exist_and_says_why(project, admin):
    assert project_locked_fields(project=project) == {}
    items_make(project, 2)
    locked = project_locked_fields(project=project)
    assert locked["num_responses"] == "2 items already compare 2 responses"
    response = client_for(admin).patch(f"/api/projects/{project.pk}/",
                                       {"task_type": "ranking", "num_responses": 3}, format="json")
    assert response.status_code == 409
    assert response.json()["field"] == "num_responses"
    assert "2 items already compare 2 responses" in response.json()["detail"]
    project.refresh_from_db()
    assert (project.task_type, project.num_responses) == (TaskType.PAIRWISE, 2)


def test_a_locked_field_sent_with_its_current_value_is_accepted(project, admin):
    items_make(project, 1)
    updated = project_update(project=project, actor=admin, num_responses=2,
                             task_type=TaskType.PAIRWISE, overlap=4)
    assert updated.overlap == 4


def test_criteria_lock_once_labels_exist(project, labeler, admin):
    items_make(project, 1)
    project_update(project=project, actor=admin, criteria=[{"name": "clarity"}])
    lease = item_claim_next(project=project, labeler=labeler)
    annotation_submit(assignment=lease, data={"strength": 1}, idempotency_key=new_idempotency_key())
    assert "criteria" in project_locked_fields(project=project)
    with pytest.raises(Conflict) as error:
        project_update(project=project, actor=admin, criteria=[{"name": "other"}])
    assert error.value.field == "criteria"


def test_an_archived_project_hands_out_nothing_until_brought_back(project, admin, labeler, items):
    response = client_for(admin).post(f"/api/projects/{project.pk}/archive/", {"archived": True},
                                      format="json")
    assert response.status_code == 200 and response.json()["archived_at"]
    refused = client_for(labeler).post(f"/api/projects/{project.pk}/next/")
    assert refused.status_code == 409
    assert refused.json()["code"] == "project_archived"
    assert not Assignment.objects.filter(project=project).exists()
    client_for(admin).post(f"/api/projects/{project.pk}/archive/", {"archived": False}, format="json")
    assert client_for(labeler).post(f"/api/projects/{project.pk}/next/").status_code == 200
    assert actions(project.pk)[-2:] == ["project.archive", "project.unarchive"]


def test_archiving_twice_records_one_event(project, admin):
    project_set_archived(project=project, archived=True, actor=admin)
    project_set_archived(project=project, archived=True, actor=admin)
    assert AuditEvent.objects.filter(action="project.archive").count() == 1


@pytest.mark.parametrize(("persona", "status"), [
    ("labeler", 403), ("engineer", 403), ("outsider", 404)])
def test_only_project_admins_archive(project, persona, status, request):
    user = request.getfixturevalue(persona)
    response = client_for(user).post(f"/api/projects/{project.pk}/archive/", {"archived": True},
                                     format="json")
    assert response.status_code == status
    project.refresh_from_db()
    assert project.archived_at is None


def test_delete_needs_the_slug_typed_when_confirming(project, admin):
    with pytest.raises(Invalid) as error:
        project_delete(project=project, actor=admin, confirm="not-it")
    assert error.value.field == "confirm"
    assert Project.objects.filter(pk=project.pk).exists()
    assert not AuditEvent.objects.filter(action="project.delete").exists()
    project_delete(project=project, actor=admin, confirm=f" {project.slug} ")
    assert not Project.objects.filter(pk=project.pk).exists()
    assert AuditEvent.objects.get(action="project.delete").actor_id == admin.pk


def test_snapshots_use_the_projects_consensus_method(project, admin):
    from annotation.services.datasets import dataset_snapshot_create

    project_update(project=project, actor=admin, consensus_method="mean")
    assert dataset_snapshot_create(project=project).filters["consensus"] == "mean"
    assert dataset_snapshot_create(project=project,
                                   filters={"consensus": "majority"}).filters["consensus"] == "majority"
