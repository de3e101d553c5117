"""The closed loop with tiny models: a round goes snapshot → reward model → DPO
→ evaluation → decision → generation through the real services, eager Celery
included, and a round whose worker died continues from the database."""

import random

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from annotation.errors import Conflict, Invalid
from annotation.models import ComparisonItem, Prompt, Response, Role
from annotation.services.items import ResponseInput, item_create
from annotation.services.prompts import PromptInput, prompt_create_many
from annotation.services.queue import item_claim_next, new_idempotency_key
from annotation.services.submissions import annotation_submit
from generation.backends.base import SamplingParams
from generation.models import JobStatus, ModelRole, ModelSpec
from generation.services.runtime import backend_for
from tests.factories import member_add, project_make
from tests.generation.tiny_model import tiny_model_save
from tests.training.factories import FAST, backbone_make
from training.loop import services as loop
from training.loop.models import Decision, LoopRound, LoopSetting, RoundStage, RoundStatus
from training.models import RunKind, RunStatus, TrainingRun
from training.synthetic import BAD, FILLER, GOOD, tiny_backbone

DPO_FAST = {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3, "device": "cpu", "logging_steps": 1,
            "max_length": 64, "eval_batch_size": 8}
EVAL_FAST = {"num_prompts": 3, "samples_per_prompt": 2, "max_new_tokens": 6, "resamples": 200}


@pytest.fixture(scope="module")
def tiny_policy_dir(tmp_path_factory):
    return tiny_model_save(tmp_path_factory.mktemp("loop") / "tiny-policy")


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    return tiny_backbone(tmp_path_factory.mktemp("loop") / "tiny-bert")


class TieJudge:
    """The AI judge of these rounds: it always answers "A", so in both orders
    it contradicts itself and every comparison becomes a tie (win rate ½)."""

    def generate(self, conversations, sampling):
        from generation.backends import Completion, PromptResult

        return [PromptResult([Completion(" A", "stop", 1)]) for _ in conversations]

    def close(self):
        pass


@pytest.fixture
def loop_project(admin, labeler, labeler2, engineer, settings, tmp_path, tiny_policy_dir, tiny_bert_dir,
                 monkeypatch):
    """A pairwise project whose labelers agree that "good" words beat "bad"
    ones, with a few fresh prompts left for the next round, and a loop set up
    with tiny models (a handful of held-out prompts: the minimum is lowered)."""
    from training.policy_eval import services as policy_eval_services

    monkeypatch.setattr(policy_eval_services, "backend_for", lambda spec, backend="": TieJudge())
    settings.PALATE_TRAINING_DIR = tmp_path / "training"
    settings.PALATE_TRAINING_HEARTBEAT_SECONDS = 0
    project = project_make(creator=admin, overlap=2, test_fraction=0.3)
    for user, role in ((labeler, Role.LABELER), (labeler2, Role.LABELER), (engineer, Role.ENGINEER)):
        member_add(project, user, role)
    rng = random.Random(0)
    questions = [f"question {' '.join(rng.sample(FILLER, 3))} {i} ?" for i in range(28)]
    prompt_create_many(project=project, entries=[
        PromptInput(messages=[{"role": "user", "content": q}]) for q in questions])
    prompts = list(Prompt.objects.filter(project=project).order_by("pk"))
    for prompt in prompts[:24]:
        good = " ".join(rng.sample(FILLER, 3) + rng.sample(GOOD, 2))
        bad = " ".join(rng.sample(FILLER, 3) + rng.sample(BAD, 2))
        pair = [ResponseInput(text=good, model_name="m0"), ResponseInput(text=bad, model_name="m1")]
        rng.shuffle(pair)
        item_create(project=project, prompt=prompt, responses=pair)
    for user in (labeler, labeler2):
        while (assignment := item_claim_next(project=project, labeler=user)) is not None:
            texts = [s.response.text for s in assignment.item.slots.order_by("position")]
            strength = -2 if "good" in texts[0] else 2
            annotation_submit(assignment=assignment, data={"strength": strength},
                              idempotency_key=new_idempotency_key())
    base = ModelSpec.objects.create(name="tiny-policy", role=ModelRole.POLICY, path=str(tiny_policy_dir),
                                    source="tests")
    backbone = backbone_make(tiny_bert_dir)
    LoopSetting.objects.create(
        project=project, base_policy=base, reward_base_model=backbone, reward_hyperparameters=FAST,
        dpo_hyperparameters=DPO_FAST, eval_config=EVAL_FAST, prompts_per_round=3, min_new_pairs=1,
        min_interval_hours=0, win_threshold=0.0, min_eval_prompts=1,
        generation_sampling={"n": 3, "max_tokens": 8, "temperature": 1.0})
    return project


def fresh_prompts(project):
    return loop.fresh_prompt_ids(project=project, limit=100)


def test_a_winning_round_serves_the_new_policy_and_queues_its_candidates(
        loop_project, engineer, django_capture_on_commit_callbacks):
    fresh = fresh_prompts(loop_project)
    assert len(fresh) == 4
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery runs the round on commit
        rnd = loop.loop_round_start(project=loop_project, created_by=engineer)
    rnd.refresh_from_db()
    assert rnd.error == "" and rnd.status == RoundStatus.SUCCEEDED and rnd.stage == RoundStage.DONE
    assert rnd.decision == Decision.ACCEPTED and rnd.decision_reason.startswith("AI judge: win rate 50.0%")
    assert rnd.decision_detail["judge"] == "ai_judge" and rnd.decision_detail["prompts"] == 3
    assert rnd.snapshot.counts["train"] > 0 and rnd.snapshot.counts["test"] > 0
    assert rnd.reward_run.kind == RunKind.REWARD and rnd.reward_run.status == RunStatus.SUCCEEDED
    assert rnd.dpo_run.kind == RunKind.DPO and rnd.dpo_run.status == RunStatus.SUCCEEDED
    assert rnd.dpo_run.base_model.name == "tiny-policy" and rnd.dpo_run.snapshot == rnd.snapshot
    policy = rnd.dpo_run.output_model
    assert policy.role == ModelRole.POLICY and policy.metadata["loop"]["round"] == 1
    results = rnd.evaluation.results
    assert rnd.evaluation.reward_model == rnd.reward_run.output_model
    assert rnd.evaluation.policy == policy and rnd.evaluation.reference.name == "tiny-policy"
    assert results["win_rate_low"] <= results["win_rate"] <= results["win_rate_high"]
    assert {"kl", "length_change", "prompts"} <= set(results)
    judges = results["judges"]
    assert judges["own_reward"]["independent"] is False and judges["own_reward"]["available"]
    assert judges["ai_judge"]["win_rate"] == 0.5 and judges["ai_judge"]["independent"]
    assert judges["previous_reward"] == {
        "label": "previous round's reward model", "independent": True, "available": False,
        "reason": "no earlier loop round has a reward model", "prompts": 0, "comparisons": 0}
    assert set(rnd.timings) == {"snapshot", "reward", "dpo", "evaluate", "decide", "generate"}

    # Served: the loop now generates from it, and the next round starts from it.
    job = rnd.generation_job
    assert job.status == JobStatus.SUCCEEDED and list(job.model_specs.all()) == [policy]
    assert sorted(job.prompt_ids) == sorted(fresh[:3])
    new_items = ComparisonItem.objects.filter(project=loop_project, prompt_id__in=fresh[:3])
    assert new_items.exists() and new_items.count() == job.items_created
    assert set(Response.objects.filter(items__in=new_items).values_list("model_name", flat=True)) == {
        policy.name}
    assert new_items.filter(is_open=True).count() == new_items.count()  # waiting in the queue
    setting = LoopSetting.objects.get(project=loop_project)
    assert setting.current_policy == policy
    assert loop.loop_reference_policy(setting=setting) == policy


def test_the_trained_policy_folder_generates_and_can_be_served(loop_project, capsys):
    from django.core.management import call_command

    rnd = loop.loop_round_start(project=loop_project, enqueue=False)
    rnd = loop.loop_round_advance(round_id=rnd.pk)
    policy = rnd.dpo_run.output_model
    (result,) = backend_for(policy).generate([[{"role": "user", "content": "question word1 ?"}]],
                                             SamplingParams(n=2, max_tokens=5, temperature=1.0, seed=0))
    assert len(result.completions) == 2 and all(c.completion_tokens >= 1 for c in result.completions)
    call_command("serve_generation", policy.name, "--dry-run", "--python", "/usr/bin/python3",
                 "--device", "cpu")
    out = capsys.readouterr().out
    assert f"--model {policy.path}" in out and f"--served-model-name {policy.name}" in out
    assert "--trust-remote-code" not in out


def test_a_losing_round_does_not_generate(loop_project):
    LoopSetting.objects.filter(project=loop_project).update(win_threshold=0.99)
    items_before = ComparisonItem.objects.filter(project=loop_project).count()
    rnd = loop.loop_round_start(project=loop_project, enqueue=False)
    rnd = loop.loop_round_advance(round_id=rnd.pk)
    assert rnd.status == RoundStatus.SUCCEEDED and rnd.decision == Decision.REJECTED
    assert "not above 99%" in rnd.decision_reason
    assert rnd.generation_job is None and rnd.stage == RoundStage.DONE
    assert ComparisonItem.objects.filter(project=loop_project).count() == items_before
    assert LoopSetting.objects.get(project=loop_project).current_policy is None


class Killed(BaseException):
    """Stands for a worker killed mid-stage: nothing in the service catches it."""


def test_a_round_whose_worker_died_resumes_from_the_database(
        loop_project, monkeypatch, django_capture_on_commit_callbacks):
    evaluate = loop.STAGES[RoundStage.EVALUATE]

    def die(worker):
        raise Killed

    monkeypatch.setitem(loop.STAGES, RoundStage.EVALUATE, die)
    rnd = loop.loop_round_start(project=loop_project, enqueue=False)
    with pytest.raises(Killed):
        loop.loop_round_advance(round_id=rnd.pk)
    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.RUNNING and rnd.stage == RoundStage.EVALUATE and rnd.attempt == 1
    reward_run, dpo_run = rnd.reward_run_id, rnd.dpo_run_id
    # While its lease runs, nobody takes the round over.
    assert loop.loop_rounds_resume_stale() == []
    assert loop.loop_round_claim(round_id=rnd.pk) is None

    monkeypatch.setitem(loop.STAGES, RoundStage.EVALUATE, evaluate)
    LoopRound.objects.filter(pk=rnd.pk).update(lease_until=timezone.now() - timezone.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert loop.loop_rounds_resume_stale() == [rnd.pk]
    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.SUCCEEDED and rnd.attempt == 2
    # Continued at its stage: the finished runs were not trained again.
    assert (rnd.reward_run_id, rnd.dpo_run_id) == (reward_run, dpo_run)
    assert TrainingRun.objects.filter(project=loop_project).count() == 2


def test_a_round_waiting_on_a_run_alive_elsewhere_is_left_alone(loop_project):
    rnd = loop.loop_round_start(project=loop_project, enqueue=False)
    loop.loop_round_advance(round_id=rnd.pk)  # one full round first, for a run to point at
    rnd.refresh_from_db()
    LoopRound.objects.filter(pk=rnd.pk).update(status=RoundStatus.RUNNING, stage=RoundStage.DPO,
                                               lease_until=None)
    TrainingRun.objects.filter(pk=rnd.dpo_run_id).update(status=RunStatus.RUNNING)
    assert loop.loop_round_claim(round_id=rnd.pk) is None
    assert loop.loop_rounds_resume_stale() == []
    TrainingRun.objects.filter(pk=rnd.dpo_run_id).update(status=RunStatus.SUCCEEDED)
    assert loop.loop_round_claim(round_id=rnd.pk) is not None


def test_a_failed_run_fails_the_round_with_its_reason(loop_project):
    LoopSetting.objects.filter(project=loop_project).update(dpo_hyperparameters={"beta": -1})
    rnd = loop.loop_round_start(project=loop_project, enqueue=False)
    rnd = loop.loop_round_advance(round_id=rnd.pk)
    assert rnd.status == RoundStatus.FAILED and rnd.stage == RoundStage.DPO
    assert "beta" in rnd.error and rnd.dpo_run is None and rnd.reward_run.status == RunStatus.SUCCEEDED


def test_only_one_round_runs_at_a_time_and_cancel_stops_it(loop_project):
    rnd = loop.loop_round_start(project=loop_project, enqueue=False)
    with pytest.raises(Conflict, match="round 1 is still running"):
        loop.loop_round_start(project=loop_project, enqueue=False)
    loop.loop_round_cancel(rnd=rnd)
    assert loop.loop_round_advance(round_id=rnd.pk).status == RoundStatus.CANCELLED
    assert loop.loop_round_start(project=loop_project, enqueue=False).number == 2


def test_the_tick_starts_a_round_only_when_due(loop_project, django_capture_on_commit_callbacks):
    setting = LoopSetting.objects.get(project=loop_project)
    assert loop.loop_tick(setting_id=setting.pk) == "disabled"
    LoopSetting.objects.filter(pk=setting.pk).update(enabled=True, min_new_pairs=10_000)
    assert loop.loop_tick(setting_id=setting.pk).startswith("at most 48 new pairs")
    LoopSetting.objects.filter(pk=setting.pk).update(min_new_pairs=5)
    with django_capture_on_commit_callbacks() as callbacks:
        message = loop.loop_tick(setting_id=setting.pk)
    assert message.startswith("started round 1 on snapshot") and len(callbacks) == 1
    rnd = LoopRound.objects.get(project=loop_project)
    assert rnd.stage == RoundStage.REWARD and rnd.snapshot is not None  # the tick's snapshot is used
    assert loop.loop_rounds_resume_stale() == []  # its first task is on its way: not sent twice
    assert loop.loop_round_claim(round_id=rnd.pk) is not None  # ...but that task may claim it
    assert loop.loop_tick(setting_id=setting.pk) == "round 1 is running (reward)"
    assert LoopSetting.objects.get(pk=setting.pk).last_message == "round 1 is running (reward)"


def test_saving_a_setting_validates_it_and_keeps_its_beat_task_in_step(loop_project):
    setting = LoopSetting.objects.get(project=loop_project)
    setting.enabled, setting.check_every_minutes = True, 15
    loop.loop_setting_save(setting=setting)
    task = PeriodicTask.objects.get(name=f"training-loop-{setting.pk}")
    assert task.enabled and task.interval.every == 15 and task.task == loop.TICK_TASK
    for field, value, error_field in (
            ("dpo_hyperparameters", {"beta": 0}, "dpo_hyperparameters.beta"),
            ("reward_hyperparameters", {"batch_size": 0}, "reward_hyperparameters.batch_size"),
            ("eval_config", {"samples_per_prompt": 0}, "eval_config.samples_per_prompt"),
            ("win_threshold", 1.5, "win_threshold")):
        bad = LoopSetting.objects.get(pk=setting.pk)
        setattr(bad, field, value)
        with pytest.raises(Invalid) as error:
            loop.loop_setting_save(setting=bad)
        assert error.value.field == error_field


def test_the_loop_command_runs_a_round_here_or_checks_the_schedule(loop_project, capsys):
    from django.core.management import CommandError, call_command

    call_command("loop", loop_project.slug)
    assert capsys.readouterr().out.strip() == "disabled"
    assert not LoopRound.objects.exists()
    call_command("loop", loop_project.slug, "--once", "--sync")
    out = capsys.readouterr().out
    assert "round 1: succeeded, stage done, accepted" in out and "win rate over tiny-policy" in out
    assert "seconds: snapshot" in out
    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        call_command("loop", "nope", "--once")


def _label_open_items(project, strength):
    for user in project.memberships.filter(role=Role.LABELER).order_by("user_id"):
        while (assignment := item_claim_next(project=project, labeler=user.user)) is not None:
            texts = [s.response.text for s in assignment.item.slots.order_by("position")]
            annotation_submit(assignment=assignment, data={"strength": strength(texts)},
                              idempotency_key=new_idempotency_key())


def test_the_next_round_is_judged_by_the_previous_rounds_reward_model(loop_project):
    first = loop.loop_round_advance(round_id=loop.loop_round_start(project=loop_project, enqueue=False).pk)
    # More decided labels since: the next round's snapshot has pairs the first one's lacks.
    _label_open_items(loop_project, lambda texts: -2 if "good" in texts[0] else 2)
    second = loop.loop_round_advance(round_id=loop.loop_round_start(project=loop_project, enqueue=False).pk)
    assert second.snapshot.version > first.snapshot.version
    judge = second.evaluation.results["judges"]["previous_reward"]
    assert judge["available"] and judge["model"] == first.reward_run.output_model.name
    assert judge["independent"] is True and judge["unseen_pairs"] > 0
    assert judge["seen_pairs"] + judge["unseen_pairs"] == judge["policy_pairs"]
    assert f"trained on snapshot v{first.snapshot.version}" in judge["source"]
    assert f"not the {judge['unseen_pairs']} new in v{second.snapshot.version}" in judge["source"]
    assert second.decision_detail["judge"] == "previous_reward"


def test_a_previous_reward_model_that_saw_every_training_pair_does_not_decide(loop_project):
    """The new labels are all ties (which no trainer learns from): the previous
    round's reward model saw every pair this round's policy was trained on, so it
    is as circular as the round's own and the promotion passes to the AI judge."""
    first = loop.loop_round_advance(round_id=loop.loop_round_start(project=loop_project, enqueue=False).pk)
    _label_open_items(loop_project, lambda texts: 0)
    second = loop.loop_round_advance(round_id=loop.loop_round_start(project=loop_project, enqueue=False).pk)
    assert second.snapshot.version > first.snapshot.version
    judge = second.evaluation.results["judges"]["previous_reward"]
    assert judge["available"] and judge["model"] == first.reward_run.output_model.name
    assert judge["independent"] is False and judge["unseen_pairs"] == 0
    assert judge["seen_pairs"] == judge["policy_pairs"] > 0
    assert judge["dependence"] == (f"it saw every pair the policy was trained on (v{second.snapshot.version} "
                                   f"added no decided training pair to v{first.snapshot.version})")
    assert second.decision_detail["judge"] == "ai_judge"
    assert "previous round's reward model: not independent, it saw every pair" in (
        second.decision_detail["judge_choice"])
    # Even when the loop names it, it does not decide.
    setting = LoopSetting.objects.get(project=loop_project)
    setting.promotion_judge = "previous_reward"
    promote, detail, reason = loop.promotion_decide(results=second.evaluation.results, setting=setting)
    assert not promote and detail["judge"] is None and "not independent" in reason


def test_a_round_on_fewer_held_out_prompts_than_the_minimum_is_not_promoted(loop_project):
    LoopSetting.objects.filter(project=loop_project).update(min_eval_prompts=50)
    rnd = loop.loop_round_advance(round_id=loop.loop_round_start(project=loop_project, enqueue=False).pk)
    assert rnd.status == RoundStatus.SUCCEEDED and rnd.decision == Decision.REJECTED
    assert rnd.decision_reason.startswith("only 3 held-out prompts (< 50)")
    assert rnd.generation_job is None and LoopSetting.objects.get(project=loop_project).current_policy is None
