import io

import pytest
from django.core.management import CommandError, call_command

from annotation.models import ComparisonItem
from generation.models import GenerationJob, JobStatus
from tests.factories import prompts_make


def test_generate_runs_a_job_here_with_progress(project, tiny_spec):
    prompts_make(project, 2)
    out = io.StringIO()
    call_command("generate", project.slug, "--model", "tiny", "--n", "3", "--max-tokens", "5",
                 "--temperature", "1.0", "--seed", "2", stdout=out, stderr=out)
    job = GenerationJob.objects.get()
    assert job.status == JobStatus.SUCCEEDED and job.sampling["n"] == 3
    assert f"job {job.pk} succeeded" in out.getvalue() and "2/2" in out.getvalue()
    assert ComparisonItem.objects.filter(project=project).count() == job.items_created


def test_generate_with_queue_only_creates_the_job(project, tiny_spec, monkeypatch):
    from generation import tasks

    monkeypatch.setattr(tasks.generation_job_run_task, "apply_async", lambda args, **_: None)
    prompts_make(project, 1)
    call_command("generate", project.slug, "--queue", stdout=io.StringIO())
    assert GenerationJob.objects.get().status == JobStatus.QUEUED


def test_generate_names_what_is_wrong(project, tiny_spec):
    with pytest.raises(CommandError, match="no project with slug"):
        call_command("generate", "missing", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no prompts"):
        call_command("generate", project.slug, stdout=io.StringIO())


def test_label_with_model_runs_the_judge(project, items, tiny_spec):
    out = io.StringIO()
    call_command("label_with_model", project.slug, "--model", "tiny", "--max-items", "1",
                 "--max-tokens", "3", stdout=out, stderr=out)
    job = GenerationJob.objects.get()
    assert job.kind == "label" and job.status == JobStatus.SUCCEEDED and job.progress_done == 1
