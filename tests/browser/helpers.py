"""Shared steps of the browser tests."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from annotation.models import Role, TaskType
from annotation.services.items import ResponseInput, item_create
from annotation.services.prompts import PromptInput, prompt_create_many
from tests.factories import member_add, project_make

PASSWORD = "browser-test-password"
# Submit→next-item-ready times (ms) by measurement name, printed at the end.
TIMINGS = pytest.StashKey[dict[str, list[float]]]()
# Screenshots land in a git-ignored folder; docs/screenshots/ holds a copy.
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
READY = "#label-app[data-state=ready]"


def user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


def project_with_items(*, admin, labelers, rows, task_type=TaskType.PAIRWISE, **fields):
    """A project whose items are (prompt, [response texts]) rows."""
    k = len(rows[0][1])
    if task_type == TaskType.RANKING:
        fields.setdefault("num_responses", k)
    project = project_make(creator=admin, task_type=task_type, **fields)
    for labeler in labelers:
        member_add(project, labeler, Role.LABELER)
    prompt_create_many(project=project, entries=[
        PromptInput(messages=prompt if isinstance(prompt, list) else
                    [{"role": "user", "content": prompt}]) for prompt, _ in rows])
    for prompt, (_, texts) in zip(project.prompts.order_by("pk"), rows, strict=True):
        item_create(project=project, prompt=prompt,
                    responses=[ResponseInput(text=t, model_name="m") for t in texts])
    return project


def pairs(n: int) -> list:
    return [(f"Question number {i}: what is {i} + {i}?",
             [f"It is **{2 * i}**.", f"It is {2 * i + 1}, I think."]) for i in range(n)]


def log_in(page, base: str, username: str, *, next_path: str = "/") -> None:
    """Log in through the form, by keyboard."""
    page.goto(f"{base}{next_path}")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}{next_path}")


def open_label_page(page, base: str, project) -> int:
    page.goto(f"{base}/projects/{project.pk}/label/")
    page.wait_for_selector(READY)
    return current_assignment(page)


def current_assignment(page) -> int:
    return int(page.locator("#label-app").get_attribute("data-assignment"))


def wait_next(page, previous: int) -> int:
    """Wait until a different item is ready; returns its assignment id."""
    page.wait_for_function(
        """(previous) => {
            const app = document.getElementById('label-app');
            return app.dataset.state === 'ready' && app.dataset.assignment !== String(previous);
        }""", arg=previous)
    return current_assignment(page)


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
