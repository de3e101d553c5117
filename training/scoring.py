"""Scoring responses with a trained reward model (for best-of-N, active
learning and evaluation). Framework-free: a model folder in, floats out."""

import threading
from functools import lru_cache
from pathlib import Path

import torch

from training.device import placement_choose
from training.reward.data import EncodedPair, SequenceEncoder, collate

_lock = threading.Lock()


@lru_cache(maxsize=2)
def _load(model_dir: str, device: str):
    # transformers: slow to import, so loaded on first use (never in the web process).
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    placement = placement_choose(device)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model.to(placement.device).eval(), placement


@torch.no_grad()
def rewards_score(*, model_dir: str | Path, prompt_messages: list[dict], responses: list[str],
                  max_length: int = 512, batch_size: int = 16, device: str = "auto") -> list[float]:
    """The scalar reward of each response to the prompt, truncated as in training."""
    with _lock:  # one load per folder, even from several threads
        tokenizer, model, placement = _load(str(model_dir), device)
    encoder = SequenceEncoder(tokenizer, max_length)
    encoded = []
    for response in responses:
        ids, types, _ = encoder.encode(prompt_messages, response)
        encoded.append((ids, types))
    scores: list[float] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start:start + batch_size]
        # collate() lays out chosen-then-rejected; score each sequence as a "chosen" one.
        batch = collate([EncodedPair(ids, ids, types, types) for ids, types in chunk], pad_id=pad)
        n = len(chunk)
        inputs = {k: batch[k][:n].to(placement.device)
                  for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        with placement.autocast():
            scores.extend(model(**inputs).logits.squeeze(-1).float().cpu().tolist())
    return scores
