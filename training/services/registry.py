"""A succeeded run's model, registered in generation's model registry."""

from pathlib import Path

from django.utils.text import slugify

from annotation.errors import Conflict
from generation.models import BackendName, ModelRole, ModelSpec
from generation.services.registry import model_spec_register
from generation.services.runtime import spec_path
from training.models import TrainingRun
from training.selectors import reward_model_active


def reward_model_name(run: TrainingRun) -> str:
    return f"{slugify(run.project.slug)[:60]}-reward-run-{run.pk}"


def reward_model_register(*, run: TrainingRun, model_dir: Path, metrics: dict) -> ModelSpec:
    """A ModelSpec (role reward) for the run's saved model, with its held-out
    metrics and the snapshot's content hash, so a score can be traced to data."""
    spec, _ = model_spec_register(
        name=reward_model_name(run), role=ModelRole.REWARD, path=str(model_dir),
        backend=BackendName.TRANSFORMERS, base_model=run.base_model.name,
        source=f"training run {run.pk}", project=run.project,
        metadata={
            "training_run": run.pk, "project": run.project_id, "kind": run.kind,
            "snapshot": run.snapshot_id, "snapshot_version": run.snapshot.version,
            "snapshot_hash": run.snapshot.content_hash, "metrics": metrics,
            "config": run.hyperparameters,
        })
    return spec


def policy_model_name(run: TrainingRun) -> str:
    return f"{slugify(run.project.slug)[:60]}-{run.kind}-run-{run.pk}"


def policy_model_register(*, run: TrainingRun, model_dir: Path, metrics: dict) -> ModelSpec:
    """A ModelSpec (role policy) for a dpo/sft run's saved model.

    The folder holds full weights (LoRA adapters already merged) and the
    tokenizer with its chat template: transformers' AutoModelForCausalLM and
    vLLM load it as they load the base. ``base_model`` names the run's starting
    point, which is also the reference the policy is evaluated against.
    """
    config = run.hyperparameters or {}
    spec, _ = model_spec_register(
        name=policy_model_name(run), role=ModelRole.POLICY, path=str(model_dir),
        backend=BackendName.TRANSFORMERS, base_model=run.base_model.name,
        source=f"training run {run.pk}", project=run.project,
        metadata={
            "training_run": run.pk, "project": run.project_id, "kind": run.kind,
            "loss": config.get("loss"), "lora_merged": bool(config.get("lora")),
            "reference_model": run.base_model.name,
            "snapshot": run.snapshot_id, "snapshot_version": run.snapshot.version,
            "snapshot_hash": run.snapshot.content_hash, "metrics": metrics, "config": config,
        })
    return spec


def project_rewards_score(*, project, prompt_messages: list[dict], responses: list[str]) -> list[float]:
    """Score responses with the project's active reward model (best-of-N, active learning)."""
    from training.scoring import rewards_score  # torch: only where scores are computed

    spec = reward_model_active(project=project)
    if spec is None:
        raise Conflict("the project has no active reward model: train one first", field="reward_model")
    max_length = (spec.metadata.get("config") or {}).get("max_length", 512)
    return rewards_score(model_dir=spec_path(spec), prompt_messages=prompt_messages, responses=responses,
                         max_length=max_length)
