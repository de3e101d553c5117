"""The dashboard's extra figures from the database: dataset health, agreement
over time and the model leaderboard, for pairwise and ranking projects."""

import pytest

from annotation.models import Role, TaskType
from annotation.services.quality import project_agreement_report
from annotation.services.quality_figures import (
    project_agreement_trend,
    project_health,
    project_model_leaderboard,
)
from tests.annotation.test_datasets import label_all
from tests.factories import items_make, member_add, project_make, user_make


@pytest.fixture
def pairwise(project, labeler, labeler2):
    items = items_make(project, 4)
    # Per item (labeler, labeler2): a tie, "both bad" without a preference, B, and A.
    votes = {items[0].pk: ({"strength": 0}, {"strength": 0}),
             items[1].pk: ({"both_bad": True}, {"strength": -1, "both_bad": True}),
             items[2].pk: ({"strength": 2}, {"strength": 1}),
             items[3].pk: ({"strength": -2}, {"strength": -2})}
    label_all(project, [labeler, labeler2],
              lambda u, lease: votes[lease.item_id][0 if u == labeler else 1])
    return project


def test_health_counts_ties_and_both_bad(pairwise):
    health = project_health(project=pairwise, report=project_agreement_report(
        project=pairwise, n_resamples=20))
    assert health["n_annotations"] == 8
    assert health["both_bad_share"] == pytest.approx(2 / 8)
    assert health["tie_share"] == pytest.approx(2 / 8)
    assert health["no_preference_share"] == pytest.approx(1 / 8)
    assert set(health["position_bias"]) >= {"share", "expected", "flagged"}


def test_trend_groups_items_by_the_day_they_were_finished(pairwise):
    trend = project_agreement_trend(project=pairwise)
    assert trend["granularity"] == "day"
    [today] = trend["periods"]
    assert (today["n_items"], today["n_annotations"]) == (4, 7)  # the label without a preference is out
    assert today["percent"] == pytest.approx(1.0)


def test_pairwise_leaderboard_counts_each_label_as_a_battle(pairwise):
    board = project_model_leaderboard(project=pairwise, n_resamples=50)
    # m0 is response A everywhere: A wins once on item 1 and twice on item 3,
    # B twice on item 2, two ties on item 0 (the label without a preference is out).
    assert board["n_battles"] == 7
    rows = {row["model"]: row for row in board["rows"]}
    assert rows["m0"]["win_rate"] == pytest.approx((3 + 2 * 0.5) / 7, abs=1e-3)
    assert rows["m0"]["ci_low"] <= rows["m0"]["rating"] <= rows["m0"]["ci_high"]


def test_one_model_gives_an_empty_leaderboard(db):
    project = project_make(creator=user_make("lb_admin"))
    labeler = user_make("lb_lab")
    member_add(project, labeler, Role.LABELER)
    from annotation.services.items import ResponseInput, item_create
    from tests.factories import prompts_make

    prompt = prompts_make(project, 1)[0]
    item_create(project=project, prompt=prompt, responses=[ResponseInput(text="a", model_name="same"),
                                                           ResponseInput(text="b", model_name="same")])
    label_all(project, [labeler], lambda u, lease: {"strength": 1})
    assert project_model_leaderboard(project=project) == {"n_battles": 0, "rows": []}


def test_ranking_projects_give_pairs_of_models_as_battles(db):
    admin = user_make("rl_admin")
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3, overlap=1)
    labeler = user_make("rl_lab")
    member_add(project, labeler, Role.LABELER)
    items_make(project, 2)
    label_all(project, [labeler], lambda u, lease: {"ranking": [3, 1, 2]})
    board = project_model_leaderboard(project=project, n_resamples=50)
    assert board["n_battles"] == 6
    assert [row["model"] for row in board["rows"]] == ["m1", "m2", "m0"]
    health = project_health(project=project, report={})
    assert health["tie_share"] == 0.0 and health["both_bad_share"] == 0.0
    trend = project_agreement_trend(project=project)
    assert trend["periods"][0]["n_items"] == 2
