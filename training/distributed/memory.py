"""Per-GPU memory of a training run, estimated from the model's config before anything is allocated.

No torch: the web process refuses a run that will not fit when it is created
(training/services/runs.py: memory_check), with the numbers in the message.

    total = weights + gradients + optimizer state + activations + logits + overhead

- weights: every parameter at ``weight_bytes``: 4 for full fine-tuning (float32
  master weights, bf16 autocast), 2 for a LoRA base (bf16 on a bf16 GPU), ~0.55
  for QLoRA's 4-bit base; LoRA adapters in float32 on top.
- gradients: float32 for each TRAINABLE parameter (all of them, or the LoRA
  adapters and the reward head); AdamW keeps two float32 moments per trainable
  parameter (8 bytes).
- sharding divides by the ranks what the strategy shards (fsdp: weights,
  gradients and optimizer state, plus two blocks gathered whole at a time);
  data parallelism (ddp) divides nothing. DeepSpeed (bf16) holds the trained
  weights in bf16 (whole under ZeRO-2, sharded under ZeRO-3) and their float32
  master copy sharded like the optimizer state.
- activations per token and layer ≈ (12·h + 4·I) values kept for the backward
  pass (inputs of q/k/v/o, the norms, the gated MLP's three intermediates; SDPA
  keeps no seq×seq score matrix); gradient checkpointing keeps one h-vector per
  layer plus one layer's full set. Checked against the tensors autograd saves:
  641 MB measured, 671 MB estimated (4096 tokens, 4 layers of width 512, fp32).
- backward workspace: at the backward pass's peak, one layer's activations and
  their gradients (×2), recomputed or not.
- logits: a causal LM's log-softmax over the vocabulary in float32 (the policy
  trainer runs the head on response positions only: counted at half the tokens)
  and its gradient; a reward model has a scalar head.
- overhead: the CUDA context and allocator slack, a flat 1 GiB on a GPU.

An estimate, not a measurement: tests/training/test_memory_plan.py holds it to
the measured peak of real CPU steps within a stated factor.
"""

import json
from dataclasses import dataclass
from pathlib import Path

GIB = 2**30
GATED_MLP = frozenset({"llama", "mistral", "qwen2", "qwen3", "olmo", "olmo2", "phi3", "gemma", "gemma2",
                       "smollm3", "mixtral"})
METHODS = ("full", "lora", "qlora")


@dataclass(frozen=True)
class ModelShape:
    hidden: int
    layers: int
    intermediate: int
    vocab: int
    heads: int
    kv_heads: int
    head_dim: int
    gated_mlp: bool
    tied: bool
    causal: bool

    @classmethod
    def from_config(cls, config: dict, *, causal: bool) -> "ModelShape":
        h = config["hidden_size"]
        heads = config.get("num_attention_heads", 1)
        return cls(hidden=h, layers=config["num_hidden_layers"],
                   intermediate=config.get("intermediate_size") or 4 * h, vocab=config["vocab_size"],
                   heads=heads, kv_heads=config.get("num_key_value_heads") or heads,
                   head_dim=config.get("head_dim") or h // heads,
                   gated_mlp=config.get("model_type") in GATED_MLP,
                   # transformers defaults to tied input and output embeddings
                   tied=bool(config.get("tie_word_embeddings", True)), causal=causal)

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of one layer's linear maps."""
        h, i = self.hidden, self.intermediate
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        mlp = [(h, i), (h, i), (i, h)] if self.gated_mlp else [(h, i), (i, h)]
        return [(h, q), (h, kv), (h, kv), (q, h), *mlp]

    @property
    def parameters(self) -> int:
        per_layer = sum(a * b for a, b in self.linear_shapes()) + 4 * self.hidden  # + norms/biases
        embeddings = self.vocab * self.hidden
        head = embeddings if (self.causal and not self.tied) else (0 if self.causal else self.hidden)
        return embeddings + self.layers * per_layer + head + self.hidden

    def lora_parameters(self, rank: int) -> int:
        return self.layers * sum(rank * (a + b) for a, b in self.linear_shapes())


@dataclass(frozen=True)
class MemoryPlan:
    parameters: int
    trainable: int
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    logits_gb: float
    overhead_gb: float
    available_gb: float
    gpus: int

    @property
    def total_gb(self) -> float:
        return (self.weights_gb + self.gradients_gb + self.optimizer_gb + self.activations_gb + self.logits_gb
                + self.overhead_gb)

    @property
    def fits(self) -> bool:
        return not self.available_gb or self.total_gb <= self.available_gb

    def breakdown(self) -> str:
        return (f"weights {self.weights_gb:.1f} + gradients {self.gradients_gb:.1f} + optimizer "
                f"{self.optimizer_gb:.1f} + activations {self.activations_gb:.1f} + logits "
                f"{self.logits_gb:.1f} + overhead {self.overhead_gb:.1f} GB")

    def refusal(self) -> str:
        return (f"needs about {self.total_gb:.1f} GB per GPU but {self.available_gb:g} GB are available "
                f"({self.breakdown()}; {self.parameters / 1e9:.2f}B parameters, "
                f"{self.trainable / 1e6:.1f}M trainable, {self.gpus} GPU(s)); lower batch_size or "
                f"max_length, enable gradient_checkpointing or lora, or add GPUs")

    def to_dict(self) -> dict:
        return {"total_gb": round(self.total_gb, 2), "fits": self.fits, "parameters": self.parameters,
                "trainable": self.trainable, "breakdown": self.breakdown()}


def memory_plan(shape: ModelShape, *, method: str = "full", lora_rank: int = 16, sequences: int,
                max_length: int, gradient_checkpointing: bool = False, shards: int = 1, gpus: int = 1,
                weight_bytes: float | None = None, activation_bytes: float = 2.0, available_gb: float = 0.0,
                overhead_gb: float = 1.0, state_shards: int | None = None,
                master_copy: bool = False) -> MemoryPlan:
    """Per-GPU estimate for one micro-batch of ``sequences`` sequences of ``max_length``
    tokens on each GPU; ``shards`` ranks split the weights, ``state_shards`` (default:
    ``shards``) the gradients and optimizer state.

    ``weight_bytes`` per frozen or trained parameter; by default what the trainers
    load on a bf16 GPU (training.device.load_options): 4 when every weight trains
    (float32 master weights), 2 for a LoRA base (bf16), 0.55 for QLoRA's NF4 base;
    LoRA's trainable adapters are float32 on top. Sharded weights add the blocks
    gathered whole around the one computing (two: the current and the prefetched).
    ``master_copy`` (DeepSpeed): the trainable weights compute in bf16 and their
    float32 masters are split like the optimizer state."""
    if method not in METHODS:
        raise ValueError(f"method: must be one of {', '.join(METHODS)}")
    n = shape.parameters
    trainable = n if method == "full" else shape.lora_parameters(lora_rank) + shape.hidden
    if weight_bytes is None:
        weight_bytes = {"full": 4.0, "lora": 2.0, "qlora": 0.55}[method]  # qlora: NF4 + constants
    state_shards = shards if state_shards is None else state_shards
    if master_copy:  # bf16 compute weights (a LoRA base as it is) + sharded float32 masters
        compute_bytes = 2.0 if method == "full" else weight_bytes
        weights = n * compute_bytes / shards + trainable * 4 / state_shards
        if method != "full":
            weights += trainable * 2 / shards  # the adapters' bf16 copy
    else:
        weights = n * weight_bytes / shards
        if method != "full":
            weights += trainable * 4 / shards  # the float32 adapters (and head)
    if shards > 1:
        per_layer = sum(a * b for a, b in shape.linear_shapes())
        weights += 2 * per_layer * min(weight_bytes, 2.0)  # gathered blocks, in the compute dtype
    tokens = sequences * max_length
    h, i = shape.hidden, shape.intermediate
    per_layer_token = (12 * h + (4 if shape.gated_mlp else 2) * i)
    if gradient_checkpointing:
        act = tokens * (shape.layers * h + per_layer_token)
    else:
        act = tokens * shape.layers * per_layer_token
    act += 2 * tokens * per_layer_token  # the backward workspace
    logits = (tokens / 2) * shape.vocab * 4 * 2 if shape.causal else 0
    return MemoryPlan(
        parameters=n, trainable=trainable, weights_gb=weights / GIB,
        gradients_gb=trainable * 4 / state_shards / GIB, optimizer_gb=trainable * 8 / state_shards / GIB,
        activations_gb=act * activation_bytes / GIB, logits_gb=logits / GIB, overhead_gb=overhead_gb,
        available_gb=available_gb, gpus=gpus)


def memory_plan_for_run(*, kind: str, config: dict, resources, model_path: str | Path) -> MemoryPlan | None:
    """The plan of a run as configured (None when the model folder has no config.json)."""
    path = Path(model_path) / "config.json"
    if not path.is_file():
        return None
    causal = kind != "reward"
    raw = json.loads(path.read_text())
    # GPT-2-style configs name the same sizes differently.
    for ours, theirs in (("hidden_size", "n_embd"), ("num_hidden_layers", "n_layer"),
                         ("num_attention_heads", "n_head"), ("intermediate_size", "n_inner")):
        if raw.get(ours) is None and raw.get(theirs) is not None:
            raw[ours] = raw[theirs]
    if any(raw.get(k) is None for k in ("hidden_size", "num_hidden_layers", "vocab_size")):
        return None  # an architecture the planner cannot read: not checked rather than guessed
    shape = ModelShape.from_config(raw, causal=causal)
    per_pair = 1 if config.get("loss") == "sft" else 2
    method = "qlora" if config.get("qlora") else "lora" if config.get("lora") else "full"
    return memory_plan(
        shape, method=method, lora_rank=config.get("lora_r", 16),
        sequences=config["batch_size"] * per_pair, max_length=config["max_length"],
        gradient_checkpointing=bool(config.get("gradient_checkpointing")),
        shards=resources.weight_shards, state_shards=resources.state_shards,
        master_copy=resources.strategy.startswith("deepspeed"),
        gpus=resources.world_size, available_gb=resources.gpu_memory_gb)
