"""The quality dashboard in real Chromium: the heatmap and annotator table
show the expected values, the table sorts, and an admin adjudicates a
disputed item, which leaves the queue without a page reload."""

import pytest

from annotation.models import Adjudication, ItemConsensus, ProjectQuality, Role
from annotation.services.items import ResponseInput, item_create
from annotation.services.prompts import PromptInput, prompt_create_many
from annotation.services.quality_recompute import project_quality_recompute
from tests.annotation.test_datasets import label_all
from tests.browser.helpers import log_in, screenshot, user
from tests.factories import member_add, project_make

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = ["smollm2-dpo", "smollm2-sft"]


@pytest.fixture
def seeded():
    """Three labelers on 12 items comparing two models; the DPO model's answer
    is the better one, placed as A on even items and as B on odd ones. ann and
    ben agree except on item 0; cat contradicts them on every third item, and
    item 0 ends split three ways (A, B, tie)."""
    admin = user("qa_admin")
    labelers = [user("qa_ann"), user("qa_ben"), user("qa_cat")]
    project = project_make(creator=admin, name="Quality demo", overlap=3)
    for labeler in labelers:
        member_add(project, labeler, Role.LABELER)
    prompt_create_many(project=project, entries=[
        PromptInput(messages=[{"role": "user", "content": f"Explain idea number {k} briefly."}])
        for k in range(12)])
    items = []
    for k, prompt in enumerate(project.prompts.order_by("pk")):
        good = ResponseInput(text=f"A short, correct explanation of idea {k}.", model_name=MODELS[0])
        bad = ResponseInput(text=f"An answer about idea {k} that misses the point.", model_name=MODELS[1])
        items.append(item_create(project=project, prompt=prompt,
                                 responses=[good, bad] if k % 2 == 0 else [bad, good]))
    position = {item.pk: k for k, item in enumerate(items)}

    def decide(labeler, lease):
        k = position[lease.item_id]
        better = -1 if k % 2 == 0 else 1  # the side of the DPO answer
        if k == 0:
            strength = {0: -2, 1: 2, 2: 0}[labelers.index(labeler)]
        elif labeler == labelers[2] and k % 3 == 0:
            strength = -better
        else:
            strength = better * (2 if k % 4 else 1)
        return {"strength": strength, "time_on_task_ms": 15000 + 1000 * k}

    label_all(project, labelers, decide)
    project_quality_recompute(project=project, method="majority", n_resamples=100)
    return {"project": project, "items": items, "labelers": labelers}


def test_dashboard_shows_the_figures_and_an_adjudication_empties_the_queue(page, live_app, seeded):
    project = seeded["project"]
    state = ProjectQuality.objects.get(project=project)
    kappa = state.report["kappa"]
    log_in(page, live_app, "qa_admin", next_path=f"/projects/{project.pk}/quality/")

    # Heatmap: one cell per pair of the three annotators, with the stored kappas.
    cells = page.locator("#heatmap g.cell")
    assert cells.count() == 9
    names = kappa["labelers"]
    ann, cat = names.index("qa_ann"), names.index("qa_cat")
    shown = page.locator("#heatmap g.cell[data-a=qa_ann][data-b=qa_cat]").get_attribute("data-kappa")
    assert float(shown) == pytest.approx(kappa["nominal"][ann][cat], abs=1e-3)
    assert float(shown) < 0.9  # cat disagrees on a third of the items
    agreeing = page.locator("#heatmap g.cell[data-a=qa_ann][data-b=qa_ben]").get_attribute("data-kappa")
    assert float(agreeing) > float(shown)

    # Annotator table: the stored figures, sortable by a column.
    rows = page.locator("#annotators tbody tr")
    assert rows.count() == 3
    report_rows = {r["username"]: r for r in state.report["labelers"]}
    cat_row = page.locator("#annotators tr[data-username=qa_cat]")
    assert float(cat_row.locator("[data-field=loo_agreement]").inner_text()) == pytest.approx(
        report_rows["qa_cat"]["loo_agreement"], abs=1e-3)
    page.get_by_role("button", name="Agreement with others").click()
    assert page.locator("#annotators tbody tr").first.get_attribute("data-username") == "qa_cat"
    page.get_by_role("button", name="Agreement with others").click()
    assert page.locator("#annotators tbody tr").last.get_attribute("data-username") == "qa_cat"

    assert page.locator("#leaderboard tbody tr").count() == 2
    assert page.locator("#leaderboard tbody tr").first.get_attribute("data-model") == MODELS[0]
    assert page.locator("#computed-at").inner_text().startswith("Figures computed")

    queued = page.locator("#queue li.queue-item")
    flagged = list(ItemConsensus.objects.filter(project=project, needs_adjudication=True)
                   .values_list("item_id", flat=True))
    assert queued.count() == len(flagged) >= 1
    screenshot(page, "quality-dashboard", full_page=True)

    page.evaluate("window.__samePage = true")
    target = flagged[0]
    entry = page.locator(f"#queue li[data-item='{target}']")
    entry.get_by_label("Decision").select_option("-2")
    entry.get_by_label("Note").fill("A explains it; B misses the point.")
    entry.get_by_role("button", name="Decide").click()
    entry.wait_for(state="detached")
    assert page.evaluate("window.__samePage === true"), "adjudication must not reload the page"
    assert f"Item {target} decided." in page.locator("#quality-notice").inner_text()
    decision = Adjudication.objects.get(item_id=target)
    assert (decision.strength, decision.decided_by.username) == (-2, "qa_admin")
    assert not ItemConsensus.objects.get(item_id=target).needs_adjudication
    assert page.locator("#queue li.queue-item").count() == len(flagged) - 1

    page.reload()
    assert page.locator(f"#queue li[data-item='{target}']").count() == 0
    assert page.evaluate("window.__cspViolations") == []


def test_long_annotator_names_fit_and_a_decision_needs_a_choice(page, live_app):
    admin = user("qa_long_admin")
    names = ["palate-import-labeler-01", "palate-import-labeler-02"]
    labelers = [user(name) for name in names]
    project = project_make(creator=admin, name="Long names", overlap=2)
    for labeler in labelers:
        member_add(project, labeler, Role.LABELER)
    prompt_create_many(project=project, entries=[
        PromptInput(messages=[{"role": "user", "content": f"Question {k}"}]) for k in range(6)])
    for prompt in project.prompts.order_by("pk"):
        item_create(project=project, prompt=prompt,
                    responses=[ResponseInput(text="Left"), ResponseInput(text="Right")])
    # Agree on four items, split A against B on two: both in the queue.
    label_all(project, labelers, lambda u, lease: {
        "strength": 2 if (u == labelers[1] and lease.item_id % 3 == 0) else -2})
    project_quality_recompute(project=project, method="majority", n_resamples=20)
    log_in(page, live_app, "qa_long_admin", next_path=f"/projects/{project.pk}/quality/")

    # Every axis label lies wholly inside the heatmap's drawing.
    outside = page.evaluate("""() => {
        const svg = document.querySelector('#heatmap svg').getBoundingClientRect();
        return Array.from(document.querySelectorAll('#heatmap text.axis')).map((t) => {
            const r = t.getBoundingClientRect();
            return [t.textContent, r.left >= svg.left - 0.5 && r.top >= svg.top - 0.5
                    && r.right <= svg.right + 0.5 && r.bottom <= svg.bottom + 0.5];
        }).filter(([, inside]) => !inside).map(([text]) => text);
    }""")
    assert outside == []
    assert page.locator("#heatmap text.axis").count() == 4

    # Decide without choosing: nothing is sent, nothing recorded.
    entry = page.locator("#queue li.queue-item").first
    menu = entry.get_by_label("Decision")
    assert menu.input_value() == ""
    entry.get_by_role("button", name="Decide").click()
    assert menu.evaluate("m => m.validity.valueMissing") is True
    assert entry.is_visible() and not Adjudication.objects.exists()
    assert page.evaluate("window.__cspViolations") == []
