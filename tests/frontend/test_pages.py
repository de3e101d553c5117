"""Labeler pages and their JSON: access, counts, CSP, CSRF, rendering."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.models import Assignment, Role, TaskType
from annotation.services.queue import (
    assignment_skip,
    item_claim_next,
    leases_reclaim_expired,
    new_idempotency_key,
)
from annotation.services.submissions import annotation_submit
from frontend.middleware import ContentSecurityPolicyMiddleware
from tests.factories import items_make, member_add, project_make


def submit(assignment, strength=1):
    return annotation_submit(assignment=assignment, data={"strength": strength},
                             idempotency_key=new_idempotency_key())


def label_url(project):
    return reverse("label", args=[project.pk])


# ----- login and access -----------------------------------------------------


@pytest.mark.parametrize("name", ["home", "label"])
def test_pages_require_login(web, project, name):
    url = reverse("home") if name == "home" else label_url(project)
    response = web(None).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_outsider_gets_404_on_a_label_page(web, project, outsider):
    assert web(outsider).get(label_url(project)).status_code == 404


def test_missing_project_is_the_same_404(web, labeler):
    assert web(labeler).get(reverse("label", args=[999_999])).status_code == 404


def test_engineer_cannot_open_the_label_page(web, project, engineer):
    assert web(engineer).get(label_url(project)).status_code == 403


def test_labeler_gets_the_pairwise_page(web, project, labeler):
    response = web(labeler).get(label_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-task="pairwise"' in html
    assert f'data-url-next="/api/projects/{project.pk}/next/"' in html
    assert html.count('name="strength"') == 5
    # Likert sliders for each criterion and response, each with a label.
    assert html.count('type="range"') == len(project.criteria) * 2
    assert 'aria-label="Helpful, response A"' in html


def test_a_project_without_ties_offers_four_choices(web, admin, labeler):
    project = project_make(creator=admin, allow_ties=False)
    member_add(project, labeler, Role.LABELER)
    html = web(labeler).get(label_url(project)).content.decode()
    assert html.count('name="strength"') == 4
    assert ">Tie<" not in html


def test_labeler_gets_the_ranking_page(web, admin, labeler):
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=4)
    member_add(project, labeler, Role.LABELER)
    html = web(labeler).get(label_url(project)).content.decode()
    assert 'data-task="ranking"' in html and 'data-k="4"' in html
    assert 'id="rank-list"' in html and 'name="strength"' not in html


def test_guidelines_are_rendered_sanitized(web, admin, labeler):
    project = project_make(creator=admin, guidelines="# Rules\n<script>alert(1)</script>")
    member_add(project, labeler, Role.LABELER)
    html = web(labeler).get(label_url(project)).content.decode()
    assert "<h1>Rules</h1>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_pages_have_no_inline_script_or_style(web, project, labeler):
    html = web(labeler).get(label_url(project)).content.decode()
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html) == []
    assert "<style" not in html and " style=" not in html
    assert re.findall(r"\son[a-z]+=", html) == []


# ----- home -------------------------------------------------------------------


def test_home_lists_my_projects_with_today_total_and_remaining(web, project, labeler, admin):
    items_make(project, 4)
    other = project_make(creator=admin, name="Someone else's")
    items_make(other, 2)
    submit(item_claim_next(project=project, labeler=labeler))
    old = item_claim_next(project=project, labeler=labeler)
    old_annotation, _ = submit(old, strength=-1)
    type(old_annotation).objects.filter(pk=old_annotation.pk).update(
        created_at=timezone.now() - timedelta(days=2))
    item_claim_next(project=project, labeler=labeler)  # a live lease counts as remaining

    response = web(labeler).get(reverse("home"))
    rows = response.context["rows"]
    assert [row.project for row in rows] == [project]
    row = rows[0]
    assert (row.today, row.total, row.remaining) == (1, 2, 2)
    html = response.content.decode()
    assert f'href="{label_url(project)}"' in html and "Someone else" not in html


def test_home_shows_no_start_for_a_role_that_does_not_label(web, project, engineer):
    items_make(project, 1)
    response = web(engineer).get(reverse("home"))
    row = response.context["rows"][0]
    assert row.can_label is False
    assert label_url(project) not in response.content.decode()


def test_home_shows_generation_in_progress_instead_of_all_done(web, project, labeler):
    from generation.models import GenerationJob, JobKind, JobStatus

    job = GenerationJob.objects.create(project=project, kind=JobKind.GENERATE,
                                       status=JobStatus.RUNNING, progress_total=5, progress_done=2)
    html = web(labeler).get(reverse("home")).content.decode()
    assert "All done" not in html
    assert "Generating items: 2 / 5 prompts" in html
    assert '<progress max="5" value="2"' in html

    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, progress_done=5)
    html = web(labeler).get(reverse("home")).content.decode()
    # Done generating, and this project has no items: the row says so, not "generating".
    assert "No items yet" in html and "Generating items" not in html


def test_home_says_a_queued_generation_job_is_coming(web, project, labeler):
    from generation.models import GenerationJob, JobKind, JobStatus

    GenerationJob.objects.create(project=project, kind=JobKind.GENERATE, status=JobStatus.QUEUED)
    html = web(labeler).get(reverse("home")).content.decode()
    assert "All done" not in html and "about to be generated" in html


# ----- headers ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["login", "home", "label", "content"])
def test_every_page_sends_a_strict_csp(web, project, items, labeler, name):
    client = web(None if name == "login" else labeler)
    if name == "content":
        url = reverse("label-content", args=[item_claim_next(project=project, labeler=labeler).pk])
    else:
        url = label_url(project) if name == "label" else reverse(name)
    policy = client.get(url)["Content-Security-Policy"]
    assert policy == ContentSecurityPolicyMiddleware.POLICY
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy


# ----- the page's JSON ---------------------------------------------------------


def test_content_is_the_lease_rendered_in_display_order(web, project, labeler):
    items_make(project, 1)
    assignment = item_claim_next(project=project, labeler=labeler)
    data = web(labeler).get(reverse("label-content", args=[assignment.pk])).json()
    assert data["assignment"] == assignment.pk
    assert data["display_order"] == assignment.display_order
    assert [r["position"] for r in data["responses"]] == assignment.display_order
    assert [r["letter"] for r in data["responses"]] == ["A", "B"]
    slots = {s.position: s.response.text for s in assignment.item.slots.all()}
    first = slots[assignment.display_order[0]]
    assert data["responses"][0]["html"] == f"<p>{first}</p>"
    assert data["messages"][0]["role"] == "user" and data["messages"][0]["title"] == "User"
    assert 0 < data["seconds_left"] <= project.lease_seconds
    assert data["still_yours"] is True
    assert "diff_html" in data["responses"][0]


def test_content_of_someone_elses_assignment_is_404(web, project, items, labeler, labeler2,
                                                     outsider):
    assignment = item_claim_next(project=project, labeler=labeler)
    for user in (labeler2, outsider):
        for name in ("label-content", "label-state"):
            response = web(user).get(reverse(name, args=[assignment.pk]))
            assert response.status_code == 404
            assert response.json()["code"] == "not_found"


def test_page_json_needs_a_session(web, project, items, labeler):
    assignment = item_claim_next(project=project, labeler=labeler)
    response = web(None).get(reverse("label-content", args=[assignment.pk]))
    assert response.status_code == 401


def test_page_json_is_read_only_and_not_cached(web, project, items, labeler):
    assignment = item_claim_next(project=project, labeler=labeler)
    client = web(labeler)
    url = reverse("label-state", args=[assignment.pk])
    assert client.post(url).status_code == 405
    assert "no-store" in client.get(url)["Cache-Control"]


def test_state_of_an_expired_lease_that_still_holds_its_slot(web, project, items, labeler):
    assignment = item_claim_next(project=project, labeler=labeler)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now())
    state = web(labeler).get(reverse("label-state", args=[assignment.pk])).json()
    assert state == {"assignment": assignment.pk, "status": "leased", "seconds_left": 0.0,
                     "still_yours": True}


def test_state_of_a_reclaimed_lease_depends_on_room_left(web, admin, labeler, labeler2):
    project = project_make(creator=admin, overlap=1)
    for user in (labeler, labeler2):
        member_add(project, user, Role.LABELER)
    items_make(project, 1)
    assignment = item_claim_next(project=project, labeler=labeler)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now())
    leases_reclaim_expired(project=project)
    url = reverse("label-state", args=[assignment.pk])
    assert web(labeler).get(url).json()["still_yours"] is True  # nobody took the slot
    submit(item_claim_next(project=project, labeler=labeler2))
    assert web(labeler).get(url).json()["still_yours"] is False


def test_state_after_skip_or_submit_is_not_yours(web, project, items, labeler):
    skipped = assignment_skip(assignment=item_claim_next(project=project, labeler=labeler))
    done = item_claim_next(project=project, labeler=labeler)
    submit(done)
    for assignment in (skipped, done):
        state = web(labeler).get(reverse("label-state", args=[assignment.pk])).json()
        assert state["still_yours"] is False


def test_untrusted_response_text_is_sanitized_in_content(web, admin, labeler):
    from annotation.services.items import ResponseInput, item_create
    from tests.factories import prompts_make

    project = project_make(creator=admin)
    member_add(project, labeler, Role.LABELER)
    prompt = prompts_make(project, 1)[0]
    item_create(project=project, prompt=prompt, responses=[
        ResponseInput(text='<img src=x onerror=alert(1)> [x](javascript:alert(1))', model_name="m"),
        ResponseInput(text="fine", model_name="m")])
    assignment = item_claim_next(project=project, labeler=labeler)
    data = web(labeler).get(reverse("label-content", args=[assignment.pk])).json()
    everything = " ".join(r["html"] + r["diff_html"] for r in data["responses"])
    assert "<img" not in everything
    assert re.findall(r"\shref=", everything) == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in everything


# ----- CSRF: the page's writes go to the API with the token from the page -----


def test_session_writes_to_the_api_need_the_pages_csrf_token(web, project, items, labeler):
    client = web(labeler, enforce_csrf=True)
    next_url = reverse("api-next", args=[project.pk])
    refused = client.post(next_url)
    assert refused.status_code == 403
    assert not Assignment.objects.filter(labeler=labeler).exists()
    html = client.get(label_url(project)).content.decode()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', html).group(1)
    assert client.post(next_url, HTTP_X_CSRFTOKEN=token).status_code == 200
