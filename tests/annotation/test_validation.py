import pytest

from annotation.errors import Invalid
from annotation.models import Project, TaskType
from annotation.validation import gold_answer_clean, label_clean, messages_clean


def pairwise(**fields) -> Project:
    return Project(task_type=TaskType.PAIRWISE, num_responses=2, allow_ties=True, **fields)


def ranking(k=4) -> Project:
    return Project(task_type=TaskType.RANKING, num_responses=k, allow_ties=True)


def field_of(call) -> str:
    with pytest.raises(Invalid) as error:
        call()
    return error.value.field


def test_a_bare_string_becomes_one_user_turn():
    assert messages_clean("  Hi?  ") == [{"role": "user", "content": "Hi?"}]


def test_conversation_must_end_with_a_user_turn():
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert field_of(lambda: messages_clean(messages)) == "messages"


def test_unknown_role_is_named_with_its_index():
    messages = [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]
    assert field_of(lambda: messages_clean(messages)) == "messages[1].role"


@pytest.mark.parametrize("strength", [-3, 3, 1.5, "1", True])
def test_strength_outside_the_five_point_scale_is_refused(strength):
    assert field_of(lambda: label_clean(pairwise(), {"strength": strength})) == "strength"


def test_tie_is_refused_when_the_project_forbids_ties():
    project = Project(task_type=TaskType.PAIRWISE, num_responses=2, allow_ties=False)
    assert field_of(lambda: label_clean(project, {"strength": 0})) == "strength"


def test_both_bad_may_come_without_a_preference():
    cleaned = label_clean(pairwise(), {"both_bad": True})
    assert cleaned["both_bad"] and cleaned["strength"] is None


def test_missing_strength_without_both_bad_is_refused():
    assert field_of(lambda: label_clean(pairwise(), {})) == "strength"


def test_ranking_is_renumbered_densely_with_ties():
    assert label_clean(ranking(), {"ranking": [3, 1, 3, 7]})["ranking"] == [2, 1, 2, 3]


def test_ranking_of_the_wrong_length_is_refused():
    assert field_of(lambda: label_clean(ranking(), {"ranking": [1, 2, 3]})) == "ranking"


def test_ranking_ties_are_refused_when_the_project_forbids_them():
    project = Project(task_type=TaskType.RANKING, num_responses=3, allow_ties=False)
    assert field_of(lambda: label_clean(project, {"ranking": [1, 1, 2]})) == "ranking"


def test_pairwise_refuses_a_ranking():
    assert field_of(lambda: label_clean(pairwise(), {"strength": 1, "ranking": [1, 2]})) == "ranking"


def test_ratings_are_checked_against_the_criterion_range():
    project = pairwise(criteria=[{"name": "helpfulness", "label": "H", "min": 1, "max": 7}])
    assert label_clean(project, {"strength": 1, "ratings": {"helpfulness": [7, None]}})[
        "ratings"] == {"helpfulness": [7, None]}
    bad = {"strength": 1, "ratings": {"helpfulness": [8, 1]}}
    assert field_of(lambda: label_clean(project, bad)) == "ratings.helpfulness"
    unknown = {"strength": 1, "ratings": {"wit": [1, 1]}}
    assert field_of(lambda: label_clean(project, unknown)) == "ratings.wit"


def test_gold_answer_accepts_a_single_strength_or_a_range():
    assert gold_answer_clean(pairwise(), {"strength": -2}) == {"min": -2, "max": -2}
    assert gold_answer_clean(pairwise(), {"min": -2, "max": -1}) == {"min": -2, "max": -1}
    assert field_of(lambda: gold_answer_clean(pairwise(), {"min": 1, "max": -1})) == "gold_answer"
    assert field_of(lambda: gold_answer_clean(pairwise(), None)) == "gold_answer"
