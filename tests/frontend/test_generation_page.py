"""The generation page: engineers and admins start, watch and cancel jobs
through the same service as the API; labelers and outsiders get nothing."""

import pytest

from annotation.models import ComparisonItem, Response
from annotation.services.items import ResponseInput, item_create
from generation.models import GenerationJob, JobStatus, ModelRole
from generation.services.jobs import generation_job_create
from generation.services.registry import model_spec_register
from tests.factories import items_make, project_make, prompts_make
from tests.generation.tiny_model import tiny_model_save


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_model_save(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture
def tiny_spec(db, tiny_dir):
    """A tiny random policy model registered as "tiny" (transformers backend)."""
    return model_spec_register(name="tiny", role=ModelRole.POLICY, path=str(tiny_dir))[0]


@pytest.fixture
def prompts(project):
    return prompts_make(project, 2)


def url(project):
    return f"/projects/{project.pk}/generation/"


FORM = {"action": "start", "models": ["tiny"], "prompts": "all", "n": "2", "temperature": "1.0",
        "top_p": "0.9", "max_tokens": "4", "seed": "5", "strategy": "", "backend": ""}


def test_an_engineer_starts_a_job_that_the_worker_runs_and_sees_it_listed(
        project, prompts, tiny_spec, engineer, web, django_capture_on_commit_callbacks):
    client = web(engineer)
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the task runs here
        response = client.post(url(project), FORM)
    assert response.status_code == 302
    job = GenerationJob.objects.get(project=project)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.created_by == engineer and job.sampling["n"] == 2
    assert job.sampling["seed"] == 5 and job.sampling["max_tokens"] == 4
    assert (job.progress_done, job.progress_total) == (2, 2)
    page = client.get(url(project)).content.decode()
    row = page.split(f'data-job="{job.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "Succeeded" in row and "2 / 2 prompts" in row
    assert f"Samples of job #{job.pk}" in page
    assert ComparisonItem.objects.filter(project=project).count() == job.items_created


def test_only_prompts_without_items_can_be_chosen(project, tiny_spec, admin, web):
    done, fresh = prompts_make(project, 2)
    item_create(project=project, prompt=done,
                responses=[ResponseInput(text="a"), ResponseInput(text="b")])
    web(admin).post(url(project), FORM | {"prompts": "new"})
    job = GenerationJob.objects.get(project=project)
    assert job.prompt_ids == [fresh.pk] and job.progress_total == 1


def test_chosen_prompt_ids_are_used_and_foreign_ones_refused(project, prompts, tiny_spec, admin,
                                                            web):
    other = prompts_make(project_make(creator=admin), 1)[0]
    page = web(admin).post(url(project), FORM | {"prompts": "ids", "prompt_ids": f"{other.pk}"},
                           follow=True).content.decode()
    assert "not prompts of this project" in page and not GenerationJob.objects.exists()
    web(admin).post(url(project), FORM | {"prompts": "ids", "prompt_ids": f"{prompts[1].pk}"})
    assert GenerationJob.objects.get().prompt_ids == [prompts[1].pk]


@pytest.mark.parametrize("change, message", [
    ({"temperature": "hot"}, "field &#x27;temperature&#x27;: must be a number"),
    ({"strategy": "ranking"}, "a pairwise project takes a pair strategy"),
    ({"models": ["nope"]}, "no active model named &#x27;nope&#x27;"),
    ({"n": "1"}, "raise n"),
])
def test_bad_input_is_shown_and_starts_nothing(project, prompts, tiny_spec, engineer, web, change,
                                               message):
    page = web(engineer).post(url(project), FORM | change, follow=True).content.decode()
    assert message in page
    assert not GenerationJob.objects.exists()


def test_a_queued_job_is_cancelled_from_the_page(project, prompts, tiny_spec, admin, web):
    job = generation_job_create(project=project, model_names=["tiny"], enqueue=False)
    client = web(admin)
    assert 'aria-label="Cancel job' in client.get(url(project)).content.decode()
    client.post(url(project), {"action": "cancel", "job": job.pk})
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    page = client.get(url(project)).content.decode()
    assert f'aria-label="Resume job {job.pk}"' in page


def test_another_projects_job_cannot_be_cancelled_through_this_page(project, tiny_spec, admin,
                                                                    web):
    other = project_make(creator=admin)
    prompts_make(other, 1)
    job = generation_job_create(project=other, model_names=["tiny"], enqueue=False)
    mine = project_make(creator=admin)
    assert web(admin).post(url(mine), {"action": "cancel", "job": job.pk}).status_code == 404
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


@pytest.mark.parametrize("persona, status", [("labeler", 403), ("outsider", 404)])
def test_labelers_and_outsiders_cannot_open_or_start(project, prompts, tiny_spec, persona, status,
                                                     web, request):
    client = web(request.getfixturevalue(persona))
    assert client.get(url(project)).status_code == status
    assert client.post(url(project), FORM).status_code == status
    assert not GenerationJob.objects.exists()


def test_anonymous_is_sent_to_log_in(project, web):
    response = web(None).get(url(project))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_post_without_csrf_token_is_refused(project, prompts, tiny_spec, engineer, web):
    response = web(engineer, enforce_csrf=True).post(url(project), FORM)
    assert response.status_code == 403 and not GenerationJob.objects.exists()


def test_model_text_in_samples_is_shown_inert(project, tiny_spec, admin, web):
    item = items_make(project, 1)[0]
    job = generation_job_create(project=project, model_names=["tiny"], enqueue=False)
    GenerationJob.objects.filter(pk=job.pk).update(progress_done=1)
    job.done_prompts.create(prompt=item.prompt)
    Response.objects.create(prompt=item.prompt, text="<script>alert(1)</script><b>bold</b>",
                            source="model", model_name="tiny", metadata={"job": job.pk})
    page = web(admin).get(url(project)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script>alert(1)" not in page
