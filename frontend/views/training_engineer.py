"""The engineer's part of the training page: start a DPO-family or SFT run
with its loss and hyper-parameters, create, edit or delete the training
schedules (reward, DPO family, SFT), edit the project's loop settings, and start or cancel a loop round
— what needed ``manage.py train --kind dpo``, ``manage.py loop --once`` or the
Django admin.

One POST endpoint beside the training page (kept apart from its reward-run
form); the checks and the work are the services the API calls, and each
action is audited as the API audits it.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from annotation import access
from annotation.errors import DomainError, Invalid
from frontend.views.common import form_numbers, project_for_page
from generation.models import ModelRole, ModelSpec
from training.loop import services as loop_services
from training.loop.models import PROMOTION_JUDGE_CHOICES, LoopRound, LoopSetting
from training.models import RunKind, TrainingSchedule
from training.policy.config import PolicyConfig
from training.policy.loss_specs import LOSS_PARAMETERS, losses_for_kind
from training.services import runs as run_services
from training.services import schedules as schedule_services

# The policy hyper-parameters the form offers (the API takes all of PolicyConfig):
# the general ones, then each loss's numeric parameters as loss_specs lists them.
LOSS_NUMBERS = [p for p in LOSS_PARAMETERS.values() if p.is_number]
POLICY_NUMBERS: dict[str, type] = {
    "beta": float, "learning_rate": float, "epochs": float, "max_steps": int, "batch_size": int,
    "gradient_accumulation_steps": int, "max_length": int, "seed": int,
    **{p.name: float for p in LOSS_NUMBERS},
}
LOOP_NUMBERS: dict[str, type] = {
    "check_every_minutes": int, "min_interval_hours": float, "min_new_pairs": int,
    "prompts_per_round": int, "win_threshold": float, "min_eval_prompts": int,
}


def engineer_context(*, project) -> dict:
    """What the include ``_training_engineer.html`` shows."""
    return {
        "policy_models": list(ModelSpec.objects.filter(is_active=True, role=ModelRole.POLICY)
                              .exclude(path="").order_by("name")),
        "policy_kinds": [(RunKind.DPO, "DPO family (preference pairs)"),
                         (RunKind.SFT, "SFT (chosen responses)")],
        "policy_losses": losses_for_kind(RunKind.DPO),
        "policy_defaults": PolicyConfig(),
        "loss_parameters": [{"spec": p, "min": p.gt if p.min is None else p.min} for p in LOSS_NUMBERS],
        "loop_form": loop_services.loop_setting_for(project=project),
        "promotion_judges": PROMOTION_JUDGE_CHOICES,
        "schedules": list(TrainingSchedule.objects.filter(project=project).select_related("base_model")
                          .order_by("kind")),
        "schedule_kinds": RunKind.choices,
        "reward_backbones": list(ModelSpec.objects.filter(is_active=True, role=ModelRole.REWARD)
                                 .exclude(path="").order_by("name")),
    }


def _start_policy(request, project) -> str:
    kind = request.POST.get("kind")
    if kind not in (RunKind.DPO, RunKind.SFT):
        raise Invalid("must be dpo or sft", field="kind")
    hyperparameters = form_numbers(request.POST, POLICY_NUMBERS, prefix="hyperparameters.")
    if kind == RunKind.DPO and request.POST.get("loss"):
        hyperparameters["loss"] = request.POST["loss"]
    hyperparameters["lora"] = request.POST.get("lora") == "on"
    snapshot = (request.POST.get("snapshot") or "").strip()
    try:
        snapshot_id = int(snapshot) if snapshot else None
    except ValueError:
        raise Invalid("must be a snapshot of this project", field="snapshot_id") from None
    run = run_services.training_run_create(
        project=project, kind=kind, snapshot_id=snapshot_id,
        base_model=(request.POST.get("base_model") or "").strip() or None,
        hyperparameters=hyperparameters, created_by=request.user, via="page")
    return f"{run.get_kind_display()} run {run.pk} queued on snapshot v{run.snapshot.version}."


def _loop_settings(request, project) -> str:
    setting = LoopSetting.objects.get(pk=loop_services.loop_setting_for(project=project).pk)
    values = form_numbers(request.POST, LOOP_NUMBERS)
    values["enabled"] = request.POST.get("enabled") == "on"
    values["ai_judge_enabled"] = request.POST.get("ai_judge_enabled") == "on"
    # Only a project admin may turn this on (loop_setting_save checks ``by``).
    values["allow_few_eval_prompts"] = request.POST.get("allow_few_eval_prompts") == "on"
    if request.POST.get("promotion_judge"):
        values["promotion_judge"] = request.POST["promotion_judge"]
    for name, value in values.items():
        setattr(setting, name, value)
    policy = (request.POST.get("base_policy") or "").strip()
    setting.base_policy = (ModelSpec.objects.filter(name=policy, is_active=True).first()
                           if policy else None)
    if policy and setting.base_policy is None:
        raise Invalid(f"no active model named '{policy}'", field="base_policy")
    loop_services.loop_setting_save(setting=setting, actor=request.user, fields=[*values, "base_policy"],
                                    via="page")
    return "Loop settings saved."


SCHEDULE_NUMBERS: dict[str, type] = {
    "min_new_pairs": int, "min_interval_hours": float, "check_every_minutes": int,
}


def _schedule_save(request, project) -> str:
    """Create or edit the project's schedule of one run kind (one per kind)."""
    kind = request.POST.get("kind") or RunKind.REWARD
    if kind not in RunKind.values:
        raise Invalid(f"must be one of {', '.join(RunKind.values)}", field="kind")
    schedule = (TrainingSchedule.objects.filter(project=project, kind=kind).first()
                or TrainingSchedule(project=project, kind=kind))
    values = form_numbers(request.POST, SCHEDULE_NUMBERS)
    if any(v < 0 for v in values.values()) or values.get("check_every_minutes") == 0:
        field = next(k for k, v in values.items() if v < 0 or (k == "check_every_minutes" and v == 0))
        raise Invalid("must be a positive number", field=field)
    for name, value in values.items():
        setattr(schedule, name, value)
    schedule.enabled = request.POST.get("enabled") == "on"
    backbone = (request.POST.get("base_model") or "").strip()
    schedule.base_model = (ModelSpec.objects.filter(name=backbone, is_active=True).first()
                           if backbone else None)
    if backbone and schedule.base_model is None:
        raise Invalid(f"no active model named '{backbone}'", field="base_model")
    # The loss of a DPO-family schedule (its other hyper-parameters: the API).
    loss = (request.POST.get("loss") or "").strip()
    hyperparameters = {k: v for k, v in schedule.hyperparameters.items() if k != "loss"}
    schedule.hyperparameters = {**hyperparameters, "loss": loss} if kind == RunKind.DPO and loss \
        else hyperparameters
    schedule_services.training_schedule_save(schedule=schedule, actor=request.user, via="page")
    return f"{schedule.get_kind_display()} schedule saved."


def _schedule_delete(request, project) -> str:
    schedule = TrainingSchedule.objects.filter(project=project, pk=request.POST.get("schedule") or 0).first()
    if schedule is None:
        raise Http404("Schedule not found.")
    schedule_services.training_schedule_delete(schedule=schedule, actor=request.user, via="page")
    return "Schedule deleted."


def _round_start(request, project) -> str:
    rnd = loop_services.loop_round_start(project=project, created_by=request.user, via="page")
    return f"Loop round {rnd.number} started; a worker runs it."


def _round_cancel(request, project) -> str:
    rnd = LoopRound.objects.filter(project=project, pk=request.POST.get("round") or 0).first()
    if rnd is None:
        raise Http404("Loop round not found.")
    rnd = loop_services.loop_round_cancel(rnd=rnd, actor=request.user, via="page")
    return f"Loop round {rnd.number} cancelled."


ACTIONS = {"start_policy": _start_policy, "loop_settings": _loop_settings,
           "round_start": _round_start, "round_cancel": _round_cancel,
           "schedule_save": _schedule_save, "schedule_delete": _schedule_delete}


@login_required
@require_POST
def training_engineer(request, project_id: int):
    project = project_for_page(request, project_id, need=access.CURATE)
    action = ACTIONS.get(request.POST.get("action"))
    try:
        if action is None:
            raise Invalid("unknown action")
        messages.success(request, action(request, project))
    except DomainError as error:
        messages.error(request, str(error))
    return redirect("training", project_id=project.pk)
