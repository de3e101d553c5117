"""Who may call what: a status matrix over every API route and persona, the
ownership rules (outsiders get 404 and change nothing), and CSRF on session
requests."""

from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.middleware.csrf import get_token
from django.test import RequestFactory
from django.urls import URLPattern, reverse
from rest_framework.test import APIClient

from annotation.api import urls as api_urls
from annotation.models import (
    Adjudication,
    Annotation,
    ApiToken,
    Assignment,
    AssignmentStatus,
    ComparisonItem,
    DatasetExport,
    DatasetSnapshot,
    Invite,
    ItemConsensus,
    Membership,
    Project,
    ProjectQuality,
    Prompt,
    Response,
    Role,
    UploadJob,
)
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.exports import dataset_export_request, dataset_export_run
from annotation.services.invites import invite_create
from annotation.services.queue import item_claim_next
from annotation.services.submissions import annotation_submit
from annotation.services.tokens import token_create
from tests.conftest import client_for
from tests.factories import items_make, member_add, project_make, user_make

PERSONAS = ["anonymous", "outsider", "labeler", "labeler2", "engineer", "admin", "superuser"]
ROLE_OF = {"labeler": Role.LABELER, "labeler2": Role.LABELER, "engineer": Role.ENGINEER,
           "admin": Role.ADMIN}
VIEW = {Role.ADMIN, Role.LABELER, Role.ENGINEER}
MANAGE = {Role.ADMIN}
CURATE = {Role.ADMIN, Role.ENGINEER}
LABEL = {Role.ADMIN, Role.LABELER}


def signed_in(ok: int) -> dict[str, int]:
    return {p: 401 if p == "anonymous" else ok for p in PERSONAS}


def superuser_only(ok: int) -> dict[str, int]:
    return signed_in(403) | {"superuser": ok}


def by_role(roles: set[str], ok: int) -> dict[str, int]:
    expected = {"anonymous": 401, "outsider": 404, "superuser": ok}
    return expected | {p: ok if role in roles else 403 for p, role in ROLE_OF.items()}


def owner_only(ok: int) -> dict[str, int]:
    """Objects of the labeler persona: everyone else, admins included, gets 404."""
    return signed_in(404) | {"labeler": ok}


@dataclass(frozen=True)
class Route:
    name: str  # the URL name in annotation/api/urls.py
    method: str
    path: str  # placeholders filled from the World
    expected: dict[str, int]
    body: Any = None

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


ROUTES = [
    Route("api-me", "get", "/api/me/", signed_in(200)),
    Route("api-password-resets", "post", "/api/password-resets/", superuser_only(201),
          {"username": "new_nina"}),
    Route("api-tokens", "get", "/api/tokens/", signed_in(200)),
    Route("api-token", "delete", "/api/tokens/{token}/", owner_only(204)),
    Route("api-my-annotations", "get", "/api/me/annotations/", signed_in(200)),
    Route("api-projects", "get", "/api/projects/", signed_in(200)),
    Route("api-projects", "post", "/api/projects/", superuser_only(201),
          {"name": "Brand new", "slug": "brand-new"}),
    Route("api-project", "get", "/api/projects/{project}/", by_role(VIEW, 200)),
    Route("api-project", "patch", "/api/projects/{project}/", by_role(MANAGE, 200),
          {"name": "Renamed"}),
    Route("api-project", "delete", "/api/projects/{project}/", by_role(MANAGE, 204)),
    Route("api-members", "get", "/api/projects/{project}/members/", by_role(MANAGE, 200)),
    Route("api-members", "post", "/api/projects/{project}/members/", by_role(MANAGE, 201),
          {"username": "new_nina", "role": "labeler"}),
    Route("api-member", "patch", "/api/projects/{project}/members/{member}/",
          by_role(MANAGE, 200), {"role": "engineer"}),
    Route("api-member", "delete", "/api/projects/{project}/members/{member}/",
          by_role(MANAGE, 204)),
    Route("api-prompts", "get", "/api/projects/{project}/prompts/", by_role(CURATE, 200)),
    Route("api-prompts", "post", "/api/projects/{project}/prompts/", by_role(CURATE, 201),
          [{"prompt": "A question nobody asked before?"}]),
    Route("api-prompt", "get", "/api/projects/{project}/prompts/{prompt}/",
          by_role(CURATE, 200)),
    Route("api-items", "get", "/api/projects/{project}/items/", by_role(CURATE, 200)),
    Route("api-items", "post", "/api/projects/{project}/items/", by_role(CURATE, 201),
          {"prompt_id": "{prompt}", "responses": [{"text": "yes"}, {"text": "no"}]}),
    Route("api-item", "get", "/api/projects/{project}/items/{item}/", by_role(CURATE, 200)),
    Route("api-item", "patch", "/api/projects/{project}/items/{item}/", by_role(MANAGE, 200),
          {"priority": 9}),
    Route("api-project-annotations", "get", "/api/projects/{project}/annotations/",
          by_role(CURATE, 200)),
    Route("api-next", "post", "/api/projects/{project}/next/", by_role(LABEL, 200)),
    Route("api-assignment", "get", "/api/assignments/{assignment}/", owner_only(200)),
    Route("api-submit", "post", "/api/assignments/{assignment}/submit/", owner_only(201),
          {"idempotency_key": "matrix-key-0001", "strength": -1}),
    Route("api-skip", "post", "/api/assignments/{assignment}/skip/", owner_only(200)),
    Route("api-snapshots", "get", "/api/projects/{project}/snapshots/", by_role(CURATE, 200)),
    Route("api-snapshots", "post", "/api/projects/{project}/snapshots/", by_role(CURATE, 202),
          {"filters": {}}),
    Route("api-snapshot", "get", "/api/projects/{project}/snapshots/{snapshot}/",
          by_role(CURATE, 200)),
    Route("api-snapshot-exports", "post", "/api/projects/{project}/snapshots/{snapshot}/exports/",
          by_role(CURATE, 202), {"format": "raw"}),
    Route("api-exports", "get", "/api/projects/{project}/exports/", by_role(CURATE, 200)),
    Route("api-agreement", "get", "/api/projects/{project}/agreement/", by_role(CURATE, 200)),
    Route("api-consensus", "get", "/api/projects/{project}/consensus/", by_role(CURATE, 200)),
    Route("api-adjudicate", "post", "/api/projects/{project}/items/{item}/adjudication/",
          by_role(MANAGE, 201), {"strength": -1, "note": "A is right"}),
    Route("api-reliability", "get", "/api/projects/{project}/reliability/", by_role(CURATE, 200)),
    Route("api-leaderboard", "get", "/api/projects/{project}/leaderboard/", by_role(CURATE, 200)),
    Route("api-quality-recompute", "post", "/api/projects/{project}/quality/recompute/",
          by_role(MANAGE, 202), {}),
    Route("api-imports", "post", "/api/projects/{project}/imports/", by_role(CURATE, 201),
          {"file": "<upload>", "format": "trl"}),
    Route("api-import-job", "get", "/api/projects/{project}/imports/{upload}/", by_role(CURATE, 200)),
    Route("api-export", "get", "/api/projects/{project}/exports/{export}/",
          by_role(CURATE, 200)),
    Route("api-export-download", "get", "/api/projects/{project}/exports/{export}/download/",
          by_role(CURATE, 200)),
    Route("api-project-archive", "post", "/api/projects/{project}/archive/", by_role(MANAGE, 200),
          {"archived": True}),
    Route("api-invites", "get", "/api/projects/{project}/invites/", by_role(MANAGE, 200)),
    Route("api-invites", "post", "/api/projects/{project}/invites/", by_role(MANAGE, 201),
          {"role": "labeler", "max_uses": 2}),
    Route("api-invite", "delete", "/api/projects/{project}/invites/{invite}/", by_role(MANAGE, 200)),
    Route("api-team-progress", "get", "/api/projects/{project}/progress/", by_role(MANAGE, 200)),
    Route("api-users", "get", "/api/users/", superuser_only(200)),
    Route("api-users", "post", "/api/users/", superuser_only(201), {"username": "brand_new_bo"}),
    Route("api-user-deactivate", "post", "/api/users/{user}/deactivate/", superuser_only(200)),
]
WRITES = [r for r in ROUTES if r.method != "get"]
# Route placeholders and the URL keyword arguments they stand for.
URL_KWARGS = {"project": "project_id", "member": "membership_id", "prompt": "prompt_id",
              "item": "item_id", "assignment": "assignment_id", "token": "token_id",
              "snapshot": "snapshot_id", "export": "export_id", "invite": "invite_id",
              "user": "user_id", "upload": "upload_id"}
# Covered elsewhere: the schema and docs below, login in test_api_labeling.py.
OUTSIDE_MATRIX = {"api-schema", "api-docs", "api-token-login"}


@dataclass
class World:
    project: Project
    prompt: Prompt
    item: ComparisonItem
    member: Membership  # labeler2's membership
    assignment: Assignment  # the labeler's live lease
    token: ApiToken  # a second token of the labeler
    invite: Invite  # an open invite link of the project
    user: Any  # new_nina, an active account outside the project
    upload: UploadJob  # a large upload's import job (queued)
    snapshot: DatasetSnapshot | None = None  # built on demand: see with_datasets
    export: DatasetExport | None = None

    def fill(self, value):
        ids = {"project": self.project.pk, "prompt": self.prompt.pk, "item": self.item.pk,
               "member": self.member.pk, "assignment": self.assignment.pk,
               "token": self.token.pk, "invite": self.invite.pk, "user": self.user.pk,
               "upload": self.upload.pk,
               "snapshot": getattr(self.snapshot, "pk", None),
               "export": getattr(self.export, "pk", None)}
        if isinstance(value, str):
            if value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
                return ids[value[1:-1]]
            return value.format(**ids)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value


@pytest.fixture
def world(project, items, admin, labeler, labeler2):
    nina = user_make("new_nina")
    return World(
        project=project,
        prompt=items[0].prompt,
        item=items[0],
        member=Membership.objects.get(project=project, user=labeler2),
        assignment=item_claim_next(project=project, labeler=labeler),
        token=token_create(user=labeler, name="spare")[0],
        invite=invite_create(project=project, actor=admin)[0],
        user=nina,
        upload=UploadJob.objects.create(project=project, kind="prompts", file="matrix.jsonl"),
    )


def with_datasets(world: World, route: Route) -> World:
    """A ready snapshot and a finished export, for the routes that name them."""
    if "{snapshot}" in route.path or "{export}" in route.path:
        world.snapshot = dataset_snapshot_build(project=world.project)
        world.export = dataset_export_run(
            export_id=dataset_export_request(snapshot=world.snapshot, fmt="raw").pk)
    return world


@pytest.fixture
def personas(admin, labeler, labeler2, engineer, outsider, superuser):
    return {"anonymous": None, "outsider": outsider, "labeler": labeler, "labeler2": labeler2,
            "engineer": engineer, "admin": admin, "superuser": superuser}


def db_state() -> dict:
    """Everything a request could change (token bookkeeping aside)."""
    return {
        "projects": list(Project.objects.order_by("pk").values()),
        "memberships": list(Membership.objects.order_by("pk").values()),
        "prompts": list(Prompt.objects.order_by("pk").values()),
        "responses": list(Response.objects.order_by("pk").values_list("pk", flat=True)),
        "items": list(ComparisonItem.objects.order_by("pk").values()),
        "assignments": list(Assignment.objects.order_by("pk").values()),
        "annotations": list(Annotation.objects.order_by("pk").values()),
        "tokens": list(ApiToken.objects.order_by("pk").values("pk", "revoked_at", "expires_at")),
        "snapshots": list(DatasetSnapshot.objects.order_by("pk").values()),
        "exports": list(DatasetExport.objects.order_by("pk").values()),
        "adjudications": list(Adjudication.objects.order_by("pk").values()),
        "consensus": list(ItemConsensus.objects.order_by("pk").values()),
        "quality": list(ProjectQuality.objects.order_by("pk").values()),
        "invites": list(Invite.objects.order_by("pk").values()),
        "users": list(get_user_model().objects.order_by("pk").values("pk", "username", "is_active")),
    }


UPLOAD_LINE = b'{"prompt": "Imported question?", "chosen": "Yes.", "rejected": "No."}\n'


def call(client: APIClient, method: str, path: str, body=None, **extra):
    fmt = "json"
    if isinstance(body, dict) and body.get("file") == "<upload>":  # a fresh file per request
        body, fmt = body | {"file": SimpleUploadedFile("rows.jsonl", UPLOAD_LINE)}, "multipart"
    response = getattr(client, method)(path, body, format=fmt, **extra)
    if getattr(response, "file_to_stream", None) is not None:
        response.file_to_stream.close()  # a download holds its file open
    return response


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_answers_each_persona_and_refusals_change_nothing(route, persona, world, personas):
    with_datasets(world, route)
    client = client_for(personas[persona])
    before = db_state()
    response = call(client, route.method, world.fill(route.path), world.fill(route.body))
    assert response.status_code == route.expected[persona], getattr(response, "data", None)
    if response.status_code >= 400:
        assert db_state() == before


def test_matrix_covers_every_route_and_method():
    implemented = set()
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        if pattern.name in OUTSIDE_MATRIX:
            continue
        view = pattern.callback.view_class
        implemented |= {(pattern.name, m) for m in ("get", "post", "put", "patch", "delete")
                        if hasattr(view, m)}
    assert {(r.name, r.method) for r in ROUTES} == implemented


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_path_resolves_to_its_named_url(route, world):
    with_datasets(world, route)
    placeholders = {k: v for k, v in URL_KWARGS.items() if "{" + k + "}" in route.path}
    filled = {arg: world.fill("{" + key + "}") for key, arg in placeholders.items()}
    assert reverse(route.name, kwargs=filled) == world.fill(route.path)


@pytest.fixture
def plain_static_files(settings):
    # The docs page links the bundled Swagger UI; without collectstatic the
    # production manifest storage cannot name those files.
    settings.STORAGES = settings.STORAGES | {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.mark.usefixtures("plain_static_files")
@pytest.mark.parametrize("name", ["api-schema", "api-docs"])
def test_schema_and_docs_are_for_signed_in_users(name, labeler):
    assert client_for(labeler).get(reverse(name)).status_code == 200
    session = APIClient()
    session.force_login(labeler)
    assert session.get(reverse(name)).status_code == 200
    assert APIClient().get(reverse(name)).status_code == 401


def test_schema_lists_every_route_of_the_matrix(labeler):
    schema = client_for(labeler).get(reverse("api-schema"), {"format": "json"}).json()
    documented = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    as_schema = {key: "{" + arg + "}" for key, arg in URL_KWARGS.items()}
    expected = {(r.path.format(**as_schema), r.method) for r in ROUTES}
    assert expected <= documented


# ----- no existence oracle -----

# Site-admin routes refuse everyone else before any lookup (403), so they have no oracle.
OBJECT_ROUTES = [r for r in ROUTES if "{" in r.path and r.expected["outsider"] == 404]


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=str)
def test_outsider_gets_the_same_answer_for_a_missing_object(route, world, outsider, labeler2):
    # The labeler's assignment and token are "someone else's" to labeler2.
    user = labeler2 if route.expected["labeler2"] == 404 else outsider
    with_datasets(world, route)
    client = client_for(user)
    real = call(client, route.method, world.fill(route.path), world.fill(route.body))
    missing_ids = World(project=Project(pk=987654), prompt=Prompt(pk=987654),
                        item=ComparisonItem(pk=987654), member=Membership(pk=987654),
                        assignment=Assignment(pk=987654), token=ApiToken(pk=987654),
                        snapshot=DatasetSnapshot(pk=987654), export=DatasetExport(pk=987654),
                        invite=Invite(pk=987654), user=get_user_model()(pk=987654),
                        upload=UploadJob(pk=987654))
    missing = call(client, route.method, missing_ids.fill(route.path), world.fill(route.body))
    assert real.status_code == missing.status_code == 404
    assert real.json() == missing.json()


# ----- objects of another project are out of reach through this one -----


@pytest.fixture
def other(admin):
    """A second project, which the admin persona does not belong to."""
    owner = user_make("other_olga")
    project = project_make(creator=owner)
    item = items_make(project, 1)[0]
    stranger = user_make("other_lab")
    membership = member_add(project, stranger, Role.LABELER)
    return {"item": item, "prompt": item.prompt, "member": membership}


@pytest.mark.parametrize(("method", "path", "body"), [
    ("get", "/api/projects/{project}/items/{item}/", None),
    ("patch", "/api/projects/{project}/items/{item}/", {"priority": 50}),
    ("get", "/api/projects/{project}/prompts/{prompt}/", None),
    ("patch", "/api/projects/{project}/members/{member}/", {"role": "admin"}),
    ("delete", "/api/projects/{project}/members/{member}/", None),
    ("post", "/api/projects/{project}/items/",
     {"prompt_id": "{prompt}", "responses": [{"text": "a"}, {"text": "b"}]}),
])
def test_admin_cannot_reach_another_projects_objects_through_their_own(
        method, path, body, project, admin, other):
    ids = {"project": project.pk, "item": other["item"].pk, "prompt": other["prompt"].pk,
           "member": other["member"].pk}
    if body and body.get("prompt_id") == "{prompt}":
        body = body | {"prompt_id": ids["prompt"]}
    client = client_for(admin)
    before = db_state()
    response = call(client, method, path.format(**ids), body)
    assert response.status_code == 404
    assert db_state() == before


# ----- labelers see only their own work -----


def submit(assignment, key):
    return annotation_submit(assignment=assignment, data={"strength": 1}, idempotency_key=key)


def test_my_annotations_lists_only_my_own(project, items, labeler, labeler2):
    mine, _ = submit(item_claim_next(project=project, labeler=labeler), "mine-0001")
    submit(item_claim_next(project=project, labeler=labeler2), "theirs-0001")
    response = client_for(labeler).get("/api/me/annotations/")
    assert response.status_code == 200
    assert [a["id"] for a in response.json()["results"]] == [mine.pk]


def test_other_labelers_assignment_is_not_found_and_untouched(project, items, labeler, labeler2):
    lease = item_claim_next(project=project, labeler=labeler)
    client = client_for(labeler2)
    before = db_state()
    answers = [
        client.get(f"/api/assignments/{lease.pk}/"),
        client.post(f"/api/assignments/{lease.pk}/submit/",
                    {"idempotency_key": "stolen-0001", "strength": 2}, format="json"),
        client.post(f"/api/assignments/{lease.pk}/skip/"),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert db_state() == before


def test_tokens_list_shows_only_my_tokens(labeler, labeler2):
    mine = token_create(user=labeler, name="mine")[0]
    token_create(user=labeler2, name="theirs")
    names = {t["name"] for t in client_for(labeler).get("/api/tokens/").json()}
    assert "theirs" not in names
    assert mine.name in names


def test_removed_labeler_loses_their_live_lease(project, items, labeler):
    lease = item_claim_next(project=project, labeler=labeler)
    client = client_for(labeler)
    Membership.objects.filter(project=project, user=labeler).delete()
    before = db_state()
    answers = [
        client.get(f"/api/assignments/{lease.pk}/"),
        client.post(f"/api/assignments/{lease.pk}/submit/",
                    {"idempotency_key": "after-removal", "strength": 2}, format="json"),
        client.post(f"/api/assignments/{lease.pk}/skip/"),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert db_state() == before


def test_labeler_moved_to_engineer_cannot_submit_their_lease(project, items, labeler):
    lease = item_claim_next(project=project, labeler=labeler)
    member_add(project, labeler, Role.ENGINEER)
    response = client_for(labeler).post(f"/api/assignments/{lease.pk}/submit/",
                                         {"idempotency_key": "after-demotion", "strength": 2},
                                         format="json")
    assert response.status_code == 403
    assert not Annotation.objects.filter(labeler=labeler).exists()


# ----- CSRF on session-authenticated requests -----


def session_client(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token(client: APIClient) -> str:
    """What a page would hand the browser: the cookie and a masked token."""
    request = RequestFactory().get("/")
    token = get_token(request)
    client.cookies[settings.CSRF_COOKIE_NAME] = request.META["CSRF_COOKIE"]
    return token


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("route", WRITES, ids=str)
def test_session_write_without_csrf_token_is_refused(route, world, personas):
    with_datasets(world, route)
    # The persona for whom this write succeeds with a token.
    persona = next(p for p in PERSONAS if 200 <= route.expected[p] < 300)
    client = session_client(personas[persona])
    before = db_state()
    response = call(client, route.method, world.fill(route.path), world.fill(route.body))
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert db_state() == before


def test_session_read_needs_no_csrf_token(project, labeler):
    response = session_client(labeler).get(f"/api/projects/{project.pk}/")
    assert response.status_code == 200


def test_session_next_without_csrf_token_leases_nothing(project, items, labeler):
    response = session_client(labeler).post(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 403
    assert not Assignment.objects.filter(labeler=labeler).exists()


def test_session_submit_without_csrf_token_records_nothing(project, items, labeler):
    lease = item_claim_next(project=project, labeler=labeler)
    response = session_client(labeler).post(f"/api/assignments/{lease.pk}/submit/",
                                            {"idempotency_key": "no-csrf-01", "strength": 1},
                                            format="json")
    assert response.status_code == 403
    lease.refresh_from_db()
    assert lease.status == AssignmentStatus.LEASED
    assert not Annotation.objects.exists()


def test_session_submit_with_wrong_csrf_token_is_refused(project, items, labeler):
    lease = item_claim_next(project=project, labeler=labeler)
    client = session_client(labeler)
    csrf_token(client)
    other = get_token(RequestFactory().get("/"))  # a token for another cookie
    response = client.post(f"/api/assignments/{lease.pk}/submit/",
                           {"idempotency_key": "bad-csrf-1", "strength": 1}, format="json",
                           HTTP_X_CSRFTOKEN=other)
    assert response.status_code == 403
    assert not Annotation.objects.exists()


def test_session_next_and_submit_succeed_with_csrf_token(project, items, labeler):
    client = session_client(labeler)
    token = csrf_token(client)
    lease = client.post(f"/api/projects/{project.pk}/next/", HTTP_X_CSRFTOKEN=token)
    assert lease.status_code == 200
    submitted = client.post(f"/api/assignments/{lease.json()['assignment']}/submit/",
                            {"idempotency_key": "with-csrf-1", "strength": 1}, format="json",
                            HTTP_X_CSRFTOKEN=token)
    assert submitted.status_code == 201
    assert Annotation.objects.get(labeler=labeler).pk == submitted.json()["id"]
