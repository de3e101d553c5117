"""Reads of the loop for pages: one row per round, numbers already shaped."""

from annotation.models import Project
from training.loop.models import LoopRound, LoopSetting
from training.models import TrainingRun

ROUNDS_SHOWN = 20


def _interval(results: dict, key: str = "win_rate") -> dict | None:
    if not results or results.get(key) is None:
        return None
    return {"rate": 100 * results[key], "low": 100 * results[f"{key}_low"],
            "high": 100 * results[f"{key}_high"]}


def loop_round_rows(*, project: Project, limit: int = ROUNDS_SHOWN) -> list[dict]:
    """Newest first: the round with its dataset, models, win rates and KL."""
    rounds = (LoopRound.objects.filter(project=project)
              .select_related("reference_policy", "snapshot", "reward_run__output_model",
                              "dpo_run__output_model", "evaluation", "generation_job")
              .order_by("-number")[:limit])
    rows = []
    for rnd in rounds:
        results = rnd.evaluation.results if rnd.evaluation is not None else {}
        human = rnd.evaluation.human_results if rnd.evaluation is not None else {}
        rows.append({
            "round": rnd,
            "reward_model": trained_model_name(rnd.reward_run),
            "policy": trained_model_name(rnd.dpo_run),
            "win": _interval(results),
            "human": _interval(human),
            "kl": results.get("kl"),
            "length_change": results.get("length_change"),
            "prompts": results.get("prompts"),
        })
    return rows


def loop_setting_of(*, project: Project) -> LoopSetting | None:
    return (LoopSetting.objects.select_related("base_policy", "current_policy")
            .filter(project=project).first())


def loop_round_of(*, project: Project, round_id) -> LoopRound | None:
    """One round of ``project`` with what its report reads, or None (another
    project's round id is None too: the caller answers not found)."""
    try:
        pk = int(round_id)
    except (TypeError, ValueError):
        return None
    return (LoopRound.objects.filter(project=project, pk=pk)
            .select_related("reference_policy", "snapshot", "reward_run__output_model",
                            "dpo_run__output_model", "evaluation", "generation_job")
            .first())


def trained_model_name(run: TrainingRun | None) -> str | None:
    """The name of the model a round's run produced, if it has one yet."""
    return run.output_model.name if run is not None and run.output_model is not None else None
