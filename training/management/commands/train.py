"""`manage.py train SLUG --kind reward [--sync] [hyper-parameters]`.

Every field of RewardConfig is an option (``--learning-rate 3e-5``,
``--lora/--no-lora``), with the dataclass's help string.
"""

import argparse
import json

from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.models import DatasetSnapshot, Project
from training.models import RunKind, RunStatus
from training.reward.config import RewardConfig, config_fields
from training.services.runs import training_run_create, training_run_execute


def _option(field) -> tuple[str, dict]:
    flag = "--" + field.name.replace("_", "-")
    kw = {"dest": f"hp_{field.name}", "default": None, "help": field.metadata.get("help", "")}
    if field.type not in (bool, "bool"):
        kw["metavar"] = field.name.upper()
    tp = RewardConfig.__annotations__[field.name]
    if tp is bool or tp == "bool":
        kw["action"] = argparse.BooleanOptionalAction
    elif tp in (int, "int"):
        kw["type"] = int
    elif tp in (float, "float"):
        kw["type"] = float
    elif tp in (str, "str"):
        kw["choices"] = field.metadata.get("choices")
    else:  # list[str]
        kw["nargs"] = "+"
    return flag, kw


class Command(BaseCommand):
    help = ("Queue a training run for a project (or run it here with --sync). Without --snapshot a "
            "fresh dataset snapshot is built from the labels first.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--kind", default=RunKind.REWARD, choices=RunKind.values)
        parser.add_argument("--sync", action="store_true",
                            help="Train in this process instead of queueing for a worker.")
        parser.add_argument("--snapshot", type=int, metavar="VERSION",
                            help="Train on this existing snapshot version.")
        parser.add_argument("--base-model", help="A registered model's name (default: the reward "
                                                 "backbone, all-minilm-l6-v2).")
        group = parser.add_argument_group("hyper-parameters (training.reward.config.RewardConfig)")
        for field in config_fields():
            flag, kw = _option(field)
            group.add_argument(flag, **kw)

    def handle(self, *args, slug, **o):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        snapshot = None
        if o["snapshot"] is not None:
            snapshot = DatasetSnapshot.objects.filter(project=project, version=o["snapshot"]).first()
            if snapshot is None:
                raise CommandError(f"project '{slug}' has no snapshot v{o['snapshot']}")
        hyper = {key[3:]: value for key, value in o.items() if key.startswith("hp_") and value is not None}
        try:
            run = training_run_create(project=project, kind=o["kind"], snapshot=snapshot,
                                      base_model=o["base_model"], hyperparameters=hyper,
                                      enqueue=not o["sync"])
        except DomainError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"run {run.pk}: {run.kind} on snapshot v{run.snapshot.version} "
                          f"({run.snapshot.counts}), base model {run.base_model.name}")
        if not o["sync"]:
            self.stdout.write(self.style.SUCCESS(f"queued run {run.pk} on the training queue"))
            return
        run = training_run_execute(run_id=run.pk, worker_id="manage.py train --sync")
        if run is None or run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"run {run.pk if run else '?'} {run.status if run else 'not claimed'}: "
                               f"{run.error if run else ''}")
        self.stdout.write(json.dumps({"results": run.results, "timings": run.timings,
                                      "device": run.device}, indent=1))
        self.stdout.write(self.style.SUCCESS(
            f"run {run.pk} succeeded: held-out accuracy {run.results.get('accuracy')}, "
            f"model {run.output_model.name} at {run.output_model.path}"))
