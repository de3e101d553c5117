"""The labeler's home: what is left, their counts, the guidelines, and why
an empty queue is empty."""

from annotation.services.projects import project_set_archived, project_update
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from generation.models import GenerationJob
from tests.factories import items_make


def home_row(client, project) -> str:
    page = client.get("/").content.decode()
    row = page[page.index(f'data-project="{project.pk}"'):]
    return row[:row.index("</tr>")]


def reason(client, project) -> str:
    row = home_row(client, project)
    start = row.index('data-field="empty-reason">') + len('data-field="empty-reason">')
    return row[start:row.index("</span>", start)]


def test_each_empty_queue_says_why(project, admin, labeler, labeler2, client):
    client.force_login(labeler)
    assert reason(client, project).startswith("No items yet")
    job = GenerationJob.objects.create(project=project)
    # While items are being generated the row shows the job's progress instead.
    row = home_row(client, project)
    assert 'data-field="generating"' in row and "about to be generated" in row
    assert 'data-field="empty-reason"' not in row
    label_page = client.get(f"/projects/{project.pk}/label/").content.decode()
    assert "Waiting for generation: new items arrive" in label_page
    job.delete()
    project_update(project=project, actor=admin, overlap=1)
    items_make(project, 1)
    other = item_claim_next(project=project, labeler=labeler2)
    assert reason(client, project).startswith("Others are labeling the last items")
    annotation_submit(assignment=other, data={"strength": 1}, idempotency_key=new_idempotency_key())
    assert reason(client, project).startswith("All done")
    project_set_archived(project=project, archived=True, actor=admin)
    assert reason(client, project).startswith("The project is paused")


def test_an_archived_project_offers_no_start_and_the_label_page_says_why(project, admin, labeler,
                                                                         client):
    items_make(project, 2)
    project_set_archived(project=project, archived=True, actor=admin)
    client.force_login(labeler)
    home = client.get("/").content.decode()
    assert f"/projects/{project.pk}/label/" not in home
    page = client.get(f"/projects/{project.pk}/label/").content.decode()
    assert "The project is paused (archived) by its admins." in page


def test_guidelines_are_on_the_home_page_sanitized(project, admin, labeler, client):
    project_update(project=project, actor=admin,
                   guidelines="Prefer **facts**.\n\n<script>alert(1)</script>")
    client.force_login(labeler)
    page = client.get("/").content.decode()
    assert "<summary>Guidelines</summary>" in page and "<strong>facts</strong>" in page
    assert "<script>alert(1)</script>" not in page


def test_a_labeler_at_the_daily_cap_is_told_so_on_the_home_and_the_label_page(project, admin, labeler,
                                                                             client):
    project_update(project=project, actor=admin, daily_label_cap=1)
    items_make(project, 3)
    annotation_submit(assignment=item_claim_next(project=project, labeler=labeler),
                      data={"strength": 1}, idempotency_key=new_idempotency_key())
    client.force_login(labeler)
    row = home_row(client, project)
    assert 'data-field="cap-reason">Daily cap reached' in row
    assert "Start labeling" not in row  # items remain, but none for this labeler today
    label_page = client.get(f"/projects/{project.pk}/label/").content.decode()
    assert "Daily cap reached: you have given 1 labels today" in label_page
