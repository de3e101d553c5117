"""OpenID Connect sign-in against a real (small) provider over HTTP: the full
authorization-code flow through Django's live server, group claims mapped to
project roles, and the refusals (forged state, wrong nonce, forged signature,
userinfo about someone else)."""

import pytest
import requests
from django.contrib.auth import get_user_model

from annotation.models import Membership, Role
from integrations.models import OidcIdentity
from tests.integrations.oidc_provider import provider_start

pytestmark = pytest.mark.django_db(transaction=True)

DANA = {"sub": "idp-0001", "email": "dana@example.test", "preferred_username": "dana",
        "given_name": "Dana", "groups": ["annotators", "unrelated"]}


@pytest.fixture
def provider():
    provider = provider_start(claims=dict(DANA))
    yield provider
    provider.server.shutdown()
    provider.server.server_close()


@pytest.fixture
def sso(settings, provider, project, tmp_path):
    """Sign-in configured the way an operator would: from the provider's discovery document."""
    found = requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=5).json()
    settings.PALATE_OIDC = True
    settings.PALATE_OIDC_PROVIDER_NAME = "Example IdP"
    settings.PALATE_OIDC_ISSUER = found["issuer"]
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = provider.client_id, provider.client_secret
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = found["authorization_endpoint"]
    settings.OIDC_OP_TOKEN_ENDPOINT = found["token_endpoint"]
    settings.OIDC_OP_USER_ENDPOINT = found["userinfo_endpoint"]
    settings.OIDC_OP_JWKS_ENDPOINT = found["jwks_uri"]
    settings.AUTHENTICATION_BACKENDS = ["integrations.oidc.backend.PalateOIDCBackend",
                                        *settings.AUTHENTICATION_BACKENDS]
    settings.PALATE_OIDC_ROLE_MAP = {"annotators": {project.slug: "labeler"},
                                     "ml": {project.slug: "engineer"}}
    # The login page renders {% static %}; the manifest storage would need collectstatic.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.STATIC_ROOT = str(tmp_path)
    return settings


def sign_in(live_server) -> tuple[requests.Session, requests.Response]:
    """Press "Sign in with …": our start view → provider → our callback → home."""
    session = requests.Session()
    response = session.get(f"{live_server.url}/oidc/authenticate/", timeout=30)
    return session, response


def signed_in_as(session, live_server) -> str | None:
    home = session.get(f"{live_server.url}/", allow_redirects=False, timeout=10)
    if home.status_code != 200:
        return None
    return get_user_model().objects.get(pk=session_user_id(session, live_server)).username


def session_user_id(session, live_server) -> int:
    from django.contrib.sessions.backends.db import SessionStore

    return int(SessionStore(session_key=session.cookies["sessionid"]).load()["_auth_user_id"])


def test_the_code_flow_signs_in_a_new_user_with_the_roles_of_their_groups(
        sso, provider, project, live_server):
    session, response = sign_in(live_server)
    assert response.status_code == 200 and response.url == f"{live_server.url}/"
    assert signed_in_as(session, live_server) == "dana"
    user = get_user_model().objects.get(username="dana")
    assert user.email == DANA["email"] and not user.has_usable_password()
    identity = OidcIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (provider.issuer, DANA["sub"])
    assert Membership.objects.get(project=project, user=user).role == Role.LABELER
    # The flow the provider saw: PKCE, nonce and state on the way out, the secret at the token endpoint.
    authorize = next(q for method, path, q in provider.requests if path == "/authorize")
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"] and authorize["state"]
    assert any(path == "/token" and q.get("code_verifier") for method, path, q in provider.requests)


def test_the_groups_claim_is_applied_at_every_sign_in(sso, provider, project, live_server):
    sign_in(live_server)
    user = get_user_model().objects.get(username="dana")
    provider.claims["groups"] = ["ml"]
    sign_in(live_server)
    assert Membership.objects.get(project=project, user=user).role == Role.ENGINEER
    provider.claims["groups"] = ["annotators", "ml"]  # the stronger grant wins
    sign_in(live_server)
    assert Membership.objects.get(project=project, user=user).role == Role.ENGINEER
    provider.claims["groups"] = []
    session, _ = sign_in(live_server)
    assert signed_in_as(session, live_server) == "dana"  # still signs in, no longer a member
    assert not Membership.objects.filter(project=project, user=user).exists()
    assert get_user_model().objects.filter(username__startswith="dana").count() == 1  # same account


def test_an_email_claim_does_not_take_over_a_local_account(sso, provider, live_server, labeler):
    provider.claims["email"] = labeler.email
    provider.claims["preferred_username"] = labeler.username
    session, _ = sign_in(live_server)
    signed = signed_in_as(session, live_server)
    assert signed is not None and signed != labeler.username
    assert not OidcIdentity.objects.filter(user=labeler).exists()


@pytest.mark.parametrize("tamper", ["nonce", "signature"])
def test_a_token_with_a_wrong_nonce_or_a_forged_signature_is_refused(sso, provider, live_server, tamper):
    provider.tamper.add(tamper)
    session, response = sign_in(live_server)
    assert response.status_code == 400  # SuspiciousOperation
    assert signed_in_as(session, live_server) is None
    assert not get_user_model().objects.filter(username="dana").exists()


def test_userinfo_about_another_subject_is_refused(sso, provider, live_server):
    provider.tamper.add("subject")
    session, response = sign_in(live_server)
    assert response.url.startswith(f"{live_server.url}/login/?sso=failed")
    assert "Single sign-on did not complete" in response.text
    assert signed_in_as(session, live_server) is None


def test_a_callback_whose_state_this_browser_never_sent_is_refused(sso, provider, live_server):
    # An attacker's own authorization code, sent to the victim's browser (login CSRF):
    # the state in the callback is not one this session started.
    attacker = requests.Session()
    start = attacker.get(f"{live_server.url}/oidc/authenticate/", allow_redirects=False, timeout=10)
    at_provider = attacker.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = at_provider.headers["Location"]
    assert callback.startswith(f"{live_server.url}/oidc/callback/?code=")

    victim = requests.Session()
    # The victim has started a sign-in of its own: its session holds a (different) state.
    victim.get(f"{live_server.url}/oidc/authenticate/", allow_redirects=False, timeout=10)
    response = victim.get(callback, allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert signed_in_as(victim, live_server) is None
    assert not get_user_model().objects.filter(username="dana").exists()


def test_the_login_page_offers_the_provider_and_can_drop_passwords(sso, live_server, labeler):
    page = requests.get(f"{live_server.url}/login/", timeout=10).text
    assert "Sign in with Example IdP" in page and 'name="password"' in page

    sso.PALATE_LOCAL_PASSWORDS = False
    sso.AUTHENTICATION_BACKENDS = ["integrations.oidc.backend.PalateOIDCBackend"]
    session = requests.Session()
    page = session.get(f"{live_server.url}/login/", timeout=10)
    assert "Sign in with Example IdP" in page.text and 'name="password"' not in page.text
    refused = session.post(f"{live_server.url}/login/", data={
        "username": labeler.username, "password": f"{labeler.username}-password",
        "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{live_server.url}/login/"}, allow_redirects=False, timeout=10)
    assert refused.status_code == 403 and signed_in_as(session, live_server) is None
    token = requests.post(f"{live_server.url}/api/auth/token/", json={
        "username": labeler.username, "password": f"{labeler.username}-password"}, timeout=10)
    assert token.status_code in (400, 401, 403) and "token" not in token.json()


def test_sign_in_is_not_found_while_off(settings, live_server):
    settings.PALATE_OIDC = False
    assert requests.get(f"{live_server.url}/oidc/authenticate/", timeout=10).status_code == 404
    assert requests.get(f"{live_server.url}/oidc/callback/?code=x&state=y", timeout=10).status_code == 404
