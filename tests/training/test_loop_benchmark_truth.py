"""The loop benchmark's ground truth: the synthetic labelers' rules, applied to
a policy answer and a reference answer, say what the labelers would have said."""

import pytest

from benchmarks.loop_truth import first_sentence, names_topic, pair_score, preference_strength


def test_shorter_wins_by_words_and_equal_lengths_tie():
    assert pair_score("shorter", "Two words.", "Three words here.") == 1.0
    assert pair_score("shorter", "one two three", "one two") == 0.0
    assert pair_score("shorter", "a b", "c d") == 0.5
    # As the labelers submit it: −2 prefers the first (canonical A), 2 the second.
    assert preference_strength("shorter", ["short one", "a longer answer"]) == -2
    assert preference_strength("shorter", ["a longer answer", "short one"]) == 2


def test_naming_the_topic_in_the_first_sentence_wins_whatever_the_length():
    topic = "a black hole"
    named = "Black holes are regions where gravity traps light. They form when stars collapse."
    late = "Space is strange. A black hole traps light."
    assert first_sentence(named) == "Black holes are regions where gravity traps light."
    assert first_sentence("  **Tides** rise twice a day\nbecause of the moon.") == "Tides** rise twice a day"
    assert names_topic(named, topic) and not names_topic(late, topic)
    assert names_topic("The Moon's phases repeat. Yes.", "the moon")
    assert not names_topic("A holey black sock.", topic)  # the words, in order, as words
    # Length cannot fake it: the long answer that names the topic first beats the short one.
    assert pair_score("topic", named, "Space is strange.", topic) == 1.0
    assert pair_score("topic", late, named, topic) == 0.0
    assert pair_score("topic", "Nothing here.", "Nor here.", topic) == 0.5
    assert pair_score("topic", named, named, "") == 0.5  # no topic known: nobody names it


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown preference 'longer'"):
        pair_score("longer", "a", "b")


def test_the_benchmark_puts_the_ground_truth_beside_the_other_judges(db, admin):
    from benchmarks.loop import ground_truth_add, sign_agreement, trend_table
    from generation.models import ModelRole, ModelSpec
    from tests.factories import project_make
    from training.policy_eval.models import PolicyEvaluation

    project = project_make(creator=admin)
    policy = ModelSpec.objects.create(name="p", role=ModelRole.POLICY, path="/models/p")
    # Two prompts × 2 samples: the policy's answer is shorter twice, longer once, the same once.
    samples = [{"prompt_id": 1, "prompt_index": 0, "policy": ["a b", "a b c d"],
                "reference": ["a b c", "a b"], "policy_tokens": [2, 4], "reference_tokens": [3, 2],
                "judges": {"own_reward": [1, 1]}},
               {"prompt_id": 2, "prompt_index": 1, "policy": ["x", "same"], "reference": ["x y z", "same"],
                "policy_tokens": [1, 1], "reference_tokens": [3, 1], "judges": {"own_reward": [0, 1]}}]
    evaluation = PolicyEvaluation.objects.create(
        project=project, policy=policy, reference=policy, samples=samples,
        config={"resamples": 200, "level": 0.95, "seed": 0},
        results={"judges": {"ai_judge": {"available": True, "win_rate": 0.4, "win_rate_low": 0.2,
                                         "win_rate_high": 0.6}}})
    truth = ground_truth_add(evaluation, "shorter", {})
    assert truth["win_rate"] == pytest.approx((0.5 + 0.75) / 2)  # prompt 0: win, loss; 1: win, tie
    assert (truth["wins"], truth["ties"], truth["losses"], truth["prompts"]) == (2, 1, 1, 2)
    assert truth["independent"] and "shorter" in truth["source"]
    evaluation.refresh_from_db()
    assert evaluation.results["judges"]["ground_truth"]["win_rate"] == truth["win_rate"]
    assert evaluation.samples[0]["judges"] == {"own_reward": [1, 1], "ground_truth": [1.0, 0.0]}
    assert evaluation.samples[1]["judges"]["ground_truth"] == [1.0, 0.5]  # the same text ties
    assert sign_agreement(evaluation.results["judges"]) == {"ai_judge": "DISAGREES"}
    tied = {**evaluation.results["judges"], "ai_judge": {"available": True, "win_rate": 0.5},
            "own_reward": {"available": True, "win_rate": 0.9}}
    assert sign_agreement(tied) == {"ai_judge": "no sign (50%)", "own_reward": "agrees"}
    row = {"round": 1, "decision": "rejected", "rule": {"judge": None}, "prompts": 2,
           "judges": evaluation.results["judges"], "kl": [1.0, 0.5, 1.5], "reference_length": 2.25,
           "policy_length": 2.0, "reward_heldout_accuracy": 0.5, "reward_heldout_pairs": 2}
    table = trend_table([row])
    assert "| 1 | rejected (—) | 2 | 62.5% [" in table and "40.0% [20.0%, 60.0%]" in table
    assert "2.2 → 2.0" in table and "0.50 of 2" in table
