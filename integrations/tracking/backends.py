"""One adapter per experiment tracker behind one interface, in a registry keyed
by name (the names of ``TrackerBackend``). The tracker libraries are imported
when an adapter is built, in the training worker: the web tier never needs them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from django.conf import settings

# The tracker's terminal status per Palate status; None: leave the tracked run
# open (the run was requeued and another attempt continues it).
FINISHED, FAILED, KILLED = "succeeded", "failed", "cancelled"


@dataclass(frozen=True)
class TrackedRunSpec:
    """What a tracker needs to open (or reopen) a run."""

    key: str  # stable across attempts: "training-run-12", "loop-round-3"
    name: str  # shown in the tracker
    experiment: str  # MLflow experiment / W&B group: one per project
    job_type: str  # reward, dpo, sft, loop-round
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    existing_id: str = ""  # the tracker's id from an earlier attempt: continue that run


@dataclass(frozen=True)
class DatasetInput:
    name: str
    digest: str
    source: dict
    profile: dict


class MlflowTracker:
    """MLflow through its client (``mlflow-skinny``): a file store under var/ by
    default, any tracking server by URI."""

    name = "mlflow"
    STATUS = {FINISHED: "FINISHED", FAILED: "FAILED", KILLED: "KILLED"}

    def __init__(self) -> None:
        self.uri = settings.PALATE_MLFLOW_TRACKING_URI
        if self.uri.startswith("file:"):
            # MLflow 3 keeps the file store in maintenance mode behind this opt-in;
            # it is the one backend that needs no server and no database.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        # MLflow's HTTP client retries 7 times with doubling waits by default:
        # minutes of a training worker's time for a server that is down.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        from mlflow.tracking import MlflowClient  # optional tracker: loaded only when it is configured

        self.client = MlflowClient(tracking_uri=self.uri)
        self.run_id = ""
        self.experiment_id = ""

    def _experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException  # optional tracker: loaded only when it is configured

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except MlflowException:  # created by another worker meanwhile
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def _location(self) -> str:
        parsed = urlparse(self.uri)
        if parsed.scheme == "file":
            return str(Path(url2pathname(parsed.path)) / self.experiment_id / self.run_id)
        if parsed.scheme in ("http", "https"):
            return f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"
        return f"{self.uri} run {self.run_id}"

    def start(self, spec: TrackedRunSpec) -> tuple[str, str]:
        from mlflow.entities import Param, RunTag  # optional tracker: loaded only when it is configured

        if spec.existing_id:
            run = self.client.get_run(spec.existing_id)
            self.run_id, self.experiment_id = run.info.run_id, run.info.experiment_id
            self.client.update_run(self.run_id, status="RUNNING")
            return self.run_id, self._location()
        self.experiment_id = self._experiment(spec.experiment)
        tags = {**spec.tags, "palate.key": spec.key, "palate.job_type": spec.job_type}
        run = self.client.create_run(self.experiment_id, run_name=spec.name, tags=tags)
        self.run_id = run.info.run_id
        # Params are immutable in MLflow: logged once, on the first attempt.
        self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in spec.params.items()],
                              tags=[RunTag("mlflow.note.content", spec.name)])
        return self.run_id, self._location()

    def log_metrics(self, *, step: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric  # optional tracker: loaded only when it is configured

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])

    def log_dataset(self, dataset: DatasetInput, *, context: str) -> None:
        from mlflow.entities import Dataset, InputTag  # optional tracker: loaded only when it is configured
        from mlflow.entities import DatasetInput as MlflowDatasetInput

        # A tracking server stores at most 36 characters of digest: the full
        # content hash is in the source and in a tag of the input.
        entity = Dataset(name=dataset.name, digest=dataset.digest[:36], source_type="palate-snapshot",
                         source=json.dumps(dataset.source, sort_keys=True),
                         profile=json.dumps(dataset.profile, sort_keys=True))
        self.client.log_inputs(self.run_id, datasets=[MlflowDatasetInput(entity, tags=[
            InputTag("mlflow.data.context", context), InputTag("palate.content_hash", dataset.digest)])])

    def log_artifacts(self, *, path: Path, name: str) -> None:
        self.client.log_artifacts(self.run_id, str(path), artifact_path=name)

    def link_children(self, child_ids: list[str]) -> None:
        """Nest runs under this one in MLflow's UI (a loop round and its training runs)."""
        for child in child_ids:
            self.client.set_tag(child, "mlflow.parentRunId", self.run_id)

    def finish(self, *, status: str | None) -> None:
        if status is not None:
            self.client.set_terminated(self.run_id, status=self.STATUS[status])


class WandbTracker:
    """Weights & Biases: offline runs under var/wandb by default (``wandb sync``
    uploads them later), online with an API key."""

    name = "wandb"

    def __init__(self) -> None:
        root = Path(settings.PALATE_WANDB_DIR)
        root.mkdir(parents=True, exist_ok=True)
        # Its caches and staged artifacts beside the runs, not in the worker's home.
        for variable, sub in (("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"),
                              ("WANDB_CONFIG_DIR", "config"), ("WANDB_ARTIFACT_DIR", "artifacts")):
            os.environ.setdefault(variable, str(root / sub))
        import wandb  # optional tracker: loaded only when it is configured

        self.wandb = wandb
        self.root = root
        self.run = None

    def start(self, spec: TrackedRunSpec) -> tuple[str, str]:
        wandb = self.wandb
        online = settings.PALATE_WANDB_MODE == "online"
        self.run = wandb.init(
            project=settings.PALATE_WANDB_PROJECT, entity=settings.PALATE_WANDB_ENTITY or None,
            dir=str(self.root), mode=settings.PALATE_WANDB_MODE, name=spec.name, group=spec.experiment,
            job_type=spec.job_type, config=spec.params, tags=[spec.job_type],
            id=spec.existing_id or None, resume="allow" if (spec.existing_id and online) else None,
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True))
        location = self.run.url if online and self.run.url else str(Path(self.run.dir).parent)
        return self.run.id, location

    def log_metrics(self, *, step: int, metrics: dict[str, float]) -> None:
        self.run.log(metrics, step=step)

    def log_dataset(self, dataset: DatasetInput, *, context: str) -> None:
        self.run.config.update({"dataset": {"name": dataset.name, "digest": dataset.digest,
                                            "context": context, **dataset.source}},
                               allow_val_change=True)

    def log_artifacts(self, *, path: Path, name: str) -> None:
        artifact = self.wandb.Artifact(name=f"{self.run.id}-{name}", type="model")
        artifact.add_dir(str(path))
        self.run.log_artifact(artifact)

    def link_children(self, child_ids: list[str]) -> None:
        self.run.config.update({"runs": child_ids}, allow_val_change=True)

    def finish(self, *, status: str | None) -> None:
        self.run.finish(exit_code=0 if status in (FINISHED, None) else 1)


TRACKERS: dict[str, tuple[Callable[[], bool], Callable[[], object]]] = {
    "mlflow": (lambda: settings.PALATE_MLFLOW, MlflowTracker),
    "wandb": (lambda: settings.PALATE_WANDB and settings.PALATE_WANDB_MODE != "disabled", WandbTracker),
}


def trackers_enabled() -> list[str]:
    return [name for name, (enabled, _) in TRACKERS.items() if enabled()]


def tracker_build(name: str):
    try:
        _, build = TRACKERS[name]
    except KeyError:
        raise KeyError(f"unknown tracker {name!r}; known: {', '.join(TRACKERS)}") from None
    return build()
