"""Is a loop round's gain real: the length-controlled win rate, the paired
bootstrap, the AI judge's pairs in both orders, which judge a promotion rests
on, and the refusal to promote on too few held-out prompts."""

import numpy as np
import pytest

from annotation.errors import Forbidden
from annotation.models import Role
from generation.backends import Completion, PromptResult
from generation.backends.base import SamplingParams
from generation.services.labeling import pair_strengths_judge
from tests.factories import member_add, project_make
from training.loop.models import LoopSetting
from training.loop.report import words_diff
from training.loop.services import loop_setting_evidence_check, promotion_decide
from training.policy_eval.judges import judges_summarize, promotion_judge_select
from training.policy_eval.stats import bootstrap_ci, lc_win_rate, paired_bootstrap


def test_a_judge_that_only_rewards_shortness_has_a_length_controlled_rate_near_half():
    rng = np.random.default_rng(0)
    diff = rng.normal(-6, 10, 600)  # the policy answers 6 tokens shorter on average
    wins = (diff < 0).astype(float)  # ...and the judge prefers whichever answer is shorter
    assert wins.mean() > 0.7
    assert abs(lc_win_rate(wins, diff) - 0.5) < 0.06


def test_a_judge_that_rewards_content_keeps_its_rate_under_length_control():
    rng = np.random.default_rng(1)
    diff = rng.normal(0, 10, 600)
    wins = (rng.random(600) < 0.75).astype(float)  # unrelated to length
    assert lc_win_rate(wins, diff) == pytest.approx(wins.mean(), abs=0.02)
    # Equal lengths everywhere: the length term is zero, the rate is the raw one (ties count ½).
    tied = np.array([1, 1, 0.5, 0, 1, 1, 0.5, 1.0])
    assert lc_win_rate(tied, np.zeros(8)) == pytest.approx(tied.mean(), abs=0.02)


def test_the_paired_bootstrap_resamples_the_same_prompts_for_every_judge():
    rng = np.random.default_rng(2)
    a = rng.random(60)
    out = paired_bootstrap({"a": a, "shifted": a + 0.1, "copy": a.copy()}, resamples=500, seed=3)
    assert out["a"] == out["copy"]
    # Same prompts drawn for both: the interval moves by exactly the shift.
    assert out["shifted"].low == pytest.approx(out["a"].low + 0.1)
    assert out["shifted"].high == pytest.approx(out["a"].high + 0.1)
    assert out["a"] == bootstrap_ci(a, resamples=500, seed=3)  # one judge alone: the plain bootstrap
    with pytest.raises(ValueError, match="one value per prompt"):
        paired_bootstrap({"a": a, "short": a[:10]})


def test_judges_are_summarized_per_prompt_and_no_verdicts_are_left_out():
    groups = [0, 0, 1, 1, 2, 2]
    diff = [1, -1, 2, -2, 0, 0]
    out = judges_summarize({"rm": [1, 1, 0, 0.5, 1, 1], "ai": [1, np.nan, np.nan, np.nan, 0, 0],
                            "silent": [np.nan] * 6}, groups, diff, resamples=200)
    rm = out["rm"]
    assert rm["win_rate"] == pytest.approx((1 + 0.25 + 1) / 3) and rm["prompts"] == 3
    assert (rm["wins"], rm["ties"], rm["losses"], rm["comparisons"]) == (4, 1, 1, 6)
    assert rm["win_rate_low"] <= rm["win_rate"] <= rm["win_rate_high"]
    assert rm["lc_win_rate_low"] <= rm["lc_win_rate"] <= rm["lc_win_rate_high"]
    ai = out["ai"]
    assert ai["prompts"] == 2 and ai["comparisons"] == 3 and ai["no_verdict"] == 3
    assert ai["win_rate"] == pytest.approx(0.5)  # prompt 0: 1; prompt 2: 0
    assert out["silent"] == {"available": False, "reason": "no verdict on any comparison", "comparisons": 0,
                             "prompts": 0}


AVAILABLE = {"available": True, "win_rate": 0.8, "win_rate_low": 0.7, "win_rate_high": 0.9, "prompts": 60,
             "level": 0.95}


def test_the_promotion_judge_is_independent_and_says_which():
    judges = {"own_reward": AVAILABLE, "ai_judge": AVAILABLE,
              "previous_reward": {"available": False, "reason": "no earlier loop round has a reward model"}}
    name, why = promotion_judge_select(judges)
    assert name == "ai_judge" and "AI judge" in why and "first independent judge" in why
    assert promotion_judge_select({**judges, "previous_reward": AVAILABLE})[0] == "previous_reward"
    # The round's own reward model alone never decides.
    name, why = promotion_judge_select({"own_reward": AVAILABLE})
    assert name is None and "no independent judge" in why
    assert promotion_judge_select(judges, "previous_reward") == (
        None, "no independent judge has a verdict (previous round's reward model: no earlier loop round "
              "has a reward model)")
    with pytest.raises(ValueError, match="unknown promotion judge 'own_reward'"):
        promotion_judge_select(judges, "own_reward")


def test_a_judge_the_evaluation_found_dependent_is_passed_over():
    dependent = {**AVAILABLE, "independent": False,
                 "dependence": "it saw every pair the policy was trained on"}
    judges = {"own_reward": AVAILABLE, "previous_reward": dependent, "ai_judge": AVAILABLE}
    name, why = promotion_judge_select(judges)
    assert (name, why) == ("ai_judge", "AI judge (the first independent judge with a verdict; passed over: "
                                       "previous round's reward model: not independent, it saw every pair "
                                       "the policy was trained on)")
    assert promotion_judge_select(judges, "previous_reward") == (
        None, "no independent judge has a verdict (previous round's reward model: not independent, it saw "
              "every pair the policy was trained on)")
    # Marked independent (or not marked: the registry says it is), it decides as before.
    assert promotion_judge_select({**judges, "previous_reward": {**dependent, "independent": True}})[0] == (
        "previous_reward")


def test_a_round_on_too_few_held_out_prompts_is_not_promoted_without_the_override():
    setting = LoopSetting(min_eval_prompts=50, win_threshold=0.5)
    results = {"prompts": 12, "judges": {"ai_judge": {**AVAILABLE, "prompts": 12}}}
    promote, detail, reason = promotion_decide(results=results, setting=setting)
    assert not promote and reason.startswith("only 12 held-out prompts (< 50)")
    assert detail["min_prompts"] == 50 and detail["prompts"] == 12
    setting.allow_few_eval_prompts = True
    promote, detail, reason = promotion_decide(results=results, setting=setting)
    assert promote and detail["judge"] == "ai_judge" and detail["override_few_prompts"]
    assert reason == "AI judge: win rate 80.0% (95% interval 70.0%–90.0%, 12 prompts): above 50%"


def test_the_own_reward_model_cannot_carry_a_promotion_however_high():
    setting = LoopSetting(min_eval_prompts=1, win_threshold=0.5)
    results = {"prompts": 60, "win_rate": 0.99, "win_rate_low": 0.98, "win_rate_high": 1.0,
               "judges": {"own_reward": {**AVAILABLE, "win_rate_low": 0.98},
                          "ai_judge": {**AVAILABLE, "win_rate": 0.52, "win_rate_low": 0.45}}}
    promote, detail, reason = promotion_decide(results=results, setting=setting)
    assert not promote and detail["judge"] == "ai_judge" and "not above 50%" in reason


def test_only_a_project_admin_may_weaken_the_evidence_rule(db, admin, engineer):
    project = project_make(creator=admin)
    member_add(project, engineer, Role.ENGINEER)
    setting = LoopSetting.objects.create(project=project)
    setting.allow_few_eval_prompts = True
    with pytest.raises(Forbidden, match="only a project admin"):
        loop_setting_evidence_check(setting=setting, by=engineer)
    loop_setting_evidence_check(setting=setting, by=admin)
    setting.allow_few_eval_prompts, setting.min_eval_prompts = False, 10
    with pytest.raises(Forbidden):
        loop_setting_evidence_check(setting=setting, by=engineer)
    setting.min_eval_prompts = 80  # asking for more evidence is anyone's call
    loop_setting_evidence_check(setting=setting, by=engineer)


class ScriptedJudge:
    """A judge model answering by a rule over the prompt it is shown."""

    def __init__(self, rule):
        self.rule, self.calls = rule, 0

    def generate(self, conversations, sampling):
        self.calls += 1
        return [PromptResult([Completion(self.rule(c[0]["content"]), "stop", 2)]) for c in conversations]


def shown_first(content: str) -> str:
    return content.split("[Answer A]\n", 1)[1].split("\n", 1)[0]


def test_the_ai_judge_asks_both_orders_and_a_position_bias_becomes_a_tie():
    pairs = [("short", "a much longer answer"), ("a much longer answer", "short"), ("same", "same")]
    sampling = SamplingParams(n=1, temperature=0.0, max_tokens=4)
    fair = ScriptedJudge(lambda content: " A" if shown_first(content) == "short" else " B")
    strengths = pair_strengths_judge(backend=fair, template="{prompt}\n[Answer A]\n{response_a}\n"
                                     "[Answer B]\n{response_b}\n", prompt_messages=[{"role": "user",
                                                                                     "content": "q"}],
                                     pairs=pairs, sampling=sampling)
    assert strengths[:2] == [-1, 1] and fair.calls == 1  # both orders of every pair in one batch
    biased = ScriptedJudge(lambda content: " A")
    assert pair_strengths_judge(backend=biased, template="{prompt}\n[Answer A]\n{response_a}\n{response_b}",
                                prompt_messages=[{"role": "user", "content": "q"}], pairs=pairs,
                                sampling=sampling) == [0, 0, 0]
    silent = ScriptedJudge(lambda content: " hmm")
    assert pair_strengths_judge(backend=silent, template="{prompt}{response_a}{response_b}",
                                prompt_messages=[{"role": "user", "content": "q"}], pairs=pairs[:1],
                                sampling=sampling) == [None]


def test_the_samples_diff_shows_what_each_answer_alone_says():
    runs = words_diff("The sky is blue today.", "The sky is <b>very</b> blue.")
    assert "".join(r["text"] for r in runs if r["op"] != "policy") == "The sky is blue today."
    assert "".join(r["text"] for r in runs if r["op"] != "reference") == "The sky is <b>very</b> blue."
    assert {"op": "policy", "text": "<b>very</b>"} in runs
    assert runs[0] == {"op": "same", "text": "The sky is "}
