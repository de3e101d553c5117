"""The quality dashboard page: who may see it and act on it, what it shows,
and untrusted text rendered inert."""

import pytest
from django.template.loader import render_to_string

from annotation.models import Adjudication, ItemConsensus, ProjectQuality, TaskType
from annotation.services.items import ResponseInput, item_create
from annotation.services.prompts import PromptInput, prompt_create_many
from annotation.services.quality_recompute import project_quality_recompute
from annotation.task_types import TASK_TYPES
from tests.annotation.test_datasets import label_all
from tests.factories import project_make

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def dashboard(project, labeler, labeler2):
    """Three items, one disputed (A against B), with an untrusted prompt, responses and model name."""
    prompt_create_many(project=project, entries=[
        PromptInput(messages=[{"role": "user", "content": f"Question {k} {EVIL}"}]) for k in range(3)])
    items = [item_create(project=project, prompt=prompt, responses=[
        ResponseInput(text=f"Left answer {EVIL}", model_name=f"model-<b>{k}</b>"),
        ResponseInput(text="Right answer", model_name="baseline")])
        for k, prompt in enumerate(project.prompts.order_by("pk"))]
    disputed = items[2]
    label_all(project, [labeler, labeler2], lambda u, lease: {
        "strength": 2 if (lease.item_id == disputed.pk and u == labeler2) else -2,
        "time_on_task_ms": 12000})
    project_quality_recompute(project=project, method="majority", n_resamples=50)
    return {"project": project, "items": items, "disputed": disputed}


def url(project) -> str:
    return f"/projects/{project.pk}/quality/"


def test_admin_sees_figures_heatmap_table_queue_and_leaderboard(dashboard, admin, web, labeler):
    page = web(admin).get(url(dashboard["project"]))
    assert page.status_code == 200
    html = page.content.decode()
    state = ProjectQuality.objects.get(project=dashboard["project"])
    assert f'data-computed-at="{state.computed_at.isoformat()}' in html
    assert 'id="heatmap"' in html and 'data-kappa=' in html
    assert f'data-username="{labeler.username}"' in html
    assert f'data-item="{dashboard["disputed"].pk}"' in html  # the split item is in the queue
    assert f'data-item="{dashboard["items"][0].pk}"' not in html
    assert 'id="leaderboard"' in html and 'data-model="baseline"' in html
    assert 'id="recompute"' in html and 'class="adjudicate"' in html


def test_untrusted_text_is_inert(dashboard, admin, web):
    html = web(admin).get(url(dashboard["project"])).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "model-<b>" not in html and "model-&lt;b&gt;0&lt;/b&gt;" in html


def test_engineer_sees_the_figures_but_cannot_act(dashboard, engineer, web):
    client = web(engineer)
    html = client.get(url(dashboard["project"])).content.decode()
    assert 'id="annotators"' in html
    assert 'id="recompute"' not in html and 'class="adjudicate"' not in html
    response = client.post(url(dashboard["project"]), {"action": "adjudicate",
                                                      "item": dashboard["disputed"].pk, "strength": 1})
    assert response.status_code == 403
    assert not Adjudication.objects.exists()


@pytest.mark.parametrize(("persona", "status"), [("labeler", 403), ("outsider", 404)])
def test_labelers_and_outsiders_cannot_open_or_post(dashboard, persona, status, web, request):
    client = web(request.getfixturevalue(persona))
    assert client.get(url(dashboard["project"])).status_code == status
    response = client.post(url(dashboard["project"]), {"action": "recompute"})
    assert response.status_code == status
    assert ProjectQuality.objects.get(project=dashboard["project"]).runs == 1


def test_a_missing_project_is_404_and_anonymous_users_log_in(dashboard, admin, web):
    assert web(admin).get("/projects/987654/quality/").status_code == 404
    response = web(None).get(url(dashboard["project"]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_admin_adjudicates_with_the_plain_form_and_the_item_leaves_the_queue(dashboard, admin, web):
    project, disputed = dashboard["project"], dashboard["disputed"]
    response = web(admin).post(url(project), {"action": "adjudicate", "item": disputed.pk,
                                              "strength": "1", "note": "B answers it"}, follow=True)
    assert response.status_code == 200
    decision = Adjudication.objects.get(item=disputed)
    assert (decision.strength, decision.note, decision.decided_by) == (1, "B answers it", admin)
    assert not ItemConsensus.objects.get(item=disputed).needs_adjudication
    html = response.content.decode()
    assert f'data-item="{disputed.pk}"' not in html and f"Item {disputed.pk} decided." in html


def test_a_bad_decision_is_shown_and_records_nothing(dashboard, admin, web):
    response = web(admin).post(url(dashboard["project"]), {
        "action": "adjudicate", "item": dashboard["disputed"].pk, "strength": "7"}, follow=True)
    assert "strength" in response.content.decode()
    assert not Adjudication.objects.exists()


def test_recompute_button_recomputes_with_the_chosen_method(dashboard, admin, web,
                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = web(admin).post(url(dashboard["project"]), {"action": "recompute",
                                                              "method": "dawid_skene"})
    assert response.status_code == 302
    state = ProjectQuality.objects.get(project=dashboard["project"])
    assert (state.runs, state.method) == (2, "dawid_skene")


def test_posts_need_the_csrf_token(dashboard, admin, web):
    response = web(admin, enforce_csrf=True).post(url(dashboard["project"]), {
        "action": "adjudicate", "item": dashboard["disputed"].pk, "strength": "1"})
    assert response.status_code == 403
    assert not Adjudication.objects.exists()


def test_the_home_page_links_admins_and_engineers_to_the_dashboard(dashboard, admin, labeler, web):
    link = f'href="{url(dashboard["project"])}"'
    assert link in web(admin).get("/").content.decode()
    assert link not in web(labeler).get("/").content.decode()


def test_an_empty_project_shows_a_defined_page(project, admin, web):
    html = web(admin).get(url(project)).content.decode()
    assert "No labels yet." in html and "Nothing to adjudicate." in html
    assert ProjectQuality.objects.get(project=project).computed_at is not None


def test_a_ranking_project_is_adjudicated_with_a_ranking(admin, web):
    from annotation.models import Role, TaskType
    from tests.factories import items_make, member_add, project_make, user_make

    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3, overlap=2)
    labelers = [user_make("qp_rk_a"), user_make("qp_rk_b")]
    for user in labelers:
        member_add(project, user, Role.LABELER)
    item = items_make(project, 1)[0]
    label_all(project, labelers, lambda u, lease: {"ranking": [1, 2, 3] if u == labelers[0] else [3, 2, 1]})
    client = web(admin)
    html = client.get(url(project)).content.decode()
    assert f'data-item="{item.pk}"' in html and 'name="ranking"' in html
    assert "Mean Kendall" in html
    client.post(url(project), {"action": "adjudicate", "item": item.pk, "ranking": "2, 1, 3"})
    assert Adjudication.objects.get(item=item).ranking == [2, 1, 3]


def test_a_pending_recompute_is_announced_with_its_due_time(dashboard, admin, web):
    from datetime import timedelta

    from django.utils import timezone

    project = dashboard["project"]
    assert 'id="recompute-due"' not in web(admin).get(url(project)).content.decode()
    due = timezone.now() + timedelta(seconds=40)
    ProjectQuality.objects.filter(project=project).update(recompute_due_at=due)
    html = web(admin).get(url(project)).content.decode()
    assert 'id="recompute-due"' in html and due.strftime("%H:%M:%S") in html


def test_adjudication_menus_have_no_default_decision(dashboard, admin, web):
    html = web(admin).get(url(dashboard["project"])).content.decode()
    menu = html.split(f'id="strength-{dashboard["disputed"].pk}"')[1].split("</select>")[0]
    assert " required>" in menu.split("\n")[0]
    assert '<option value="" selected disabled>Choose…</option>' in menu
    assert menu.count(" selected") == 1


def test_a_decision_posted_without_a_choice_records_nothing(dashboard, admin, web):
    response = web(admin).post(url(dashboard["project"]), {
        "action": "adjudicate", "item": dashboard["disputed"].pk, "strength": ""}, follow=True)
    assert "choose a decision" in response.content.decode()
    assert not Adjudication.objects.exists()


@pytest.fixture
def long_queue(project, labeler, labeler2):
    """24 items, every one split A against B: 24 entries in the low-agreement queue."""
    prompt_create_many(project=project, entries=[
        PromptInput(messages=[{"role": "user", "content": f"Question {k}"}]) for k in range(24)])
    for prompt in project.prompts.order_by("pk"):
        item_create(project=project, prompt=prompt, responses=[
            ResponseInput(text="Left"), ResponseInput(text="Right")])
    label_all(project, [labeler, labeler2],
              lambda u, lease: {"strength": 2 if u == labeler2 else -2})
    project_quality_recompute(project=project, method="majority", n_resamples=20)
    return project


def test_the_low_agreement_queue_is_paginated(long_queue, admin, web):
    flagged = list(ItemConsensus.objects.filter(project=long_queue, needs_adjudication=True)
                   .order_by("confidence", "item_id").values_list("item_id", flat=True))
    assert len(flagged) == 24
    client = web(admin)
    first = client.get(url(long_queue)).content.decode()
    assert first.count('class="card queue-item"') == 10
    assert f'data-item="{flagged[0]}"' in first and f'data-item="{flagged[10]}"' not in first
    assert "Items 1–10 of 24" in first and "Page 1 of 3" in first
    assert '?queue_page=2#queue-title" rel="next"' in first
    last = client.get(url(long_queue) + "?queue_page=3").content.decode()
    assert last.count('class="card queue-item"') == 4 and f'data-item="{flagged[23]}"' in last
    assert "Items 21–24 of 24" in last and 'rel="next"' not in last
    # A page number out of range or malformed shows the nearest page, not an error.
    assert "Page 3 of 3" in client.get(url(long_queue) + "?queue_page=99").content.decode()
    assert "Page 1 of 3" in client.get(url(long_queue) + "?queue_page=x").content.decode()


def test_heatmap_margins_fit_the_longest_annotator_name():
    from frontend.charts import CHAR_PX, heatmap_svg

    names = ["palate-import-labeler-01", "bo"]
    svg = str(heatmap_svg(names=names, matrix=[[1.0, 0.2], [0.2, 1.0]]))
    left = float(svg.split('class="axis"><title>palate-import-labeler-01</title>')[0]
                 .rsplit('<text x="', 1)[1].split('"')[0]) + 6
    assert left >= len(names[0]) * CHAR_PX
    assert ">palate-import-labeler-01</text>" in svg  # shown in full, not cut


@pytest.mark.parametrize("name", sorted(TASK_TYPES))
def test_each_type_gives_the_annotator_table_as_many_cells_as_headings(name):
    """The annotator table's type-specific columns come from the type's own
    partial: a type without them would leave the table ragged, not borrow
    another type's columns."""
    task = TASK_TYPES[name]
    row = {"username": "ann", "flags": []}
    head = render_to_string(task.template, {"part": "annotator_head", "task": task})
    cells = render_to_string(task.template, {"part": "annotator_cells", "task": task, "row": row})
    health = render_to_string(task.template, {"part": "health", "task": task, "health": {}})
    assert head.count("<th") == cells.count("<td") >= 2
    assert health.count("<tr>") >= 1


@pytest.mark.parametrize(("task_type", "shown", "absent"), [
    (TaskType.PAIRWISE, ['data-field="length_bias"', "No preference at all"], ['data-field="up_share"']),
    (TaskType.RANKING, ["share of ranked pairs decided"], ['data-field="length_bias"', "No preference"]),
    # One response per item: no position or length bias, the thumbs-up share instead.
    (TaskType.FEEDBACK, ['data-field="up_share"'],
     ['data-field="position_bias"', 'data-field="length_bias"']),
])
def test_each_type_shows_its_own_health_rows(task_type, shown, absent, admin, web):
    project = project_make(creator=admin, task_type=task_type)
    html = web(admin).get(url(project)).content.decode()
    assert all(s in html for s in shown), [s for s in shown if s not in html]
    assert not [s for s in absent if s in html]


def test_a_feedback_item_page_names_its_labels_and_consensus_in_thumbs(admin, labeler, labeler2, web):
    """The item page's judgement and consensus come from the type's partial: a
    feedback consensus reads as thumbs, not as a pairwise strength."""
    from annotation.models import Role
    from tests.factories import member_add

    project = project_make(creator=admin, task_type=TaskType.FEEDBACK, overlap=2)
    for user in (labeler, labeler2):
        member_add(project, user, Role.LABELER)
    prompt_create_many(project=project, entries=[PromptInput(messages=[{"role": "user", "content": "Hi"}])])
    item = item_create(project=project, prompt=project.prompts.get(),
                       responses=[ResponseInput(text="Hello!")])
    label_all(project, [labeler, labeler2], lambda u, lease: {"feedback": True})
    project_quality_recompute(project=project, method="majority", n_resamples=0)
    html = web(admin).get(f"/projects/{project.pk}/items/{item.pk}/").content.decode()
    consensus = html[html.index('id="consensus"'):]
    consensus = consensus[:consensus.index("</p>")]
    assert "thumbs up (1.00 up)" in consensus and "strength" not in consensus
    assert html.count('<td data-field="judgement">thumbs up') == 2
    assert "parts of the shared pages" not in html  # the partial's comment stays a comment
