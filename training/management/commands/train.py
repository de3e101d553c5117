"""`manage.py train SLUG --kind reward|dpo|sft [--sync] [hyper-parameters]`.

Every field of RewardConfig and PolicyConfig is an option (``--learning-rate
3e-5``, ``--lora/--no-lora``, ``--loss ipo``, ``--beta 0.05``), with the
dataclass's help string. Only the options given on the command line are sent;
the run's kind decides which configuration reads them (a reward-only option
with ``--kind dpo`` is refused, naming it).
"""

import argparse
import dataclasses
import json
import typing

from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.models import DatasetSnapshot, Project
from training.models import RunKind, RunStatus
from training.policy import config as policy_config
from training.reward import config as reward_config
from training.services.runs import POLICY_KINDS, training_run_create, training_run_execute


def _option(field: dataclasses.Field, tp: type, *, shared: bool) -> tuple[str, dict]:
    flag = "--" + field.name.replace("_", "-")
    kw = {"dest": f"hp_{field.name}", "default": None, "help": field.metadata.get("help", "")}
    if tp is bool:
        kw["action"] = argparse.BooleanOptionalAction
        return flag, kw
    kw["metavar"] = field.name.upper()
    if tp is int:
        kw["type"] = int
    elif tp is float:
        kw["type"] = float
    elif tp is str:
        # A shared name (loss) has different choices per kind: the service checks them.
        if not shared and field.metadata.get("choices"):
            kw["choices"] = field.metadata["choices"]
    else:  # list[str]
        kw["nargs"] = "+"
    return flag, kw


def _types(cls) -> dict[str, type]:
    hints = typing.get_type_hints(cls)
    return {name: typing.get_origin(tp) or tp for name, tp in hints.items()}


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
                                                 "backbone all-minilm-l6-v2 for reward runs, the policy "
                                                 "smollm2-135m-instruct for dpo and sft runs).")
        group = parser.add_argument_group("resources (training.distributed.resources)")
        group.add_argument("--strategy", help="single (default), ddp or fsdp (accelerate launch ranks).")
        group.add_argument("--processes-per-node", type=int, help="Ranks per node (GPUs per node).")
        group.add_argument("--nodes", type=int, help="Nodes (a multi-node run also needs --master-addr).")
        group.add_argument("--master-addr", help="The main node's address for the rendezvous.")
        group.add_argument("--gpu-memory-gb", type=float,
                           help="Memory per GPU: the planner refuses a run that will not fit.")
        reward_fields = reward_config.config_fields()
        policy_fields = policy_config.config_fields()
        reward_types, policy_types = _types(reward_config.RewardConfig), _types(policy_config.PolicyConfig)
        policy_help = {f.name: f.metadata.get("help", "") for f in policy_fields}
        group = parser.add_argument_group("reward hyper-parameters (training.reward.config.RewardConfig)")
        for field in reward_fields:
            shared = field.name in policy_help
            if shared and reward_types[field.name] is not policy_types[field.name]:
                raise TypeError(f"{field.name} has different types in RewardConfig and PolicyConfig")
            flag, kw = _option(field, reward_types[field.name], shared=shared)
            if shared:
                kw["help"] = f"reward: {kw['help']} dpo/sft: {policy_help[field.name]}"
            group.add_argument(flag, **kw)
        group = parser.add_argument_group("dpo/sft hyper-parameters (training.policy.config.PolicyConfig; "
                                          "shared names are listed above)")
        reward_names = {f.name for f in reward_fields}
        for field in policy_fields:
            if field.name not in reward_names:
                flag, kw = _option(field, policy_types[field.name], shared=False)
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
        resources = {name: o[name] for name in ("strategy", "processes_per_node", "nodes", "master_addr",
                                                "gpu_memory_gb") if o.get(name) is not None}
        try:
            run = training_run_create(project=project, kind=o["kind"], snapshot=snapshot,
                                      base_model=o["base_model"], hyperparameters=hyper,
                                      enqueue=not o["sync"], resources=resources or None, via="command")
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
        what = "preference accuracy" if run.kind in POLICY_KINDS else "accuracy"
        self.stdout.write(self.style.SUCCESS(
            f"run {run.pk} succeeded: held-out {what} {run.results.get('accuracy')}, "
            f"model {run.output_model.name} at {run.output_model.path}"))
