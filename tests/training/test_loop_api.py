"""The loop's and policy evaluations' API: who may see and do what, and the
shapes. The rounds themselves are tested in test_loop.py."""

import pytest
from rest_framework.test import APIClient

from generation.models import ModelRole, ModelSpec
from tests.factories import project_make, prompts_make
from training.loop.models import LoopRound, LoopSetting, RoundStatus
from training.policy_eval.models import HumanEvalItem, PolicyEvaluation


@pytest.fixture
def policy(db, tmp_path):
    (tmp_path / "policy").mkdir()
    return ModelSpec.objects.create(name="tiny-policy", role=ModelRole.POLICY, path=str(tmp_path / "policy"))


def loop_url(project, *rest):
    return "/".join([f"/api/projects/{project.pk}/loop", *[str(r) for r in rest]]) + "/"


def evaluation_make(project, policy, prompts):
    return PolicyEvaluation.objects.create(
        project=project, policy=policy, reference=policy,
        results={"win_rate": 0.75, "win_rate_low": 0.6, "win_rate_high": 0.9, "kl": 1.5},
        samples=[{"prompt_id": p.pk, "policy": [f"mine {p.pk}"], "reference": [f"theirs {p.pk}"]}
                 for p in prompts])


def test_an_engineer_reads_and_updates_the_loop_setting(api, project, engineer, policy):
    response = api(engineer).get(loop_url(project))
    assert response.status_code == 200 and response.json()["enabled"] is False
    response = api(engineer).put(loop_url(project), {
        "enabled": True, "check_every_minutes": 10, "base_policy": "tiny-policy", "win_threshold": 0.55,
        "dpo_hyperparameters": {"beta": 0.2}, "eval_config": {"num_prompts": 8}}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["enabled"] and body["base_policy"] == "tiny-policy" and body["win_threshold"] == 0.55
    setting = LoopSetting.objects.get(project=project)
    assert setting.periodic_task.enabled and setting.periodic_task.interval.every == 10


def test_the_promotion_rule_is_set_through_the_api_and_only_admins_weaken_it(api, project, engineer, admin,
                                                                            policy):
    response = api(engineer).put(loop_url(project), {"promotion_judge": "ai_judge", "min_eval_prompts": 80,
                                                     "ai_judge": "tiny-policy"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["promotion_judge"], body["min_eval_prompts"]) == ("ai_judge", 80)
    assert body["ai_judge"] == "tiny-policy"
    assert body["allow_few_eval_prompts"] is False and body["ai_judge_enabled"] is True
    for data in ({"allow_few_eval_prompts": True}, {"min_eval_prompts": 5}):
        refused = api(engineer).put(loop_url(project), data, format="json")
        assert refused.status_code == 403 and refused.json()["field"] == "allow_few_eval_prompts"
    setting = LoopSetting.objects.get(project=project)
    assert not setting.allow_few_eval_prompts and setting.min_eval_prompts == 80
    assert api(admin).put(loop_url(project), {"allow_few_eval_prompts": True},
                          format="json").json()["allow_few_eval_prompts"] is True
    bad = api(engineer).put(loop_url(project), {"promotion_judge": "own_reward"}, format="json")
    assert bad.status_code == 400 and "promotion_judge" in bad.json()


@pytest.mark.parametrize(("data", "field"), [
    ({"dpo_hyperparameters": {"beta": -1}}, "dpo_hyperparameters.beta"),
    ({"eval_config": {"temperature": 0}}, "eval_config.temperature"),
    ({"base_policy": "no-such-model"}, "base_policy"),
    ({"win_threshold": 2}, "win_threshold"),
])
def test_a_bad_setting_is_a_400_naming_the_field(api, project, engineer, policy, data, field):
    response = api(engineer).put(loop_url(project), data, format="json")
    assert response.status_code == 400 and response.json()["field"] == field
    assert not LoopSetting.objects.filter(project=project, enabled=True).exists()


def test_a_labeler_is_forbidden_and_an_outsider_sees_nothing(api, project, labeler, outsider, policy):
    rnd = LoopRound.objects.create(project=project, number=1, reference_policy=policy)
    evaluation = evaluation_make(project, policy, [])
    for path in (loop_url(project), loop_url(project, "rounds"), loop_url(project, "rounds", rnd.pk),
                 f"/api/projects/{project.pk}/policy-evaluations/{evaluation.pk}/"):
        assert api(labeler).get(path).status_code == 403
        assert api(outsider).get(path).status_code == 404
    assert api(outsider).post(loop_url(project, "rounds", rnd.pk, "cancel")).status_code == 404
    assert api(outsider).put(loop_url(project), {"enabled": True}, format="json").status_code == 404
    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.RUNNING
    assert not LoopSetting.objects.filter(enabled=True).exists()


def test_rounds_of_another_project_are_not_found(api, admin, engineer, project, policy):
    other = project_make(creator=admin)
    rnd = LoopRound.objects.create(project=other, number=1, reference_policy=policy)
    assert api(engineer).get(loop_url(project, "rounds", rnd.pk)).status_code == 404
    assert api(engineer).post(loop_url(project, "rounds", rnd.pk, "cancel")).status_code == 404


def test_an_engineer_starts_lists_and_cancels_a_round(api, project, engineer, policy,
                                                      django_capture_on_commit_callbacks):
    LoopSetting.objects.create(project=project, base_policy=policy)
    with django_capture_on_commit_callbacks() as callbacks:
        response = api(engineer).post(loop_url(project, "rounds"))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"] == 1 and body["status"] == "running" and body["stage"] == "snapshot"
    assert body["reference_policy"] == "tiny-policy" and len(callbacks) == 1  # sent after commit
    assert api(engineer).post(loop_url(project, "rounds")).status_code == 409  # one at a time
    listed = api(engineer).get(loop_url(project, "rounds")).json()
    assert [r["number"] for r in listed["results"]] == [1]
    cancelled = api(engineer).post(loop_url(project, "rounds", body["id"], "cancel"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api(engineer).post(loop_url(project, "rounds", body["id"], "cancel")).status_code == 409


def test_a_round_shows_its_evaluation(api, project, engineer, policy):
    evaluation = evaluation_make(project, policy, [])
    rnd = LoopRound.objects.create(project=project, number=3, reference_policy=policy, evaluation=evaluation,
                                   decision="accepted", status=RoundStatus.SUCCEEDED, stage="done")
    body = api(engineer).get(loop_url(project, "rounds", rnd.pk)).json()
    assert body["decision"] == "accepted" and body["evaluation"]["results"]["win_rate_low"] == 0.6


def test_human_evaluation_through_the_api(api, project, engineer, policy):
    evaluation = evaluation_make(project, policy, prompts_make(project, 3))
    url = f"/api/projects/{project.pk}/policy-evaluations/{evaluation.pk}/human/"
    response = api(engineer).post(url, {"max_items": 2}, format="json")
    assert response.status_code == 201 and response.json() == {"items_created": 2}
    assert HumanEvalItem.objects.filter(evaluation=evaluation).count() == 2
    assert api(engineer).post(url, {}, format="json").status_code == 409
    results = api(engineer).get(url).json()
    assert results["items"] == 2 and results["labeled_items"] == 0 and results["win_rate"] is None
    detail = api(engineer).get(f"/api/projects/{project.pk}/policy-evaluations/{evaluation.pk}/").json()
    assert detail["human_requested_at"] and len(detail["samples"]) == 3


def test_session_requests_need_the_csrf_token(project, engineer, policy):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(engineer)
    assert client.post(loop_url(project, "rounds")).status_code == 403
    assert client.put(loop_url(project), {"enabled": True}, format="json").status_code == 403
    assert not LoopRound.objects.exists()
    assert not LoopSetting.objects.filter(enabled=True).exists()


def report_round_make(project, policy, prompts):
    evaluation = PolicyEvaluation.objects.create(
        project=project, policy=policy, reference=policy, config={"samples_per_prompt": 1, "seed": 0},
        results={"prompts": 60, "samples": 60, "win_rate": 0.9, "win_rate_low": 0.8, "win_rate_high": 0.95,
                 "kl": 2.5, "kl_low": 2.0, "kl_high": 3.0, "length_change": -4.0, "level": 0.95,
                 "judges": {
                     "own_reward": {"available": True, "independent": False, "win_rate": 0.9,
                                    "win_rate_low": 0.8, "win_rate_high": 0.95, "prompts": 60,
                                    "lc_win_rate": 0.7, "lc_win_rate_low": 0.6, "lc_win_rate_high": 0.8},
                     "ai_judge": {"available": True, "independent": True, "model": "judge-model",
                                  "win_rate": 0.6, "win_rate_low": 0.55, "win_rate_high": 0.66,
                                  "prompts": 60, "lc_win_rate": 0.58, "lc_win_rate_low": 0.5,
                                  "lc_win_rate_high": 0.64, "wins": 30, "ties": 12, "losses": 18},
                     "previous_reward": {"available": False, "reason": "no earlier loop round"}}},
        human_results={"win_rate": 0.7, "win_rate_low": 0.5, "win_rate_high": 0.9, "items": 10,
                       "labeled_items": 8, "annotations": 16, "level": 0.95},
        samples=[{"prompt_id": p.pk, "prompt_index": i, "policy": [f"short <b>{p.pk}</b>"],
                  "reference": [f"a longer answer {p.pk}"], "policy_tokens": [3], "reference_tokens": [5],
                  "judges": {"own_reward": [1.0], "ai_judge": [0.5]}} for i, p in enumerate(prompts)])
    return LoopRound.objects.create(
        project=project, number=2, reference_policy=policy, evaluation=evaluation, decision="accepted",
        decision_reason="AI judge: win rate 60.0% (95% interval 55.0%–66.0%, 60 prompts): above 50%",
        decision_detail={"judge": "ai_judge", "promotion_judge": "independent", "threshold": 0.5,
                         "min_prompts": 50, "prompts": 60, "override_few_prompts": False,
                         "judge_choice": "AI judge (the first independent judge with a verdict)"},
        status=RoundStatus.SUCCEEDED, stage="done")


def test_the_round_report_is_exported_as_json(api, project, engineer, labeler, outsider, policy):
    rnd = report_round_make(project, policy, prompts_make(project, 2))
    url = loop_url(project, "rounds", rnd.pk, "report")
    body = api(engineer).get(url).json()
    assert body["decision"]["judge"] == "ai_judge" and body["decision"]["rule"]["min_prompts"] == 50
    judges = {j["name"]: j for j in body["judges"]}
    assert [j["name"] for j in body["judges"]] == ["previous_reward", "ai_judge", "human", "own_reward"]
    human = judges["human"]
    assert human["win_rate"] == 0.7 and human["prompts"] == 8 and human["independent"]
    assert judges["ai_judge"]["decided"] and not judges["own_reward"]["decided"]
    assert judges["own_reward"]["independent"] is False and judges["ai_judge"]["lc_win_rate"] == 0.58
    assert judges["previous_reward"] == {"label": "previous round's reward model", "independent": True,
                                         "available": False, "reason": "no earlier loop round",
                                         "name": "previous_reward", "decided": False}
    assert body["evaluation"]["prompts"] == 60 and body["evaluation"]["kl"] == 2.5
    sample = body["samples"][0]
    assert sample["verdicts"] == {"own_reward": 1.0, "ai_judge": 0.5}
    assert {"op": "policy", "text": f"<b>{sample['prompt_id']}</b>"} in sample["diff"]
    assert {"op": "reference", "text": f"longer answer {sample['prompt_id']}"} in sample["diff"]
    assert api(labeler).get(url).status_code == 403
    assert api(outsider).get(url).status_code == 404
    detail = api(engineer).get(loop_url(project, "rounds", rnd.pk)).json()["decision_detail"]
    assert detail["judge"] == "ai_judge" and detail["min_prompts"] == 50
