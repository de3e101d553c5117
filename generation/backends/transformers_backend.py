"""transformers ``generate`` in-process: the CPU default.

Prompts are rendered with the tokenizer's chat template, sorted by length so
each batch pads little, left-padded (a decoder-only model continues from the
right end, so padding must be on the left) and generated with
``num_return_sequences=n``. Results come back in the caller's order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from generation.backends.base import (
    BackendRequestError,
    BackendUnavailable,
    Completion,
    Conversation,
    PromptResult,
    SamplingParams,
    is_prefill,
    truncate_at_stop,
)


def completion_from_ids(ids: list[int], *, eos_ids: set[int], pad_id: int | None, max_tokens: int,
                        stop: Sequence[str], decode: Callable[[list[int]], str]) -> Completion:
    """One generated row (prompt removed) as a Completion.

    ``generate`` pads rows that finished early: after the first end-of-sequence
    token (counted, like vLLM does) everything is filler; a row stopped by a
    stop string is padded with ``pad_id`` without an end token.
    """
    finish = None
    for position, token in enumerate(ids):
        if token in eos_ids:
            ids, count, finish = ids[:position], position + 1, "stop"
            break
    else:
        while ids and pad_id is not None and ids[-1] == pad_id:
            ids = ids[:-1]
        count = len(ids)
    text, stopped = truncate_at_stop(decode(ids), stop)
    if stopped:
        finish = "stop"
    if finish is None:
        finish = "length" if count >= max_tokens else "stop"
    return Completion(text=text, finish_reason=finish, completion_tokens=count)


# Loading is not thread-safe in transformers (it swaps global init state, e.g.
# meta-device initialization): two backends loading at once in one process —
# the arena starts both models of a battle together — can leave a model on
# the meta device. One load at a time per process.
_LOADING = threading.Lock()


class TransformersBackend:
    name = "transformers"

    def __init__(self, path: str | Path, *, model_name: str | None = None, dtype: str = "float32",
                 device: str = "cpu", max_batch_sequences: int = 32):
        self.path = Path(path)
        self.model_name = model_name or self.path.name
        self.dtype = dtype
        self.device = device
        self.max_batch_sequences = max_batch_sequences
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    # Loading ---------------------------------------------------------------
    def _load(self):
        with self._lock:
            if self._model is not None:
                return self._model, self._tokenizer
            if not (self.path / "config.json").is_file():
                raise BackendUnavailable(
                    f"no checkpoint at {self.path} for model '{self.model_name}': "
                    "run `python manage.py bootstrap_models` (or fix the model's path)")
            import torch  # on first load of the model: the web process never imports torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            with _LOADING:
                # local_files_only: never reach for a hub; remote code is never trusted.
                tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
                tokenizer.padding_side = "left"
                if tokenizer.pad_token_id is None:
                    tokenizer.pad_token = tokenizer.eos_token
                model = AutoModelForCausalLM.from_pretrained(
                    self.path, local_files_only=True, dtype=getattr(torch, self.dtype))
                model.to(self.device).eval()
            self._model, self._tokenizer = model, tokenizer
            return model, tokenizer

    def health(self) -> None:
        self._load()

    def close(self) -> None:
        with self._lock:
            self._model = self._tokenizer = None

    # Generation ------------------------------------------------------------
    def render(self, conversation: Conversation) -> str:
        _, tokenizer = self._load()
        prefill = is_prefill(conversation)
        if tokenizer.chat_template:
            return tokenizer.apply_chat_template(conversation, add_generation_prompt=not prefill,
                                                 continue_final_message=prefill, tokenize=False)
        lines = [f"{m['role']}: {m['content']}" for m in conversation]
        return "\n".join(lines) + ("" if prefill else "\nassistant:")

    def _eos_ids(self) -> set[int]:
        model, tokenizer = self._load()
        configured = model.generation_config.eos_token_id
        ids = set(configured if isinstance(configured, list) else [configured])
        ids.add(tokenizer.eos_token_id)
        return {i for i in ids if i is not None}

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams,
                 *, on_batch: Callable[[int], None] | None = None) -> list[PromptResult]:
        import torch  # the torch stack: loaded where a model is used, never in the web process

        model, tokenizer = self._load()
        encoded = [tokenizer(self.render(c), add_special_tokens=False)["input_ids"]
                   for c in conversations]
        limit = getattr(model.config, "max_position_embeddings", None)
        for index, ids in enumerate(encoded):
            if limit and len(ids) + sampling.max_tokens > limit:
                raise BackendRequestError(
                    f"prompt {index} has {len(ids)} tokens; with max_tokens={sampling.max_tokens} "
                    f"it exceeds the model's context of {limit}")
        eos_ids, pad_id = self._eos_ids(), tokenizer.pad_token_id
        sample = sampling.temperature > 0
        # Greedy decoding gives one answer; HF refuses num_return_sequences>1 without sampling.
        copies = sampling.n if sample else 1
        per_batch = max(1, self.max_batch_sequences // copies)
        # Longest first: the largest batch runs first, so running out of memory shows at once.
        order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i]), i))
        kwargs: dict = {"max_new_tokens": sampling.max_tokens, "do_sample": sample,
                        "num_return_sequences": copies, "pad_token_id": pad_id,
                        "eos_token_id": sorted(eos_ids)}
        if sample:
            # top_k=0 turns off transformers' default top-k of 50, matching
            # OpenAI/vLLM semantics where only temperature and top_p apply.
            kwargs.update(temperature=float(sampling.temperature), top_p=float(sampling.top_p),
                          top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if sampling.stop:
            kwargs.update(stop_strings=list(sampling.stop), tokenizer=tokenizer)
        results: list[PromptResult | None] = [None] * len(encoded)
        for batch_number, start in enumerate(range(0, len(order), per_batch)):
            indices = order[start:start + per_batch]
            batch = tokenizer.pad({"input_ids": [encoded[i] for i in indices]},
                                  padding=True, return_tensors="pt").to(self.device)
            if sampling.seed is not None:
                # Reproducible for the same prompts, sampling and batch size.
                torch.manual_seed(sampling.seed + batch_number)
            with torch.inference_mode():
                output = model.generate(**batch, **kwargs)
            new_tokens = output[:, batch["input_ids"].shape[1]:].tolist()
            for row, index in enumerate(indices):
                rows = new_tokens[row * copies:(row + 1) * copies]
                completions = [
                    completion_from_ids(
                        ids, eos_ids=eos_ids, pad_id=pad_id, max_tokens=sampling.max_tokens,
                        stop=sampling.stop,
                        decode=lambda t: tokenizer.decode(t, skip_special_tokens=True))
                    for ids in rows
                ]
                if not sample:
                    completions = completions * sampling.n
                results[index] = PromptResult(completions=completions,
                                              prompt_tokens=len(encoded[index]))
            if on_batch is not None:
                on_batch(len(indices))
        return results  # type: ignore[return-value]
