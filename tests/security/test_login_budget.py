"""One login budget for every way to authenticate: the login page, the token
endpoint, the Django admin's login and password-reset links; per client address
(behind trusted proxies, the address the proxy saw) and per account."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotation.models import ApiToken


def api_login(username: str, password: str, **extra):
    return APIClient().post("/api/auth/token/", {"username": username, "password": password},
                            format="json", **extra)


def admin_login(client: Client, username: str, password: str, **extra):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password},
                       **extra)


def page_login(client: Client, username: str, password: str, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


@pytest.fixture
def behind_one_proxy(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


# ----- the admin's login -----


def test_admin_login_answers_429_after_five_failures_and_does_not_log_in(superuser):
    client = Client()
    statuses = [admin_login(client, "root_rita", f"guess-{i}").status_code for i in range(5)]
    assert statuses == [200] * 5
    response = admin_login(client, "root_rita", "root_rita-password")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_admin_login_shares_the_budget_of_the_api_and_the_login_page(superuser):
    for i in range(2):
        assert api_login("root_rita", f"guess-{i}").status_code == 400
    for i in range(3):
        assert page_login(Client(), "root_rita", f"guess-page-{i}").status_code == 200
    assert admin_login(Client(), "root_rita", "root_rita-password").status_code == 429
    assert api_login("root_rita", "root_rita-password").status_code == 429


# ----- password-reset links -----


def test_wrong_reset_links_spend_the_login_budget(labeler):
    statuses = [Client().get(f"/reset/MQ/guess-{i}/").status_code for i in range(5)]
    assert statuses == [200] * 5  # "this link is not valid"
    response = Client().get("/reset/MQ/guess-5/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert page_login(Client(), "lab_lena", "lab_lena-password").status_code == 429


# ----- behind a proxy: the address the proxy saw -----


def test_behind_a_proxy_one_guesser_does_not_lock_out_other_clients(behind_one_proxy, labeler,
                                                                   labeler2):
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for i in range(20):
        api_login("lab_lena", f"guess-{i}", HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    assert api_login("lab_lena", "x", HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code == 429
    assert api_login("lab_liam", "lab_liam-password", HTTP_X_FORWARDED_FOR="203.0.113.1",
                     **proxy).status_code == 201
    other = Client()
    assert page_login(other, "lab_lena", "lab_lena-password", HTTP_X_FORWARDED_FOR="203.0.113.2",
                      **proxy).status_code == 302
    assert other.session["_auth_user_id"] == str(labeler.pk)


def test_behind_a_proxy_a_forged_first_hop_does_not_buy_a_new_budget(behind_one_proxy, labeler):
    # The client writes the left part; the proxy appends the address it saw.
    for i in range(5):
        api_login("lab_lena", f"guess-{i}", REMOTE_ADDR="127.0.0.1",
                  HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, 198.51.100.7")
    response = api_login("lab_lena", "lab_lena-password", REMOTE_ADDR="127.0.0.1",
                         HTTP_X_FORWARDED_FOR="10.9.9.99, 198.51.100.7")
    assert response.status_code == 429


# ----- per account -----


def test_one_address_cannot_lock_an_account_out(labeler):
    for i in range(12):
        page_login(Client(), "lab_lena", f"guess-{i}", REMOTE_ADDR="198.51.100.7")
    assert api_login("lab_lena", "lab_lena-password", REMOTE_ADDR="203.0.113.1").status_code == 201


def test_many_addresses_cannot_share_out_a_brute_force_of_one_account(settings, labeler, labeler2):
    settings.LOGIN_ACCOUNT_MAX_ADDRESSES = 3
    for address in ("198.51.100.1", "198.51.100.2"):
        for i in range(2):  # an address counts once, however often it fails
            assert api_login("lab_lena", f"guess-{i}", REMOTE_ADDR=address).status_code == 400
    assert api_login("lab_lena", "guess-x", REMOTE_ADDR="198.51.100.3").status_code == 400
    # Even the right password, from an address that never failed, is refused now.
    response = api_login("lab_lena", "lab_lena-password", REMOTE_ADDR="203.0.113.50")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert admin_login(Client(), "lab_lena", "lab_lena-password",
                       REMOTE_ADDR="203.0.113.51").status_code == 429
    assert not ApiToken.objects.filter(user=labeler).exists()
    # Other accounts are untouched.
    assert api_login("lab_liam", "lab_liam-password", REMOTE_ADDR="203.0.113.50").status_code == 201
