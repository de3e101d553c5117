"""What a training run asks for beyond one process: processes per node, nodes, strategy.

No torch here: the web process validates ``resources`` when a run is created.
Strategies are a registry (one home for the variation point); each entry says
what the worker does with it. ``single`` trains in the worker's own process as
before; the others start ``processes_per_node × nodes`` ranks with
``accelerate launch`` (torchrun underneath; training/distributed/launch.py)
and the accelerate config file shipped for the strategy
(training/distributed/accelerate/*.yaml). Every rank takes its slice of each
global micro-batch; ``ddp`` keeps a whole model per rank, ``fsdp`` shards
parameters, gradients and optimizer state over the ranks (torch FSDP2);
``deepspeed-zero2`` shards gradients and optimizer state, ``deepspeed-zero3``
the weights too, through a DeepSpeed engine (training/distributed/deepspeed_engine.py).

DeepSpeed is not a runtime requirement (``make run`` does not install it, and
the web tier cannot: it has no torch to build it against). The web process
accepts the DeepSpeed strategies; the worker checks that it has the package
before it launches a run (``unavailable``; launch.py) and fails the attempt by
name, with the install line, rather than starting ranks that cannot train.
"""

import importlib.metadata
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    multi_process: bool
    shards_weights: bool  # parameters split across ranks (the planner divides them)
    shards_state: bool = False  # gradients and optimizer state split across ranks
    accelerate_config: str = ""  # file under training/distributed/accelerate/
    # (package, pinned version, install line) the worker needs beyond the runtime requirements
    requires: tuple[str, str, str] | None = None


def unavailable(strategy: Strategy) -> str:
    """Why this process cannot run ``strategy`` (a package it needs is missing, or
    not the version it was tested with); empty when it can. Reads the installed
    package's metadata without importing it."""
    if not strategy.requires:
        return ""
    package, version, install = strategy.requires
    try:
        installed = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return (f"strategy {strategy.name} needs the {package} package on the worker, which is not "
                f"installed there: {install} (or use fsdp, which shards weights, gradients and optimizer "
                "state like ZeRO-3)")
    if installed != version:
        return (f"strategy {strategy.name} is tested with {package} {version}, the worker has {installed}: "
                f"{install}")
    return ""


DEEPSPEED_VERSION = "0.19.8"  # requirements-deepspeed.txt; deepspeed_engine.py uses its internals
# Built without its compiled ops (the engine steps the trainers' torch AdamW),
# against the torch already installed: pip's build isolation would fetch another torch.
DEEPSPEED_INSTALL = "DS_BUILD_OPS=0 pip install --no-build-isolation -r requirements-deepspeed.txt"

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("single", "One process on one device (the worker's own).", False, False),
    Strategy("ddp", "Data parallel: every rank holds the whole model and trains on its slice of each "
                    "global batch; gradients are summed across ranks (torchrun; NCCL on GPUs, gloo on CPU).",
             True, False, accelerate_config="ddp.yaml"),
    Strategy("fsdp", "Fully sharded data parallel (torch FSDP2 through accelerate): each rank keeps 1/ranks "
                     "of the weights, gradients and optimizer state and gathers one layer at a time; "
                     "checkpoints are gathered whole on rank 0. Works on CPUs (gloo) and GPUs (NCCL).",
             True, True, shards_state=True, accelerate_config="fsdp.yaml"),
    Strategy("deepspeed-zero2", "DeepSpeed ZeRO stage 2: every rank holds the whole model; gradients "
                                "and optimizer state are sharded over the ranks. CPUs (gloo) and GPUs "
                                "(NCCL, bf16).",
             True, False, shards_state=True, accelerate_config="deepspeed-zero2.yaml",
             requires=("deepspeed", DEEPSPEED_VERSION, DEEPSPEED_INSTALL)),
    Strategy("deepspeed-zero3", "DeepSpeed ZeRO stage 3: weights, gradients and optimizer state "
                                "sharded over the ranks, each layer gathered around its use. CPUs (gloo) "
                                "and GPUs (NCCL, bf16).",
             True, True, shards_state=True, accelerate_config="deepspeed-zero3.yaml",
             requires=("deepspeed", DEEPSPEED_VERSION, DEEPSPEED_INSTALL)),
)}

MAX_PROCESSES_PER_NODE = 64
MAX_NODES = 256


@dataclass(frozen=True)
class Resources:
    strategy: str = "single"
    processes_per_node: int = 1
    nodes: int = 1
    # For a multi-node run: where rank 0's rendezvous listens (the Celery worker's
    # node). Each other node runs the same accelerate line with its own machine rank
    # (python -m training.distributed.node).
    master_addr: str = ""
    master_port: int = 29500
    gpu_memory_gb: float = 0.0  # per GPU, for the memory planner; 0 = not checked

    @property
    def world_size(self) -> int:
        return self.processes_per_node * self.nodes

    @property
    def distributed(self) -> bool:
        return STRATEGIES[self.strategy].multi_process

    @property
    def weight_shards(self) -> int:
        """Ranks the weights are split over (1 unless the strategy shards them)."""
        return self.world_size if STRATEGIES[self.strategy].shards_weights else 1

    @property
    def state_shards(self) -> int:
        """Ranks gradients and optimizer state are split over."""
        return self.world_size if STRATEGIES[self.strategy].shards_state else 1

    def to_dict(self) -> dict:
        return asdict(self)


def resources_from_dict(data: dict | None) -> Resources:
    """Resources from user input; ValueError's message starts with the bad field's name."""
    if data is None:
        return Resources()
    if not isinstance(data, dict):
        raise ValueError("resources: must be an object")
    known = set(Resources.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown resource (known: {', '.join(sorted(known))})")
    strategy = data.get("strategy", "single")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    values: dict = {"strategy": strategy}
    for name, low, high in (("processes_per_node", 1, MAX_PROCESSES_PER_NODE), ("nodes", 1, MAX_NODES),
                            ("master_port", 1, 65535)):
        if name in data:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name}: must be a whole number")
            if not low <= value <= high:
                raise ValueError(f"{name}: must be between {low} and {high}")
            values[name] = value
    if "gpu_memory_gb" in data:
        value = data["gpu_memory_gb"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError("gpu_memory_gb: must be a number of GB, 0 or more")
        values["gpu_memory_gb"] = float(value)
    if "master_addr" in data:
        if not isinstance(data["master_addr"], str) or len(data["master_addr"]) > 255:
            raise ValueError("master_addr: must be a host name or address")
        values["master_addr"] = data["master_addr"].strip()
    resources = Resources(**values)
    if not resources.distributed and resources.world_size > 1:
        raise ValueError(f"strategy: '{strategy}' runs one process; choose ddp, fsdp or a DeepSpeed "
                         f"strategy for {resources.world_size} processes")
    if resources.nodes > 1 and not resources.master_addr:
        raise ValueError("master_addr: a multi-node run needs the main node's address")
    return resources
