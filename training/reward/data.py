"""Preference pairs → token ids → padded batches, and the seeded data order.

No Django here: the service turns SnapshotPair rows into ``PreferencePair``.
"""

import math
from dataclasses import dataclass, field

import torch
from tokenizers import Tokenizer


@dataclass(frozen=True)
class PreferencePair:
    prompt_messages: list[dict]
    chosen: str
    rejected: str
    margin: float = 0.0
    is_tie: bool = False
    weight: float = 1.0


@dataclass
class EncodedPair:
    chosen_ids: list[int]
    rejected_ids: list[int]
    chosen_types: list[int] | None = None
    rejected_types: list[int] | None = None
    margin: float = 0.0
    is_tie: bool = False
    weight: float = 1.0
    truncated: bool = field(default=False, compare=False)


def prompt_as_text(messages: list[dict]) -> str:
    """A prompt for a tokenizer without a chat template (an encoder such as MiniLM)."""
    if len(messages) == 1:
        return str(messages[0].get("content", ""))
    return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages)


class SequenceEncoder:
    """Token ids of (prompt, response) within ``max_length``.

    Truncation keeps the response and trims the prompt from the LEFT: the end of
    a conversation, next to the response, is what the reward depends on. Only a
    response longer than the whole budget loses its tail.

    Two layouts:
    - the tokenizer has a chat template (causal models such as SmolLM2): the
      conversation is rendered with it, the response being the assistant turn;
      the template supplies every special token;
    - otherwise (BERT-like encoders): a sentence pair, prompt as segment A and
      response as segment B, with the tokenizer's own [CLS] … [SEP] … [SEP].
    """

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length
        # A private copy of the Rust tokenizer with padding and truncation off: a
        # tokenizer.json may ship with "pad to 128" switched on (all-MiniLM-L6-v2 does).
        self.backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        self.backend.no_padding()
        self.backend.no_truncation()
        self.chat = bool(getattr(tokenizer, "chat_template", None))
        self.with_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
        self.n_special = 0 if self.chat else self.backend.num_special_tokens_to_add(is_pair=True)
        if self.max_length <= self.n_special:
            raise ValueError(f"max_length {max_length} leaves no room for text")

    def _ids(self, text: str):
        return self.backend.encode(text, add_special_tokens=False)

    def _chat_parts(self, messages: list[dict], response: str) -> tuple[str, str]:
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        full = self.tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": response}], tokenize=False)
        if full.startswith(prompt):
            return prompt, full[len(prompt):]
        # A template that rewrites earlier turns: fall back to response + EOS.
        return prompt, response + (self.tokenizer.eos_token or "")

    def encode(self, messages: list[dict], response: str) -> tuple[list[int], list[int] | None, bool]:
        """(input_ids, token_type_ids or None, truncated?)"""
        if self.chat:
            prompt_text, response_text = self._chat_parts(messages, response)
        else:
            prompt_text, response_text = prompt_as_text(messages), response
        prompt, answer = self._ids(prompt_text), self._ids(response_text)
        budget = self.max_length - self.n_special
        truncated = len(prompt) + len(answer) > budget
        if len(answer) > budget:
            answer.truncate(budget, direction="right")
        room = budget - len(answer)
        if len(prompt) > room:
            if room == 0:
                prompt = self._ids("")
            else:
                prompt.truncate(room, direction="left")
        if self.chat:
            return prompt.ids + answer.ids, None, truncated
        merged = self.backend.post_process(prompt, answer, add_special_tokens=True)
        return merged.ids, (merged.type_ids if self.with_types else None), truncated


def pairs_encode(pairs: list[PreferencePair], tokenizer, max_length: int, *,
                 on_progress=None, every: int = 1000) -> list[EncodedPair]:
    encoder = SequenceEncoder(tokenizer, max_length)
    out = []
    for i, pair in enumerate(pairs):
        if on_progress is not None and i % every == 0:
            on_progress()
        c_ids, c_types, c_cut = encoder.encode(pair.prompt_messages, pair.chosen)
        r_ids, r_types, r_cut = encoder.encode(pair.prompt_messages, pair.rejected)
        out.append(EncodedPair(c_ids, r_ids, c_types, r_types, margin=pair.margin,
                               is_tie=pair.is_tie, weight=pair.weight, truncated=c_cut or r_cut))
    return out


def collate(pairs: list[EncodedPair], *, pad_id: int, use_weights: bool = True) -> dict[str, torch.Tensor]:
    """One forward batch of 2B sequences: the B chosen first, then the B rejected.

    Right padding; the attention mask hides the pads. (Causal classifiers read
    the reward at the last non-pad token, so padding side does not move it.)
    """
    seqs = [p.chosen_ids for p in pairs] + [p.rejected_ids for p in pairs]
    types: list = [p.chosen_types for p in pairs] + [p.rejected_types for p in pairs]  # all set or all None
    width = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        input_ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        attention[i, :len(s)] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention}
    if types[0] is not None:
        token_types = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, t in enumerate(types):
            token_types[i, :len(t)] = torch.tensor(t, dtype=torch.long)
        batch["token_type_ids"] = token_types
    batch["margin"] = torch.tensor([p.margin for p in pairs], dtype=torch.float32)
    batch["is_tie"] = torch.tensor([p.is_tie for p in pairs], dtype=torch.bool)
    batch["weight"] = torch.tensor([p.weight if use_weights else 1.0 for p in pairs], dtype=torch.float32)
    return batch


LENGTH_WINDOW = 50  # micro-batches per window that length grouping sorts


def length_grouped(order: list[int], lengths: list[int], group: int) -> list[int]:
    """``order`` cut into windows of ``LENGTH_WINDOW × group`` examples, each sorted
    by length, longest first (HF's LengthGroupedSampler does the same): consecutive
    micro-batches of ``group`` hold examples of similar length, so less padding.
    The epoch still sees every example once, and windows keep the shuffle's
    randomness between them; the longest micro-batch comes first, so a run that
    runs out of memory does so at once."""
    window = max(1, LENGTH_WINDOW * group)
    return [i for start in range(0, len(order), window)
            for i in sorted(order[start:start + window], key=lambda i: -lengths[i])]


class DataCursor:
    """Endless, seeded stream of example indices, resumable from (epoch, offset).

    The order of epoch e is ``randperm(n, seed + e)``: it depends on neither
    batch size nor accumulation, so batch 8 and 8 x batch 1 see the same pairs,
    and a resumed run sees exactly the pairs the killed one would have.
    With ``lengths`` and ``group`` (the global micro-batch), that order is
    length-grouped (``length_grouped``); still a function of seed and epoch.
    """

    def __init__(self, n: int, *, seed: int, shuffle: bool, epoch: int = 0, offset: int = 0,
                 lengths: list[int] | None = None, group: int = 0):
        if n <= 0:
            raise ValueError("no training pairs")
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch, self.offset = epoch, offset
        self.lengths, self.group = lengths, group
        self._order = self._epoch_order(epoch)

    def _epoch_order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            order = list(range(self.n))
        else:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(self.n, generator=generator).tolist()
        if self.lengths and self.group:
            order = length_grouped(order, self.lengths, self.group)
        return order

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            if self.offset >= self.n:
                self.epoch, self.offset = self.epoch + 1, 0
                self._order = self._epoch_order(self.epoch)
            grab = min(k - len(out), self.n - self.offset)
            out.extend(self._order[self.offset:self.offset + grab])
            self.offset += grab
        return out

    def state(self) -> dict:
        return {"epoch": self.epoch, "offset": self.offset}


def total_steps_for(*, n_train: int, epochs: float, max_steps: int, pairs_per_step: int) -> int:
    if max_steps:
        return max_steps
    return max(1, math.ceil(epochs * n_train / pairs_per_step))
