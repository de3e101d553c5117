"""The training page of a project, for its admins and engineers: runs with their
progress, results and curves; a form that starts a reward-model run; cancel,
resume and activate; the project's schedules.

Plain forms posting back here (CSRF-protected). The work goes through the same
services the REST API calls (training.services.runs); the run itself happens on
the training queue, and static/frontend/js/training.js refreshes the progress of
queued and running runs from the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from annotation import access
from annotation.errors import Invalid, NotFound
from annotation.models import DatasetSnapshot, Project, SnapshotStatus
from annotation.validation import id_clean
from frontend.views.common import form_numbers, post_action, project_for_page
from frontend.views.training_engineer import engineer_context
from generation.models import ModelSpec
from generation.services.registry import model_specs_usable
from generation.services.runtime import spec_path
from integrations.tracking.selectors import tracked_runs_by_round, tracked_runs_by_run
from training import selectors
from training.distributed.memory import memory_plan_for_run
from training.distributed.resources import STRATEGIES, Resources
from training.loop import selectors as loop_selectors
from training.models import ACTIVE_STATUSES, RunKind, TrainingRun, TrainingSchedule
from training.reward.config import LOSS_NAMES, TIE_MODES, RewardConfig
from training.services import runs as run_services

RUNS_SHOWN = 30
SNAPSHOTS_OFFERED = 20
# Chart geometry (SVG user units); the CSS scales the SVG to its box.
CHART_W, CHART_H, CHART_PAD = 320, 120, 6
MAX_CURVE_POINTS = 400  # a long run's series is thinned to this many points per line

# The hyper-parameters the form offers; the rest keep RewardConfig's defaults
# (the API and `manage.py train` take all of them).
FORM_NUMBERS: dict[str, type] = {
    "learning_rate": float, "epochs": float, "max_steps": int, "batch_size": int,
    "gradient_accumulation_steps": int, "max_length": int, "seed": int,
    "logging_steps": int, "eval_every_steps": int,
}
FORM_CHOICES = {"loss": LOSS_NAMES, "ties": TIE_MODES}
FORM_FLAGS = ("lora", "gradient_checkpointing")


def _project(request, project_id, need=access.CURATE) -> Project:
    return project_for_page(request, project_id, need)


def _run(project: Project, run_id) -> TrainingRun:
    # Only among this project's runs: a run id of another project is a 404.
    try:
        pk = id_clean(run_id or 0, field="run")  # ASCII digits within a bigint
    except Invalid:
        raise Http404("Training run not found.") from None
    run = selectors.training_run_list(project=project).filter(pk=pk).first()
    if run is None:
        raise Http404("Training run not found.")
    return run


# Curves ---------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    name: str  # e.g. "train loss"
    key: str  # e.g. "train-loss", for CSS and tests
    points: str  # SVG polyline points, "x,y x,y …"
    count: int
    last: float | None
    end: tuple[float, float]  # the last point, marked with a dot (a one-point series is only a dot)


@dataclass(frozen=True)
class Chart:
    title: str
    lines: list[Line]
    y_min: float
    y_max: float
    x_max: int


def _thin(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if len(points) <= MAX_CURVE_POINTS:
        return points
    stride = math.ceil(len(points) / MAX_CURVE_POINTS)
    return points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])


def chart_build(title: str, series: dict[str, list[tuple[int, float]]], *,
                fixed_range: tuple[float, float] | None = None) -> Chart | None:
    """Polylines of named (step, value) series on shared axes; None when no
    series has a point. Steps map to x from 0 to the last step, values to y
    (SVG's y grows downwards, so the largest value is at the top)."""
    series = {name: _thin([(s, v) for s, v in pts if v is not None and math.isfinite(v)])
              for name, pts in series.items()}
    series = {name: pts for name, pts in series.items() if pts}
    if not series:
        return None
    values = [v for pts in series.values() for _, v in pts]
    y_min, y_max = fixed_range or (min(values), max(values))
    if y_max - y_min < 1e-12:
        y_min, y_max = y_min - 0.5, y_max + 0.5
    x_max = max(max(s for s, _ in pts) for pts in series.values())

    def x(step: int) -> float:
        return CHART_PAD + (CHART_W - 2 * CHART_PAD) * (step / x_max if x_max else 0.5)

    def y(value: float) -> float:
        return CHART_PAD + (CHART_H - 2 * CHART_PAD) * (y_max - value) / (y_max - y_min)

    lines = [Line(name=name, key=name.replace(" ", "-"),
                  points=" ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in pts),
                  count=len(pts), last=pts[-1][1],
                  end=(round(x(pts[-1][0]), 1), round(y(pts[-1][1]), 1)))
             for name, pts in series.items()]
    return Chart(title=title, lines=lines, y_min=y_min, y_max=y_max, x_max=x_max)


def run_charts(run: TrainingRun) -> list[Chart]:
    """Loss and accuracy over the steps, training and held-out, from TrainingMetric."""
    metrics = selectors.training_run_metrics(run=run)

    def pts(split: str, key: str) -> list[tuple[int, float]]:
        return [(row["step"], row.get(key)) for row in metrics.get(split, [])]

    charts = [
        chart_build("Loss", {"train loss": pts("train", "loss"), "eval loss": pts("eval", "loss")}),
        chart_build("Accuracy", {"train accuracy": pts("train", "accuracy"),
                                 "eval accuracy": pts("eval", "accuracy")}, fixed_range=(0.0, 1.0)),
    ]
    return [chart for chart in charts if chart is not None]


# Rows -------------------------------------------------------------------------
def _eta_seconds(run: TrainingRun) -> int | None:
    if run.eta_at is None or run.status not in ACTIVE_STATUSES:
        return None
    return max(0, round((run.eta_at - timezone.now()).total_seconds()))


def _run_row(run: TrainingRun, tracked: dict) -> dict:
    return {
        "run": run,
        "tracked": tracked.get(run.pk, []),  # its runs in MLflow / W&B, with their last error
        "percent": round(100 * run.step / run.total_steps) if run.total_steps else 0,
        "eta_seconds": _eta_seconds(run),
        "live": run.status in ACTIVE_STATUSES,
        "charts": run_charts(run),
        "can_cancel": run.status in ACTIVE_STATUSES,
        "can_resume": run.status in ("failed", "cancelled"),
        "can_activate": run.status == "succeeded" and run.output_model_id is not None and not run.is_active,
    }


def _backbones(project) -> list[ModelSpec]:
    return list(model_specs_usable(project=project).filter(role__in=run_services.BACKBONE_ROLES)
                .exclude(path="").order_by("role", "name"))


def _default_backbone(project) -> str:
    try:
        return run_services.reward_backbone_default(project=project).name
    except NotFound:
        return ""


# Actions ----------------------------------------------------------------------
def hyperparameters_from_form(post) -> dict:
    """The offered fields that were filled in, typed; Invalid names a bad one."""
    values = form_numbers(post, FORM_NUMBERS, prefix="hyperparameters.")
    for name in FORM_CHOICES:
        raw = (post.get(name) or "").strip()
        if raw:
            values[name] = raw  # checked against the choices by config_from_dict
    for name in FORM_FLAGS:
        values[name] = post.get(name) == "on"
    return values


RESOURCE_NUMBERS: dict[str, type] = {"processes_per_node": int, "nodes": int, "gpu_memory_gb": float}


def resources_from_form(post) -> dict:
    """The run's resources from the form (blank fields keep the defaults); Invalid names a bad one."""
    return {"strategy": (post.get("strategy") or "single").strip(),
            **form_numbers(post, RESOURCE_NUMBERS, prefix="resources.")}


def _memory_hint(project: Project, backbone: str) -> str:
    """The planner's per-GPU estimate for the default backbone with the form's defaults."""
    spec = model_specs_usable(project=project).filter(name=backbone).exclude(path="").first()
    if spec is None:
        return ""
    plan = memory_plan_for_run(kind=RunKind.REWARD, config=RewardConfig().to_dict(), resources=Resources(),
                               model_path=spec_path(spec))
    if plan is None:
        return ""
    return f"{spec.name} with these defaults: about {plan.total_gb:.1f} GB per GPU ({plan.breakdown()})"


def _start(request, project: Project) -> None:
    snapshot = (request.POST.get("snapshot") or "").strip()
    try:
        snapshot_id = id_clean(snapshot, field="snapshot_id") if snapshot else None
    except Invalid:
        messages.error(request, "field 'snapshot_id': must be a snapshot of this project")
        return
    run = run_services.training_run_create(
        project=project, kind=RunKind.REWARD, snapshot_id=snapshot_id,
        base_model=(request.POST.get("base_model") or "").strip() or None,
        hyperparameters=hyperparameters_from_form(request.POST),
        resources=resources_from_form(request.POST), created_by=request.user, via="page")
    messages.success(request, f"Run {run.pk} queued on snapshot v{run.snapshot.version}.")


def _cancel(request, project: Project) -> None:
    run = run_services.training_run_cancel(run=_run(project, request.POST.get("run")), actor=request.user,
                                           via="page")
    messages.success(request, f"Run {run.pk} cancelled.")


def _resume(request, project: Project) -> None:
    run = run_services.training_run_resume(run=_run(project, request.POST.get("run")), actor=request.user,
                                           via="page")
    messages.success(request, f"Run {run.pk} queued again; it continues from its last checkpoint.")


def _activate(request, project: Project) -> None:
    run = run_services.training_run_activate(run=_run(project, request.POST.get("run")), actor=request.user,
                                             via="page")
    messages.success(request, f"Run {run.pk} is now the project's reward model.")


def _loop_round_rows(project: Project) -> list[dict]:
    """The loop's rows, each with its tracked runs (MLflow / W&B)."""
    rows = loop_selectors.loop_round_rows(project=project)
    tracked = tracked_runs_by_round(round_ids=[row["round"].pk for row in rows])
    return [{**row, "tracked": tracked.get(row["round"].pk, [])} for row in rows]


ACTIONS = {"start": _start, "cancel": _cancel, "resume": _resume, "activate": _activate}


@login_required
@require_http_methods(["GET", "POST"])
def training(request, project_id: int):
    project = _project(request, project_id)
    if request.method == "POST":
        return post_action(request, project, ACTIONS, "training")

    runs = list(selectors.training_run_list(project=project)[:RUNS_SHOWN])
    tracked = tracked_runs_by_run(run_ids=[run.pk for run in runs])
    snapshots = list(DatasetSnapshot.objects.filter(project=project, status=SnapshotStatus.READY)
                     .order_by("-version")[:SNAPSHOTS_OFFERED])
    context = {
        "project": project,
        "rows": [_run_row(run, tracked) for run in runs],
        "snapshots": snapshots,
        "backbones": _backbones(project),
        "default_backbone": _default_backbone(project),
        "defaults": RewardConfig(),
        "losses": LOSS_NAMES,
        "tie_modes": TIE_MODES,
        "strategies": list(STRATEGIES.values()),
        "memory_hint": _memory_hint(project, _default_backbone(project)),
        "schedules": list(TrainingSchedule.objects.filter(project=project).select_related("base_model")),
        "chart_w": CHART_W,
        "chart_h": CHART_H,
        "api_runs": reverse("api-training-runs", args=[project.pk]),
        "loop_rounds": _loop_round_rows(project),
        "loop_setting": loop_selectors.loop_setting_of(project=project),
        **engineer_context(project=project),  # DPO/SFT runs and the loop (its own module)
    }
    return render(request, "frontend/training.html", context)
