import json

import pytest
from django.core.management import call_command

from annotation.models import Role, TaskType
from annotation.services.quality import project_agreement_report
from tests.annotation.test_datasets import label_all
from tests.factories import items_make, member_add, project_make, user_make


@pytest.fixture
def crowd(db):
    admin = user_make("q_admin")
    project = project_make(creator=admin, overlap=4)
    honest = [user_make(f"q_honest{i}") for i in range(3)]
    contrarian = user_make("q_contrarian")
    for user in [*honest, contrarian]:
        member_add(project, user, Role.LABELER)
    items_make(project, 24)
    # Honest labelers agree on a per-item truth; the contrarian always says the opposite.
    label_all(project, [*honest, contrarian], lambda u, lease: {
        "strength": (-2 if lease.item_id % 2 else 2) * (-1 if u == contrarian else 1),
        "time_on_task_ms": 4000})
    return project


def test_report_names_labelers_and_gives_intervals(crowd):
    report = project_agreement_report(project=crowd, n_resamples=100)
    assert report["n_annotations"] == 96 and report["n_labelers"] == 4
    alpha = report["alpha_ordinal"]
    assert alpha["low"] <= alpha["estimate"] <= alpha["high"]
    # Three against one on every item: clearly below perfect agreement.
    assert alpha["estimate"] < 0.6
    names = {row["username"] for row in report["labelers"]}
    assert names == {"q_honest0", "q_honest1", "q_honest2", "q_contrarian"}
    contrarian = next(r for r in report["labelers"] if r["username"] == "q_contrarian")
    honest = next(r for r in report["labelers"] if r["username"] == "q_honest0")
    assert contrarian["loo_kappa"] < 0 < honest["loo_kappa"]


def test_perfect_agreement_gives_alpha_one(db):
    admin = user_make("p_admin")
    project = project_make(creator=admin, overlap=2)
    labelers = [user_make("p_a"), user_make("p_b")]
    for user in labelers:
        member_add(project, user, Role.LABELER)
    items_make(project, 10)
    label_all(project, labelers, lambda u, lease: {"strength": -2 if lease.item_id % 3 else 1})
    assert project_agreement_report(project=project, n_resamples=50)[
        "alpha_nominal"]["estimate"] == pytest.approx(1.0)


def test_gold_accuracy_per_labeler(db):
    admin = user_make("g_admin")
    project = project_make(creator=admin, gold_rate=1.0)
    good, bad = user_make("g_good"), user_make("g_bad")
    for user in (good, bad):
        member_add(project, user, Role.LABELER)
    items_make(project, 4, is_gold=True, gold_answer={"min": -2, "max": -1})
    label_all(project, [good, bad], lambda u, lease: {"strength": -2 if u == good else 2})
    gold = project_agreement_report(project=project)["gold"]
    assert gold["labelers"] == {"g_good": {"n": 4, "accuracy": 1.0},
                                "g_bad": {"n": 4, "accuracy": 0.0}}


def test_ranking_gold_accuracy_checks_the_pairs_the_gold_orders(db):
    admin = user_make("rg_admin")
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3, gold_rate=1.0)
    users = {name: user_make(name) for name in ("rg_exact", "rg_swaps_tied", "rg_wrong")}
    for user in users.values():
        member_add(project, user, Role.LABELER)
    # A partial order: response 0 best, 1 and 2 tied (either order is right).
    items_make(project, 3, is_gold=True, gold_answer={"ranking": [1, 2, 2]})
    answers = {"rg_exact": [1, 2, 3], "rg_swaps_tied": [1, 3, 2], "rg_wrong": [2, 1, 3]}
    label_all(project, list(users.values()), lambda u, lease: {"ranking": answers[u.username]})
    gold = project_agreement_report(project=project, n_resamples=10)["gold"]
    assert gold["labelers"] == {"rg_exact": {"n": 3, "accuracy": 1.0},
                                "rg_swaps_tied": {"n": 3, "accuracy": 1.0},
                                "rg_wrong": {"n": 3, "accuracy": 0.0}}


def test_empty_project_gives_a_defined_report(project):
    assert project_agreement_report(project=project)["n_annotations"] == 0


def test_ranking_project_reports_kendall(db):
    admin = user_make("r_admin")
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3, overlap=2)
    labelers = [user_make("r_a"), user_make("r_b")]
    for user in labelers:
        member_add(project, user, Role.LABELER)
    items_make(project, 3)
    label_all(project, labelers, lambda u, lease: {"ranking": [1, 2, 3]})
    report = project_agreement_report(project=project)
    assert report["mean_kendall_w"] == pytest.approx(1.0)
    assert report["alpha_ordinal"]["estimate"] == pytest.approx(1.0)
    assert {row["username"] for row in report["labelers"]} == {"r_a", "r_b"}


def test_agreement_command_prints_json(crowd, capsys):
    call_command("agreement", crowd.slug, "--json", "--resamples", "50")
    report = json.loads(capsys.readouterr().out)
    assert report["project"] == crowd.slug and report["n_annotations"] == 96


def test_agreement_api_for_engineers(crowd, api):
    from annotation.models import Membership

    engineer = user_make("q_engineer")
    Membership.objects.create(project=crowd, user=engineer, role=Role.ENGINEER)
    response = api(engineer).get(f"/api/projects/{crowd.pk}/agreement/")
    assert response.status_code == 200 and response.json()["n_annotations"] == 96
