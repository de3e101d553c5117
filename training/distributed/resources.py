"""What a training run asks for beyond one process: processes per node, nodes, strategy.

No torch here: the web process validates ``resources`` when a run is created.
Strategies are a registry (one home for the variation point); each entry says
what the worker does with it. ``single`` trains in the worker's own process as
before; ``ddp`` starts ``processes_per_node × nodes`` ranks with torchrun
(training/distributed/launch.py) that split every global micro-batch.
Sharded strategies (FSDP, DeepSpeed ZeRO) are not offered yet: a run asking
for one is refused by name rather than silently trained as DDP.
"""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    multi_process: bool
    shards_weights: bool  # parameters/optimizer state split across ranks (the planner divides them)


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("single", "One process on one device (the worker's own).", False, False),
    Strategy("ddp", "Data parallel: every rank holds the whole model and trains on its slice of each "
                    "global batch; gradients are summed across ranks (torchrun; NCCL on GPUs, gloo on CPU).",
             True, False),
)}

MAX_PROCESSES_PER_NODE = 64
MAX_NODES = 256


@dataclass(frozen=True)
class Resources:
    strategy: str = "single"
    processes_per_node: int = 1
    nodes: int = 1
    # For a multi-node run: where rank 0's rendezvous listens (the Celery worker's
    # node). Each other node runs the same torchrun line with its own node rank.
    master_addr: str = ""
    master_port: int = 29500
    gpu_memory_gb: float = 0.0  # per GPU, for the memory planner; 0 = not checked

    @property
    def world_size(self) -> int:
        return self.processes_per_node * self.nodes

    @property
    def distributed(self) -> bool:
        return STRATEGIES[self.strategy].multi_process

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
        raise ValueError(f"strategy: '{strategy}' runs one process; choose ddp for "
                         f"{resources.world_size} processes")
    if resources.nodes > 1 and not resources.master_addr:
        raise ValueError("master_addr: a multi-node run needs the main node's address")
    return resources
