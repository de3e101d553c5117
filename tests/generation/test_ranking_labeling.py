"""The AI labeler on K-way ranking items: every pair in both orders, Copeland's
rule to a ranking with ties, submitted through the queue like a person's."""

import re

import pytest

from annotation.models import Annotation, Assignment, AssignmentStatus, Role, TaskType
from generation.judge import ranking_from_pair_strengths, ranking_pairs_of
from generation.models import JobStatus
from generation.services import labeling
from tests.factories import items_make, member_add, project_make
from tests.generation.test_labeling import FakeJudge, first_shown, label

K = 4


def second_shown(content: str) -> str:
    return content.split("[Answer B]\n", 1)[1].split("\n", 1)[0]


def number(text: str) -> int:
    """factories: canonical response k of an item reads "Answer k to …"."""
    return int(re.match(r"Answer (\d+)", text).group(1))


def lower_number_wins(content: str) -> str:
    """A fair judge that prefers the lower-numbered answer wherever it is shown."""
    return " A" if number(first_shown(content)) < number(second_shown(content)) else " B"


@pytest.fixture
def judge(monkeypatch):
    def install(rule):
        fake = FakeJudge(rule)
        monkeypatch.setattr(labeling, "backend_for", lambda spec, backend="": fake)
        return fake
    return install


@pytest.fixture
def ranking_project(admin, labeler):
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=K, overlap=2)
    member_add(project, labeler, Role.LABELER)
    items_make(project, 3)
    return project


def test_copeland_orders_a_transitive_judge_completely():
    strengths = {(i, j): -1 for i, j in ranking_pairs_of(4)}  # the lower index always wins
    assert ranking_from_pair_strengths(4, strengths) == [1, 2, 3, 4]
    strengths[(0, 1)] = 1  # now 1 beats 0
    assert ranking_from_pair_strengths(4, strengths) == [2, 1, 3, 4]


def test_copeland_turns_a_cycle_into_a_tie_and_missing_verdicts_into_ties():
    cycle = {(0, 1): -1, (1, 2): -1, (0, 2): 1}  # 0 > 1 > 2 > 0
    assert ranking_from_pair_strengths(3, cycle) == [1, 1, 1]
    partial = {(0, 1): -1, (0, 2): None, (1, 2): None}
    assert ranking_from_pair_strengths(3, partial) == [1, 3, 2]
    assert ranking_from_pair_strengths(3, dict.fromkeys(partial)) is None


def test_the_judge_ranks_every_item_through_the_queue(ranking_project, tiny_spec, judge):
    fake = judge(lower_number_wins)
    job = label(ranking_project)
    assert job.status == JobStatus.SUCCEEDED, job.error
    annotations = Annotation.objects.filter(project=ranking_project)
    assert job.annotations_created == annotations.count() == 3
    for annotation in annotations:
        assert annotation.source == "model" and annotation.ranking == [1, 2, 3, 4]
        assert annotation.assignment.status == AssignmentStatus.SUBMITTED
        assert annotation.rationale.startswith("[tiny, pairs, both orders, Copeland ranking] "
                                               "A>B, A>C, A>D, B>C, B>D, C>D")
    # C(4, 2) pairs, each shown both ways round.
    assert len(fake.prompts) == 3 * 2 * 6
    shown = {(number(first_shown(p)), number(second_shown(p))) for p in fake.prompts[:12]}
    assert shown == {(i, j) for i in range(K) for j in range(K) if i != j}


def test_a_judge_that_always_picks_the_first_shown_ranks_all_tied(ranking_project, tiny_spec,
                                                                   judge):
    judge(lambda content: " A")
    label(ranking_project)
    assert {tuple(r) for r in Annotation.objects.values_list("ranking", flat=True)} == {(1,) * K}


def test_without_ties_allowed_a_tied_ranking_goes_back_to_people(admin, tiny_spec, judge):
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3,
                           allow_ties=False)
    items_make(project, 2)
    judge(lambda content: " A")
    job = label(project)
    assert job.status == JobStatus.SUCCEEDED and job.progress_done == 2
    assert not Annotation.objects.exists()
    assert set(Assignment.objects.values_list("status", flat=True)) == {AssignmentStatus.SKIPPED}


def test_an_unparseable_judge_ranks_nothing(ranking_project, tiny_spec, judge):
    judge(lambda content: "I like turtles.")
    job = label(ranking_project)
    assert job.progress_done == 3 and job.annotations_created == 0
    assert not Annotation.objects.exists()


def test_the_model_ranking_counts_with_a_persons_in_a_snapshot(ranking_project, tiny_spec, judge,
                                                               labeler):
    from annotation.services.datasets import dataset_snapshot_build
    from tests.annotation.test_datasets import label_all

    judge(lower_number_wins)
    label(ranking_project)
    label_all(ranking_project, [labeler], lambda u, lease: {"ranking": [1, 2, 3, 4]})
    with_model = dataset_snapshot_build(project=ranking_project)
    people_only = dataset_snapshot_build(project=ranking_project,
                                         filters={"include_model_labels": False})
    assert set(with_model.pairs.values_list("num_labels", flat=True)) == {2}
    assert set(people_only.pairs.values_list("num_labels", flat=True)) == {1}
    assert with_model.pairs.count() == 3 * 6


def test_the_tiny_model_runs_the_ranking_judge_end_to_end(ranking_project, tiny_spec):
    job = label(ranking_project, max_items=1, sampling={"max_tokens": 4})
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress_done == 1 and job.tokens_generated >= 12

