"""KTO from a single-response feedback snapshot: its labeled completions are the
run's examples (thumbs up desirable, down undesirable); paired losses and reward
runs are refused for it, naming the field."""

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from annotation.errors import Invalid
from annotation.models import Annotation, Role
from annotation.services.datasets import dataset_snapshot_build
from generation.models import ModelRole, ModelSpec
from tests.factories import items_make, member_add, project_make
from training.device import placement_choose
from training.models import RunStatus, TrainingMetric
from training.policy.data import responses_encode
from training.policy.reference import logps_compute
from training.policy.synthetic import tiny_policy
from training.services import runs as run_services
from training.services.runs import training_run_create, training_run_execute

FAST_KTO = {"loss": "kto", "max_steps": 10, "batch_size": 4, "learning_rate": 1e-2, "logging_steps": 2,
            "checkpoint_every_steps": 5, "device": "cpu", "eval_batch_size": 8, "max_length": 48,
            "warmup_ratio": 0.0}


@pytest.fixture(scope="module")
def tiny_policy_dir(tmp_path_factory):
    return tiny_policy(tmp_path_factory.mktemp("tiny-policy") / "base")


@pytest.fixture
def policy(db, tiny_policy_dir):
    return ModelSpec.objects.create(name="tiny-policy", role=ModelRole.POLICY, path=str(tiny_policy_dir),
                                    base_model="random LlamaConfig", source="tests")


@pytest.fixture
def feedback_snapshot(admin, labeler, labeler2):
    """12 items, two labelers agreeing: the even ones up, the odd ones down."""
    project = project_make(creator=admin, task_type="feedback", overlap=2, test_fraction=0.0)
    for user in (labeler, labeler2):
        member_add(project, user, Role.LABELER)
    items = items_make(project, 12)
    for n, item in enumerate(items):
        for k, user in enumerate((labeler, labeler2)):
            Annotation.objects.create(project=project, item=item, labeler=user, feedback=n % 2 == 0,
                                      display_order=[0], idempotency_key=f"{n}-{k}")
    snapshot = dataset_snapshot_build(project=project)
    assert snapshot.counts == {"train": 12, "test": 0}
    return snapshot


def test_a_kto_run_trains_on_the_feedback_snapshots_completions(feedback_snapshot, policy, training_dir):
    examples = run_services._completions(feedback_snapshot, "train")
    assert len(examples) == 12 and sum(e.desirable for e in examples) == 6
    run = training_run_create(project=feedback_snapshot.project, kind="dpo", snapshot=feedback_snapshot,
                              hyperparameters=FAST_KTO, base_model="tiny-policy", enqueue=False)
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.step == run.total_steps == 10
    loaded = load_file(f"{run.output_model.path}/model.safetensors")
    base = load_file(f"{policy.path}/model.safetensors")
    assert any(not torch.equal(p, base[name]) for name, p in loaded.items() if name in base)
    windows = list(TrainingMetric.objects.filter(run=run, split="train").order_by("step")
                   .values_list("values", flat=True))
    assert len(windows) == 5 and all("margin" in w for w in windows)
    # What KTO optimizes, measured on every example with the saved model (the
    # logged margins are per batch, too noisy to compare across 10 steps): the
    # implicit reward log π/π_ref of the "up" completions rose above the "down" ones'.
    tokenizer = AutoTokenizer.from_pretrained(run.output_model.path)
    encoded = responses_encode(examples, tokenizer, FAST_KTO["max_length"])
    kw = {"pad_id": tokenizer.pad_token_id, "batch_size": 12, "placement": placement_choose("cpu")}
    rewards = (logps_compute(AutoModelForCausalLM.from_pretrained(run.output_model.path),
                             [e.sequence for e in encoded], **kw)
               - logps_compute(AutoModelForCausalLM.from_pretrained(policy.path),
                               [e.sequence for e in encoded], **kw))
    up = torch.tensor([e.desirable for e in examples])
    assert rewards[up].mean() > rewards[~up].mean()


@pytest.mark.parametrize(("kind", "hyper", "field"), [
    ("dpo", {"loss": "sigmoid"}, "hyperparameters.loss"),
    ("sft", {}, "kind"),
    ("reward", {}, "kind"),
])
def test_a_feedback_snapshot_is_refused_by_paired_training(feedback_snapshot, policy, training_dir,
                                                           kind, hyper, field):
    with pytest.raises(Invalid) as error:
        training_run_create(project=feedback_snapshot.project, kind=kind, snapshot=feedback_snapshot,
                            hyperparameters=hyper, base_model="tiny-policy", enqueue=False)
    assert error.value.field == field
