"""Project curation through HTTP: projects, members, prompts, items and the
annotation listing."""

import pytest

from annotation.models import (
    Annotation,
    ComparisonItem,
    Membership,
    Project,
    Prompt,
    Response,
    Role,
    TaskType,
)
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from tests.conftest import client_for
from tests.factories import items_make, member_add, project_make, prompts_make, user_make


def error_field(response) -> str:
    """The field an error names: domain errors say it, DRF keys by it."""
    body = response.json()
    if "field" in body:
        return body["field"]
    (field,) = body
    return field


# ----- projects -----


def test_superuser_creates_a_project_and_becomes_its_admin(superuser):
    response = client_for(superuser).post("/api/projects/", {
        "name": "Helpfulness v2", "slug": "helpfulness-v2", "overlap": 4, "allow_ties": False,
    }, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["slug"], body["task_type"], body["num_responses"], body["overlap"]) == (
        "helpfulness-v2", "pairwise", 2, 4)
    project = Project.objects.get(pk=body["id"])
    assert Membership.objects.get(project=project, user=superuser).role == Role.ADMIN


def test_ranking_project_defaults_to_four_responses(superuser):
    response = client_for(superuser).post(
        "/api/projects/", {"name": "Rank", "slug": "rank", "task_type": "ranking"}, format="json")
    assert response.status_code == 201
    assert response.json()["num_responses"] == 4


@pytest.mark.parametrize(("payload", "field"), [
    ({"num_responses": 3}, "num_responses"),
    ({"task_type": "ranking", "num_responses": 2}, "num_responses"),
    ({"task_type": "triplets"}, "task_type"),
    ({"overlap": 0}, "overlap"),
    ({"slug": "not a slug"}, "slug"),
    ({"criteria": [{"name": "fine"}, {"name": "not fine"}]}, "criteria[1]"),
    ({"criteria": [{"name": "scale", "min": 5, "max": 1}]}, "criteria[0]"),
])
def test_invalid_project_is_refused_naming_the_field(superuser, payload, field):
    response = client_for(superuser).post(
        "/api/projects/", {"name": "Bad", "slug": "bad"} | payload, format="json")
    assert response.status_code == 400
    assert error_field(response) == field
    assert not Project.objects.exists()


def test_taken_slug_is_a_conflict(superuser, project):
    response = client_for(superuser).post(
        "/api/projects/", {"name": "Copy", "slug": project.slug}, format="json")
    assert response.status_code == 409
    assert error_field(response) == "slug"
    assert Project.objects.count() == 1


def test_admin_updates_project_settings(project, admin):
    response = client_for(admin).patch(f"/api/projects/{project.pk}/", {
        "guidelines": "Prefer the more honest answer.", "overlap": 5}, format="json")
    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.guidelines, project.overlap) == ("Prefer the more honest answer.", 5)


@pytest.mark.parametrize(("payload", "field"), [
    ({"task_type": "ranking", "num_responses": 3}, "num_responses"),
    ({"task_type": "ranking"}, "task_type"),
])
def test_task_type_is_locked_once_items_exist(project, items, admin, payload, field):
    response = client_for(admin).patch(f"/api/projects/{project.pk}/", payload, format="json")
    assert response.status_code == 409
    assert error_field(response) == field
    project.refresh_from_db()
    assert (project.task_type, project.num_responses) == (TaskType.PAIRWISE, 2)


def test_task_type_can_change_before_items_exist(project, admin):
    response = client_for(admin).patch(f"/api/projects/{project.pk}/", {
        "task_type": "ranking", "num_responses": 3}, format="json")
    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.task_type, project.num_responses) == (TaskType.RANKING, 3)


def test_invalid_update_changes_nothing(project, admin):
    response = client_for(admin).patch(f"/api/projects/{project.pk}/", {
        "name": "Renamed", "gold_rate": 1.5}, format="json")
    assert response.status_code == 400
    assert error_field(response) == "gold_rate"
    project.refresh_from_db()
    assert project.name != "Renamed"


def test_admin_deletes_the_project_with_its_items(project, items, admin):
    assert client_for(admin).delete(f"/api/projects/{project.pk}/").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not ComparisonItem.objects.exists()


def test_project_list_shows_only_my_projects(project, labeler, admin):
    project_make(creator=user_make("elsewhere"))
    response = client_for(labeler).get("/api/projects/")
    assert [p["id"] for p in response.json()["results"]] == [project.pk]


# ----- members -----


def members_url(project) -> str:
    return f"/api/projects/{project.pk}/members/"


def test_admin_adds_a_member(project, admin):
    user_make("new_nina")
    response = client_for(admin).post(members_url(project),
                                      {"username": "new_nina", "role": "labeler"}, format="json")
    assert response.status_code == 201
    assert (response.json()["username"], response.json()["role"]) == ("new_nina", "labeler")
    assert Membership.objects.get(project=project, user__username="new_nina").role == "labeler"


def test_adding_an_existing_member_changes_their_role(project, admin, labeler):
    response = client_for(admin).post(members_url(project),
                                      {"username": labeler.username, "role": "engineer"},
                                      format="json")
    assert response.status_code == 200
    assert Membership.objects.filter(project=project, user=labeler).get().role == "engineer"


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"username": "nobody_here", "role": "labeler"}, 404, "username"),
    ({"username": "lab_lena", "role": "overlord"}, 400, "role"),
    ({"role": "labeler"}, 400, "username"),
])
def test_bad_member_request_names_the_field(project, admin, payload, status, field):
    before = list(Membership.objects.values_list("pk", "role"))
    response = client_for(admin).post(members_url(project), payload, format="json")
    assert response.status_code == status
    assert error_field(response) == field
    assert list(Membership.objects.values_list("pk", "role")) == before


def test_inactive_user_cannot_be_added(project, admin):
    user = user_make("gone_gary")
    user.is_active = False
    user.save()
    response = client_for(admin).post(members_url(project),
                                      {"username": "gone_gary", "role": "labeler"}, format="json")
    assert response.status_code == 404
    assert not Membership.objects.filter(user=user).exists()


def test_member_list_names_every_member(project, admin):
    response = client_for(admin).get(members_url(project))
    assert response.status_code == 200
    assert {(m["username"], m["role"]) for m in response.json()["results"]} == {
        ("admin_ann", "admin"), ("lab_lena", "labeler"), ("lab_liam", "labeler"),
        ("eng_emma", "engineer")}


def test_admin_changes_a_role(project, admin, labeler):
    membership = Membership.objects.get(project=project, user=labeler)
    response = client_for(admin).patch(f"{members_url(project)}{membership.pk}/",
                                       {"role": "admin"}, format="json")
    assert response.status_code == 200
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_admin_removes_a_member(project, admin, labeler):
    membership = Membership.objects.get(project=project, user=labeler)
    response = client_for(admin).delete(f"{members_url(project)}{membership.pk}/")
    assert response.status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_last_admin_cannot_be_removed(project, admin):
    membership = Membership.objects.get(project=project, user=admin)
    response = client_for(admin).delete(f"{members_url(project)}{membership.pk}/")
    assert response.status_code == 409
    assert Membership.objects.filter(pk=membership.pk, role=Role.ADMIN).exists()


def test_last_admin_cannot_be_demoted(project, admin):
    membership = Membership.objects.get(project=project, user=admin)
    response = client_for(admin).patch(f"{members_url(project)}{membership.pk}/",
                                       {"role": "labeler"}, format="json")
    assert response.status_code == 409
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_an_admin_may_leave_while_another_admin_remains(project, admin, engineer):
    member_add(project, engineer, Role.ADMIN)
    membership = Membership.objects.get(project=project, user=admin)
    response = client_for(admin).delete(f"{members_url(project)}{membership.pk}/")
    assert response.status_code == 204
    assert client_for(admin).get(f"/api/projects/{project.pk}/").status_code == 404


# ----- prompts -----


def prompts_url(project) -> str:
    return f"/api/projects/{project.pk}/prompts/"


def test_bulk_prompts_skip_and_count_duplicates(project, engineer):
    client = client_for(engineer)
    client.post(prompts_url(project), [{"prompt": "Known question?", "external_id": "q-1"}],
                format="json")
    response = client.post(prompts_url(project), [
        {"prompt": "Known question?"},  # same content as a stored prompt
        {"prompt": "Other text", "external_id": "q-1"},  # same external id as a stored one
        {"prompt": "New question?"},
        {"messages": [{"role": "user", "content": "New question?"}]},  # same as the previous
        {"messages": [{"role": "system", "content": "Be terse."},
                      {"role": "user", "content": "Why?"}]},
    ], format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["created"], body["duplicates"]) == (2, 3)
    known = Prompt.objects.get(project=project, external_id="q-1").pk
    new = Prompt.objects.filter(project=project).exclude(pk=known).order_by("pk")
    # One id per entry: a duplicate answers the prompt it repeats.
    assert body["ids"] == [known, known, new[0].pk, new[0].pk, new[1].pk]
    assert Prompt.objects.filter(project=project).count() == 3


@pytest.mark.parametrize(("entry", "field"), [
    ({"messages": [{"role": "robot", "content": "Hi"}]}, "[2].messages[0].role"),
    ({"messages": [{"role": "user", "content": "  "}]}, "[2].messages[0].content"),
    ({"messages": [{"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello"}]}, "[2].messages"),
    ({"prompt": ""}, "[2].prompt"),
    ({"text": "wrong key"}, "[2].prompt"),
    ({"prompt": "Fine", "metadata": [1, 2]}, "[2].metadata"),
    ({"prompt": "Fine", "external_id": "x" * 201}, "[2].external_id"),
])
def test_bad_prompt_entry_names_index_and_field_and_writes_nothing(project, engineer, entry,
                                                                   field):
    response = client_for(engineer).post(prompts_url(project), [
        {"prompt": "Good one?"}, {"prompt": "Another good one?"}, entry], format="json")
    assert response.status_code == 400
    assert error_field(response) == field
    assert not Prompt.objects.filter(project=project).exists()


def test_prompts_must_be_sent_as_a_list(project, engineer):
    response = client_for(engineer).post(prompts_url(project), {"prompt": "Alone?"},
                                         format="json")
    assert response.status_code == 400
    assert not Prompt.objects.exists()


def test_prompt_list_filters_by_split(project, engineer):
    prompts = prompts_make(project, 20)
    response = client_for(engineer).get(prompts_url(project), {"split": "test"})
    assert response.status_code == 200
    assert {p["id"] for p in response.json()["results"]} == {
        p.pk for p in prompts if p.split == "test"}


def test_prompt_list_rejects_an_unknown_split(project, engineer):
    response = client_for(engineer).get(prompts_url(project), {"split": "dev"})
    assert response.status_code == 400
    assert error_field(response) == "split"


# ----- items -----


def items_url(project) -> str:
    return f"/api/projects/{project.pk}/items/"


def item_body(prompt, count=2, **fields):
    return {"prompt_id": prompt.pk, "responses": [
        {"text": f"Answer {k}", "model_name": f"model-{k}"} for k in range(count)]} | fields


def test_curator_creates_an_item_in_canonical_order(project, engineer):
    prompt = prompts_make(project, 1)[0]
    response = client_for(engineer).post(items_url(project), item_body(prompt), format="json")
    assert response.status_code == 201
    body = response.json()
    assert [(r["position"], r["text"], r["model_name"]) for r in body["responses"]] == [
        (0, "Answer 0", "model-0"), (1, "Answer 1", "model-1")]
    assert (body["is_gold"], body["prompt"]) == (False, prompt.pk)


@pytest.mark.parametrize("count", [1, 3])
def test_wrong_number_of_responses_is_refused(project, engineer, count):
    prompt = prompts_make(project, 1)[0]
    response = client_for(engineer).post(items_url(project), item_body(prompt, count),
                                         format="json")
    assert response.status_code == 400
    assert error_field(response) == "responses"
    assert not ComparisonItem.objects.exists()
    assert not Response.objects.exists()


def test_blank_response_text_is_refused_naming_it(project, engineer):
    prompt = prompts_make(project, 1)[0]
    body = item_body(prompt)
    body["responses"][1]["text"] = "   "
    response = client_for(engineer).post(items_url(project), body, format="json")
    assert response.status_code == 400
    assert error_field(response) == "responses[1].text"
    assert not Response.objects.exists()


def test_engineer_cannot_create_a_gold_item(project, engineer):
    prompt = prompts_make(project, 1)[0]
    response = client_for(engineer).post(items_url(project), item_body(
        prompt, is_gold=True, gold_answer={"min": -2, "max": -1}), format="json")
    assert response.status_code == 403
    assert not ComparisonItem.objects.exists()


def test_admin_creates_a_gold_item(project, admin):
    prompt = prompts_make(project, 1)[0]
    response = client_for(admin).post(items_url(project), item_body(
        prompt, is_gold=True, gold_answer={"strength": -2}), format="json")
    assert response.status_code == 201
    assert (response.json()["is_gold"], response.json()["gold_answer"]) == (
        True, {"min": -2, "max": -2})


@pytest.mark.parametrize(("fields", "field"), [
    ({"is_gold": True}, "gold_answer"),
    ({"is_gold": True, "gold_answer": {"min": 1, "max": -1}}, "gold_answer"),
    ({"gold_answer": {"min": 1, "max": 2}}, "gold_answer"),
])
def test_inconsistent_gold_fields_are_refused(project, admin, fields, field):
    prompt = prompts_make(project, 1)[0]
    response = client_for(admin).post(items_url(project), item_body(prompt, **fields),
                                      format="json")
    assert response.status_code == 400
    assert error_field(response) == field
    assert not ComparisonItem.objects.exists()


def test_admin_marks_an_item_as_gold(project, items, admin):
    item = items[0]
    response = client_for(admin).patch(f"{items_url(project)}{item.pk}/", {
        "is_gold": True, "gold_answer": {"min": 1, "max": 2}, "priority": 3}, format="json")
    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.is_gold, item.gold_answer, item.priority) == (True, {"min": 1, "max": 2}, 3)


@pytest.fixture
def mixed_items(project):
    low = items_make(project, 2, priority=0)
    high = items_make(project, 1, priority=5)
    gold = items_make(project, 1, priority=1, is_gold=True, gold_answer={"min": -1, "max": 1})
    return {"low": low, "high": high, "gold": gold}


def test_item_list_filters_gold(project, engineer, mixed_items):
    response = client_for(engineer).get(items_url(project), {"is_gold": "true"})
    assert response.status_code == 200
    assert [i["id"] for i in response.json()["results"]] == [mixed_items["gold"][0].pk]


def test_item_list_orders_by_an_allowed_field(project, engineer, mixed_items):
    response = client_for(engineer).get(items_url(project), {"ordering": "-priority"})
    assert response.status_code == 200
    assert [i["priority"] for i in response.json()["results"]] == [5, 1, 0, 0]


def test_item_list_filters_by_prompt(project, engineer, mixed_items):
    item = mixed_items["low"][1]
    response = client_for(engineer).get(items_url(project), {"prompt": item.prompt_id})
    assert [i["id"] for i in response.json()["results"]] == [item.pk]


@pytest.mark.parametrize(("params", "field"), [
    ({"colour": "red"}, "colour"),
    ({"labeler": "lab_lena"}, "labeler"),
    ({"ordering": "prompt__messages"}, "ordering"),
    ({"ordering": "assigned_count"}, "ordering"),
    ({"is_gold": "maybe"}, "is_gold"),
    ({"is_open": "yes"}, "is_open"),
    ({"split": "dev"}, "split"),
    ({"prompt": "first"}, "prompt"),
])
def test_item_list_rejects_what_is_not_allowlisted_naming_the_field(project, engineer,
                                                                     mixed_items, params,
                                                                     field):
    response = client_for(engineer).get(items_url(project), params)
    assert response.status_code == 400
    assert error_field(response) == field


def test_item_list_query_count_does_not_grow_with_the_page(project, engineer,
                                                          django_assert_max_num_queries):
    items_make(project, 25)
    client = client_for(engineer)
    client.get("/api/me/")  # the token's last-use write happens once a minute
    # Measured 5: token, membership, count, items, slots with their responses.
    with django_assert_max_num_queries(6):
        response = client.get(items_url(project))
    assert len(response.json()["results"]) == 25


# ----- annotations -----


def annotate(project, labeler, strength):
    return annotation_submit(assignment=item_claim_next(project=project, labeler=labeler),
                             data={"strength": strength}, idempotency_key=new_idempotency_key())


@pytest.fixture
def annotations(project, items, labeler, labeler2):
    return [annotate(project, labeler, -1)[0], annotate(project, labeler2, 2)[0]]


@pytest.mark.parametrize("persona", ["admin", "engineer"])
def test_curators_list_every_annotation_with_its_labeler(request, project, annotations,
                                                         persona):
    response = client_for(request.getfixturevalue(persona)).get(
        f"/api/projects/{project.pk}/annotations/")
    assert response.status_code == 200
    assert [(a["id"], a["labeler"], a["strength"]) for a in response.json()["results"]] == [
        (annotations[0].pk, "lab_lena", -1), (annotations[1].pk, "lab_liam", 2)]


@pytest.mark.parametrize(("persona", "status"), [("labeler", 403), ("outsider", 404)])
def test_labelers_and_outsiders_cannot_list_project_annotations(request, project, annotations,
                                                               persona, status):
    response = client_for(request.getfixturevalue(persona)).get(
        f"/api/projects/{project.pk}/annotations/")
    assert response.status_code == status
    assert "lab_liam" not in response.content.decode()


def test_annotation_list_excludes_other_projects(project, annotations, admin):
    other = project_make(creator=admin)
    lone = user_make("lone_lab")
    member_add(other, lone, Role.LABELER)
    items_make(other, 1)
    annotate(other, lone, 1)
    response = client_for(admin).get(f"/api/projects/{project.pk}/annotations/")
    assert {a["id"] for a in response.json()["results"]} == {a.pk for a in annotations}
    assert Annotation.objects.count() == 3


def test_annotation_list_rejects_an_unknown_ordering(project, annotations, admin):
    response = client_for(admin).get(f"/api/projects/{project.pk}/annotations/",
                                     {"ordering": "labeler__password"})
    assert response.status_code == 400
    assert error_field(response) == "ordering"
