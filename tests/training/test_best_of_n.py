"""Best-of-N generation: N samples per prompt, scored by the project's active
reward model (a tiny model whose preference is known: "good" words beat "bad"
words); the item is the best sample against the worst."""

import random

import pytest
from django.core.management import call_command

from annotation.errors import Invalid
from annotation.models import ComparisonItem, Response
from generation.best_of_n import best_of_n
from generation.models import BackendName, JobStatus, ModelRole
from generation.services.jobs import generation_job_create, generation_job_run
from generation.services.registry import model_spec_register
from tests.factories import prompts_make
from tests.generation.fake_openai import FakeOpenAI
from tests.training.reward_fixture import reward_model_train
from training.services.registry import project_rewards_score

# Four samples per prompt, from clearly best to clearly worst under the known preference.
# Shaped like the training pairs (four filler words and two marked ones).
SAMPLES = ["word1 good2 word3 bad5 word4 word9", "word1 good2 word3 good5 word4 word9",
           "word1 bad2 word3 bad5 word4 word9", "word7 bad7 word8 good8 word2 word6"]
BEST, WORST = SAMPLES[1], SAMPLES[2]


class ScriptedPolicy(FakeOpenAI):
    """An OpenAI-compatible endpoint whose N samples are SAMPLES, in order."""

    def __init__(self):
        super().__init__()
        self.models = ["policy"]

    @staticmethod
    def completion(payload: dict) -> dict:
        n = payload.get("n", 1)
        return {"object": "chat.completion", "choices": [
            {"index": i, "message": {"role": "assistant", "content": SAMPLES[i % len(SAMPLES)]},
             "finish_reason": "stop"} for i in range(n)],
            "usage": {"prompt_tokens": 5, "completion_tokens": 4 * n}}


@pytest.fixture
def policy(db):
    with ScriptedPolicy() as server:
        model_spec_register(name="policy", role=ModelRole.POLICY, backend=BackendName.VLLM_SERVER,
                            endpoint_url=server.url)
        yield server


@pytest.fixture
def rewarded(project, backbone, training_dir):
    reward_model_train(project, backbone)
    return project


def ordered(groups):
    return [tuple(sorted(g)) for g in groups]


def test_the_first_pair_is_the_best_against_the_worst():
    scores = [0.1, 2.0, -3.0, 0.5]
    groups = best_of_n(SAMPLES, k=2, max_items=None, rng=random.Random(0), scores=scores)
    assert ordered(groups) == [(1, 2)]


def test_further_pairs_put_the_best_against_random_others():
    scores = [0.1, 2.0, -3.0, 0.5, 0.7]
    groups = best_of_n(range(5), k=2, max_items=10, rng=random.Random(3), scores=scores)
    assert ordered(groups)[0] == (1, 2)
    assert sorted(ordered(groups)[1:]) == [(0, 1), (1, 3), (1, 4)]  # each other once, no repeats
    # Positions are shuffled: over many prompts the best is not always "A".
    firsts = {best_of_n(range(5), k=2, max_items=1, rng=random.Random(seed), scores=scores)[0][0]
              for seed in range(20)}
    assert firsts == {1, 2}


def test_equal_scores_still_give_two_different_candidates():
    assert ordered(best_of_n("ab", k=2, max_items=None, rng=random.Random(0),
                             scores=[1.0, 1.0])) == [(0, 1)]
    with pytest.raises(ValueError, match="3 scores for 2 candidates"):
        best_of_n("ab", k=2, max_items=None, rng=random.Random(0), scores=[1.0, 2.0, 3.0])


def test_a_job_builds_best_against_worst_items_with_the_reward_model(rewarded, policy, engineer):
    prompts = prompts_make(rewarded, 2)
    job = generation_job_create(project=rewarded, user=engineer, model_names=["policy"], n=4,
                                strategy="best_of_n", sampling={"max_tokens": 8}, enqueue=False)
    job = generation_job_run(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.responses_created == 8 and job.items_created == 2
    for prompt in prompts:
        scores = project_rewards_score(project=rewarded, prompt_messages=prompt.messages,
                                       responses=SAMPLES)
        # The known preference: the model ranks the all-good sample first, the all-bad one last.
        assert SAMPLES[scores.index(max(scores))] == BEST
        assert SAMPLES[scores.index(min(scores))] == WORST
        item = ComparisonItem.objects.get(prompt=prompt)
        assert sorted(r.text for r in item.responses.all()) == sorted([BEST, WORST])
        # All N samples are kept as responses; only the chosen two make the item.
        assert Response.objects.filter(prompt=prompt, metadata__job=job.pk).count() == 4


def test_a_job_without_a_reward_model_is_refused_up_front(project, policy):
    prompts_make(project, 1)
    with pytest.raises(Invalid, match="active reward model") as error:
        generation_job_create(project=project, model_names=["policy"], n=4, strategy="best_of_n",
                              enqueue=False)
    assert error.value.field == "strategy"


def test_the_api_and_the_command_take_the_strategy(rewarded, policy, api, engineer, capsys):
    prompts_make(rewarded, 1)
    response = api(engineer).post(f"/api/projects/{rewarded.pk}/generation-jobs/", {
        "models": ["policy"], "n": 4, "strategy": "best_of_n", "max_items_per_prompt": 2,
    }, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["strategy"] == "best_of_n"
    call_command("generate", rewarded.slug, "--model", "policy", "--n", "4", "--strategy", "best_of_n")
    assert "succeeded" in capsys.readouterr().out
