"""Login throttling on the page, admin-issued password resets, and forgetting
a user: personal data gone, annotations kept under a pseudonym."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from annotation.datasets.rows import labeler_pseudonym
from annotation.models import Annotation, ApiToken, Assignment, AssignmentStatus, Membership, Role
from annotation.services.datasets import dataset_snapshot_build, pair_canonical
from annotation.services.queue import item_claim_next
from annotation.services.submissions import annotation_submit
from annotation.services.tokens import token_create
from annotation.services.users import user_forget
from audit.models import AuditEvent
from tests.conftest import client_for
from tests.factories import member_add, project_make, user_make

User = get_user_model()


def page_login(client: Client, username: str, password: str, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def api_login(username: str, password: str, **extra):
    return APIClient().post("/api/auth/token/", {"username": username, "password": password},
                            format="json", **extra)


# ----- the login page is throttled like the token endpoint -----


def test_login_page_answers_429_after_five_failures_and_does_not_log_in(labeler):
    client = Client()
    assert [page_login(client, "lab_lena", f"guess-{i}").status_code for i in range(5)] == [200] * 5
    response = page_login(client, "lab_lena", "lab_lena-password")
    assert response.status_code == 429
    assert "Too many login attempts" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_login_page_and_token_endpoint_share_one_budget(labeler):
    for i in range(3):
        assert api_login("lab_lena", f"guess-{i}").status_code == 400
    for i in range(2):
        assert page_login(Client(), "lab_lena", f"guess-page-{i}").status_code == 200
    assert page_login(Client(), "lab_lena", "lab_lena-password").status_code == 429
    assert api_login("lab_lena", "lab_lena-password").status_code == 429


def test_login_page_throttle_is_per_address_and_ignores_forwarded_for(labeler):
    for i in range(5):
        page_login(Client(), "lab_lena", f"guess-{i}", REMOTE_ADDR="10.0.0.1",
                   HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    assert page_login(Client(), "lab_lena", "lab_lena-password", REMOTE_ADDR="10.0.0.1",
                      HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429
    other = Client()
    assert page_login(other, "lab_lena", "lab_lena-password", REMOTE_ADDR="10.0.0.2").status_code == 302
    assert other.session["_auth_user_id"] == str(labeler.pk)


# ----- password reset by a site administrator -----


def reset_via_api(actor, username: str):
    return client_for(actor).post("/api/password-resets/", {"username": username}, format="json")


def follow_link(url: str, password: str) -> tuple[Client, int]:
    """Open the link like a browser and submit a new password; returns the
    final status of the form POST (302 on success)."""
    client = Client()
    path = re.sub(r"^https?://[^/]+", "", url)
    opened = client.get(path)
    if opened.status_code != 302:  # Django moves the token into the session first
        return client, opened.status_code
    posted = client.post(opened["Location"], {"new_password1": password, "new_password2": password})
    return client, posted.status_code


def test_superuser_issues_a_link_that_disables_the_old_password_and_tokens(superuser, labeler):
    _, raw = token_create(user=labeler)
    response = reset_via_api(superuser, "lab_lena")
    assert response.status_code == 201, response.json()
    assert response.json()["reset_url"].startswith("http://testserver/reset/")
    labeler.refresh_from_db()
    assert not labeler.has_usable_password()
    assert api_login("lab_lena", "lab_lena-password").status_code == 400
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert api.get("/api/me/").status_code == 401
    event = AuditEvent.objects.get(action="user.password_reset")
    assert (event.actor_id, event.target_id) == (superuser.pk, str(labeler.pk))


def test_the_link_sets_a_new_password_once(superuser, labeler):
    url = reset_via_api(superuser, "lab_lena").json()["reset_url"]
    _, status = follow_link(url, "a-Brand-new-passphrase-42")
    assert status == 302
    assert api_login("lab_lena", "a-Brand-new-passphrase-42").status_code == 201
    client = Client()
    reused = client.get(re.sub(r"^https?://[^/]+", "", url), follow=True)
    assert reused.status_code == 200 and reused.context["validlink"] is False
    assert "This link is not valid" in reused.content.decode()
    done = Client().get("/reset/done/").content.decode()
    assert 'href="/login/"' in done  # labelers log in on the site, not in the admin
    labeler.refresh_from_db()
    assert labeler.check_password("a-Brand-new-passphrase-42")


def test_the_link_enforces_the_password_rules(superuser, labeler):
    url = reset_via_api(superuser, "lab_lena").json()["reset_url"]
    _, status = follow_link(url, "short")
    assert status == 200  # the form again, with the validator's message
    labeler.refresh_from_db()
    assert not labeler.has_usable_password()


@pytest.mark.parametrize("persona", ["admin", "labeler", "engineer"])
def test_only_superusers_reset_passwords(project, persona, request, labeler2):
    before = User.objects.get(pk=labeler2.pk).password
    response = reset_via_api(request.getfixturevalue(persona), "lab_liam")
    assert response.status_code == 403
    assert User.objects.get(pk=labeler2.pk).password == before
    assert reset_via_api(request.getfixturevalue(persona), "nobody-at-all").status_code == 403


def test_reset_of_an_unknown_or_inactive_user_is_refused(superuser, labeler):
    assert reset_via_api(superuser, "nobody-at-all").status_code == 404
    User.objects.filter(pk=labeler.pk).update(is_active=False)
    response = reset_via_api(superuser, "lab_lena")
    assert response.status_code == 409 and response.json()["field"] == "username"


def test_reset_password_command_prints_a_working_link(labeler):
    out = io.StringIO()
    call_command("reset_password", "lab_lena", "--base-url", "https://palate.example.org/", stdout=out)
    url = out.getvalue().strip().splitlines()[-1]
    assert url.startswith("https://palate.example.org/reset/")
    assert follow_link(url, "Another-good-passphrase-7")[1] == 302
    assert AuditEvent.objects.get(action="user.password_reset").actor_id is None


# ----- forgetting a user -----


def pairs(snapshot) -> list[dict]:
    return [pair_canonical(p) for p in snapshot.pairs.order_by("pk")]


@pytest.fixture
def labeled(project, items, labeler, labeler2):
    """Both labelers label every item; the labeler holds a token and has an
    audited action with an address; a snapshot excludes the second labeler."""
    for who in (labeler, labeler2):
        for n in range(len(items)):
            lease = item_claim_next(project=project, labeler=who)
            strength = -1 if n % 2 else 2
            if who == labeler2:
                strength = -strength  # they disagree, so excluding one changes the consensus
            annotation_submit(assignment=lease, data={"strength": strength},
                              idempotency_key=f"{who.username}-{n:04d}")
    assert api_login("lab_lena", "lab_lena-password", REMOTE_ADDR="198.51.100.4").status_code == 201
    assert AuditEvent.objects.get(actor_id=labeler.pk, action="token.create").ip == "198.51.100.4"
    return project


def test_forgetting_removes_personal_data_and_keeps_annotations(labeled, labeler, superuser, items):
    extra = items[0].project
    lease_project = project_make(creator=superuser)
    member_add(lease_project, labeler, Role.LABELER)
    from tests.factories import items_make

    lease_item = items_make(lease_project, 1)[0]
    lease = item_claim_next(project=lease_project, labeler=labeler)
    annotations = set(Annotation.objects.filter(labeler=labeler).values_list("pk", flat=True))
    pseudonym = user_forget(actor=superuser, user=labeler)

    labeler.refresh_from_db()
    assert pseudonym == labeler.username == "forgotten-" + labeler_pseudonym(labeler.pk)
    assert (labeler.email, labeler.first_name, labeler.last_name) == ("", "", "")
    assert not labeler.has_usable_password() and not labeler.is_active
    assert not ApiToken.objects.filter(user=labeler, revoked_at__isnull=True).exists()
    assert not Membership.objects.filter(user=labeler).exists()
    assert set(Annotation.objects.filter(labeler=labeler).values_list("pk", flat=True)) == annotations
    assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.SKIPPED
    lease_item.refresh_from_db()
    assert lease_item.assigned_count == 0  # the slot went back to the queue
    assert not AuditEvent.objects.filter(actor_id=labeler.pk, ip__isnull=False).exists()
    forget = AuditEvent.objects.get(action="user.forget")
    assert forget.actor_id == superuser.pk
    assert sorted(forget.details["projects"]) == sorted([extra.pk, lease_project.pk])
    assert api_login("lab_lena", "lab_lena-password").status_code == 400


def test_forgetting_keeps_snapshot_exclusions_and_hashes(labeled, labeler, labeler2, superuser):
    before = dataset_snapshot_build(project=labeled, filters={"exclude_labelers": ["lab_liam"]})
    user_forget(actor=superuser, user=labeler2)
    before.refresh_from_db()
    labeler2.refresh_from_db()
    assert before.filters["exclude_labelers"] == [labeler2.username]  # the pseudonym now
    # The snapshot itself is untouched, and a rebuild from its renamed filters
    # draws the same pairs. (The content hash covers the filters' text, so the
    # rebuild's hash differs: the stored one is kept.)
    hash_before = before.content_hash
    before.refresh_from_db()
    assert before.content_hash == hash_before
    again = dataset_snapshot_build(project=labeled, filters=before.filters)
    assert pairs(again) == pairs(before)
    assert pairs(dataset_snapshot_build(project=labeled)) != pairs(before)  # the exclusion matters


def test_the_last_admin_of_a_project_or_a_superuser_is_not_forgotten(project, admin, superuser):
    with pytest.raises(CommandError, match="last admin"):
        call_command("forget_user", admin.username, "--yes")
    with pytest.raises(CommandError, match="demote"):
        call_command("forget_user", superuser.username, "--yes")
    admin.refresh_from_db()
    assert admin.username == "admin_ann" and admin.is_active
    member_add(project, user_make("second_admin"), Role.ADMIN)
    call_command("forget_user", admin.username, "--yes", stdout=io.StringIO())
    assert not User.objects.filter(username="admin_ann").exists()


def test_forget_command_asks_before_acting(labeler, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(CommandError, match="cancelled"):
        call_command("forget_user", "lab_lena")
    assert User.objects.get(pk=labeler.pk).username == "lab_lena"


def test_admin_action_forgets_selected_users(labeled, labeler, superuser):
    client = Client()
    client.force_login(superuser)
    response = client.post("/admin/auth/user/", {"action": "forget_users",
                                                 "_selected_action": [labeler.pk]}, follow=True)
    assert response.status_code == 200
    labeler.refresh_from_db()
    assert labeler.username.startswith("forgotten-L-") and labeler.email == ""


def test_admin_actions_are_offered_to_superusers_only(admin):
    staff = user_make("staff_stan")
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/auth/user/")
    assert page.status_code == 200
    assert "forget_users" not in page.content.decode()
