"""Policy evaluations as rows: the reward-model-judged run on a snapshot's
held-out prompts, and the blind human evaluation through the real queue and
submission services."""

import hashlib

import pytest
from django.utils import timezone

from annotation.errors import Conflict, Invalid
from annotation.models import (
    ComparisonItem,
    DatasetSnapshot,
    Role,
    SnapshotPair,
    SnapshotStatus,
    TaskType,
)
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from generation.models import ModelRole, ModelSpec
from tests.factories import member_add, project_make, prompts_make
from tests.training.factories import FAST, backbone_make, snapshot_make
from tests.training.policy_models import policy_models
from training.models import PolicyEvaluation
from training.policy_eval.models import HumanEvalItem
from training.policy_eval.services import (
    held_out_prompts,
    human_evaluation_request,
    human_evaluation_results,
    policy_evaluation_run,
    policy_score,
)
from training.services.runs import training_run_create, training_run_execute
from training.synthetic import tiny_backbone


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return policy_models(tmp_path_factory.mktemp("policy-models"))


def spec(name, path):
    return ModelSpec.objects.create(name=name, role=ModelRole.POLICY, path=str(path), source="tests")


def held_out_snapshot(project, prompts):
    """A READY snapshot whose test split uses these real prompts."""
    snapshot = DatasetSnapshot.objects.create(
        project=project, version=900 + project.pk, status=SnapshotStatus.READY,
        counts={"train": 0, "test": len(prompts)}, finished_at=timezone.now(),
        content_hash=hashlib.sha256(str(project.pk).encode()).hexdigest())
    SnapshotPair.objects.bulk_create([
        SnapshotPair(snapshot=snapshot, item_id=i, prompt_id=p.pk, prompt_messages=p.messages,
                     chosen_response_id=2 * i, rejected_response_id=2 * i + 1, chosen="good0 word1",
                     rejected="bad0 word1", margin=0, weight=1, num_labels=2, split="test")
        for i, p in enumerate(prompts)])
    return snapshot


def evaluation_with_samples(project, prompts, policy, reference):
    """An evaluation row as the evaluation writes it (texts per prompt)."""
    return PolicyEvaluation.objects.create(
        project=project, policy=policy, reference=reference, results={"win_rate": 0.5},
        samples=[{"prompt_id": p.pk, "prompt_index": i, "policy": [f"policy answer {i}"],
                  "reference": [f"reference answer {i}"]} for i, p in enumerate(prompts)])


def label_all(project, labeler, prefer):
    """Label every open item through the queue; ``prefer`` maps the item to
    "policy", "reference" or "tie"."""
    positions = dict(HumanEvalItem.objects.values_list("item_id", "policy_position"))
    while (assignment := item_claim_next(project=project, labeler=labeler)) is not None:
        choice = prefer(assignment.item_id)
        policy_at = positions[assignment.item_id]
        strength = 0 if choice == "tie" else (-2 if (policy_at == 0) == (choice == "policy") else 2)
        annotation_submit(assignment=assignment, data={"strength": strength},
                          idempotency_key=new_idempotency_key())


# Reward-model-judged evaluation ----------------------------------------------------
def test_an_evaluation_judged_by_the_trained_reward_model_is_stored(project, models, settings, tmp_path):
    settings.PALATE_TRAINING_DIR = tmp_path / "training"
    backbone_make(tiny_backbone(tmp_path / "bert"))
    run = training_run_create(project=project, snapshot=snapshot_make(project), base_model="tiny-bert",
                              hyperparameters=FAST, enqueue=False)
    reward = training_run_execute(run_id=run.pk).output_model
    prompts = prompts_make(project, 3)
    snapshot = held_out_snapshot(project, prompts)
    policy, reference = spec("talker", models["talker"]), spec("quiet", models["quiet"])

    evaluation = policy_evaluation_run(project=project, policy=policy, reference=reference,
                                       snapshot=snapshot, config={"samples_per_prompt": 2,
                                                                  "max_new_tokens": 4})
    evaluation.refresh_from_db()
    assert evaluation.reward_model == reward  # the active reward model judged
    assert evaluation.results["prompts"] == 3 and evaluation.results["samples"] == 6
    assert evaluation.results["length_change"] == 3.0  # 4 tokens, never stopping, vs 1 (the end token)
    low, rate, high = (evaluation.results[k] for k in ("win_rate_low", "win_rate", "win_rate_high"))
    assert 0.0 <= low <= rate <= high <= 1.0
    assert [row["prompt_id"] for row in evaluation.samples] == [p.pk for p in prompts]
    assert evaluation.config["max_new_tokens"] == 4


def test_an_evaluation_needs_a_reward_model_and_held_out_prompts(project, models):
    policy = spec("talker", models["talker"])
    snapshot = held_out_snapshot(project, prompts_make(project, 2))
    with pytest.raises(Conflict) as error:
        policy_evaluation_run(project=project, policy=policy, reference=policy, snapshot=snapshot)
    assert error.value.field == "reward_model"
    with pytest.raises(Invalid) as error:
        policy_evaluation_run(project=project, policy=policy, reference=policy, snapshot=snapshot,
                              reward_model=policy, config={"temperature": 0})
    assert error.value.field == "eval_config.temperature"
    empty = snapshot_make(project, test=0)
    with pytest.raises(Invalid, match="no held-out"):
        policy_evaluation_run(project=project, policy=policy, reference=policy, snapshot=empty,
                              reward_model=policy)


def test_held_out_prompts_are_the_test_split_once_each(project):
    snapshot = snapshot_make(project, train=8, test=5)
    prompts = held_out_prompts(snapshot=snapshot, limit=3)
    assert [pid for pid, _ in prompts] == [0, 1, 2]
    test_messages = list(SnapshotPair.objects.filter(snapshot=snapshot, split="test")
                         .order_by("prompt_id").values_list("prompt_messages", flat=True)[:3])
    assert [m for _, m in prompts] == test_messages


# Blind human evaluation -----------------------------------------------------------
def test_blind_items_enter_the_queue_in_random_order_without_model_names(project, models, labeler, api):
    prompts = prompts_make(project, 24)
    policy, reference = spec("new-policy-x", models["talker"]), spec("old-policy-y", models["quiet"])
    evaluation = evaluation_with_samples(project, prompts, policy, reference)

    assert human_evaluation_request(evaluation=evaluation) == 24
    rows = list(HumanEvalItem.objects.filter(evaluation=evaluation).select_related("item"))
    assert len(rows) == 24 and all(r.item.project_id == project.pk for r in rows)
    positions = [r.policy_position for r in rows]
    assert 0 < sum(positions) < 24  # both canonical positions are used (P(all same) = 2⁻²³)
    for row in rows:  # the recorded position really holds the policy's text
        slot = row.item.slots.get(position=row.policy_position)
        assert slot.response.text.startswith("policy answer")
    lease = api(labeler).post(f"/api/projects/{project.pk}/next/")
    assert lease.status_code == 200
    body = lease.content.decode()
    assert "new-policy-x" not in body and "old-policy-y" not in body and "policy_position" not in body


def test_human_win_rate_from_labels_through_the_queue(project, models, labeler, labeler2):
    prompts = prompts_make(project, 10)
    evaluation = evaluation_with_samples(project, prompts, spec("a", models["talker"]),
                                         spec("b", models["quiet"]))
    human_evaluation_request(evaluation=evaluation)
    items = list(HumanEvalItem.objects.order_by("item_id").values_list("item_id", flat=True))
    # labeler: prefers the policy on every item; labeler2: on the first 4, a tie
    # on the 5th, the reference on the other 5.
    label_all(project, labeler, lambda item: "policy")
    label_all(project, labeler2, lambda item: "policy" if items.index(item) < 4
              else "tie" if items.index(item) == 4 else "reference")

    results = human_evaluation_results(evaluation=evaluation)
    # per item: 1 (4 items), 0.75 (1), 0.5 (5) → (4 + 0.75 + 2.5) / 10
    assert results["win_rate"] == pytest.approx(0.725)
    assert results["labeled_items"] == 10 and results["annotations"] == 20
    assert results["win_rate_low"] < 0.725 < results["win_rate_high"]
    evaluation.refresh_from_db()
    assert evaluation.human_results["win_rate"] == pytest.approx(0.725)


def test_human_results_before_any_label_have_no_rate(project, models):
    prompts = prompts_make(project, 2)
    evaluation = evaluation_with_samples(project, prompts, spec("a", models["talker"]),
                                         spec("b", models["quiet"]))
    with pytest.raises(Conflict, match="no human evaluation was requested"):
        human_evaluation_results(evaluation=evaluation)
    human_evaluation_request(evaluation=evaluation, max_items=1)
    assert ComparisonItem.objects.filter(project=project).count() == 1
    results = human_evaluation_results(evaluation=evaluation)
    assert results["win_rate"] is None and results["items"] == 1 and results["labeled_items"] == 0


def test_a_second_request_and_a_ranking_project_are_refused(project, models, admin):
    prompts = prompts_make(project, 2)
    a, b = spec("a", models["talker"]), spec("b", models["quiet"])
    evaluation = evaluation_with_samples(project, prompts, a, b)
    human_evaluation_request(evaluation=evaluation)
    with pytest.raises(Conflict, match="already requested"):
        human_evaluation_request(evaluation=evaluation)
    ranking = project_make(creator=admin, task_type=TaskType.RANKING)
    member_add(ranking, admin, Role.ADMIN)
    other = evaluation_with_samples(ranking, prompts_make(ranking, 2), a, b)
    with pytest.raises(Invalid) as error:
        human_evaluation_request(evaluation=other)
    assert error.value.field == "project"


def test_identical_answers_make_no_item(project, models):
    prompts = prompts_make(project, 1)
    same = spec("a", models["talker"])
    evaluation = PolicyEvaluation.objects.create(
        project=project, policy=same, reference=same,
        samples=[{"prompt_id": prompts[0].pk, "policy": ["same"], "reference": ["same"]}])
    with pytest.raises(Conflict, match="nothing|no sample pair"):
        human_evaluation_request(evaluation=evaluation)
    assert not ComparisonItem.objects.filter(project=project).exists()


@pytest.mark.parametrize(("strength", "position", "score"), [
    (-2, 0, 1.0), (-1, 1, 0.0), (2, 1, 1.0), (1, 0, 0.0), (0, 0, 0.5), (None, 1, 0.5)])
def test_policy_score_reads_strength_against_the_policy_position(strength, position, score):
    assert policy_score(strength, position) == score
