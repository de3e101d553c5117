"""The generation page in real Chromium: an engineer starts a job from the
form, sees it listed as queued, and watches its progress move to done as a
worker runs it (the page polls the API; no reload by the test)."""

import pytest

from annotation.models import Role
from generation import tasks
from generation.models import GenerationJob, JobStatus, ModelRole
from generation.services.jobs import generation_job_run
from generation.services.registry import model_spec_register
from tests.browser.helpers import log_in, user
from tests.factories import member_add, project_make, prompts_make
from tests.generation.tiny_model import tiny_model_save

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_model_save(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture
def queued(monkeypatch):
    """The job's task is recorded instead of run in the request (eager Celery
    would finish it before the page is shown): the test plays the worker."""
    sent = []
    monkeypatch.setattr(tasks.generation_job_run_task, "apply_async",
                        lambda args, **_: sent.append(tuple(args)))
    return sent


def test_start_a_job_and_watch_its_progress(page, live_app, tiny_dir, queued):
    owner, engineer = user("gen_admin"), user("gen_erin")
    project = project_make(creator=owner, name="Generation demo")
    member_add(project, engineer, Role.ENGINEER)
    prompts_make(project, 3)
    model_spec_register(name="tiny", role=ModelRole.POLICY, path=str(tiny_dir))

    path = f"/projects/{project.pk}/generation/"
    log_in(page, live_app, "gen_erin", next_path=path)
    page.get_by_label("Samples per prompt (n)").fill("2")
    page.get_by_label("Max tokens").fill("4")
    page.get_by_label("Seed").fill("7")
    page.get_by_role("button", name="Start generating").click()
    page.wait_for_url(f"{live_app}{path}")

    job = GenerationJob.objects.get(project=project)
    assert queued == [(job.pk,)]
    row = page.locator(f"tr[data-job='{job.pk}']")
    assert row.get_attribute("data-status") == "queued"
    assert row.locator("[data-field=progress]").inner_text() == "0 / 3 prompts"
    assert "queued for 3 prompts" in page.locator(".messages").inner_text()

    assert generation_job_run(job_id=job.pk).status == JobStatus.SUCCEEDED  # the worker's part
    # The page picks the change up by polling the API, then reloads with the samples.
    page.wait_for_selector(f"tr[data-job='{job.pk}'][data-status=succeeded]")
    page.wait_for_selector("#samples")
    row = page.locator(f"tr[data-job='{job.pk}']")
    assert row.locator("[data-field=progress]").inner_text() == "3 / 3 prompts"
    assert row.locator("[data-field=status]").inner_text() == "Succeeded"
    assert row.locator("progress").evaluate("p => [p.value, p.max]") == [3, 3]
    assert page.evaluate("window.__cspViolations") == []
