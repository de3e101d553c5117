"""/api/projects/{id}/generation-jobs/ and friends: engineers and admins only;
an outsider gets 404 and changes nothing."""

import pytest
from rest_framework.test import APIClient

from generation.judge import DEFAULT_TEMPLATE
from generation.models import GenerationJob, JobStatus, JudgePrompt
from generation.services.jobs import generation_job_create, generation_job_run
from tests.conftest import client_for
from tests.factories import prompts_make


@pytest.fixture
def prompts(project):
    return prompts_make(project, 2)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Jobs are queued on commit; here the task is recorded, not sent."""
    from generation import tasks

    sent = []
    monkeypatch.setattr(tasks.generation_job_run_task, "apply_async",
                        lambda args, **_: sent.append(tuple(args)))
    return sent


def jobs_url(project):
    return f"/api/projects/{project.pk}/generation-jobs/"


BODY = {"models": ["tiny"], "n": 2, "max_tokens": 5, "temperature": 1.0, "seed": 3}


def make_job(project):
    return generation_job_create(project=project, model_names=["tiny"], n=2,
                                 sampling={"max_tokens": 5}, enqueue=False)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("persona", ["engineer", "admin"])
def test_engineers_and_admins_start_a_job_and_it_is_queued(persona, project, prompts, tiny_spec,
                                                           request, no_broker):
    response = client_for(request.getfixturevalue(persona)).post(jobs_url(project), BODY,
                                                                 format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["models"] == ["tiny"]
    assert body["sampling"]["n"] == 2 and body["progress_total"] == 2
    assert body["strategy"] == "all_pairs" and body["created_by"] == persona_name(request, persona)
    assert no_broker == [(body["id"],)]


def persona_name(request, persona):
    return request.getfixturevalue(persona).username


def test_a_labeler_may_not_start_a_job(project, prompts, tiny_spec, labeler):
    response = client_for(labeler).post(jobs_url(project), BODY, format="json")
    assert response.status_code == 403
    assert not GenerationJob.objects.exists()


def test_an_outsider_gets_404_and_nothing_is_created(project, prompts, tiny_spec, outsider):
    response = client_for(outsider).post(jobs_url(project), BODY, format="json")
    assert response.status_code == 404
    assert not GenerationJob.objects.exists()


def test_an_outsider_cannot_see_cancel_or_resume_a_job(project, prompts, tiny_spec, outsider):
    job = make_job(project)
    client = client_for(outsider)
    base = f"{jobs_url(project)}{job.pk}/"
    assert client.get(jobs_url(project)).status_code == 404
    assert client.get(base).status_code == 404
    assert client.post(f"{base}cancel/").status_code == 404
    assert client.post(f"{base}resume/").status_code == 404
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_a_job_of_another_project_is_not_found(project, prompts, tiny_spec, admin, engineer):
    from tests.factories import project_make

    other = project_make(creator=admin)
    job = make_job(project)
    response = client_for(admin).get(f"{jobs_url(other)}{job.pk}/")
    assert response.status_code == 404


def test_invalid_input_is_a_400_naming_the_field(project, prompts, tiny_spec, engineer):
    response = client_for(engineer).post(jobs_url(project), {**BODY, "strategy": "ranking"},
                                         format="json")
    assert response.status_code == 400 and response.json()["field"] == "strategy"
    response = client_for(engineer).post(jobs_url(project), {**BODY, "models": ["nope"]},
                                         format="json")
    assert response.status_code == 404 and "bootstrap_models" in response.json()["detail"]


def test_detail_shows_progress_and_samples(project, prompts, tiny_spec, engineer):
    job = generation_job_run(job_id=make_job(project).pk)
    body = client_for(engineer).get(f"{jobs_url(project)}{job.pk}/").json()
    assert body["status"] == "succeeded" and body["progress_done"] == 2
    assert body["samples"] and {"prompt_id", "model_name", "text", "finish_reason",
                                "truncated"} <= set(body["samples"][0])


def test_list_shows_the_projects_jobs(project, prompts, tiny_spec, engineer):
    make_job(project)
    body = client_for(engineer).get(jobs_url(project)).json()
    assert body["count"] == 1 and body["results"][0]["kind"] == "generate"


def test_cancel_then_resume(project, prompts, tiny_spec, engineer, no_broker):
    job = make_job(project)
    client = client_for(engineer)
    response = client.post(f"{jobs_url(project)}{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    response = client.post(f"{jobs_url(project)}{job.pk}/resume/")
    assert response.status_code == 200 and response.json()["status"] == "queued"
    response = client.post(f"{jobs_url(project)}{job.pk}/resume/")
    assert response.status_code == 409


def test_a_label_job_is_started_through_the_same_endpoint(project, items, tiny_spec, engineer):
    response = client_for(engineer).post(jobs_url(project), {"kind": "label", "models": ["tiny"],
                                                             "max_items": 2}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["kind"] == "label" and response.json()["progress_total"] == 2


def test_session_post_without_csrf_token_is_refused(project, prompts, tiny_spec, engineer):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(engineer)
    response = client.post(jobs_url(project), BODY, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not GenerationJob.objects.exists()


def test_the_model_registry_is_for_engineers_and_admins(project, tiny_spec, engineer, labeler,
                                                         outsider):
    body = client_for(engineer).get("/api/models/").json()
    assert [m["name"] for m in body] == ["tiny"]
    assert client_for(labeler).get("/api/models/").status_code == 403
    assert client_for(outsider).get("/api/models/").status_code == 403
    assert APIClient().get("/api/models/").status_code == 401


def test_judge_prompt_defaults_and_can_be_edited(project, engineer, outsider, labeler):
    url = f"/api/projects/{project.pk}/judge-prompt/"
    client = client_for(engineer)
    assert client.get(url).json() == {"template": DEFAULT_TEMPLATE, "is_default": True}
    assert client.put(url, {"template": "Pick one"}, format="json").status_code == 400
    template = "{prompt} | {response_a} | {response_b}"
    assert client.put(url, {"template": template}, format="json").json()["is_default"] is False
    assert client_for(outsider).put(url, {"template": "x {prompt}{response_a}{response_b}"},
                                    format="json").status_code == 404
    assert client_for(labeler).get(url).status_code == 403
    assert JudgePrompt.objects.get(project=project).template == template
