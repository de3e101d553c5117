"""Bulk creation through the API: one request for many prompts or items,
answering their ids; all or nothing; duplicates answer the stored ids."""

import pytest

from annotation.models import ComparisonItem, Prompt, Response
from audit.models import AuditEvent
from tests.conftest import client_for
from tests.factories import prompts_make

pytestmark = pytest.mark.django_db


def items_url(project) -> str:
    return f"/api/projects/{project.pk}/items/"


def test_prompts_answer_one_id_per_entry_duplicates_included(project, engineer):
    stored = prompts_make(project, 1)[0]
    body = [{"prompt": "New one?"}, {"messages": stored.messages}, {"prompt": "New one?"}]
    response = client_for(engineer).post(f"/api/projects/{project.pk}/prompts/", body, format="json")
    assert response.status_code == 201
    data = response.json()
    assert (data["created"], data["duplicates"]) == (1, 2)
    new = Prompt.objects.get(project=project, messages=[{"role": "user", "content": "New one?"}])
    assert data["ids"] == [new.pk, stored.pk, new.pk]
    assert AuditEvent.objects.get(action="prompts.import").details == {"created": 1, "duplicates": 2}


def test_a_list_of_items_creates_prompts_and_items_and_answers_ids(project, engineer):
    stored = prompts_make(project, 1)[0]
    body = [
        {"prompt": "Capital of France?", "responses": [{"text": "Paris", "model_name": "a"},
                                                       {"text": "Lyon", "model_name": "b"}]},
        {"prompt_id": stored.pk, "responses": ["Yes", "No"], "models": ["m1", "m2"]},
        {"prompt": "Capital of France?", "responses": ["Paris.", "Nice"], "priority": 5},
    ]
    response = client_for(engineer).post(items_url(project), body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["created"], data["duplicates"], data["prompts_created"]) == (3, 0, 1)
    items = [ComparisonItem.objects.get(pk=pk) for pk in data["ids"]]
    assert items[0].prompt_id == items[2].prompt_id != stored.pk and items[1].prompt_id == stored.pk
    assert [s.response.text for s in items[0].slots.order_by("position")] == ["Paris", "Lyon"]
    assert [s.response.model_name for s in items[1].slots.order_by("position")] == ["m1", "m2"]
    assert items[2].priority == 5 and items[2].is_open
    detail = client_for(engineer).get(f"{items_url(project)}{items[0].pk}/").json()
    assert [r["model_name"] for r in detail["responses"]] == ["a", "b"]
    assert AuditEvent.objects.get(action="items.import").details["created"] == 3


def test_sending_the_same_items_again_adds_nothing_and_answers_the_same_ids(project, engineer):
    body = [{"prompt": f"Q{i}?", "responses": [f"a{i}", f"b{i}"]} for i in range(3)]
    body.append(dict(body[0]))  # a repeat inside the batch
    first = client_for(engineer).post(items_url(project), body, format="json").json()
    assert (first["created"], first["duplicates"]) == (3, 1) and first["ids"][3] == first["ids"][0]
    again = client_for(engineer).post(items_url(project), body, format="json").json()
    assert (again["created"], again["duplicates"], again["ids"]) == (0, 4, first["ids"])
    assert ComparisonItem.objects.filter(project=project).count() == 3


@pytest.mark.parametrize(("entry", "field"), [
    ({"prompt": "Q", "responses": ["only one"]}, "[1].responses"),
    ({"prompt": "Q", "responses": ["a", ""]}, "[1].responses[1].text"),
    ({"responses": ["a", "b"]}, "[1].prompt"),
    ({"prompt": "Q", "responses": ["a", {"text": "b", "model_name": 3}]}, "[1].responses[1].model_name"),
    ({"prompt_id": 987654, "responses": ["a", "b"]}, "[1].prompt_id"),
    ({"prompt": "Q", "responses": ["a", "b"], "priority": 2**40}, "[1].priority"),
    ({"prompt": "Q", "responses": ["a", "b"], "gold_answer": {"strength": 1}}, "[1].gold_answer"),
])
def test_one_bad_entry_names_its_field_and_nothing_is_written(project, admin, entry, field):
    body = [{"prompt": "Fine?", "responses": ["x", "y"]}, entry]
    response = client_for(admin).post(items_url(project), body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not Prompt.objects.filter(project=project).exists()
    assert not Response.objects.exists() and not ComparisonItem.objects.exists()


def test_gold_items_in_a_list_need_a_project_admin(project, engineer, admin):
    body = [{"prompt": "Gold?", "responses": ["x", "y"], "is_gold": True,
             "gold_answer": {"strength": -2}}]
    assert client_for(engineer).post(items_url(project), body, format="json").status_code == 403
    assert not ComparisonItem.objects.exists()
    response = client_for(admin).post(items_url(project), body, format="json")
    assert response.status_code == 201
    item = ComparisonItem.objects.get(pk=response.json()["ids"][0])
    assert item.is_gold and item.gold_answer == {"min": -2, "max": -2}


@pytest.mark.parametrize(("persona", "status"), [("labeler", 403), ("outsider", 404)])
def test_labelers_and_outsiders_cannot_bulk_create(project, persona, status, request):
    user = request.getfixturevalue(persona)
    body = [{"prompt": "Q", "responses": ["a", "b"]}]
    assert client_for(user).post(items_url(project), body, format="json").status_code == status
    assert not ComparisonItem.objects.exists()
