"""The ranking page in real Chromium: four responses ranked by keyboard (with a
tie) and by drag and drop."""

import pytest

from annotation.demo import RANKING
from annotation.models import Annotation, Assignment, TaskType
from tests.browser.helpers import (
    current_assignment,
    log_in,
    open_label_page,
    project_with_items,
    screenshot,
    user,
    wait_next,
)

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = [*RANKING, ("Name a prime number.", ["7", "2", "9", "It depends."])]


@pytest.fixture
def ranking_project():
    admin, lena = user("admin_ann"), user("lab_lena")
    return project_with_items(admin=admin, labelers=[lena], rows=ROWS, task_type=TaskType.RANKING,
                              name="Demo: ranking")


def expected_ranking(assignment_id: int, shown_order: list[int], ranks: list[int]) -> list[int]:
    """Canonical ranking for cards shown at display indexes ``shown_order``
    (top to bottom) with dense ``ranks``."""
    display_order = Assignment.objects.get(pk=assignment_id).display_order
    ranking = [0] * len(display_order)
    for shown, rank in zip(shown_order, ranks, strict=True):
        ranking[display_order[shown]] = rank
    return ranking


def letters(page) -> list[str]:
    return page.locator(".rank-card").evaluate_all("cards => cards.map(c => c.dataset.letter)")


def badges(page) -> list[str]:
    return page.locator(".rank-card [data-rank]").all_inner_texts()


def test_rank_four_responses_by_keyboard(page, live_app, ranking_project):
    log_in(page, live_app, "lab_lena")
    first = open_label_page(page, live_app, ranking_project)
    assert letters(page) == ["A", "B", "C", "D"]
    # Focus starts on the first card.
    assert page.evaluate("document.activeElement.dataset.letter") == "A"
    page.keyboard.press("ArrowDown")  # focus B
    page.keyboard.press("Space")  # pick B up
    page.keyboard.press("ArrowUp")  # B to the top
    page.keyboard.press("Space")  # drop
    assert letters(page) == ["B", "A", "C", "D"]
    page.keyboard.press("End")  # focus D
    page.keyboard.press("Alt+ArrowUp")  # D above C
    assert letters(page) == ["B", "A", "D", "C"]
    page.keyboard.press("t")  # D tied with A
    assert badges(page) == ["1", "2", "2", "3"]
    assert "tied with the one above" in page.locator(".rank-card").nth(2).get_attribute("aria-label")
    screenshot(page, "ranking-page", full_page=True)
    page.keyboard.press("Enter")
    wait_next(page, first)
    annotation = Annotation.objects.get(assignment_id=first)
    # Display indexes: A=0, B=1, C=2, D=3.
    assert annotation.ranking == expected_ranking(first, [1, 0, 3, 2], [1, 2, 2, 3])


def test_rank_by_drag_and_drop(page, live_app, ranking_project):
    log_in(page, live_app, "lab_lena")
    first = open_label_page(page, live_app, ranking_project)
    page.locator("#rank-list").scroll_into_view_if_needed()
    handle = page.locator(".rank-card").nth(3).locator("[data-handle]")
    target = page.locator(".rank-card").nth(0).bounding_box()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, target["y"] + 5, steps=12)
    page.mouse.up()
    assert letters(page) == ["D", "A", "B", "C"]
    # And one more by dragging A below B.
    handle = page.locator(".rank-card").nth(1).locator("[data-handle]")
    below = page.locator(".rank-card").nth(2).bounding_box()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, below["y"] + below["height"] - 5, steps=12)
    page.mouse.up()
    assert letters(page) == ["D", "B", "A", "C"]
    page.get_by_role("button", name="Submit").click()
    wait_next(page, first)
    annotation = Annotation.objects.get(assignment_id=first)
    assert annotation.ranking == expected_ranking(first, [3, 1, 0, 2], [1, 2, 3, 4])


def test_unchanged_order_needs_a_second_enter(page, live_app, ranking_project):
    log_in(page, live_app, "lab_lena")
    first = open_label_page(page, live_app, ranking_project)
    page.keyboard.press("Enter")
    assert "not changed the order" in page.locator("#error").inner_text()
    assert not Annotation.objects.exists()
    page.keyboard.press("Enter")
    wait_next(page, first)
    assert Annotation.objects.get(assignment_id=first).ranking == expected_ranking(
        first, [0, 1, 2, 3], [1, 2, 3, 4])


def test_ranking_survives_a_reload_of_the_same_lease(page, live_app, ranking_project):
    log_in(page, live_app, "lab_lena")
    first = open_label_page(page, live_app, ranking_project)
    page.keyboard.press("Alt+ArrowDown")  # A below B
    page.keyboard.press("r")
    page.keyboard.type("kept across a reload")
    page.wait_for_timeout(400)  # the draft is saved a moment after typing
    page.reload()
    page.wait_for_selector("#label-app[data-state=ready]")
    assert current_assignment(page) == first
    assert letters(page) == ["B", "A", "C", "D"]
    assert page.locator("#rationale").input_value() == "kept across a reload"
