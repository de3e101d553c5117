"""Policy evaluation without Django: the statistics, the log-probabilities, the
KL estimate and the judged win rate, on tiny models with predictable output."""

import math
import shutil

import numpy as np
import pytest
import torch

from tests.training.policy_models import policy_models
from training.policy_eval.evaluate import EvalConfig, policy_evaluate
from training.policy_eval.sampling import (
    Sample,
    causal_lm_load,
    prompt_ids_render,
    samples_draw,
    sequence_logprobs,
)
from training.policy_eval.stats import bootstrap_ci, group_means, win_scores

PROMPTS = [[{"role": "user", "content": text}] for text in (
    "write a poem about the river", "why is the cat helpful", "explain the number seven",
    "which apple is better")]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return policy_models(tmp_path_factory.mktemp("policy-models"))


def length_judge(prompt_messages, responses):
    return [float(len(r)) for r in responses]


# Statistics -------------------------------------------------------------------
def test_bootstrap_interval_contains_the_estimate_and_narrows_with_n():
    rng = np.random.default_rng(7)
    widths = []
    for n in (30, 300, 3000):
        values = (rng.random(n) < 0.7).astype(float)
        interval = bootstrap_ci(values, resamples=2000, seed=1)
        assert interval.estimate == pytest.approx(values.mean())
        assert interval.low < interval.estimate < interval.high
        widths.append(interval.high - interval.low)
    assert widths[0] > widths[1] > widths[2]
    # ≈ 2 × 1.96 × sqrt(p(1−p)/n) for the mean of Bernoulli draws
    assert widths[2] == pytest.approx(2 * 1.96 * math.sqrt(0.21 / 3000), rel=0.15)


def test_bootstrap_of_a_constant_is_a_point_and_empty_input_is_refused():
    interval = bootstrap_ci([1.0] * 25)
    assert (interval.estimate, interval.low, interval.high, interval.n) == (1.0, 1.0, 1.0, 25)
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([])


def test_win_scores_count_ties_as_half_and_group_means_average_per_prompt():
    scores = win_scores([3.0, 1.0, 2.0, 5.0], [1.0, 1.0, 4.0, 0.0])
    assert scores.tolist() == [1.0, 0.5, 0.0, 1.0]
    assert group_means(scores, [0, 0, 1, 1]).tolist() == [0.75, 0.5]


# Log-probabilities and KL ------------------------------------------------------------
def test_sequence_logprobs_equal_a_token_by_token_computation(models):
    model, tokenizer = causal_lm_load(models["p"])
    prompts = [prompt_ids_render(tokenizer, m) for m in PROMPTS[:3]]
    samples = samples_draw(model, tokenizer, prompts, n=2, max_new_tokens=6, temperature=0.8, seed=3)
    batched = sequence_logprobs(model, samples, temperature=0.8, batch_size=4,
                                pad_id=tokenizer.pad_token_id)
    for sample, total in zip(samples, batched, strict=True):
        expected, context = 0.0, list(sample.prompt_ids)
        for token in sample.response_ids:  # one unpadded forward per token
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([context])).logits[0, -1]
            expected += torch.log_softmax(logits / 0.8, dim=-1)[token].item()
            context.append(token)
        assert total == pytest.approx(expected, abs=1e-4)


def test_kl_of_a_model_against_itself_is_zero(models, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(models["p"], copy)  # another folder: both models load and run separately
    config = EvalConfig(samples_per_prompt=3, max_new_tokens=8, seed=5)
    outcome = policy_evaluate(policy_dir=models["p"], reference_dir=copy, prompts=PROMPTS,
                              judge=length_judge, config=config)
    assert outcome.metrics["kl"] == pytest.approx(0.0, abs=1e-4)
    assert outcome.metrics["samples"] == 12 and outcome.metrics["prompts"] == 4
    # Same weights, same seeds: the same answers, every one a tie.
    assert outcome.metrics["win_rate"] == 0.5 and outcome.metrics["ties"] == 12
    assert outcome.metrics["length_change"] == 0.0


def test_kl_estimate_matches_the_exact_kl_of_one_token_answers(models):
    policy, tokenizer = causal_lm_load(models["p"])
    reference, _ = causal_lm_load(models["q"])
    prompts = [prompt_ids_render(tokenizer, m) for m in PROMPTS[:2]]
    samples = samples_draw(policy, tokenizer, prompts, n=64, max_new_tokens=1, temperature=1.0, seed=0,
                           batch_size=64)
    samples += samples_draw(policy, tokenizer, prompts, n=64, max_new_tokens=1, temperature=1.0, seed=99,
                            batch_size=64)
    ratio = (np.array(sequence_logprobs(policy, samples, pad_id=tokenizer.pad_token_id))
             - np.array(sequence_logprobs(reference, samples, pad_id=tokenizer.pad_token_id)))
    exact = []
    for ids in prompts:  # Σ_v p(v) log p(v)/q(v) of the first token, enumerated
        with torch.no_grad():
            logp = torch.log_softmax(policy(input_ids=torch.tensor([ids])).logits[0, -1], -1)
            logq = torch.log_softmax(reference(input_ids=torch.tensor([ids])).logits[0, -1], -1)
        exact.append(float((logp.exp() * (logp - logq)).sum()))
    assert min(exact) > 0.2  # the two models really differ
    stderr = ratio.std() / math.sqrt(len(ratio))
    assert abs(ratio.mean() - np.mean(exact)) < 4 * stderr


def test_win_rate_is_one_when_the_judge_always_prefers_the_policy(models):
    # The "talker" never ends its answer; the "quiet" one ends at once. The
    # judge prefers the longer answer: the policy wins every comparison.
    config = EvalConfig(samples_per_prompt=2, max_new_tokens=6, seed=1)
    outcome = policy_evaluate(policy_dir=models["talker"], reference_dir=models["quiet"], prompts=PROMPTS,
                              judge=length_judge, config=config)
    metrics = outcome.metrics
    assert metrics["win_rate"] == 1.0 and metrics["win_rate_low"] == 1.0 and metrics["losses"] == 0
    assert metrics["policy_length"] == 6.0 and metrics["reference_length"] == 1.0
    assert metrics["length_change"] == 5.0 and metrics["policy_truncated"] == 1.0
    assert metrics["kl"] > 10  # never stopping is very unlikely under the reference
    assert len(outcome.samples) == 4 and all(len(row["policy"]) == 2 for row in outcome.samples)
    swapped = policy_evaluate(policy_dir=models["quiet"], reference_dir=models["talker"],
                              prompts=PROMPTS, judge=length_judge, config=config)
    assert swapped.metrics["win_rate"] == 0.0 and swapped.metrics["win_rate_high"] == 0.0


def test_every_judge_is_reported_side_by_side_with_its_length_controlled_rate(models):
    # The policy ("talker") is always 5 tokens longer. With a constant length
    # difference the regression cannot tell length from the intercept: the
    # LC rate equals the raw one. A judge that never decides and one that is
    # silent are reported as such.
    config = EvalConfig(samples_per_prompt=2, max_new_tokens=6, seed=1, resamples=200)
    outcome = policy_evaluate(
        policy_dir=models["talker"], reference_dir=models["quiet"], prompts=PROMPTS, judge=length_judge,
        config=config, score_judges={"previous_reward": lambda prompt, responses: [0.0] * len(responses)},
        pair_judges={"ai_judge": lambda prompt, pairs: [0.5] * len(pairs),
                     "silent": lambda prompt, pairs: [None] * len(pairs)})
    judges = outcome.metrics["judges"]
    own = judges["own_reward"]
    assert own["win_rate"] == 1.0 and own["prompts"] == 4 and own["comparisons"] == 8
    assert outcome.metrics["lc_win_rate"] == own["lc_win_rate"] > 0.99
    assert judges["previous_reward"]["win_rate"] == 0.5 and judges["previous_reward"]["ties"] == 8
    assert judges["ai_judge"]["win_rate"] == 0.5
    assert judges["silent"]["available"] is False
    row = outcome.samples[0]
    assert row["policy_tokens"] == [6, 6] and row["reference_tokens"] == [1, 1]
    assert row["judges"] == {"own_reward": [1.0, 1.0], "previous_reward": [0.5, 0.5],
                             "ai_judge": [0.5, 0.5], "silent": [None, None]}


def test_a_judge_returning_the_wrong_number_of_scores_is_an_error(models):
    with pytest.raises(ValueError, match="returned 1 scores for 2 responses"):
        policy_evaluate(policy_dir=models["p"], reference_dir=models["q"], prompts=PROMPTS[:1],
                        judge=lambda prompt, responses: [0.0],
                        config=EvalConfig(samples_per_prompt=1, max_new_tokens=2))


def test_greedy_sampling_is_refused_for_a_kl_estimate(models):
    model, tokenizer = causal_lm_load(models["p"])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        samples_draw(model, tokenizer, [[1, 2]], n=1, max_new_tokens=2, temperature=0.0, seed=0)


@pytest.mark.parametrize(("data", "message"), [
    ({"samples": 3}, "samples: unknown evaluation setting"),
    ({"num_prompts": 0}, "num_prompts: must be from 1"),
    ({"temperature": "hot"}, "temperature: must be a number"),
    ({"seed": 1.5}, "seed: must be an integer"),
    ({"level": 1.0}, "level: must be in"),
])
def test_eval_config_names_the_bad_field(data, message):
    with pytest.raises(ValueError, match=message):
        EvalConfig.from_dict(data)


def test_sample_fields_describe_the_answer(models):
    model, tokenizer = causal_lm_load(models["quiet"])
    (sample,) = samples_draw(model, tokenizer, [prompt_ids_render(tokenizer, PROMPTS[0])], n=1,
                             max_new_tokens=4, temperature=1.0, seed=0)
    assert isinstance(sample, Sample)
    assert sample.finished and sample.response_ids == (tokenizer.eos_token_id,) and sample.text == ""
