"""Sampling with token ids kept, and sequence log-probabilities. No Django.

The KL estimate needs log π(y|x) and log π_ref(y|x) of the very tokens that
were sampled, so samples are drawn here with ``generate`` and kept as ids
(decoding to text and re-encoding can give another tokenization).

Both log-probabilities are taken under the distribution that was sampled:
softmax(logits / T) with no top-k or top-p cut. At T = 1 this is the models'
own distribution; at another T it is the KL between the tempered policies,
which is what the sampling actually serves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class Sample:
    prompt_index: int
    prompt_ids: tuple[int, ...]
    response_ids: tuple[int, ...]  # up to and including the end token, when one was produced
    text: str
    finished: bool  # False: cut by max_new_tokens


def causal_lm_load(path: str | Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """(model, tokenizer) from a local checkpoint folder; never a hub, never remote code."""
    # transformers: slow to import, so loaded on first use (never in the web process).
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
    return model.to(device).eval(), tokenizer


def prompt_ids_render(tokenizer, messages: list[dict]) -> list[int]:
    """The prompt as the generation backends render it (chat template, generation prompt)."""
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    else:
        text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def eos_ids(model, tokenizer) -> set[int]:
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    return {i for i in ids if i is not None}


@torch.inference_mode()
def samples_draw(model, tokenizer, prompts: Sequence[Sequence[int]], *, n: int, max_new_tokens: int,
                 temperature: float, seed: int, batch_size: int = 8,
                 on_batch: Callable[[int], None] | None = None) -> list[Sample]:
    """``n`` samples per prompt from softmax(logits / temperature), pure sampling."""
    # transformers: slow to import, so loaded on first use (never in the web process).
    from transformers import GenerationConfig

    if temperature <= 0:
        raise ValueError("temperature must be > 0: a KL estimate needs samples, not greedy answers")
    stop = eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id
    # A fresh GenerationConfig: the checkpoint's own defaults (top-k, repetition
    # penalty, …) would change the distribution the log-probs are taken under.
    config = GenerationConfig(do_sample=True, temperature=float(temperature), top_k=0, top_p=1.0,
                              max_new_tokens=max_new_tokens, num_return_sequences=n,
                              eos_token_id=sorted(stop), pad_token_id=pad)
    device = next(model.parameters()).device
    samples: list[Sample] = []
    per_batch = max(1, batch_size // n)  # prompts per generate call
    for batch_number, start in enumerate(range(0, len(prompts), per_batch)):
        chunk = [list(p) for p in prompts[start:start + per_batch]]
        width = max(len(p) for p in chunk)
        # Left padding: a decoder continues from the right end.
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk], device=device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=device)
        torch.manual_seed(seed + batch_number)
        output = model.generate(input_ids=input_ids, attention_mask=attention, generation_config=config)
        new = output[:, width:].tolist()
        for row, ids in enumerate(new):
            local = row // n
            cut = next((i for i, t in enumerate(ids) if t in stop), None)
            response = ids if cut is None else ids[:cut + 1]
            text_ids = response if cut is None else response[:-1]
            samples.append(Sample(prompt_index=start + local, prompt_ids=tuple(chunk[local]),
                                  response_ids=tuple(response),
                                  text=tokenizer.decode(text_ids, skip_special_tokens=True),
                                  finished=cut is not None))
        if on_batch is not None:
            on_batch(len(chunk))
    return samples


@torch.inference_mode()
def sequence_logprobs(model, samples: Sequence[Sample], *, temperature: float = 1.0,
                      batch_size: int = 8, pad_id: int = 0) -> list[float]:
    """Σ over response tokens of log softmax(logits / T)[token], per sample.

    Right padding with the attention mask: real tokens never attend to the
    padding after them, and positions stay 0..L−1 as when unpadded.
    """
    device = next(model.parameters()).device
    totals: list[float] = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        sequences = [list(s.prompt_ids) + list(s.response_ids) for s in chunk]
        width = max(len(s) for s in sequences)
        input_ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in sequences], device=device)
        attention = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences],
                                 device=device)
        logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
        logprobs = torch.log_softmax(logits / temperature, dim=-1)
        # Position t predicts token t + 1.
        token_logprobs = logprobs[:, :-1].gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        mask = torch.zeros_like(token_logprobs)
        for row, sample in enumerate(chunk):
            first = len(sample.prompt_ids) - 1
            mask[row, first:first + len(sample.response_ids)] = 1.0
        totals.extend((token_logprobs * mask).sum(dim=-1).tolist())
    return totals
