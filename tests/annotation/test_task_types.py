"""The task-type registry: one object per type, looked up by name; an unknown name raises."""

from types import SimpleNamespace

import pytest

from annotation.errors import Invalid
from annotation.models import ConsensusMethod, TaskType
from annotation.task_types import TASK_TYPES, UnknownTaskType, task_type, task_type_of
from annotation.task_types.base import TaskTypeBase
from tests.factories import project_make


def fake_project(name: str, k: int, allow_ties: bool = True):
    return SimpleNamespace(task_type=name, num_responses=k, allow_ties=allow_ties, criteria=[])


def test_every_choice_of_the_model_is_registered_and_nothing_else():
    assert set(TASK_TYPES) == set(TaskType.values) == {"pairwise", "ranking", "feedback"}
    assert all(isinstance(t, TaskTypeBase) and t.name == name for name, t in TASK_TYPES.items())


def test_an_unknown_task_type_raises_naming_it():
    with pytest.raises(UnknownTaskType, match="unknown task type 'triplet'"):
        task_type("triplet")
    with pytest.raises(UnknownTaskType):
        task_type_of(fake_project("", 2))


def test_creating_a_project_of_an_unknown_type_is_refused_naming_the_field(admin):
    with pytest.raises(Invalid) as error:
        project_make(creator=admin, task_type="triplet")
    assert error.value.field == "task_type"


@pytest.mark.parametrize(("name", "good", "bad"), [
    ("pairwise", 2, 3), ("ranking", 4, 2), ("feedback", 1, 2)])
def test_each_type_checks_its_response_count(name, good, bad):
    task = task_type(name)
    task.num_responses_check(good)
    assert task.num_responses_range[0] <= task.default_num_responses() <= task.num_responses_range[1]
    with pytest.raises(Invalid) as error:
        task.num_responses_check(bad)
    assert error.value.field == "num_responses"


@pytest.mark.parametrize(("name", "k", "data", "expected"), [
    ("pairwise", 2, {"strength": -2}, {"strength": -2, "ranking": None, "feedback": None}),
    ("ranking", 3, {"ranking": [3, 1, 3]}, {"strength": None, "ranking": [2, 1, 2], "feedback": None}),
    ("feedback", 1, {"feedback": False}, {"strength": None, "ranking": None, "feedback": False}),
])
def test_each_type_cleans_its_own_judgement(name, k, data, expected):
    assert task_type(name).judgement_clean(fake_project(name, k), data, both_bad=False) == expected


@pytest.mark.parametrize(("name", "k", "data", "field"), [
    ("pairwise", 2, {"strength": 1, "feedback": True}, "feedback"),
    ("ranking", 3, {"ranking": [1, 2, 3], "feedback": True}, "feedback"),
    ("feedback", 1, {"feedback": True, "strength": 1}, "strength"),
    ("feedback", 1, {"feedback": True, "ranking": [1]}, "ranking"),
    ("feedback", 1, {}, "feedback"),
    ("feedback", 1, {"feedback": "yes"}, "feedback"),
])
def test_a_judgement_of_another_type_is_refused_naming_the_field(name, k, data, field):
    with pytest.raises(Invalid) as error:
        task_type(name).judgement_clean(fake_project(name, k), data, both_bad=False)
    assert error.value.field == field


def test_feedback_refuses_both_bad():
    with pytest.raises(Invalid) as error:
        task_type("feedback").judgement_clean(fake_project("feedback", 1), {"feedback": False},
                                              both_bad=True)
    assert error.value.field == "both_bad"


@pytest.mark.parametrize(("name", "row", "choice"), [
    ("pairwise", {"strength": -1}, "A"), ("pairwise", {"strength": 0}, "tie"),
    ("pairwise", {"strength": None}, None), ("ranking", {"ranking": [2, 1, 3]}, "first: B"),
    ("ranking", {"ranking": None}, None), ("feedback", {"feedback": True}, "up"),
    ("feedback", {"feedback": False}, "down"), ("feedback", {"feedback": None}, None)])
def test_each_type_names_the_choice_used_for_disagreement(name, row, choice):
    assert task_type(name).choice(row) == choice


@pytest.mark.parametrize(("name", "k", "answer", "cleaned"), [
    ("pairwise", 2, {"strength": 1}, {"min": 1, "max": 1}),
    ("ranking", 3, {"ranking": [1, 1, 2]}, {"ranking": [1, 1, 2]}),
    ("feedback", 1, {"feedback": True}, {"feedback": True}),
])
def test_each_type_cleans_its_gold_answer(name, k, answer, cleaned):
    assert task_type(name).gold_answer_clean(fake_project(name, k), answer) == cleaned


def test_feedback_gold_accuracy_counts_matching_thumbs():
    rows = [{"labeler_id": 1, "feedback": True, "gold_answer": {"feedback": True}},
            {"labeler_id": 1, "feedback": False, "gold_answer": {"feedback": True}},
            {"labeler_id": 2, "feedback": False, "gold_answer": {"feedback": False}}]
    result = task_type("feedback").gold_accuracy(rows)
    assert dict(zip(result.labeler_ids.tolist(), result.accuracy.tolist(), strict=True)) == {1: 0.5, 2: 1.0}


def test_each_type_names_its_page_parts_and_offers_its_default_consensus_first():
    for task in TASK_TYPES.values():
        assert task.template == f"frontend/task_types/{task.name}.html"
        assert task.js_module == f"frontend/js/task_types/{task.name}.js"
        assert task.measures.default_consensus in task.measures.consensus
    assert task_type("feedback").measures.default_consensus == ConsensusMethod.MAJORITY
    assert task_type("feedback").unpaired and not task_type("pairwise").unpaired


def test_only_comparing_types_import_preference_data():
    assert task_type("pairwise").label_from_ranks([2, 1]) == {"strength": 1, "ranking": None}
    assert task_type("ranking").label_from_ranks([3, 1, 3]) == {"strength": None, "ranking": [2, 1, 2]}
    with pytest.raises(Invalid):
        task_type("feedback").label_from_ranks([1])


def test_scored_data_reduces_to_best_against_worst_only_where_the_type_compares_a_pair():
    pairwise = task_type("pairwise")
    assert pairwise.reduce_ranks([2, 1, 3]) == ([1, 2], [1, 2])
    assert pairwise.reduce_ranks([1, 1, 1]) == ([0, 1], [1, 1])  # all tied: a tie of the first two
    assert pairwise.reduce_ranks([1, 2]) is None
    assert task_type("ranking").reduce_ranks([1, 2, 3, 4]) is None
    assert task_type("feedback").reduce_ranks([1, 2]) is None


@pytest.mark.parametrize(("name", "head_to_head", "k_varies", "rows", "percent_note"), [
    ("pairwise", True, False, "pairs", ""), ("ranking", False, True, "pairs", " (same rank)"),
    ("feedback", False, False, "completions", "")])
def test_each_type_states_its_capabilities(name, head_to_head, k_varies, rows, percent_note):
    task = task_type(name)
    assert (task.head_to_head, task.k_varies, task.snapshot_rows_name,
            task.measures.percent_note) == (head_to_head, k_varies, rows, percent_note)
