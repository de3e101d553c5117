"""dpo and sft runs as durable jobs: create (validated per kind), execute, register the
policy (merged weights, loadable by transformers), metrics, kill-and-resume."""

import pytest
import torch
from safetensors.torch import load_file

from annotation.errors import Invalid
from generation.models import ModelRole, ModelSpec
from tests.training.factories import snapshot_make
from training.models import RunStatus, TrainingMetric, TrainingRun
from training.policy.synthetic import tiny_policy
from training.services import runs as run_services
from training.services.runs import training_run_create, training_run_execute, training_run_resume

# A run of these finishes in a few seconds on a CPU.
FAST_DPO = {"max_steps": 6, "batch_size": 4, "learning_rate": 2e-3, "logging_steps": 2,
            "checkpoint_every_steps": 3, "device": "cpu", "eval_batch_size": 8, "max_length": 64,
            "warmup_ratio": 0.0}


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory):
    return tiny_policy(tmp_path_factory.mktemp("tiny-policy") / "base")


@pytest.fixture
def policy(db, tiny_policy_dir):
    return ModelSpec.objects.create(name="tiny-policy", role=ModelRole.POLICY, path=str(tiny_policy_dir),
                                    base_model="random LlamaConfig", source="tests")


def create(project, **kw) -> TrainingRun:
    kw.setdefault("snapshot", snapshot_make(project, train=24, test=8))
    kw.setdefault("hyperparameters", FAST_DPO)
    kw.setdefault("base_model", "tiny-policy")
    kw.setdefault("enqueue", False)
    kw.setdefault("kind", "dpo")
    return training_run_create(project=project, **kw)


def test_a_dpo_run_trains_and_registers_a_merged_policy_that_transformers_loads(
        project, policy, training_dir):
    from transformers import AutoModelForCausalLM

    run = create(project, hyperparameters=FAST_DPO | {"lora": True, "lora_r": 4, "learning_rate": 1e-2})
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.step == run.total_steps == 6 and run.device == "cpu float32"
    spec = run.output_model
    assert spec.role == ModelRole.POLICY and spec.base_model == "tiny-policy"
    assert spec.metadata["snapshot_hash"] == run.snapshot.content_hash
    assert spec.metadata["lora_merged"] is True and spec.metadata["reference_model"] == "tiny-policy"
    # Merged: a plain causal LM folder (no adapter files), and its weights moved.
    loaded = AutoModelForCausalLM.from_pretrained(spec.path)
    assert not any("lora" in name for name in loaded.state_dict())
    base = load_file(f"{policy.path}/model.safetensors")
    moved = [name for name, p in loaded.state_dict().items()
             if name in base and not torch.equal(p, base[name])]
    assert moved
    assert {"loss", "accuracy", "margin", "chosen_reward", "rejected_reward", "chosen_logp", "rejected_logp",
            "chosen_length", "pairs"} <= set(run.results)
    assert run.results["pairs"] == 8 and "likelihood_displacement_step" in run.results
    assert {"loss", "accuracy", "likelihood_displacement", "tokens_per_s"} <= set(run.results["train"])
    steps = list(TrainingMetric.objects.filter(run=run, split="train").values_list("step", flat=True))
    assert steps == [2, 4, 6]
    assert not run.is_active  # whether a new policy is used is for its evaluation to decide


@pytest.mark.parametrize(("hyper", "field"), [
    ({"beta": 0}, "hyperparameters.beta"),
    ({"beta": "big"}, "hyperparameters.beta"),
    ({"loss": "bradley_terry"}, "hyperparameters.loss"),
    ({"loss": "cdpo"}, "hyperparameters.label_smoothing"),
    ({"label_smoothing": 0.1}, "hyperparameters.label_smoothing"),
    ({"loss": "sigmoid", "simpo_gamma": 1.0}, "hyperparameters.simpo_gamma"),
    ({"loss": "simpo", "rpo_alpha": 1.0}, "hyperparameters.rpo_alpha"),
    ({"kto_desirable_weight": 2.0}, "hyperparameters.kto_desirable_weight"),
    ({"ties": "drop"}, "hyperparameters.ties"),  # a reward-model field
    ({"loss": "sft"}, "hyperparameters.loss"),
])
def test_create_refuses_bad_dpo_hyperparameters_naming_the_field(project, policy, training_dir, hyper,
                                                                  field):
    with pytest.raises(Invalid) as error:
        create(project, hyperparameters=hyper)
    assert error.value.field == field
    assert not TrainingRun.objects.exists()


def test_dpo_needs_a_policy_to_start_from(project, policy, backbone, training_dir):
    with pytest.raises(Invalid, match="starts from a policy"):
        create(project, base_model="tiny-bert")
    run = create(project, base_model=None, hyperparameters={"loss": "ipo", "beta": 0.5})
    assert run.base_model == policy  # the only registered policy is the default
    assert run.hyperparameters["loss"] == "ipo" and run.hyperparameters["batch_size"] == 4


def test_an_sft_run_trains_on_the_chosen_responses(project, policy, training_dir):
    run = create(project, kind="sft", hyperparameters=FAST_DPO)
    assert run.hyperparameters["loss"] == "sft"
    run = training_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    first, last = TrainingMetric.objects.filter(run=run, split="train").order_by("step")[::2]
    assert last.values["loss"] < first.values["loss"]  # the chosen responses' NLL fell
    assert run.output_model.role == ModelRole.POLICY and run.output_model.metadata["kind"] == "sft"


class WorkerDied(BaseException):
    """Stands for SIGKILL: escapes every `except Exception`, leaves the row running."""


@pytest.mark.parametrize("lora", [False, True])
def test_a_killed_dpo_run_resumes_to_the_same_weights_as_an_uninterrupted_one(
        project, policy, training_dir, monkeypatch, lora):
    lora_hyper = {"lora": True, "lora_r": 4, "lora_dropout": 0.1, "learning_rate": 1e-2}
    hyper = FAST_DPO | (lora_hyper if lora else {})
    whole = create(project, hyperparameters=hyper)
    whole = training_run_execute(run_id=whole.pk)
    assert whole.status == RunStatus.SUCCEEDED, whole.error

    killed = create(project, snapshot=whole.snapshot, hyperparameters=hyper)
    original = run_services.RunHooks.on_progress

    def die_after_step_4(self, *, step, total_steps):
        original(self, step=step, total_steps=total_steps)
        if step == 4:  # after checkpoint 3, before checkpoint 6: steps 4 is lost and redone
            raise WorkerDied()

    monkeypatch.setattr(run_services.RunHooks, "on_progress", die_after_step_4)
    with pytest.raises(WorkerDied):
        training_run_execute(run_id=killed.pk)
    monkeypatch.setattr(run_services.RunHooks, "on_progress", original)
    TrainingRun.objects.filter(pk=killed.pk).update(status=RunStatus.FAILED)
    training_run_resume(run=TrainingRun.objects.get(pk=killed.pk))
    killed = training_run_execute(run_id=killed.pk)
    assert killed.status == RunStatus.SUCCEEDED and killed.attempt == 2, killed.error
    a = load_file(f"{whole.output_model.path}/model.safetensors")
    b = load_file(f"{killed.output_model.path}/model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # The second run read the first's reference log-probs from the project's cache.
    assert killed.results["reference_cached"] is True
    steps = list(TrainingMetric.objects.filter(run=killed, split="train").values_list("step", flat=True))
    assert steps == [2, 4, 6]


def test_the_api_starts_a_dpo_run_and_names_a_bad_hyperparameter(
        api, project, engineer, labeler, policy, training_dir, django_capture_on_commit_callbacks):
    snapshot = snapshot_make(project, train=24, test=8)
    url = f"/api/projects/{project.pk}/training-runs/"
    body = {"kind": "dpo", "snapshot_id": snapshot.pk, "base_model": "tiny-policy",
            "hyperparameters": FAST_DPO | {"loss": "cdpo", "label_smoothing": 0.2, "beta": 0.05}}
    assert api(labeler).post(url, body, format="json").status_code == 403
    response = api(engineer).post(url, body | {"hyperparameters": {"loss": "cdpo"}}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "hyperparameters.label_smoothing"
    assert not TrainingRun.objects.exists()
    with django_capture_on_commit_callbacks() as callbacks:
        response = api(engineer).post(url, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["kind"] == "dpo" and data["base_model"] == "tiny-policy" and len(callbacks) == 1
    assert (data["hyperparameters"]["loss"], data["hyperparameters"]["label_smoothing"],
            data["hyperparameters"]["beta"]) == ("cdpo", 0.2, 0.05)


def test_manage_py_train_kind_dpo_with_loss_and_beta(project, policy, training_dir, capsys):
    from django.core.management import call_command

    snapshot = snapshot_make(project, train=24, test=8)
    call_command("train", project.slug, "--kind", "dpo", "--loss", "ipo", "--beta", "0.5", "--sync",
                 "--snapshot", str(snapshot.version), "--base-model", "tiny-policy", "--max-steps", "2",
                 "--device", "cpu", "--max-length", "64", "--learning-rate", "0.001")
    run = TrainingRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED and run.kind == "dpo" and run.step == 2
    assert (run.hyperparameters["loss"], run.hyperparameters["beta"]) == ("ipo", 0.5)
    assert f"run {run.pk} succeeded: held-out preference accuracy" in capsys.readouterr().out


def test_manage_py_train_refuses_a_reward_option_for_dpo(project, policy, training_dir):
    from django.core.management import CommandError, call_command

    snapshot = snapshot_make(project, train=24, test=8)
    with pytest.raises(CommandError, match="unknown hyper-parameter"):
        call_command("train", project.slug, "--kind", "dpo", "--snapshot", str(snapshot.version),
                     "--base-model", "tiny-policy", "--ties", "equal")
    with pytest.raises(CommandError, match="must be above 0"):
        call_command("train", project.slug, "--kind", "dpo", "--snapshot", str(snapshot.version),
                     "--base-model", "tiny-policy", "--beta", "0")


def test_kto_takes_both_bad_responses_of_train_prompts_as_undesirable(project, labeler, labeler2):
    from annotation.models import Annotation
    from tests.factories import items_make

    items = items_make(project, 12)
    for n, item in enumerate(items):
        for k, user in enumerate((labeler, labeler2)):
            # items 0-5: both labelers say "both bad"; items 6-11: only one of two does (no majority)
            both_bad = n < 6 or k == 0
            Annotation.objects.create(project=project, item=item, labeler=user, both_bad=both_bad,
                                      strength=None if both_bad else 1, display_order=[0, 1],
                                      idempotency_key=f"{n}-{k}")
    snapshot = snapshot_make(project, train=4, test=2)  # created after the labels: they count
    got = run_services._both_bad_responses(snapshot)
    expected = {r.text for item in items[:6] if item.prompt.split == "train" for r in item.responses.all()}
    assert {u.response for u in got} == expected and all(not u.desirable for u in got)
    assert any(item.prompt.split == "train" for item in items[:6])
