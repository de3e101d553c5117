"""The labeling loop and API tokens, through HTTP."""

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import (
    Annotation,
    ApiToken,
    Assignment,
    AssignmentStatus,
    ComparisonItem,
    Role,
    TaskType,
)
from annotation.services.items import ResponseInput, item_create
from annotation.services.queue import leases_reclaim_expired, new_idempotency_key
from tests.conftest import client_for
from tests.factories import items_make, member_add, project_make, prompts_make, user_make

LEASE_FIELDS = {"assignment", "item", "project", "status", "leased_at", "expires_at",
                "display_order", "messages", "responses"}


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def ask_next(client: APIClient, project):
    return client.post(f"/api/projects/{project.pk}/next/")


def submit(client: APIClient, assignment_id: int, **data):
    data.setdefault("idempotency_key", new_idempotency_key())
    return client.post(f"/api/assignments/{assignment_id}/submit/", data, format="json")


def error_field(response) -> str:
    """The field an error names: domain errors say it, DRF keys by it."""
    body = response.json()
    if "field" in body:
        return body["field"]
    (field,) = body
    return field


def expire(assignment_id: int) -> None:
    Assignment.objects.filter(pk=assignment_id).update(
        expires_at=timezone.now() - timedelta(seconds=1))


def labeling_project(admin, labeler, **fields):
    project = project_make(creator=admin, **fields)
    member_add(project, labeler, Role.LABELER)
    return project


# ----- next -----


def test_next_returns_a_lease_with_responses_in_display_order(project, labeler):
    item = items_make(project, 1)[0]
    response = ask_next(client_for(labeler), project)
    assert response.status_code == 200
    lease = response.json()
    assert set(lease) == LEASE_FIELDS
    assert (lease["item"], lease["project"], lease["status"]) == (item.pk, project.pk, "leased")
    assert lease["messages"] == item.prompt.messages
    assert sorted(lease["display_order"]) == [0, 1]
    texts = {s.position: s.response.text for s in item.slots.select_related("response")}
    assert lease["responses"] == [{"position": p, "text": texts[p]}
                                  for p in lease["display_order"]]


def test_next_leaks_no_model_names(project, labeler):
    prompt = prompts_make(project, 1)[0]
    item_create(project=project, prompt=prompt, responses=[
        ResponseInput(text="First answer", model_name="secret-model-alpha"),
        ResponseInput(text="Second answer", model_name="secret-model-beta")])
    body = ask_next(client_for(labeler), project).content.decode()
    assert "secret-model" not in body
    assert "model_name" not in body


def test_next_does_not_reveal_a_gold_item(admin, labeler):
    project = labeling_project(admin, labeler, gold_rate=1.0)
    gold = items_make(project, 1, is_gold=True, gold_answer={"min": -2, "max": -1})[0]
    response = ask_next(client_for(labeler), project)
    assert response.json()["item"] == gold.pk
    assert "gold" not in response.content.decode()


def test_next_returns_204_when_the_project_has_no_items(project, labeler):
    response = ask_next(client_for(labeler), project)
    assert response.status_code == 204
    assert not Assignment.objects.exists()


def test_next_returns_204_once_every_item_is_labeled(project, items, labeler):
    client = client_for(labeler)
    for _ in items:
        assert submit(client, ask_next(client, project).json()["assignment"],
                      strength=1).status_code == 201
    assert ask_next(client, project).status_code == 204


def test_next_asked_again_returns_the_same_lease(project, items, labeler):
    client = client_for(labeler)
    first = ask_next(client, project).json()
    again = ask_next(client, project).json()
    assert again == first
    assert Assignment.objects.filter(labeler=labeler).count() == 1


def test_assignment_detail_returns_the_lease(project, items, labeler):
    client = client_for(labeler)
    lease = ask_next(client, project).json()
    response = client.get(f"/api/assignments/{lease['assignment']}/")
    assert response.status_code == 200
    assert response.json() == lease


# ----- submit -----


def test_submit_creates_then_the_same_key_replays(project, items, labeler):
    client = client_for(labeler)
    lease = ask_next(client, project).json()
    first = submit(client, lease["assignment"], idempotency_key="retry-key-1", strength=-2)
    again = submit(client, lease["assignment"], idempotency_key="retry-key-1", strength=-2)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["strength"] == -2
    assert first.json()["display_order"] == lease["display_order"]
    assert ComparisonItem.objects.get(pk=lease["item"]).submitted_count == 1
    assert Assignment.objects.get(pk=lease["assignment"]).status == AssignmentStatus.SUBMITTED


def test_same_key_with_another_answer_is_refused_and_the_first_kept(project, items, labeler):
    client = client_for(labeler)
    lease = ask_next(client, project).json()
    first = submit(client, lease["assignment"], idempotency_key="retry-key-2", strength=-2,
                   rationale="A is right")
    changed = submit(client, lease["assignment"], idempotency_key="retry-key-2", strength=2,
                     rationale="A is right")
    assert (first.status_code, changed.status_code) == (201, 409)
    body = changed.json()
    assert body["code"] == "idempotency_mismatch" and body["field"] == "idempotency_key"
    assert "strength" in body["detail"]
    assert Annotation.objects.get(labeler=labeler).strength == -2
    # The page measures time on task again on every attempt: not part of the answer.
    again = submit(client, lease["assignment"], idempotency_key="retry-key-2", strength=-2,
                   rationale="A is right", time_on_task_ms=9000)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


def test_same_key_with_another_rationale_is_refused(project, items, labeler):
    client = client_for(labeler)
    assignment = ask_next(client, project).json()["assignment"]
    submit(client, assignment, idempotency_key="retry-key-3", strength=1, rationale="short")
    changed = submit(client, assignment, idempotency_key="retry-key-3", strength=1,
                     rationale="longer reasoning")
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_mismatch"
    assert Annotation.objects.get(labeler=labeler).rationale == "short"


def test_submit_with_another_key_on_the_same_item_is_a_conflict(project, items, labeler):
    client = client_for(labeler)
    assignment = ask_next(client, project).json()["assignment"]
    submit(client, assignment, idempotency_key="first-key-1", strength=1)
    response = submit(client, assignment, idempotency_key="second-key-1", strength=-1)
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert Annotation.objects.get(labeler=labeler).strength == 1


@pytest.fixture
def strict_project(admin, labeler):
    project = labeling_project(admin, labeler, allow_ties=False)
    items_make(project, 1)
    return project


@pytest.fixture
def ranking_project(admin, labeler):
    project = labeling_project(admin, labeler, task_type=TaskType.RANKING, num_responses=3)
    items_make(project, 1)
    return project


@pytest.mark.parametrize(("kind", "payload", "field"), [
    ("project", {"strength": 3}, "strength"),
    ("project", {"strength": -3}, "strength"),
    ("project", {"strength": "much"}, "strength"),
    ("project", {}, "strength"),
    ("project", {"strength": 1, "ranking": [1, 2]}, "ranking"),
    ("strict_project", {"strength": 0}, "strength"),
    ("ranking_project", {"ranking": [1, 2]}, "ranking"),
    ("ranking_project", {"ranking": [1, 2, 3, 4]}, "ranking"),
    ("ranking_project", {"ranking": [0, 1, 2]}, "ranking"),
    ("ranking_project", {"ranking": [1, 2, 3], "strength": 1}, "strength"),
    ("project", {"strength": 1, "ratings": {"verbosity": [1, 2]}}, "ratings.verbosity"),
    ("project", {"strength": 1, "ratings": {"helpfulness": [8, 1]}}, "ratings.helpfulness"),
    ("project", {"strength": 1, "ratings": {"helpfulness": [0, 1]}}, "ratings.helpfulness"),
    ("project", {"strength": 1, "ratings": {"helpfulness": [1]}}, "ratings.helpfulness"),
    ("project", {"strength": 1, "ratings": {"helpfulness": ["great", 1]}}, "ratings"),
    ("project", {"strength": 1, "time_on_task_ms": -5}, "time_on_task_ms"),
    ("project", {"strength": 1, "idempotency_key": "short"}, "idempotency_key"),
])
def test_invalid_submission_is_refused_naming_the_field(request, kind, payload, field, labeler):
    project = request.getfixturevalue(kind)
    if kind == "project":
        items_make(project, 1)
    client = client_for(labeler)
    assignment = ask_next(client, project).json()["assignment"]
    response = submit(client, assignment, **payload)
    assert response.status_code == 400
    assert error_field(response) == field
    assert not Annotation.objects.exists()
    assert Assignment.objects.get(pk=assignment).status == AssignmentStatus.LEASED


def test_ranking_submission_is_stored_per_canonical_response(ranking_project, labeler):
    client = client_for(labeler)
    assignment = ask_next(client, ranking_project).json()["assignment"]
    response = submit(client, assignment, ranking=[3, 1, 3])
    assert response.status_code == 201
    assert response.json()["ranking"] == [2, 1, 2]


def test_tie_is_accepted_where_the_project_allows_it(project, items, labeler):
    client = client_for(labeler)
    response = submit(client, ask_next(client, project).json()["assignment"], strength=0,
                      ratings={"helpfulness": [7, None]})
    assert response.status_code == 201
    assert response.json()["ratings"] == {"helpfulness": [7, None]}


# ----- late submissions -----


def test_late_submit_before_the_reclaim_is_accepted(project, items, labeler):
    client = client_for(labeler)
    assignment = ask_next(client, project).json()["assignment"]
    expire(assignment)
    assert submit(client, assignment, strength=1).status_code == 201


def test_late_submit_after_the_reclaim_is_accepted_when_there_is_room(project, labeler):
    item = items_make(project, 1)[0]  # overlap 2: the freed slot is still free
    client = client_for(labeler)
    assignment = ask_next(client, project).json()["assignment"]
    expire(assignment)
    assert leases_reclaim_expired() == 1
    response = submit(client, assignment, strength=1)
    assert response.status_code == 201
    item.refresh_from_db()
    assert (item.assigned_count, item.submitted_count) == (1, 1)


def test_late_submit_after_the_reclaim_is_refused_when_the_item_is_full(admin, labeler,
                                                                         labeler2):
    project = labeling_project(admin, labeler, overlap=1)
    member_add(project, labeler2, Role.LABELER)
    item = items_make(project, 1)[0]
    client = client_for(labeler)
    assignment = ask_next(client, project).json()["assignment"]
    expire(assignment)
    assert leases_reclaim_expired() == 1
    assert ask_next(client_for(labeler2), project).json()["item"] == item.pk
    response = submit(client, assignment, strength=1)
    assert response.status_code == 409
    assert response.json()["code"] == "lease_expired"
    assert not Annotation.objects.filter(labeler=labeler).exists()
    item.refresh_from_db()
    assert item.assigned_count == 1


# ----- skip -----


def test_skip_gives_the_item_back(project, items, labeler):
    client = client_for(labeler)
    lease = ask_next(client, project).json()
    response = client.post(f"/api/assignments/{lease['assignment']}/skip/")
    assert response.status_code == 200
    assert response.json() == {"assignment": lease["assignment"], "status": "skipped"}
    assert ComparisonItem.objects.get(pk=lease["item"]).assigned_count == 0
    assert ask_next(client, project).json()["item"] != lease["item"]


def test_submit_after_skip_is_a_conflict(project, items, labeler):
    client = client_for(labeler)
    assignment = ask_next(client, project).json()["assignment"]
    client.post(f"/api/assignments/{assignment}/skip/")
    assert submit(client, assignment, strength=1).status_code == 409
    assert not Annotation.objects.exists()


def test_skip_after_submit_is_a_conflict(project, items, labeler):
    client = client_for(labeler)
    assignment = ask_next(client, project).json()["assignment"]
    submit(client, assignment, strength=1)
    assert client.post(f"/api/assignments/{assignment}/skip/").status_code == 409
    assert Assignment.objects.get(pk=assignment).status == AssignmentStatus.SUBMITTED


# ----- query counts -----


@pytest.mark.parametrize("count", [2, 30])
def test_next_query_count_does_not_grow_with_the_queue(project, labeler, count,
                                                       django_assert_max_num_queries):
    items_make(project, count)
    client = client_for(labeler)
    client.get("/api/me/")  # the token's last-use write happens once a minute
    # Measured 10 (with the test's savepoints); asking again takes 7.
    with django_assert_max_num_queries(10):
        assert ask_next(client, project).status_code == 200
    with django_assert_max_num_queries(7):
        assert ask_next(client, project).status_code == 200


def test_submit_query_count(project, items, labeler, django_assert_max_num_queries):
    client = client_for(labeler)
    assignment = ask_next(client, project).json()["assignment"]
    # Measured 8 for a first submit and 6 for a replay (a replay is found under
    # the assignment's row lock, in the statement that takes it).
    with django_assert_max_num_queries(8):
        assert submit(client, assignment, idempotency_key="count-key-1", strength=1,
                      ratings={"helpfulness": [3, 5]}).status_code == 201
    with django_assert_max_num_queries(6):
        assert submit(client, assignment, idempotency_key="count-key-1", strength=1,
                      ratings={"helpfulness": [3, 5]}).status_code == 200


# ----- tokens -----


def login(client: APIClient, username: str, password: str, **extra):
    return client.post("/api/auth/token/", {"username": username, "password": password},
                       format="json", **extra)


def test_login_returns_a_working_token_shown_only_once(labeler):
    response = login(APIClient(), "lab_lena", "lab_lena-password")
    assert response.status_code == 201
    plaintext = response.json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert client.get("/api/me/").json()["username"] == "lab_lena"
    listed = client.get("/api/tokens/").content.decode()
    assert plaintext.split(".", 1)[1] not in listed
    assert '"token"' not in listed


def test_login_stores_only_a_hash_of_the_token(labeler):
    plaintext = login(APIClient(), "lab_lena", "lab_lena-password").json()["token"]
    prefix, secret = plaintext.split(".", 1)
    stored = ApiToken.objects.get(user=labeler)
    assert stored.prefix == prefix
    assert stored.key_hash not in (plaintext, secret)
    assert secret not in json.dumps(list(ApiToken.objects.values()), default=str)


def test_login_with_a_wrong_password_mints_nothing(labeler):
    response = login(APIClient(), "lab_lena", "not-the-password")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"
    assert "token" not in response.json()
    assert not ApiToken.objects.exists()


def test_login_ignores_a_bad_authorization_header(labeler):
    response = login(APIClient(), "lab_lena", "lab_lena-password",
                     HTTP_AUTHORIZATION="Token not.valid")
    assert response.status_code == 201


def test_revoked_token_is_refused(labeler):
    response = login(APIClient(), "lab_lena", "lab_lena-password").json()
    token, plaintext = response["id"], response["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert client_for(labeler).delete(f"/api/tokens/{token}/").status_code == 204
    assert ApiToken.objects.get(pk=token).revoked_at is not None
    assert client.get("/api/me/").status_code == 401


def test_revoking_the_token_in_use_ends_it(labeler):
    plaintext = login(APIClient(), "lab_lena", "lab_lena-password").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    token_id = client.get("/api/tokens/").json()[0]["id"]
    assert client.delete(f"/api/tokens/{token_id}/").status_code == 204
    assert client.get("/api/me/").status_code == 401


def test_expired_token_is_refused(labeler):
    client = client_for(labeler)
    assert client.get("/api/me/").status_code == 200
    ApiToken.objects.filter(user=labeler).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_deactivated_users_token_is_refused(labeler):
    client = client_for(labeler)
    labeler.is_active = False
    labeler.save()
    assert client.get("/api/me/").status_code == 401


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token nodot", "Token .secret",
                                    "Token prefix.", "Token abcdef012345.wrong-secret"])
def test_malformed_or_unknown_token_is_refused(labeler, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/me/").status_code == 401


def test_token_with_the_right_prefix_and_a_wrong_secret_is_refused(labeler):
    plaintext = login(APIClient(), "lab_lena", "lab_lena-password").json()["token"]
    prefix = plaintext.split(".", 1)[0]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {prefix}.guessed-secret")
    assert client.get("/api/me/").status_code == 401


def test_login_is_throttled_after_five_attempts(labeler):
    client = APIClient()
    failures = [login(client, "lab_lena", f"guess-{i}").status_code for i in range(5)]
    assert failures == [400] * 5
    response = login(client, "lab_lena", "lab_lena-password")
    assert response.status_code == 429
    assert "Retry-After" in response
    assert not ApiToken.objects.exists()


def test_login_throttle_is_per_client_address(labeler):
    for i in range(5):
        login(APIClient(), "lab_lena", f"guess-{i}", REMOTE_ADDR="10.0.0.1")
    assert login(APIClient(), "lab_lena", "lab_lena-password",
                 REMOTE_ADDR="10.0.0.2").status_code == 201


def test_login_throttle_ignores_a_forged_forwarded_for_header(labeler):
    for i in range(5):
        login(APIClient(), "lab_lena", f"guess-{i}", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    response = login(APIClient(), "lab_lena", "lab_lena-password",
                     HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert response.status_code == 429


def test_users_other_than_the_owner_cannot_revoke_a_token(labeler, labeler2):
    token_id = login(APIClient(), "lab_lena", "lab_lena-password").json()["id"]
    response = client_for(labeler2).delete(f"/api/tokens/{token_id}/")
    assert response.status_code == 404
    assert ApiToken.objects.get(pk=token_id).revoked_at is None


def test_new_user_login_then_label(admin):
    newbie = user_make("new_ned")
    project = labeling_project(admin, newbie)
    items_make(project, 1)
    plaintext = login(APIClient(), "new_ned", "new_ned-password").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assignment = ask_next(client, project).json()["assignment"]
    assert submit(client, assignment, strength=2).status_code == 201
