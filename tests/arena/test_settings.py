"""Arena mode set up without a terminal: the settings page and the API change
the same settings and pool through one service, all or nothing, audited, with
errors that name the field."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Role, TaskType
from arena.models import Arena, PoolModel
from arena.services.config import arena_configure, pool_add
from audit.models import AuditEvent
from generation.models import ModelRole
from generation.services.registry import model_spec_register
from tests.conftest import client_for
from tests.factories import member_add, project_make


@pytest.fixture
def policies(db, tmp_path):
    return [model_spec_register(name=f"settings-policy-{i}", role=ModelRole.POLICY,
                                path=str(tmp_path))[0] for i in range(3)]


@pytest.fixture
def reward(db, tmp_path):
    return model_spec_register(name="settings-reward", role=ModelRole.REWARD, path=str(tmp_path))[0]


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def active_pool(project) -> dict[str, float]:
    return {e.spec.name: e.weight for e in PoolModel.objects.filter(arena__project=project,
                                                                    is_active=True)}


def events(project) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(project=project, action="arena.configure").order_by("pk"))


def test_an_admin_turns_arena_mode_on_through_the_api(project, admin, engineer, policies):
    url = f"/api/projects/{project.pk}/arena/"
    assert client_for(engineer).get(url).status_code == 404  # no arena yet
    response = client_for(admin).put(url, {
        "max_turns": 4, "max_output_tokens": 300, "sampling": {"temperature": 0.5},
        "suggested_prompts": ["Write a haiku"], "join_promoted": False,
        "pool": [{"model": policies[0].name, "weight": 2}, {"model": policies[1].name}]},
        format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_enabled"] and body["max_turns"] == 4 and body["max_output_tokens"] == 300
    assert body["sampling"] == {"temperature": 0.5} and body["suggested_prompts"] == ["Write a haiku"]
    assert body["pool"] == [{"model": policies[0].name, "weight": 2.0},
                            {"model": policies[1].name, "weight": 1.0}]
    assert client_for(engineer).get(url).json() == body
    (event,) = events(project)
    assert event.actor_id == admin.pk and event.details["via"] == "api"
    assert event.details["pool"] == [policies[0].pk, policies[1].pk]
    assert {"max_turns", "pool", "join_promoted"} <= set(event.details["changed"])


def test_a_given_pool_is_the_whole_pool(project, admin, policies):
    arena = arena_configure(project=project)
    for spec in policies:
        pool_add(arena=arena, name=spec.name)
    response = client_for(admin).put(f"/api/projects/{project.pk}/arena/",
                                     {"pool": [{"model": policies[2].name, "weight": 0.5}]},
                                     format="json")
    assert response.status_code == 200
    assert active_pool(project) == {policies[2].name: 0.5}
    # The others are set aside, not deleted: their battles keep their models.
    assert PoolModel.objects.filter(arena=arena).count() == 3
    # Without "pool" the pool is left as it is.
    client_for(admin).put(f"/api/projects/{project.pk}/arena/", {"max_turns": 2}, format="json")
    assert active_pool(project) == {policies[2].name: 0.5}


@pytest.mark.parametrize(("body", "field"), [
    ({"pool": [{"model": "no-such-model"}]}, "pool[0].model"),
    ({"max_turns": 0}, "max_turns"),
    ({"sampling": {"temperature": 1, "frequency": 2}}, "sampling"),
    ({"suggested_prompts": ["fine", "  "]}, "suggested_prompts[1]"),
])
def test_bad_settings_name_the_field_and_change_nothing(project, admin, policies, body, field):
    response = client_for(admin).put(f"/api/projects/{project.pk}/arena/",
                                     {"max_turns": 5, **body}, format="json")
    assert response.status_code == 400
    # The service's errors say "pool[0].model"; DRF's nest the same names.
    content = response.content.decode()
    assert all(part in content for part in re.split(r"[\[\].]", field) if part)
    assert not Arena.objects.filter(project=project).exists() and not events(project)


def test_only_policy_models_join_the_pool(project, admin, policies, reward):
    response = client_for(admin).put(f"/api/projects/{project.pk}/arena/", {"pool": [
        {"model": policies[0].name}, {"model": reward.name}]}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "pool[1].model" and "reward" in response.json()["detail"]
    assert not Arena.objects.filter(project=project).exists()


def test_another_projects_trained_policy_is_no_such_model(project, admin, tmp_path):
    other = project_make(creator=admin)
    theirs = model_spec_register(name="their-policy", role=ModelRole.POLICY, path=str(tmp_path),
                                 project=other)[0]
    response = client_for(admin).put(f"/api/projects/{project.pk}/arena/",
                                     {"pool": [{"model": theirs.name}]}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "pool[0].model"


def test_an_arena_needs_a_pairwise_project(admin, policies):
    ranking = project_make(creator=admin, task_type=TaskType.RANKING)
    response = client_for(admin).put(f"/api/projects/{ranking.pk}/arena/", {}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "task_type"
    page = page_client(admin).get(reverse("arena-settings", args=[ranking.pk]))
    assert page.status_code == 200 and b'id="arena-unavailable"' in page.content
    assert b'id="arena-form"' not in page.content
    settings_page = page_client(admin).get(reverse("project-settings", args=[ranking.pk]))
    assert b"arena-settings-link" not in settings_page.content


def form_data(**overrides) -> dict:
    return {"is_enabled": "on", "max_turns": "3", "max_input_chars": "2000",
            "max_output_tokens": "256", "temperature": "0.7", "top_p": "1", "battles_per_hour": "30",
            "tokens_per_hour": "50000", "join_promoted": "on", "suggested_prompts": ""} | overrides


def test_the_settings_page_sets_up_the_arena_and_its_pool(project, admin, policies, settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    client = page_client(admin)
    assert b"arena-settings-link" in client.get(reverse("project-settings", args=[project.pk])).content
    url = reverse("arena-settings", args=[project.pk])
    page = client.get(url)
    for spec in policies:  # every usable policy model offered, none chosen yet
        assert f'data-model="{spec.name}"'.encode() in page.content
    response = client.post(url, form_data(
        max_turns="5", temperature="0.2", suggested_prompts="Plan a trip\n\n  Explain TCP  \n",
        **{f"weight_{policies[0].pk}": "1", f"weight_{policies[1].pk}": "3"}))
    assert response.status_code == 302 and response["Location"] == url
    arena = Arena.objects.get(project=project)
    assert arena.is_enabled and arena.max_turns == 5
    assert arena.sampling == {"temperature": 0.2, "top_p": 1.0}
    assert arena.suggested_prompts == ["Plan a trip", "Explain TCP"]
    assert active_pool(project) == {policies[0].name: 1.0, policies[1].name: 3.0}
    assert events(project)[-1].details["via"] == "page"
    # The form shows what is stored, and clearing a weight takes the model out.
    page = client.get(url)
    assert f'name="weight_{policies[1].pk}" value="3.0"'.encode() in page.content
    client.post(url, form_data(**{f"weight_{policies[1].pk}": "3"}))
    assert active_pool(project) == {policies[1].name: 3.0}


def test_the_settings_page_shows_errors_at_their_field(project, admin, policies, settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    url = reverse("arena-settings", args=[project.pk])
    response = page_client(admin).post(url, form_data(
        max_turns="0", **{f"weight_{policies[0].pk}": "-1"}))
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"max_turns", f"weight_{policies[0].pk}"}
    assert not Arena.objects.filter(project=project).exists()
    # A refusal from the service (a prompt over the stored limit) lands at its field too.
    response = page_client(admin).post(url, form_data(suggested_prompts="x" * 20_001))
    assert response.status_code == 200 and not Arena.objects.filter(project=project).exists()
    assert "20000 characters" in response.context["form"].errors["suggested_prompts"][0]


def test_engineers_and_labelers_cannot_change_the_arena(project, engineer, labeler, policies):
    arena_configure(project=project)
    body = {"pool": [{"model": policies[0].name}]}
    assert client_for(engineer).put(f"/api/projects/{project.pk}/arena/", body,
                                    format="json").status_code == 403
    assert client_for(labeler).get(f"/api/projects/{project.pk}/arena/").status_code == 403
    url = reverse("arena-settings", args=[project.pk])
    assert page_client(engineer).post(url, form_data()).status_code == 403
    assert active_pool(project) == {} and not events(project)


def test_a_member_admin_who_is_not_staff_manages_the_arena(project, labeler, policies):
    member_add(project, labeler, Role.ADMIN)
    response = client_for(labeler).put(f"/api/projects/{project.pk}/arena/",
                                       {"pool": [{"model": policies[0].name}]}, format="json")
    assert response.status_code == 200 and active_pool(project) == {policies[0].name: 1.0}


def test_a_change_in_the_django_admin_is_audited_too(project, superuser, policies, settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    arena = arena_configure(project=project)
    response = page_client(superuser).post(f"/admin/arena/arena/{arena.pk}/change/", {
        "project": project.pk, "is_enabled": "on", "max_turns": "6", "max_input_chars": "2000",
        "max_output_tokens": "256", "sampling": '{"temperature": 0.7}', "suggested_prompts": "[]",
        "battles_per_hour": "30", "tokens_per_hour": "50000", "join_promoted": "on",
        "pool-TOTAL_FORMS": "1", "pool-INITIAL_FORMS": "0", "pool-MIN_NUM_FORMS": "0",
        "pool-MAX_NUM_FORMS": "1000", "pool-0-spec": policies[0].pk, "pool-0-weight": "2",
        "pool-0-is_active": "on"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Arena.objects.get(pk=arena.pk).max_turns == 6
    assert active_pool(project) == {policies[0].name: 2.0}
    (event,) = events(project)
    assert event.actor_id == superuser.pk and event.details["via"] == "admin"
    assert {"max_turns", "pool"} <= set(event.details["changed"])
