"""The team page (members, invites, progress, CSV) and the invite page."""

import csv
import io
import re

import pytest

from annotation.models import Invite, Membership, Role
from tests.factories import user_make

PASSWORD = "a-long-enough-passphrase-17"


def test_admin_adds_changes_and_removes_members(project, admin, client):
    newcomer = user_make("new_nora")
    client.force_login(admin)
    url = f"/projects/{project.pk}/team/"
    client.post(url, {"action": "add", "username": "new_nora", "role": "labeler"})
    membership = Membership.objects.get(project=project, user=newcomer)
    client.post(url, {"action": "role", "membership": membership.pk, "role": "engineer"})
    membership.refresh_from_db()
    assert membership.role == Role.ENGINEER
    client.post(url, {"action": "remove", "membership": membership.pk})
    assert not Membership.objects.filter(pk=membership.pk).exists()
    page = client.post(url, {"action": "add", "username": "nobody", "role": "labeler"}, follow=True)
    assert "No active user with that username." in page.content.decode()


def test_an_invite_link_is_shown_once_and_makes_an_account_that_joins(project, admin, client):
    client.force_login(admin)
    page = client.post(f"/projects/{project.pk}/team/",
                       {"action": "invite", "role": "labeler", "max_uses": "2", "days": "3"})
    path = re.search(r'value="http://testserver(/invite/[^/"]+/)" id="invite-link"',
                     page.content.decode()).group(1)
    assert path not in client.get(f"/projects/{project.pk}/team/").content.decode()
    client.logout()
    assert "Join" in client.get(path).content.decode()
    bad = client.post(path, {"username": "new_nina", "password": PASSWORD, "password2": "other"})
    assert bad.status_code == 400 and "the two passwords differ" in bad.content.decode()
    response = client.post(path, {"username": "new_nina", "password": PASSWORD,
                                  "password2": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert Membership.objects.get(project=project, user__username="new_nina").role == Role.LABELER
    assert project.name in client.get("/").content.decode()  # signed in as the new account
    assert Invite.objects.get(project=project).uses == 1


def test_an_invalid_link_says_so(db, client):
    response = client.get("/invite/not-a-real-link/")
    assert response.status_code == 404 and "not valid" in response.content.decode()


def test_progress_csv_has_a_row_per_member(project, admin, client):
    client.force_login(admin)
    response = client.get(f"/projects/{project.pk}/team/progress.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["username"] for r in rows} == set(
        Membership.objects.filter(project=project).values_list("user__username", flat=True))
    assert {r["role"] for r in rows} == {"admin", "labeler", "engineer"}


@pytest.mark.parametrize(("persona", "status"), [("engineer", 403), ("labeler", 403),
                                                 ("outsider", 404)])
def test_only_project_admins_manage_the_team(project, persona, status, client, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(f"/projects/{project.pk}/team/").status_code == status
    assert client.post(f"/projects/{project.pk}/team/",
                       {"action": "invite", "max_uses": "1", "days": "1"}).status_code == status
    assert client.get(f"/projects/{project.pk}/team/progress.csv").status_code == status
    assert not Invite.objects.exists()
