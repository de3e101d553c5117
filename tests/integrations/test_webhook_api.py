"""The webhook API: project admins only, the secret shown once, field errors,
the test endpoint and redelivery, and no row of another project reachable."""

import pytest
from rest_framework.test import APIClient

from annotation.models import Role
from audit.models import AuditEvent
from integrations.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from tests.factories import member_add, project_make


def base(project) -> str:
    return f"/api/projects/{project.pk}/webhooks/"


@pytest.mark.django_db
def test_an_admin_subscribes_and_sees_the_secret_once(project, admin, api, receiver, loopback_allowed):
    client = api(admin)
    answer = client.post(base(project), {"url": receiver.url + "/hook", "events": ["export.ready",
                                                                                  "snapshot.built"]},
                         format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["export.ready", "snapshot.built"]
    assert "secret" not in client.get(base(project)).json()["results"][0]
    assert "secret" not in client.get(f"{base(project)}{body['id']}/").json()
    assert AuditEvent.objects.filter(action="webhook.create", project_id=project.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("payload", "field"), [
    ({"url": "http://127.0.0.1:9/x", "events": ["export.ready"]}, "url"),
    ({"url": "http://169.254.169.254/", "events": ["export.ready"]}, "url"),
    ({"url": "https://93.184.215.14/", "events": ["export.sent"]}, "events"),
    ({"url": "https://93.184.215.14/", "events": []}, "events"),
])
def test_bad_subscriptions_are_refused_naming_the_field(project, admin, api, payload, field):
    answer = api(admin).post(base(project), payload, format="json")
    assert answer.status_code == 400
    body = answer.json()
    assert body.get("field") == field or field in body, body
    assert not WebhookSubscription.objects.exists()


@pytest.mark.django_db
def test_only_project_admins_reach_webhooks(project, labeler, engineer, outsider, api):
    payload = {"url": "https://93.184.215.14/", "events": ["export.ready"]}
    assert api(labeler).post(base(project), payload, format="json").status_code == 403
    assert api(engineer).get(base(project)).status_code == 403
    assert api(outsider).get(base(project)).status_code == 404
    assert APIClient().get(base(project)).status_code == 401


@pytest.mark.django_db
def test_another_projects_webhook_is_not_found(project, admin, api, outsider):
    other = project_make(creator=outsider)
    member_add(other, admin, Role.ADMIN)
    made = api(admin).post(base(other), {"url": "https://93.184.215.14/", "events": ["export.ready"]},
                           format="json").json()
    for method, suffix in (("get", ""), ("patch", ""), ("delete", ""), ("post", "test/"),
                           ("get", "deliveries/")):
        answer = getattr(api(admin), method)(f"{base(project)}{made['id']}/{suffix}", {}, format="json")
        assert answer.status_code == 404, (method, suffix)
    assert WebhookSubscription.objects.filter(pk=made["id"]).exists()


@pytest.mark.django_db
def test_the_test_endpoint_and_redelivery_reach_the_receiver(
        project, admin, api, receiver, loopback_allowed, django_capture_on_commit_callbacks):
    client = api(admin)
    made = client.post(base(project), {"url": receiver.url + "/hook", "events": ["export.ready"]},
                       format="json").json()
    receiver.secret = made["secret"]
    with django_capture_on_commit_callbacks(execute=True):
        tested = client.post(f"{base(project)}{made['id']}/test/")
    assert tested.status_code == 202 and tested.json()["event"] == "webhook.test"
    [got] = receiver.received
    assert got.signature_ok and got.json["event"] == "webhook.test"

    log = client.get(f"{base(project)}{made['id']}/deliveries/").json()["results"]
    assert log[0]["status"] == DeliveryStatus.SUCCEEDED
    assert log[0]["attempt_log"][0]["status_code"] == 200

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"{base(project)}{made['id']}/deliveries/{log[0]['id']}/redeliver/")
    assert again.status_code == 202 and again.json()["redelivery_of"] == log[0]["id"]
    assert len(receiver.received) == 2 and receiver.received[1].body == got.body
    assert WebhookDelivery.objects.filter(subscription_id=made["id"]).count() == 2


@pytest.mark.django_db
def test_patch_and_delete(project, admin, api):
    client = api(admin)
    made = client.post(base(project), {"url": "https://93.184.215.14/", "events": ["export.ready"]},
                       format="json").json()
    patched = client.patch(f"{base(project)}{made['id']}/", {"is_active": False,
                                                             "events": ["training_run.finished"]},
                           format="json")
    assert patched.status_code == 200
    assert patched.json()["is_active"] is False and patched.json()["events"] == ["training_run.finished"]
    bad = client.patch(f"{base(project)}{made['id']}/", {"url": "http://10.0.0.1/"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "url"
    assert WebhookSubscription.objects.get(pk=made["id"]).url == "https://93.184.215.14/"
    assert client.delete(f"{base(project)}{made['id']}/").status_code == 204
    assert not WebhookSubscription.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.delete").exists()


@pytest.mark.django_db
def test_session_writes_need_the_csrf_token(project, admin):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin)
    answer = client.post(base(project), {"url": "https://93.184.215.14/", "events": ["export.ready"]},
                         format="json")
    assert answer.status_code == 403 and not WebhookSubscription.objects.exists()
