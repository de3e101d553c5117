"""The "New project" and settings pages: plain forms over the project services."""

import pytest
from django.contrib.auth.models import Permission

from annotation.models import Membership, Project, Role, TaskType
from audit.models import AuditEvent
from tests.factories import items_make, user_make

FORM = {"name": "Summaries", "slug": "summaries", "task_type": "ranking", "num_responses": "4",
        "overlap": "2", "lease_seconds": "600", "gold_rate": "0.1", "test_fraction": "0.2",
        "consensus_method": "mean", "allow_ties": "on",
        "criteria": "clarity, Clear, 1, 5\nfaithful", "guidelines": "Prefer **short** answers."}


def test_a_site_admin_creates_a_project_from_the_form(superuser, client):
    client.force_login(superuser)
    assert "New project" in client.get("/").content.decode()
    # The form starts with the default rating criteria, as the API does.
    assert "helpfulness, Helpful, 1, 7" in client.get("/projects/new/").content.decode()
    response = client.post("/projects/new/", FORM)
    project = Project.objects.get(slug="summaries")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/settings/"
    assert (project.task_type, project.num_responses, project.overlap) == (TaskType.RANKING, 4, 2)
    assert (project.consensus_method, project.disagreement_first, project.allow_ties) == \
        ("mean", False, True)
    assert project.criteria == [{"name": "clarity", "label": "Clear", "min": 1, "max": 5},
                                {"name": "faithful", "label": "faithful", "min": 1, "max": 7}]
    assert Membership.objects.get(project=project).user == superuser
    assert AuditEvent.objects.filter(action="project.create", project_id=project.pk).count() == 1


def test_the_form_offers_feedback_and_creates_a_one_response_project(superuser, client):
    client.force_login(superuser)
    page = client.get("/projects/new/").content.decode()
    assert 'value="feedback"' in page and "data-task-k" in page
    response = client.post("/projects/new/", FORM | {"task_type": "feedback", "num_responses": "1",
                                                     "consensus_method": "dawid_skene"})
    project = Project.objects.get(slug="summaries")
    assert response.status_code == 302
    assert (project.task_type, project.num_responses, project.consensus_method) == \
        (TaskType.FEEDBACK, 1, "dawid_skene")
    # A consensus another type offers is refused, naming the field.
    page = client.post("/projects/new/", FORM | {"slug": "other", "task_type": "feedback",
                                                 "num_responses": "1", "consensus_method": "mean"})
    assert page.status_code == 200 and not Project.objects.filter(slug="other").exists()


def test_users_granted_the_permission_may_create_others_may_not(db, client):
    plain = user_make("plain_pat")
    client.force_login(plain)
    assert "New project" not in client.get("/").content.decode()
    assert client.get("/projects/new/").status_code == 403
    assert client.post("/projects/new/", FORM).status_code == 403
    assert not Project.objects.exists()
    plain.user_permissions.add(Permission.objects.get(codename="add_project"))
    client.force_login(type(plain).objects.get(pk=plain.pk))
    assert client.post("/projects/new/", FORM).status_code == 302
    assert Membership.objects.get(project__slug="summaries").role == Role.ADMIN


def test_a_bad_form_names_the_field_and_creates_nothing(superuser, client):
    client.force_login(superuser)
    page = client.post("/projects/new/", FORM | {"task_type": "pairwise", "num_responses": "3",
                                                  "criteria": "clarity, Clear, high, 5"})
    assert page.status_code == 200
    assert "line 1: the lowest and highest scores must be whole numbers" in page.content.decode()
    page = client.post("/projects/new/", FORM | {"task_type": "pairwise", "num_responses": "3"})
    assert "pairwise projects compare exactly 2 responses" in page.content.decode()
    assert not Project.objects.exists()


def test_settings_edit_and_show_locked_fields_with_the_reason(project, admin, client):
    items_make(project, 3)
    client.force_login(admin)
    url = f"/projects/{project.pk}/settings/"
    page = client.get(url).content.decode()
    assert "Locked: 3 items already compare 2 responses." in page
    assert 'name="num_responses" value="2" min="2" max="16" required disabled' in page.replace(
        ' id="id_num_responses"', "")
    # A forged value for a locked field is ignored (the field is disabled);
    # the other changes are saved and audited.
    response = client.post(url, {**FORM, "action": "save", "slug": project.slug,
                                 "num_responses": "5", "overlap": "7"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.num_responses, project.task_type, project.overlap) == (2, "pairwise", 7)
    assert "overlap" in AuditEvent.objects.get(action="project.update").details["fields"]


def test_archive_unarchive_and_delete_with_typed_confirmation(project, admin, client):
    client.force_login(admin)
    url = f"/projects/{project.pk}/settings/"
    client.post(url, {"action": "archive"})
    project.refresh_from_db()
    assert project.archived_at is not None
    assert "archived" in client.get("/").content.decode()
    client.post(url, {"action": "unarchive"})
    project.refresh_from_db()
    assert project.archived_at is None
    response = client.post(url, {"action": "delete", "confirm": "wrong"}, follow=True)
    assert f"type the project&#x27;s slug &#x27;{project.slug}&#x27;" in response.content.decode()
    assert Project.objects.filter(pk=project.pk).exists()
    assert client.post(url, {"action": "delete", "confirm": project.slug})["Location"] == "/"
    assert not Project.objects.filter(pk=project.pk).exists()


@pytest.mark.parametrize(("persona", "status"), [("engineer", 403), ("labeler", 403),
                                                 ("outsider", 404)])
def test_only_project_admins_open_or_change_settings(project, persona, status, client, request):
    client.force_login(request.getfixturevalue(persona))
    url = f"/projects/{project.pk}/settings/"
    assert client.get(url).status_code == status
    assert client.post(url, {"action": "delete", "confirm": project.slug}).status_code == status
    assert Project.objects.filter(pk=project.pk).exists()


def test_the_preview_is_sanitized_and_needs_csrf(project, admin, web):
    client = web(admin, enforce_csrf=True)
    assert client.post("/markdown-preview/", {"text": "x"}).status_code == 403
    client.get(f"/projects/{project.pk}/settings/")
    token = client.cookies["csrftoken"].value
    html = client.post("/markdown-preview/", {"text": "**bold** <script>alert(1)</script>"},
                       HTTP_X_CSRFTOKEN=token).json()["html"]
    assert "<strong>bold</strong>" in html and "<script>" not in html
