"""Active learning: the items the active reward model is least sure about are
served first by the real labeling queue."""

import itertools
import math

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import ComparisonItem, Role, TaskType
from annotation.services.items import ResponseInput, item_create
from annotation.services.prompts import PromptInput, prompt_create_many
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.queue_priority import item_priority_set
from annotation.services.submissions import annotation_submit
from tests.factories import member_add, project_make, user_make
from tests.training.reward_fixture import reward_model_train
from training.active_learning import items_prioritize, ranking_uncertainty
from training.tasks import active_learning_prioritize_task

_prompts = itertools.count()


def serve(project, labeler) -> int:
    """The queue's next item for the labeler, labeled so that the next call moves on."""
    lease = item_claim_next(project=project, labeler=labeler)
    strength = {"strength": 1} if project.task_type == TaskType.PAIRWISE else {"ranking": [1, 2, 3]}
    annotation_submit(assignment=lease, data=strength, idempotency_key=new_idempotency_key())
    return lease.item_id


def items_from(project, rows):
    """One new prompt per row, its responses in canonical order."""
    before = set(project.prompts.values_list("pk", flat=True))
    prompt_create_many(project=project, entries=[
        PromptInput(messages=[{"role": "user", "content": f"question word{next(_prompts)} ?"}])
        for _ in rows])
    prompts = project.prompts.exclude(pk__in=before).order_by("pk")
    return [item_create(project=project, prompt=prompt,
                        responses=[ResponseInput(text=t, model_name="m") for t in texts])
            for prompt, texts in zip(prompts, rows, strict=True)]


# Clear: one response carries good words, the other bad ones. Unclear: both
# responses carry the same kind of words, so their rewards are close.
CLEAR = [["good1 good2 word3 word4", "bad1 bad2 word3 word4"],
         ["bad3 bad4 word5 word6", "good3 good4 word5 word6"],
         ["good5 good6 word7 word8", "bad5 bad6 word7 word8"]]
UNCLEAR = [["good1 good2 word3 word4", "good1 good2 word4 word3"],
           ["bad1 bad2 word5 word6", "bad2 bad1 word6 word5"]]


def test_uncertainty_is_the_normalized_entropy_of_the_ranking():
    assert ranking_uncertainty([0.3, 0.3]) == pytest.approx(1.0)
    assert ranking_uncertainty([2.0, 2.0, 2.0, 2.0]) == pytest.approx(1.0)
    p = 1 / (1 + math.exp(-2.0))  # σ(r_A − r_B) for a gap of 2
    binary = -(p * math.log(p) + (1 - p) * math.log(1 - p)) / math.log(2)
    assert ranking_uncertainty([3.0, 1.0]) == pytest.approx(binary)
    assert ranking_uncertainty([1.0, 3.0]) == pytest.approx(binary)  # order does not matter
    assert ranking_uncertainty([500.0, -500.0]) == pytest.approx(0.0, abs=1e-12)  # no overflow
    # K-way: the more open the ranking, the higher.
    assert ranking_uncertainty([1.0, 1.0, 0.9]) > ranking_uncertainty([3.0, 1.0, 0.0])


def test_the_least_certain_items_are_served_first(project, backbone, training_dir, labeler):
    clear = items_from(project, CLEAR)  # created first: plain FIFO would serve them first
    unclear = items_from(project, UNCLEAR)
    reward_model_train(project, backbone)

    result = items_prioritize(project=project)
    assert result.scored == 5
    u = result.uncertainty
    assert max(u[i.pk] for i in clear) < min(u[i.pk] for i in unclear)
    served = [serve(project, labeler) for _ in range(len(CLEAR) + len(UNCLEAR))]
    assert set(served[:2]) == {i.pk for i in unclear}
    assert set(served[2:]) == {i.pk for i in clear}


def test_a_higher_priority_is_never_lowered(project, backbone, training_dir):
    clear, unclear = items_from(project, CLEAR[:1] + UNCLEAR[:1])
    item_priority_set(item=clear, priority=1000)  # an admin's choice
    reward_model_train(project, backbone)
    items_prioritize(project=project)
    assert ComparisonItem.objects.get(pk=clear.pk).priority == 1000
    assert 0 < ComparisonItem.objects.get(pk=unclear.pk).priority <= 100


def test_closed_and_gold_items_are_left_alone(project, backbone, training_dir, labeler, labeler2):
    gold = items_from(project, UNCLEAR[:1])[0]
    ComparisonItem.objects.filter(pk=gold.pk).update(is_gold=True)
    full = items_from(project, UNCLEAR[1:])[0]
    ComparisonItem.objects.filter(pk=full.pk).update(is_open=False)
    reward_model_train(project, backbone)
    assert items_prioritize(project=project).scored == 0
    assert set(ComparisonItem.objects.values_list("priority", flat=True)) == {0}


def test_ranking_items_rank_by_entropy(admin, backbone, training_dir):
    project = project_make(creator=admin, task_type=TaskType.RANKING, num_responses=3)
    open_, settled = items_from(project, [
        ["good1 word1 word2", "good2 word1 word2", "good3 word1 word2"],
        ["good1 good2 good3", "word1 word2 word3", "bad1 bad2 bad3"]])
    reward_model_train(project, backbone)
    result = items_prioritize(project=project)
    assert result.uncertainty[open_.pk] > result.uncertainty[settled.pk]
    lena = user_make("rank_lena")
    member_add(project, lena, Role.LABELER)
    assert serve(project, lena) == open_.pk


def test_without_an_active_reward_model_it_refuses(project, items):
    with pytest.raises(CommandError, match="no active reward model"):
        call_command("prioritize", project.slug)
    assert "no active reward model" in active_learning_prioritize_task(project.pk)["error"]


def test_the_command_and_the_task_report_what_they_did(project, backbone, training_dir, capsys):
    items_from(project, CLEAR[:1] + UNCLEAR[:1])
    reward_model_train(project, backbone)
    call_command("prioritize", project.slug, "--json")
    out = capsys.readouterr().out
    assert '"scored": 2' in out
    assert active_learning_prioritize_task(project.pk)["scored"] == 2
