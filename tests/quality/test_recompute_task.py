"""The debounced recompute: submissions schedule at most one recompute per
window per project (the due time lives in the database), the task persists
consensus and figures with their computed_at, and on-demand recompute works."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from annotation.models import ItemConsensus, ProjectQuality
from annotation.services.quality_recompute import project_quality_schedule
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from annotation.tasks import project_quality_recompute_task
from tests.factories import items_make


def submit_all(project, labelers, strength=-1) -> int:
    count = 0
    for user in labelers:
        while (lease := item_claim_next(project=project, labeler=user)) is not None:
            annotation_submit(assignment=lease, data={"strength": strength},
                              idempotency_key=new_idempotency_key())
            count += 1
    return count


@pytest.fixture
def many(project):
    return items_make(project, 8)


def test_many_submissions_in_the_window_give_one_persisted_recompute(
        project, many, labeler, labeler2, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert submit_all(project, [labeler, labeler2]) == 16
    state = ProjectQuality.objects.get(project=project)
    assert state.runs == 1
    assert state.computed_at is not None and state.computed_at <= timezone.now()
    assert state.recompute_due_at > timezone.now() + timedelta(seconds=50)
    # The captured on-commit hooks run after the last submission: the first
    # scheduled the (eager) task, the other 15 found it pending.
    assert state.report["n_annotations"] == 16
    assert ItemConsensus.objects.filter(project=project).count() == 8


def test_a_submission_after_the_window_schedules_the_next_recompute(
        project, many, labeler, labeler2, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        submit_all(project, [labeler])
    assert ProjectQuality.objects.get(project=project).report["n_annotations"] == 8
    ProjectQuality.objects.filter(project=project).update(
        recompute_due_at=timezone.now() - timedelta(seconds=1))  # the window has passed
    with django_capture_on_commit_callbacks(execute=True):
        submit_all(project, [labeler2])
    state = ProjectQuality.objects.get(project=project)
    assert state.runs == 2
    assert state.report["n_annotations"] == 16
    stored = ItemConsensus.objects.filter(project=project)
    assert stored.count() == 8 and set(stored.values_list("n_labels", flat=True)) == {2}


def test_the_task_is_queued_with_the_window_as_countdown(project, monkeypatch, settings):
    settings.PALATE_QUALITY_DEBOUNCE_SECONDS = 17
    queued = []
    monkeypatch.setattr(project_quality_recompute_task, "apply_async",
                        lambda args, countdown: queued.append((args, countdown)))
    assert project_quality_schedule(project=project) is True
    assert project_quality_schedule(project=project) is False
    assert queued == [([project.pk], 17)]
    due = ProjectQuality.objects.get(project=project).recompute_due_at
    assert timedelta(seconds=16) < due - timezone.now() <= timedelta(seconds=17)


def test_each_project_has_its_own_window(project, admin, monkeypatch):
    from tests.factories import project_make

    other = project_make(creator=admin)
    queued = []
    monkeypatch.setattr(project_quality_recompute_task, "apply_async",
                        lambda args, countdown: queued.append(args[0]))
    assert project_quality_schedule(project=project)
    assert project_quality_schedule(project=other)
    assert not project_quality_schedule(project=project)
    assert queued == [project.pk, other.pk]


def test_nothing_is_scheduled_when_the_submission_rolls_back(project, many, labeler, monkeypatch,
                                                            django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(project_quality_recompute_task, "apply_async",
                        lambda args, countdown: queued.append(args))
    lease = item_claim_next(project=project, labeler=labeler)
    with (django_capture_on_commit_callbacks(execute=True) as callbacks,
          pytest.raises(RuntimeError), transaction.atomic()):
        annotation_submit(assignment=lease, data={"strength": 1},
                          idempotency_key=new_idempotency_key())
        raise RuntimeError("the surrounding transaction fails after the submit")
    assert callbacks == [] and queued == []
    assert not ProjectQuality.objects.exists()


def test_a_broken_broker_does_not_fail_the_submission(project, many, labeler, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    def down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(project_quality_recompute_task, "apply_async", down)
    lease = item_claim_next(project=project, labeler=labeler)
    with django_capture_on_commit_callbacks(execute=True):
        annotation, created = annotation_submit(assignment=lease, data={"strength": 1},
                                                idempotency_key=new_idempotency_key())
    assert created and annotation.pk


def test_recompute_api_runs_now_with_the_chosen_method(project, many, labeler, labeler2, admin, api,
                                                       django_capture_on_commit_callbacks):
    submit_all(project, [labeler, labeler2])  # no on-commit hooks run: nothing computed yet
    assert not ProjectQuality.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = api(admin).post(f"/api/projects/{project.pk}/quality/recompute/",
                                   {"method": "majority"}, format="json")
    assert response.status_code == 202
    state = ProjectQuality.objects.get(project=project)
    assert (state.runs, state.method) == (1, "majority")
    assert set(ItemConsensus.objects.filter(project=project).values_list("method", flat=True)) == {
        "majority"}
    refused = api(admin).post(f"/api/projects/{project.pk}/quality/recompute/", {"method": "vibes"},
                              format="json")
    assert refused.status_code == 400 and "method" in refused.json()


def test_reliability_and_leaderboard_read_the_stored_figures(project, many, labeler, labeler2, engineer,
                                                             api):
    submit_all(project, [labeler, labeler2])
    client = api(engineer)
    table = client.get(f"/api/projects/{project.pk}/reliability/").json()
    assert {row["username"] for row in table["labelers"]} == {labeler.username, labeler2.username}
    assert all(row["n"] == 8 for row in table["labelers"])
    board = client.get(f"/api/projects/{project.pk}/leaderboard/").json()
    # Items compare model m0 (A) with m1 (B) and every label preferred A.
    assert [row["model"] for row in board["rows"]] == ["m0", "m1"]
    assert board["rows"][0]["ci_low"] <= board["rows"][0]["rating"] <= board["rows"][0]["ci_high"]
    assert board["n_battles"] == 16 and board["computed_at"] == table["computed_at"]
    assert ProjectQuality.objects.get(project=project).runs == 1  # the second read used the stored figures


def test_a_method_chosen_for_a_recompute_becomes_the_project_default_audited(
        project, many, labeler, labeler2, admin, api, django_capture_on_commit_callbacks):
    from audit.models import AuditEvent

    submit_all(project, [labeler, labeler2])
    with django_capture_on_commit_callbacks(execute=True):
        api(admin).post(f"/api/projects/{project.pk}/quality/recompute/", {"method": "majority"},
                        format="json")
    project.refresh_from_db()
    assert project.consensus_method == "majority"
    event = AuditEvent.objects.get(action="project.consensus_method")
    assert event.details == {"previous": "", "method": "majority"} and event.actor_id == admin.pk
    # The next recompute (a submission's, without a method) keeps the project's choice.
    project_quality_recompute_task(project.pk)
    assert ProjectQuality.objects.get(project=project).method == "majority"


def test_project_consensus_settings_are_checked_against_the_task_type(project, admin, api):
    url = f"/api/projects/{project.pk}/"
    refused = api(admin).patch(url, {"consensus_method": "weighted_rank"}, format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "consensus_method"
    accepted = api(admin).patch(url, {"consensus_method": "mean", "adjudicate_below": 0.9},
                                format="json")
    assert accepted.status_code == 200, accepted.content
    assert (accepted.json()["consensus_method"], accepted.json()["adjudicate_below"]) == ("mean", 0.9)
    out_of_range = api(admin).patch(url, {"adjudicate_below": 1.5}, format="json")
    assert out_of_range.status_code == 400


def test_the_project_threshold_decides_adjudication(project, many, labeler, labeler2):
    from annotation.services.consensus import item_consensus_recompute

    n_items = submit_all(project, [labeler], strength=-1)
    submit_all(project, [labeler2], strength=1)  # A against B everywhere: support 0
    default = item_consensus_recompute(project=project, method="majority")
    assert (default["threshold"], default["n_flagged"]) == (0.6, n_items)
    project.adjudicate_below = 0.0
    project.save(update_fields=["adjudicate_below"])
    summary = item_consensus_recompute(project=project, method="majority")
    assert (summary["threshold"], summary["n_flagged"]) == (0.0, 0)
