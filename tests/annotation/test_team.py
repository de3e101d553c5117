"""Invite links, accounts through the API, member removal and team progress."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotation.errors import Conflict, Invalid, NotFound
from annotation.models import ApiToken, Assignment, AssignmentStatus, Invite, Membership, Role
from annotation.services.invites import (
    invite_accept_existing_user,
    invite_accept_new_user,
    invite_create,
    invite_revoke,
)
from annotation.services.projects import membership_remove
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from annotation.services.tokens import token_create
from annotation.team_progress import team_progress
from audit.models import AuditEvent
from tests.conftest import client_for
from tests.factories import items_make

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-enough-passphrase-17"


def test_a_single_use_invite_creates_one_account_and_member(project, admin):
    invite, secret = invite_create(project=project, actor=admin, role=Role.LABELER)
    assert secret not in invite.key_hash
    user, joined = invite_accept_new_user(secret=secret, username="new_nina", password=PASSWORD)
    assert joined == project and user.check_password(PASSWORD)
    assert Membership.objects.get(project=project, user=user).role == Role.LABELER
    with pytest.raises(NotFound):
        invite_accept_new_user(secret=secret, username="new_ned", password=PASSWORD)
    assert not get_user_model().objects.filter(username="new_ned").exists()
    invite.refresh_from_db()
    assert invite.uses == 1
    assert AuditEvent.objects.get(action="invite.accept").actor_id == user.pk


def test_a_multi_use_invite_stops_at_its_cap(project, admin):
    _, secret = invite_create(project=project, actor=admin, role=Role.ENGINEER, max_uses=2)
    invite_accept_new_user(secret=secret, username="eng_one", password=PASSWORD)
    invite_accept_new_user(secret=secret, username="eng_two", password=PASSWORD)
    with pytest.raises(NotFound):
        invite_accept_new_user(secret=secret, username="eng_three", password=PASSWORD)
    assert Membership.objects.filter(project=project, role=Role.ENGINEER).count() == 3


def test_expired_revoked_and_unknown_links_are_the_same_not_found(project, admin):
    expired, expired_secret = invite_create(project=project, actor=admin)
    Invite.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked, revoked_secret = invite_create(project=project, actor=admin)
    invite_revoke(invite=revoked, actor=admin)
    messages = set()
    for secret in (expired_secret, revoked_secret, "nothing-like-it"):
        with pytest.raises(NotFound) as error:
            invite_accept_new_user(secret=secret, username="late_lou", password=PASSWORD)
        messages.add(error.value.message)
    assert len(messages) == 1


def test_a_bad_account_spends_no_use_and_creates_nothing(project, admin, labeler):
    invite, secret = invite_create(project=project, actor=admin)
    with pytest.raises(Conflict) as taken:
        invite_accept_new_user(secret=secret, username=labeler.username.upper(), password=PASSWORD)
    assert taken.value.field == "username"
    with pytest.raises(Invalid) as weak:
        invite_accept_new_user(secret=secret, username="weak_wes", password="123")
    assert weak.value.field == "password"
    invite.refresh_from_db()
    assert invite.uses == 0 and not get_user_model().objects.filter(username="weak_wes").exists()


def test_a_signed_in_member_joins_without_spending_a_use_twice(project, admin, outsider, labeler):
    invite, secret = invite_create(project=project, actor=admin, max_uses=5)
    invite_accept_existing_user(secret=secret, user=outsider)
    invite_accept_existing_user(secret=secret, user=labeler)  # already a member: unchanged
    invite.refresh_from_db()
    assert invite.uses == 1
    assert Membership.objects.get(project=project, user=labeler).role == Role.LABELER


def test_invite_api_shows_the_link_once_and_lists_without_it(project, admin, engineer):
    response = client_for(admin).post(f"/api/projects/{project.pk}/invites/",
                                      {"role": "labeler", "max_uses": 3, "days": 2}, format="json")
    assert response.status_code == 201
    url = response.json()["url"]
    assert "/invite/" in url and response.json()["state"] == "open"
    listed = client_for(admin).get(f"/api/projects/{project.pk}/invites/").json()["results"]
    assert listed[0]["max_uses"] == 3 and "url" not in listed[0]
    assert client_for(engineer).post(f"/api/projects/{project.pk}/invites/", {},
                                     format="json").status_code == 403
    revoked = client_for(admin).delete(f"/api/projects/{project.pk}/invites/{listed[0]['id']}/")
    assert revoked.json()["state"] == "revoked"


def test_removing_a_member_returns_their_leases_to_the_queue(project, admin, labeler):
    item = items_make(project, 1)[0]
    lease = item_claim_next(project=project, labeler=labeler)
    item.refresh_from_db()
    assert item.assigned_count == 1
    membership_remove(membership=Membership.objects.get(project=project, user=labeler), actor=admin)
    lease.refresh_from_db()
    item.refresh_from_db()
    assert lease.status != AssignmentStatus.LEASED and item.assigned_count == 0 and item.is_open
    assert AuditEvent.objects.get(action="membership.remove").actor_id == admin.pk


def test_site_admins_create_list_and_deactivate_accounts(superuser, admin, project, labeler):
    client = client_for(superuser)
    created = client.post("/api/users/", {"username": "made_max", "password": PASSWORD},
                          format="json")
    assert created.status_code == 201
    assert get_user_model().objects.get(username="made_max").check_password(PASSWORD)
    assert client.post("/api/users/", {"username": "MADE_MAX"}, format="json").status_code == 409
    names = [u["username"] for u in client.get("/api/users/").json()["results"]]
    assert "made_max" in names
    token, _ = token_create(user=labeler)
    items_make(project, 1)
    item_claim_next(project=project, labeler=labeler)
    response = client.post(f"/api/users/{labeler.pk}/deactivate/")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert not Assignment.objects.filter(labeler=labeler, status=AssignmentStatus.LEASED).exists()
    assert client_for(admin).post("/api/users/", {"username": "x_y"}, format="json").status_code == 403
    assert AuditEvent.objects.filter(action__in=["user.create", "user.deactivate"]).count() == 2


def test_team_progress_counts_and_sorts(project, admin, labeler, labeler2):
    items_make(project, 3)
    for _ in range(2):
        lease = item_claim_next(project=project, labeler=labeler)
        annotation_submit(assignment=lease, data={"strength": 1}, idempotency_key=new_idempotency_key())
    rows = {r.username: r for r in team_progress(project=project)}
    assert (rows[labeler.username].today, rows[labeler.username].week,
            rows[labeler.username].total) == (2, 2, 2)
    assert rows[labeler.username].remaining == 1 and rows[labeler2.username].remaining == 3
    assert rows[admin.username].remaining == 3  # admins label too
    ordered = [r.username for r in team_progress(project=project, sort="-total")]
    assert ordered[0] == labeler.username
    body = client_for(admin).get(f"/api/projects/{project.pk}/progress/").json()
    assert {m["username"] for m in body["members"]} == set(rows)
