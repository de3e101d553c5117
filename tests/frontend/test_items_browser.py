"""The items browser: filters, paging, an item's labels, admin changes."""

import pytest

from annotation.datasets.rows import labeler_pseudonym
from annotation.models import ComparisonItem
from annotation.services.items_bulk import item_entry_from_dict, items_create_many
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from audit.models import AuditEvent
from tests.factories import items_make


@pytest.fixture
def browsed(project, labeler):
    entries = [item_entry_from_dict({"prompt": f"Question {i} about {'cats' if i % 2 else 'dogs'}?",
                                     "responses": [{"text": f"yes {i}", "model_name": "m-small"},
                                                   {"text": f"no {i}", "model_name": "m-large"}]})
               for i in range(60)]
    ids = items_create_many(project=project, entries=entries).ids
    lease = item_claim_next(project=project, labeler=labeler)
    annotation_submit(assignment=lease, data={"strength": 2, "rationale": "B <b>wins</b>"},
                      idempotency_key=new_idempotency_key())
    return ids, lease


def test_filters_and_pages(project, admin, browsed, client):
    client.force_login(admin)
    url = f"/projects/{project.pk}/items/"
    page = client.get(url).content.decode()
    assert "60 items" in page and "Page 1 of 2" in page
    assert "30 items" in client.get(url, {"q": "CATS"}).content.decode()
    assert "1 item<" in client.get(url, {"status": "in_progress"}).content.decode()
    assert "59 items" in client.get(url, {"status": "unlabeled"}).content.decode()
    assert "60 items" in client.get(url, {"model": "m-large"}).content.decode()
    assert "0 items" in client.get(url, {"model": "other"}).content.decode()
    bad = client.get(url, {"status": "weird"}).content.decode()
    assert "must be one of" in bad


def test_an_items_page_shows_every_label_named_for_admins(project, admin, engineer, labeler,
                                                           browsed, client):
    _, lease = browsed
    url = f"/projects/{project.pk}/items/{lease.item_id}/"
    client.force_login(admin)
    page = client.get(url).content.decode()
    assert labeler.username in page and "strength" in page
    assert "B &lt;b&gt;wins&lt;/b&gt;" in page  # a rationale is text, not markup
    assert "m-small" in page and 'name="gold_min"' in page
    client.force_login(engineer)
    page = client.get(url).content.decode()
    assert labeler.username not in page and labeler_pseudonym(labeler.pk) in page
    assert 'name="gold_min"' not in page
    assert client.post(url, {"action": "priority", "priority": "5"}).status_code == 403


def test_admin_marks_gold_and_sets_priority(project, admin, browsed, client):
    ids, _ = browsed
    client.force_login(admin)
    url = f"/projects/{project.pk}/items/{ids[5]}/"
    client.post(url, {"action": "gold", "is_gold": "on", "gold_min": "1", "gold_max": "2"})
    client.post(url, {"action": "priority", "priority": "9"})
    item = ComparisonItem.objects.get(pk=ids[5])
    assert item.is_gold and item.gold_answer == {"min": 1, "max": 2} and item.priority == 9
    assert AuditEvent.objects.get(action="item.gold_change").actor_id == admin.pk
    page = client.post(url, {"action": "gold", "is_gold": "on", "gold_min": "2", "gold_max": "1"},
                       follow=True).content.decode()
    assert "min must not exceed max" in page


@pytest.mark.parametrize(("persona", "status"), [("labeler", 403), ("outsider", 404)])
def test_labelers_and_outsiders_see_no_items(project, browsed, persona, status, client, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(f"/projects/{project.pk}/items/").status_code == status
    assert client.get(f"/projects/{project.pk}/items/{browsed[0][0]}/").status_code == status


def test_the_item_page_sets_and_refuses_priorities_through_the_module(project, admin, client):
    item = items_make(project, 1)[0]
    client.force_login(admin)
    url = f"/projects/{project.pk}/items/{item.pk}/"
    client.post(url, {"action": "priority", "priority": "-5"})
    assert ComparisonItem.objects.get(pk=item.pk).priority == -5
    page = client.post(url, {"action": "priority", "priority": str(2**31)}, follow=True)
    assert "32-bit integer" in page.content.decode() and ComparisonItem.objects.get(pk=item.pk).priority == -5


def test_an_admin_removes_an_item_from_the_queue_and_restores_it_on_its_page(project, admin, client):
    item = items_make(project, 1)[0]
    client.force_login(admin)
    url = f"/projects/{project.pk}/items/{item.pk}/"
    assert "Remove from the queue" in client.get(url).content.decode()
    page = client.post(url, {"action": "queue", "in_queue": "false"}, follow=True).content.decode()
    assert "taken out of the queue" in page and "Put back in the queue" in page
    assert ComparisonItem.objects.get(pk=item.pk).removed_at is not None
    listed = client.get(f"/projects/{project.pk}/items/", {"status": "removed"}).content.decode()
    assert f"/items/{item.pk}/" in listed
    client.post(url, {"action": "queue", "in_queue": "true"})
    assert ComparisonItem.objects.get(pk=item.pk).is_open
    assert [e.action for e in AuditEvent.objects.filter(target_id=item.pk).order_by("pk")] == [
        "item.remove_from_queue", "item.restore_to_queue"]
