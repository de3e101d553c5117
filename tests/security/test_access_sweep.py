"""Every URL pattern of the site, requested by every persona, answers the
status this table expects: nothing is accidentally open.

The table (SWEEP) names each route pattern exactly as Django's resolver
spells it and, per method, who may pass: an access class below. A persona
denied must get exactly its denial status (401/403/404, or the login
redirect for pages); a persona allowed must get past authorization: 200 for
a read, and for a write (sent with an empty body) anything but a denial or a
server error. Each request runs in a savepoint that is rolled back, so every
persona meets the same objects.

`test_every_url_pattern_is_in_the_sweep` fails when a route exists that the
table does not list (or the table lists one that is gone), naming the line
to add. The Django admin is one rule: Django's own staff check guards every
page under admin/, and each of those pages is requested too.
"""

import re

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.views.generic.edit import ProcessFormView
from rest_framework.test import APIClient

from tests.security.conftest import World

PERSONAS = ("anonymous", "outsider", "labeler", "engineer", "admin", "superuser")
OK = "ok"
LOGIN = "login-redirect"
ROLE_OF = {"labeler": "labeler", "engineer": "engineer", "admin": "admin"}
VIEW, CURATE, MANAGE, LABEL = ({"admin", "labeler", "engineer"}, {"admin", "engineer"}, {"admin"},
                               {"admin", "labeler"})


def api_role(roles: set[str], ok=OK) -> dict:
    expected = {"anonymous": 401, "outsider": 404, "superuser": ok}
    return expected | {p: ok if r in roles else 403 for p, r in ROLE_OF.items()}


def api_signed_in(ok=OK) -> dict:
    return {p: 401 if p == "anonymous" else ok for p in PERSONAS}


def api_superuser(ok=OK) -> dict:
    return api_signed_in(403) | {"superuser": ok}


def api_owner(ok=OK) -> dict:
    """The labeler persona's own object (their lease, their token)."""
    return api_signed_in(404) | {"labeler": ok}


def page_role(roles: set[str], denied=404, ok=OK) -> dict:
    """A page: anonymous users are sent to log in; non-members and members
    whose role lacks the capability get ``denied``."""
    return {"anonymous": LOGIN, "outsider": 404, "superuser": ok} | {
        p: ok if r in roles else denied for p, r in ROLE_OF.items()}


def everyone(status) -> dict:
    return dict.fromkeys(PERSONAS, status)


# Route pattern -> method -> persona -> expected status (or OK / LOGIN).
SWEEP: dict[str, dict[str, dict]] = {
    # ----- health, login, password reset -----
    "healthz": {"get": everyone(200)},
    # Prometheus scrapes with a token or from an allowed address; the tests' settings allow neither.
    "metrics": {"get": everyone(403)},
    # OpenID Connect sign-in is off in the tests' settings: not found for everyone
    # (tests/integrations/test_oidc.py runs the flow with it on).
    "oidc/authenticate/": {"get": everyone(404)},
    "oidc/callback/": {"get": everyone(404)},
    # Signed-in users are sent home; an empty form is shown again with its errors.
    "login/": {"get": {"anonymous": 200} | dict.fromkeys(PERSONAS[1:], 302),
               "post": {"anonymous": 200} | dict.fromkeys(PERSONAS[1:], 302)},
    "logout/": {"post": everyone(302)},
    "reset/<uidb64>/<token>/": {"get": everyone(200), "post": everyone(200)},  # invalid link: says so
    "reset/done/": {"get": everyone(200)},
    # ----- pages -----
    "": {"get": {"anonymous": LOGIN} | dict.fromkeys(PERSONAS[1:], 200)},
    "projects/<int:project_id>/label/": {"get": page_role(LABEL, denied=403)},
    # Creating projects: site admins and users granted annotation.add_project (none here).
    "projects/new/": {m: {"anonymous": LOGIN, "superuser": OK} | dict.fromkeys(PERSONAS[1:5], 403)
                      for m in ("get", "post")},
    "projects/<int:project_id>/data/": {"get": page_role(CURATE, denied=403)},
    "projects/<int:project_id>/items/": {"get": page_role(CURATE, denied=403)},
    # Engineers read an item's page; only admins change it (gold, priority).
    "projects/<int:project_id>/items/<int:item_id>/": {"get": page_role(CURATE, denied=403),
                                                       "post": page_role(MANAGE, denied=403)},
    # DPO/SFT runs and the loop from the training page (POST only); an empty form is
    # "unknown action", sent back to the page.
    "projects/<int:project_id>/training/engineer/": {"post": page_role(CURATE, denied=403)},
    # A loop round's report (the sweep's round does not exist: found by nobody).
    "projects/<int:project_id>/training/loop/rounds/<int:round_id>/": {
        "get": page_role(CURATE, denied=403, ok=404)},
    "projects/<int:project_id>/team/": {"get": page_role(MANAGE, denied=403),
                                        "post": page_role(MANAGE, denied=403)},
    "projects/<int:project_id>/team/progress.csv": {"get": page_role(MANAGE, denied=403)},
    # An invite link is public; this one is not valid, so the page says so.
    "invite/<str:secret>/": {"get": everyone(404), "post": everyone(404)},
    "projects/<int:project_id>/settings/": {"get": page_role(MANAGE, denied=403),
                                            "post": page_role(MANAGE, denied=403)},
    # The guidelines preview: for whoever administers some project or may create one.
    "markdown-preview/": {"get": {"anonymous": LOGIN} | dict.fromkeys(PERSONAS[1:], 405),
                          "post": {"anonymous": LOGIN, "outsider": 403, "labeler": 403,
                                   "engineer": 403, "admin": OK, "superuser": OK}},
    "projects/<int:project_id>/datasets/": {"get": page_role(CURATE, denied=403),
                                            "post": page_role(CURATE, denied=403)},
    # Engineers read the quality dashboard; only admins adjudicate or recompute.
    "projects/<int:project_id>/quality/": {"get": page_role(CURATE, denied=403),
                                           "post": page_role(MANAGE, denied=403)},
    "projects/<int:project_id>/training/": {"get": page_role(CURATE, denied=403),
                                            "post": page_role(CURATE, denied=403)},
    "projects/<int:project_id>/generation/": {"get": page_role(CURATE, denied=403),
                                              "post": page_role(CURATE, denied=403)},
    "label/assignments/<int:assignment_id>/content/": {"get": api_owner(), "post": everyone(405)},
    "label/assignments/<int:assignment_id>/state/": {"get": api_owner(), "post": everyone(405)},
    # ----- arena: pages, and the battle endpoints of the labeler persona's own battle -----
    "projects/<int:project_id>/arena/": {"get": page_role(LABEL, denied=403)},
    "projects/<int:project_id>/arena/battles/": {"post": page_role(LABEL, denied=403)},
    "projects/<int:project_id>/arena/leaderboard/": {"get": page_role(CURATE, denied=403)},
    "projects/<int:project_id>/arena/recent/": {"get": page_role(MANAGE, denied=403)},
    "projects/<int:project_id>/arena/settings/": {"get": page_role(MANAGE, denied=403),
                                                 "post": page_role(MANAGE, denied=403)},
    **{f"arena/battles/<int:battle_id>/{action}/": {
        "post": {"anonymous": LOGIN, "labeler": OK} | dict.fromkeys(
            ("outsider", "engineer", "admin", "superuser"), 404)}
       for action in ("turns", "stop", "vote")},
    # ----- API: auth, accounts, schema -----
    "api/schema/": {"get": api_signed_in()},
    "api/docs/": {"get": api_signed_in()},
    "api/auth/token/": {"post": everyone(400)},  # no credentials sent; anyone may try
    "api/tokens/": {"get": api_signed_in()},
    "api/tokens/<int:token_id>/": {"delete": api_owner()},
    "api/me/": {"get": api_signed_in()},
    "api/me/annotations/": {"get": api_signed_in()},
    "api/password-resets/": {"post": api_superuser()},
    "api/audit/": {"get": api_superuser()},
    # ----- API: projects -----
    "api/projects/": {"get": api_signed_in(), "post": api_superuser()},
    "api/projects/<int:project_id>/": {"get": api_role(VIEW), "patch": api_role(MANAGE),
                                       "delete": api_role(MANAGE)},
    "api/projects/<int:project_id>/archive/": {"post": api_role(MANAGE)},
    "api/projects/<int:project_id>/invites/": {"get": api_role(MANAGE), "post": api_role(MANAGE)},
    "api/projects/<int:project_id>/invites/<int:invite_id>/": {"delete": api_role(MANAGE, ok=404)},
    "api/projects/<int:project_id>/progress/": {"get": api_role(MANAGE)},
    "api/users/": {"get": api_superuser(), "post": api_superuser()},
    "api/users/<int:user_id>/deactivate/": {"post": api_superuser()},
    "api/projects/<int:project_id>/members/": {"get": api_role(MANAGE), "post": api_role(MANAGE)},
    "api/projects/<int:project_id>/members/<int:membership_id>/": {"patch": api_role(MANAGE),
                                                                   "delete": api_role(MANAGE)},
    "api/projects/<int:project_id>/prompts/": {"get": api_role(CURATE), "post": api_role(CURATE)},
    "api/projects/<int:project_id>/prompts/<int:prompt_id>/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/items/": {"get": api_role(CURATE), "post": api_role(CURATE)},
    "api/projects/<int:project_id>/items/<int:item_id>/": {"get": api_role(CURATE),
                                                           "patch": api_role(MANAGE)},
    "api/projects/<int:project_id>/annotations/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/imports/": {"post": api_role(CURATE)},
    "api/projects/<int:project_id>/imports/<int:upload_id>/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/audit/": {"get": api_role(MANAGE)},
    # ----- API: labeling -----
    "api/projects/<int:project_id>/next/": {"post": api_role(LABEL)},
    "api/assignments/<int:assignment_id>/": {"get": api_owner()},
    "api/assignments/<int:assignment_id>/submit/": {"post": api_owner()},
    "api/assignments/<int:assignment_id>/skip/": {"post": api_owner()},
    # ----- API: datasets and quality -----
    "api/projects/<int:project_id>/snapshots/": {"get": api_role(CURATE), "post": api_role(CURATE)},
    "api/projects/<int:project_id>/snapshots/<int:snapshot_id>/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/snapshots/<int:snapshot_id>/exports/": {"post": api_role(CURATE)},
    "api/projects/<int:project_id>/exports/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/exports/<int:export_id>/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/exports/<int:export_id>/download/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/agreement/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/consensus/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/reliability/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/leaderboard/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/items/<int:item_id>/adjudication/": {"post": api_role(MANAGE)},
    "api/projects/<int:project_id>/quality/recompute/": {"post": api_role(MANAGE)},
    # ----- API: generation -----
    # The model registry: for anyone who curates some project (and site staff).
    "api/models/": {"get": api_signed_in(403) | {"engineer": OK, "admin": OK, "superuser": OK}},
    # An empty body means the default policy: the arena's two policy models in
    # the World stand in for it, so an allowed persona starts a job (201).
    "api/projects/<int:project_id>/generation-jobs/": {"get": api_role(CURATE),
                                                       "post": api_role(CURATE)},
    "api/projects/<int:project_id>/generation-jobs/<int:job_id>/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/generation-jobs/<int:job_id>/cancel/": {"post": api_role(CURATE)},
    "api/projects/<int:project_id>/generation-jobs/<int:job_id>/resume/": {"post": api_role(CURATE)},
    # ----- API: arena -----
    "api/projects/<int:project_id>/arena/": {"get": api_role(CURATE), "put": api_role(MANAGE)},
    "api/projects/<int:project_id>/judge-prompt/": {"get": api_role(CURATE), "put": api_role(CURATE)},
    # ----- API: training and the loop -----
    "api/projects/<int:project_id>/training-runs/": {"get": api_role(CURATE),
                                                     "post": api_role(CURATE)},
    "api/projects/<int:project_id>/training-runs/<int:run_id>/": {"get": api_role(CURATE)},
    "api/projects/<int:project_id>/training-runs/<int:run_id>/cancel/": {"post": api_role(CURATE)},
    "api/projects/<int:project_id>/training-runs/<int:run_id>/resume/": {"post": api_role(CURATE)},
    "api/projects/<int:project_id>/training-runs/<int:run_id>/activate/": {"post": api_role(CURATE)},
    "api/projects/<int:project_id>/training-schedules/": {"get": api_role(CURATE),
                                                          "post": api_role(CURATE)},
    "api/projects/<int:project_id>/training-schedules/<int:schedule_id>/": {
        "get": api_role(CURATE), "patch": api_role(CURATE), "delete": api_role(CURATE)},
    "api/projects/<int:project_id>/loop/": {"get": api_role(CURATE), "put": api_role(CURATE)},
    "api/projects/<int:project_id>/loop/rounds/": {"get": api_role(CURATE),
                                                   "post": api_role(CURATE)},  # as above
    "api/projects/<int:project_id>/loop/rounds/<int:round_id>/": {"get": api_role(CURATE, ok=404)},
    "api/projects/<int:project_id>/loop/rounds/<int:round_id>/cancel/": {
        "post": api_role(CURATE, ok=404)},
    "api/projects/<int:project_id>/loop/rounds/<int:round_id>/report/": {"get": api_role(CURATE, ok=404)},
    "api/projects/<int:project_id>/policy-evaluations/<int:evaluation_id>/": {
        "get": api_role(CURATE, ok=404)},
    "api/projects/<int:project_id>/policy-evaluations/<int:evaluation_id>/human/": {
        "get": api_role(CURATE, ok=404), "post": api_role(CURATE, ok=404)},
    # ----- API: integrations (webhooks send project data out: admins only) -----
    "api/projects/<int:project_id>/webhooks/": {"get": api_role(MANAGE), "post": api_role(MANAGE)},
    "api/projects/<int:project_id>/webhooks/<int:webhook_id>/": {
        "get": api_role(MANAGE), "patch": api_role(MANAGE), "delete": api_role(MANAGE)},
    "api/projects/<int:project_id>/webhooks/<int:webhook_id>/test/": {"post": api_role(MANAGE)},
    "api/projects/<int:project_id>/webhooks/<int:webhook_id>/deliveries/": {"get": api_role(MANAGE)},
    "api/projects/<int:project_id>/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver/": {
        "post": api_role(MANAGE)},
    # Migration in and out: like the other imports and exports, for admins and engineers.
    "api/projects/<int:project_id>/imports/label-studio/": {"post": api_role(CURATE)},
    "api/projects/<int:project_id>/imports/argilla/": {"post": api_role(CURATE)},
    "api/projects/<int:project_id>/exports/label-studio/": {"get": api_role(CURATE)},
}


def all_patterns(patterns=None, prefix: str = ""):
    """(route as Django spells it, URLPattern) for every pattern, recursively."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from all_patterns(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def is_admin(route: str) -> bool:
    return route.startswith("admin/")


def class_methods(pattern: URLPattern) -> set[str] | None:
    """The HTTP methods a class-based view answers (None for a function view,
    whose methods the table states). A form view's put is an alias of its post."""
    view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
    if view is None:
        return None
    return {m for m in ("get", "post", "put", "patch", "delete")
            if m in view.http_method_names and hasattr(view, m)
            and not (m == "put" and getattr(view, "put", None) is ProcessFormView.put)}


def request_as(world: World, persona: str, method: str, path: str):
    # One signed-in client per persona and test: the session row is made
    # outside the savepoints, so it survives them.
    client = world.clients.get(persona)
    if client is None:
        client = world.clients[persona] = APIClient()
        if world.personas[persona] is not None:
            client.force_login(world.personas[persona])
    cache.clear()  # the login throttle would count the personas' attempts against each other
    with transaction.atomic():
        response = getattr(client, method)(path, {} if method != "get" else None, format="json")
        if getattr(response, "file_to_stream", None) is not None:
            response.file_to_stream.close()
        transaction.set_rollback(True)
    return response


def matches(expected, response, method: str) -> bool:
    status = response.status_code
    if expected == LOGIN:
        return status == 302 and response["Location"].startswith("/login/")
    if expected == OK:
        if method == "get":
            return status == 200
        return status < 500 and status not in (401, 403, 404, 405)
    return status == expected


@pytest.mark.parametrize("route", list(SWEEP))
def test_route_answers_each_persona_as_the_table_says(route, world):
    failures = []
    for method, expected in SWEEP[route].items():
        for persona in PERSONAS:
            response = request_as(world, persona, method, world.path(route))
            if not matches(expected[persona], response, method):
                failures.append(f"{method.upper()} /{route} as {persona}: {response.status_code}, "
                                f"expected {expected[persona]}")
    assert not failures, "\n".join(failures)


def test_the_admin_site_is_for_staff_only(world):
    """Every admin/ page: anonymous and non-staff personas are sent to the admin
    login; the superuser gets an answer (not a server error)."""
    failures = []
    for route, _ in all_patterns():
        if not is_admin(route) or route.startswith("admin/login") or route.startswith("admin/logout"):
            continue
        path = world.path(route.replace("^", "").replace("$", "").replace("(?P<url>.*)", "x"))
        for persona in PERSONAS:
            response = request_as(world, persona, "get", path)
            if persona == "superuser":
                ok = response.status_code < 500
            else:
                ok = response.status_code == 302 and "/admin/login/" in response["Location"]
            if not ok:
                failures.append(f"GET {path} as {persona}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_every_url_pattern_is_in_the_sweep():
    routes = {route: pattern for route, pattern in all_patterns() if not is_admin(route)}
    missing = sorted(set(routes) - set(SWEEP))
    gone = sorted(set(SWEEP) - set(routes))
    hints = [f'    "{route}": {{"get": api_role(CURATE)}},  # <- who may call it?' for route in missing]
    assert not missing, ("URL patterns the access sweep does not cover; add them to SWEEP in "
                         "tests/security/test_access_sweep.py with the statuses each persona must "
                         "get, e.g.\n" + "\n".join(hints))
    assert not gone, f"SWEEP lists routes that no longer exist: {gone}"
    uncovered = []
    for route, pattern in routes.items():
        methods = class_methods(pattern)
        if methods is not None and methods - set(SWEEP[route]):
            uncovered.append(f"{route}: {sorted(methods - set(SWEEP[route]))}")
    assert not uncovered, "methods the sweep does not try (add them to SWEEP):\n" + "\n".join(uncovered)


BIG_ID = 2**63  # one past the largest bigint: SQLite's driver overflows on it


def test_every_route_answers_an_id_past_64_bits_with_404(world):
    """Each route of the table, each method, as the superuser (who passes
    every role check): an integer id no row can have is a 404 — never an
    OverflowError on SQLite — on every route, including ones added later."""
    failures = []
    for route, methods in SWEEP.items():
        if "<int:" not in route:
            continue
        path = "/" + re.sub(r"<int:\w+>", str(BIG_ID), route)
        path = world.path(path.lstrip("/"))
        for method in methods:
            response = request_as(world, "superuser", method, path)
            if response.status_code != 404:
                failures.append(f"{method.upper()} {path}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_every_route_refuses_a_nul_in_the_query_string(world):
    failures = []
    for route, methods in SWEEP.items():
        if "get" not in methods:
            continue
        path = world.path(route) + "?q=%00&project=%00"
        response = request_as(world, "superuser", "get", path)
        if response.status_code != 400:
            failures.append(f"GET {path}: {response.status_code}")
    assert not failures, "\n".join(failures)
