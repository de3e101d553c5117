"""The audit log: admin actions are recorded with actor, target, project and
client address; the log is append-only; its API is for project admins and
superusers."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from rest_framework.test import APIClient

from annotation.models import ApiToken, Membership, Role
from audit.models import AppendOnlyError, AuditEvent
from audit.services import audit_record
from tests.conftest import client_for
from tests.factories import member_add, project_make, user_make
from tests.training.conftest import backbone, tiny_model_dir, training_dir  # noqa: F401 - fixtures
from tests.training.factories import FAST, snapshot_make


def events(action: str):
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def only(action: str) -> AuditEvent:
    found = events(action)
    assert len(found) == 1, [(e.action, e.details) for e in AuditEvent.objects.all()]
    return found[0]


# ----- what is recorded -----


def test_adding_a_member_is_recorded_with_actor_target_project_and_address(project, admin):
    newcomer = user_make("new_nora")
    response = client_for(admin).post(f"/api/projects/{project.pk}/members/",
                                      {"username": "new_nora", "role": "labeler"}, format="json",
                                      REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 201
    event = only("membership.add")
    membership = Membership.objects.get(project=project, user=newcomer)
    assert (event.actor_id, event.project_id, event.target_type, event.target_id) == \
        (admin.pk, project.pk, "annotation.membership", str(membership.pk))
    assert event.details == {"user_id": newcomer.pk, "role": "labeler"}
    assert event.ip == "192.0.2.7"


def test_a_forged_forwarded_for_header_is_not_the_recorded_address(project, admin):
    user_make("new_nora")
    client_for(admin).post(f"/api/projects/{project.pk}/members/",
                           {"username": "new_nora", "role": "labeler"}, format="json",
                           REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="203.0.113.66")
    assert only("membership.add").ip == "192.0.2.7"


def test_role_change_and_removal_are_recorded(project, admin, labeler2):
    membership = Membership.objects.get(project=project, user=labeler2)
    client = client_for(admin)
    url = f"/api/projects/{project.pk}/members/{membership.pk}/"
    assert client.patch(url, {"role": "engineer"}, format="json").status_code == 200
    assert client.delete(url).status_code == 204
    change = only("membership.role_change")
    assert change.details == {"user_id": labeler2.pk, "role": "engineer", "previous_role": "labeler"}
    removal = only("membership.remove")
    assert (removal.target_id, removal.project_id) == (str(membership.pk), project.pk)
    assert removal.details == {"user_id": labeler2.pk, "role": "engineer"}


def test_a_refused_change_records_nothing(project, labeler, labeler2):
    membership = Membership.objects.get(project=project, user=labeler2)
    response = client_for(labeler).patch(f"/api/projects/{project.pk}/members/{membership.pk}/",
                                         {"role": "admin"}, format="json")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="membership.").exists()


def test_gold_answer_changes_are_recorded_with_the_previous_answer(project, admin, items):
    item = items[0]
    response = client_for(admin).patch(f"/api/projects/{project.pk}/items/{item.pk}/",
                                       {"is_gold": True, "gold_answer": {"strength": -2}}, format="json")
    assert response.status_code == 200, response.json()
    event = only("item.gold_change")
    assert event.target_id == str(item.pk) and event.project_id == project.pk
    item.refresh_from_db()
    assert item.gold_answer == {"min": -2, "max": -2}  # the stored (normalized) answer
    assert event.details["gold_answer"] == item.gold_answer and event.details["is_gold"] is True
    assert event.details["previous"] == {"is_gold": False, "gold_answer": None}


def test_a_priority_change_is_not_a_gold_event(project, admin, items):
    client_for(admin).patch(f"/api/projects/{project.pk}/items/{items[0].pk}/", {"priority": 3},
                            format="json")
    assert not events("item.gold_change")


def test_project_deletion_is_recorded_and_outlives_the_project(project, admin):
    pk = project.pk
    assert client_for(admin).delete(f"/api/projects/{pk}/").status_code == 204
    event = only("project.delete")
    assert (event.target_type, event.target_id, event.project_id) == ("annotation.project", str(pk), pk)
    assert event.details == {"slug": project.slug}


def test_token_creation_and_revocation_are_recorded(labeler):
    response = APIClient().post("/api/auth/token/", {"username": "lab_lena",
                                                     "password": "lab_lena-password"}, format="json")
    assert response.status_code == 201
    created = only("token.create")
    assert created.actor_id == labeler.pk and created.target_id == str(response.json()["id"])
    client = client_for(labeler)
    assert client.delete(f"/api/tokens/{response.json()['id']}/").status_code == 204
    assert only("token.revoke").target_id == str(response.json()["id"])


def test_the_token_command_records_a_system_event(labeler):
    call_command("create_api_token", "lab_lena", stdout=open("/dev/null", "w"))  # noqa: SIM115
    event = only("token.create")
    assert event.actor_id is None and event.ip is None
    assert event.details == {"via": "command", "user_id": labeler.pk}
    assert event.target_id == str(ApiToken.objects.get(user=labeler).pk)


def test_starting_a_training_run_is_recorded(project, engineer, backbone, training_dir):  # noqa: F811
    snapshot = snapshot_make(project)
    response = client_for(engineer).post(
        f"/api/projects/{project.pk}/training-runs/",
        {"kind": "reward", "snapshot_id": snapshot.pk, "base_model": "tiny-bert",
         "hyperparameters": FAST}, format="json")
    assert response.status_code == 201, response.json()
    event = only("training_run.create")
    assert (event.actor_id, event.project_id, event.target_id) == \
        (engineer.pk, project.pk, str(response.json()["id"]))
    assert event.details == {"kind": "reward", "snapshot_id": snapshot.pk, "via": "api"}


def test_activating_a_training_run_is_recorded(project, engineer, tmp_path):
    from generation.models import ModelRole, ModelSpec
    from training.models import RunStatus, TrainingRun

    base = ModelSpec.objects.create(name="audit-base", role=ModelRole.REWARD, path=str(tmp_path))
    trained = ModelSpec.objects.create(name="audit-trained", role=ModelRole.REWARD, path=str(tmp_path))
    run = TrainingRun.objects.create(project=project, snapshot=snapshot_make(project), base_model=base,
                                     status=RunStatus.SUCCEEDED, output_model=trained)
    response = client_for(engineer).post(f"/api/projects/{project.pk}/training-runs/{run.pk}/activate/")
    assert response.status_code == 200, response.json()
    event = only("training_run.activate")
    assert (event.actor_id, event.project_id, event.target_id) == (engineer.pk, project.pk, str(run.pk))


def test_adjudications_are_recorded_without_their_note(project, admin, items):
    item = items[0]
    response = client_for(admin).post(f"/api/projects/{project.pk}/items/{item.pk}/adjudication/",
                                      {"strength": -2, "note": "Alice says A"}, format="json")
    assert response.status_code == 201, response.json()
    event = only("item.adjudicate")
    assert (event.actor_id, event.project_id, event.target_id) == (admin.pk, project.pk, str(item.pk))
    assert event.details == {"adjudication_id": response.json()["id"], "strength": -2, "ranking": None}


def test_django_admin_changes_are_recorded(project, superuser):
    LogEntry.objects.log_actions(
        user_id=superuser.pk, queryset=[project], action_flag=CHANGE,
        change_message=[{"changed": {"fields": ["Overlap"]}}], single_object=True)
    event = only("admin.change")
    assert (event.actor_id, event.target_type, event.target_id, event.project_id) == \
        (superuser.pk, "annotation.project", str(project.pk), project.pk)
    assert "Overlap" in event.details["changed"]
    assert ContentType.objects.get_for_model(project).model == "project"


# ----- append-only -----


def test_events_cannot_be_changed_or_deleted(admin):
    event = audit_record(admin, "test.event", ("annotation.project", 1))
    event.action = "tampered"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_the_admin_shows_events_read_only(admin_client):
    from django.contrib import admin as django_admin
    from django.test import RequestFactory

    model_admin = django_admin.site._registry[AuditEvent]
    request = RequestFactory().get("/")
    request.user = user_make("site_sam", superuser=True)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert admin_client.get("/admin/audit/auditevent/").status_code == 200


# ----- the audit API -----


@pytest.fixture
def logged(project, admin, labeler):
    """One event in the project, one in another project, one site-wide."""
    other = project_make(creator=user_make("other_owen"))
    audit_record(admin, "membership.add", Membership.objects.get(project=project, user=labeler),
                 user_id=labeler.pk, role="labeler")
    audit_record(None, "membership.add", other.memberships.first(), user_id=0, role="admin")
    audit_record(labeler, "token.create", ("annotation.apitoken", 1))
    return other


def test_a_project_admin_lists_only_their_projects_events(project, admin, logged):
    # (Creating the project recorded "project.create" too: not this test's subject.)
    response = client_for(admin).get(f"/api/projects/{project.pk}/audit/",
                                     {"action": "membership.add"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(e["action"], e["project_id"]) for e in results] == [("membership.add", project.pk)]
    assert results[0]["actor"] == admin.username and results[0]["ip"] is None


@pytest.mark.parametrize(("persona", "status"), [
    ("labeler", 403), ("engineer", 403), ("outsider", 404)])
def test_other_members_and_outsiders_cannot_read_a_projects_log(project, logged, persona, status,
                                                                 request):
    user = request.getfixturevalue(persona)
    assert client_for(user).get(f"/api/projects/{project.pk}/audit/").status_code == status


def test_the_site_wide_log_is_for_superusers_only(project, admin, superuser, logged):
    assert client_for(admin).get("/api/audit/").status_code == 403
    assert APIClient().get("/api/audit/").status_code == 401
    response = client_for(superuser).get("/api/audit/", {"action": "membership.add"})
    assert response.status_code == 200
    assert {e["project_id"] for e in response.json()["results"]} == {project.pk, logged.pk}


def test_the_log_lists_events_newest_first_and_filters_by_actor(project, admin, labeler, superuser):
    member_add(project, user_make("new_nils"), Role.LABELER)
    for role in ("engineer", "labeler"):
        audit_record(admin, "membership.role_change", Membership.objects.get(user__username="new_nils"),
                     role=role)
    audit_record(labeler, "membership.role_change", project, role="x")
    response = client_for(superuser).get(f"/api/projects/{project.pk}/audit/",
                                         {"actor_id": admin.pk, "action": "membership.role_change"})
    assert [e["details"]["role"] for e in response.json()["results"]] == ["labeler", "engineer"]

