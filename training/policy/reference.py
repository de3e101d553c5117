"""Response log-probabilities, and the reference model's, computed once and cached on disk.

DPO compares the policy with a frozen reference. Holding a second model copy
for that doubles the memory and adds a forward pass per step; instead the
reference log-probabilities of every training and test sequence are computed
once, before the first step, by the very model that is about to be trained
(its initial weights ARE the reference; with LoRA, the adapter-disabled base),
and saved. A resumed run, or a second run on the same snapshot and base model,
reads them back.

The cache key is a hash of what determines the numbers: the base model's files
(names, sizes, modification times, config), the tokenized sequences (ids and
prompt/response boundaries: so the snapshot and the tokenization settings),
the compute precision, and a version of this code's log-prob definition.
"""

import contextlib
import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from training.device import Placement
from training.distributed.sharding import is_sharded
from training.policy.data import EncodedSequence, collate_sequences, sequences_digest

# Bump when the definition of a sequence log-prob changes (masking, summation):
# older cache files then stop matching.
LOGPS_VERSION = "1"

# Causal LMs whose logits are exactly lm_head(last hidden state): for these the
# head runs on the response positions only (no [batch, length, vocab] tensor
# for the prompt tokens). Others (logit soft-capping, logit scaling) take the
# model's full forward.
PLAIN_HEAD_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3", "gpt2", "gpt_neox", "olmo",
                                    "olmo2", "phi3", "smollm3"})


def _plain_head(model):
    """(body, head) of a causal LM whose logits are head(body(…).last_hidden_state), else None.

    None for a sharded (fsdp) model too: its root's weights (embeddings, head)
    are gathered by the root's own forward, which calling body and head
    separately would bypass.
    """
    if is_sharded(model):
        return None
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wrapper
    config = getattr(inner, "config", None)
    if config is None or getattr(config, "model_type", None) not in PLAIN_HEAD_MODEL_TYPES:
        return None
    body = getattr(inner, getattr(inner, "base_model_prefix", ""), None)
    head = inner.get_output_embeddings()
    if body is None or head is None:
        return None
    return body, head


def sequence_logps(model, batch: dict, placement: Placement) -> torch.Tensor:
    """Summed log-probabilities of each sequence's response tokens, float32, shape [N].

    Position t's logits predict token t + 1; ``target_mask`` selects the
    positions whose next token is a response token, so prompt and padding
    tokens contribute nothing.
    """
    ids = batch["input_ids"].to(placement.device, non_blocking=True)
    attention = batch["attention_mask"].to(placement.device, non_blocking=True)
    mask = batch["target_mask"].to(placement.device, non_blocking=True)
    targets = ids[:, 1:][mask]  # [M]: every response token of the batch, flattened
    split = _plain_head(model)
    with placement.autocast():
        if split is not None:
            body, head = split
            hidden = body(input_ids=ids, attention_mask=attention, use_cache=False).last_hidden_state
            logits = head(hidden[:, :-1][mask])  # [M, vocab]: the head on response positions only
        else:
            logits = model(input_ids=ids, attention_mask=attention, use_cache=False).logits[:, :-1][mask]
    logits = logits.float()  # the log-softmax in float32 whatever the autocast dtype
    token_logps = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    rows = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1).expand_as(mask)[mask]
    return torch.zeros(ids.shape[0], device=ids.device, dtype=torch.float32).index_add(0, rows, token_logps)


@torch.no_grad()
def logps_compute(model, sequences: list[EncodedSequence], *, pad_id: int, batch_size: int,
                  placement: Placement, on_batch=None, forwards: int = 0,
                  filler: EncodedSequence | None = None) -> torch.Tensor:
    """Log-probs of ``sequences`` (in their order, on the CPU), in eval mode.

    Sequences are batched by length (less padding); the result is put back in
    the input order. ``forwards``: run at least that many batches, the missing
    ones on ``filler`` (thrown away): a sharded model's forwards are collectives,
    so every rank must run as many as the others.
    """
    was_training = model.training
    model.eval()
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].ids))
    out = torch.zeros(len(sequences), dtype=torch.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        batch = collate_sequences([sequences[i] for i in chunk], pad_id=pad_id)
        out[chunk] = sequence_logps(model, batch, placement).cpu()
        if on_batch is not None:
            on_batch()
    for _ in range(forwards - -(-len(order) // batch_size)):
        assert filler is not None  # a rank with fewer forwards than the others has sequences to pad with
        sequence_logps(model, collate_sequences([filler], pad_id=pad_id), placement)
    model.train(was_training)
    return out


def model_fingerprint(path: str | Path) -> str:
    """A hash of a model folder's files: name, size and modification time of each, and the config."""
    path = Path(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file()):
        stat = f.stat()
        h.update(f"{f.name}|{stat.st_size}|{stat.st_mtime_ns};".encode())
    config = path / "config.json"
    if config.is_file():
        h.update(config.read_bytes())
    return h.hexdigest()


def reference_key(*, model_key: str, sequences: list[EncodedSequence], placement: Placement) -> str:
    return hashlib.sha256(json.dumps({
        "version": LOGPS_VERSION, "model": model_key, "data": sequences_digest(sequences),
        "dtype": str(placement.dtype), "device": placement.device.type,
    }, sort_keys=True).encode()).hexdigest()[:40]


def reference_logps(model, sequences: list[EncodedSequence], *, pad_id: int, batch_size: int,
                    placement: Placement, model_key: str, cache_dir: Path | None = None,
                    on_batch=None, dist=None) -> tuple[torch.Tensor, bool]:
    """The reference's log-probs of ``sequences`` and whether they came from the cache.

    Computed with the adapters disabled when ``model`` is a peft model (the base
    is the reference), otherwise with the model as it is: the caller calls
    this before the first optimizer step (and before loading a checkpoint).

    ``dist`` (a data-parallel run): each rank computes every world-th sequence
    and one all-reduce assembles them (each position is filled by exactly one
    rank, the others add zeros); rank 0 writes the cache file.
    """
    path, cached = None, None
    if cache_dir is not None:
        key = reference_key(model_key=model_key, sequences=sequences, placement=placement)
        path = Path(cache_dir) / f"ref-{key}.safetensors"
        if path.is_file():
            cached = load_file(path)["logps"]
            if cached.shape != (len(sequences),):
                cached = None
    sharded = dist is not None and dist.active
    # All ranks must agree on a hit: one computing alone would wait for the
    # others in its all-reduce forever.
    if cached is not None and not (sharded and dist.any(False)):
        return cached, True
    if cached is None and sharded:
        dist.any(True)
    adapters_off = model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
    with adapters_off:
        if sharded:
            mine = list(range(dist.rank, len(sequences), dist.world_size))
            most = -(-len(sequences) // dist.world_size)  # rank 0's share, the largest
            part = logps_compute(model, [sequences[i] for i in mine], pad_id=pad_id, batch_size=batch_size,
                                 placement=placement, on_batch=on_batch,
                                 filler=sequences[0] if sequences else None,
                                 forwards=-(-most // batch_size) if dist.shards_weights else 0)
            full = torch.zeros(len(sequences), dtype=torch.float32, device=dist.device)
            full[mine] = part.to(dist.device)
            logps = dist.all_reduce_(full).cpu()
        else:
            logps = logps_compute(model, sequences, pad_id=pad_id, batch_size=batch_size, placement=placement,
                                  on_batch=on_batch)
    if path is not None and (dist is None or dist.is_main):
        # Temp name + rename: two runs filling the same cache entry at once each
        # write their own file, and a reader sees a whole file or none.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
        save_file({"logps": logps.contiguous()}, tmp, metadata={"sequences": str(len(sequences))})
        os.replace(tmp, path)
    return logps, False
