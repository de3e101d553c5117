"""Prompts and responses → token ids with an exact prompt/response boundary → batches.

The boundary trap: tokenizing the prompt and the response separately (or
the prompt alone, then prompt + response) can merge or split tokens
differently at the seam, so the "prompt length" no longer points at the
first response token. Here the chat template is applied ONCE to the whole
conversation (prompt turns + the response as the assistant turn), that text
is tokenized ONCE, and each token goes to the prompt or the response by its
character offsets: a token that ends at or before the first response
character is a prompt token; the rest are response tokens. The ids the model
sees are then exactly the tokenization of the conversation, and the mask
covers exactly the tokens that carry response text. (A token straddling the
seam, e.g. "Ġword" after a template ending in a space, carries response text
and is a target; TRL's common-prefix rule makes it a completion token too.)

No Django here: the service turns SnapshotPair rows into PreferencePair and
labels into UnpairedResponse.
"""

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer

from training.reward.data import PreferencePair, prompt_as_text

__all__ = ["PreferencePair", "UnpairedResponse", "EncodedSequence", "EncodedPolicyPair", "EncodedResponse",
           "PolicyEncoder", "policy_pairs_encode", "responses_encode", "collate_sequences",
           "sequences_digest"]


@dataclass(frozen=True)
class UnpairedResponse:
    """One response with a thumbs up or down (KTO): a pair's chosen/rejected, or a 'both bad' one."""

    prompt_messages: list[dict]
    response: str
    desirable: bool
    weight: float = 1.0


@dataclass
class EncodedSequence:
    ids: list[int]
    prompt_len: int  # ids[:prompt_len] is the prompt, ids[prompt_len:] the response

    @property
    def response_len(self) -> int:
        return len(self.ids) - self.prompt_len


@dataclass
class EncodedPolicyPair:
    chosen: EncodedSequence
    rejected: EncodedSequence
    weight: float = 1.0
    truncated: bool = False


@dataclass
class EncodedResponse:
    sequence: EncodedSequence
    desirable: bool
    weight: float = 1.0
    truncated: bool = False


class PolicyEncoder:
    """Token ids of a conversation and where its response starts.

    With a chat template (any instruct model), the template renders the prompt
    turns and the response as the assistant turn, and supplies every special
    token. Without one, the prompt is plain text ending in a newline and the
    response ends with EOS.
    """

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length
        # A private copy of the Rust tokenizer: no padding, no truncation, and no
        # post-processor (it may add BOS/EOS or trim whitespace off the offsets).
        self.backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        self.backend.no_padding()
        self.backend.no_truncation()
        self.backend.post_processor = None
        self.chat = bool(getattr(tokenizer, "chat_template", None))
        # Without a template nothing supplies BOS: add it where the tokenizer itself
        # would (Llama-style base models expect it first).
        bos = tokenizer.bos_token_id
        self.bos = None
        if (not self.chat and bos is not None
                and tokenizer("x", add_special_tokens=True)["input_ids"][:1] == [bos]):
            self.bos = bos

    def render(self, messages: list[dict], response: str) -> tuple[str, int]:
        """(the whole conversation as text, the character index where the response begins)."""
        if not self.chat:
            prompt = prompt_as_text(messages) + "\n"
            return prompt + response + (self.tokenizer.eos_token or ""), len(prompt)
        full = self.tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": response}], tokenize=False)
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if not full.startswith(prompt):
            # A template that renders earlier turns differently once an assistant
            # turn follows (some drop past reasoning): the response cannot be cut
            # out of one rendering. Refuse rather than mislabel tokens.
            raise ValueError("the chat template renders the prompt differently when a response follows; "
                             "the prompt/response boundary is ambiguous")
        return full, len(prompt)

    def encode(self, messages: list[dict], response: str) -> EncodedSequence:
        text, boundary = self.render(messages, response)
        encoding = self.backend.encode(text, add_special_tokens=False)
        ids = encoding.ids
        # The first token that ends past the boundary begins the response (it
        # carries response text, even when it starts with the prompt's last
        # character). Offsets are sorted, so this is a scan.
        prompt_len = next((i for i, (_, end) in enumerate(encoding.offsets) if end > boundary), len(ids))
        if self.bos is not None:
            return EncodedSequence(ids=[self.bos, *ids], prompt_len=prompt_len + 1)
        return EncodedSequence(ids=list(ids), prompt_len=prompt_len)


def _truncate(sequences: list[EncodedSequence], max_length: int) -> tuple[list[EncodedSequence], bool]:
    """Fit sequences that share a prompt into ``max_length`` the same way.

    The prompt is trimmed from the LEFT (its end, next to the response, stays),
    but keeps at least half the budget when it is that long; then responses lose
    their tails. Chosen and rejected get the same prompt cut, so both responses
    are scored against the same context.
    """
    longest = max(s.response_len for s in sequences)
    prompt_len = max(s.prompt_len for s in sequences)
    if prompt_len + longest <= max_length:
        return sequences, False
    keep_prompt = min(prompt_len, max(max_length - longest, max_length // 2))
    keep_response = max_length - keep_prompt
    out = []
    for s in sequences:
        prompt, response = s.ids[:s.prompt_len], s.ids[s.prompt_len:]
        prompt = prompt[len(prompt) - keep_prompt:] if len(prompt) > keep_prompt else prompt
        out.append(EncodedSequence(ids=prompt + response[:keep_response], prompt_len=len(prompt)))
    return out, True


def policy_pairs_encode(pairs: list[PreferencePair], tokenizer, max_length: int, *,
                        on_progress=None, every: int = 500) -> list[EncodedPolicyPair]:
    encoder = PolicyEncoder(tokenizer, max_length)
    out = []
    for i, pair in enumerate(pairs):
        if on_progress is not None and i % every == 0:
            on_progress()
        (chosen, rejected), cut = _truncate([encoder.encode(pair.prompt_messages, pair.chosen),
                                             encoder.encode(pair.prompt_messages, pair.rejected)], max_length)
        out.append(EncodedPolicyPair(chosen, rejected, weight=pair.weight, truncated=cut))
    return out


def responses_encode(responses: list[UnpairedResponse], tokenizer, max_length: int, *,
                     on_progress=None, every: int = 500) -> list[EncodedResponse]:
    encoder = PolicyEncoder(tokenizer, max_length)
    out = []
    for i, r in enumerate(responses):
        if on_progress is not None and i % every == 0:
            on_progress()
        (sequence,), cut = _truncate([encoder.encode(r.prompt_messages, r.response)], max_length)
        out.append(EncodedResponse(sequence, desirable=r.desirable, weight=r.weight, truncated=cut))
    return out


def pairs_to_unpaired(pairs: list[PreferencePair]) -> list[UnpairedResponse]:
    """KTO's view of pairs: each chosen response is desirable, each rejected one undesirable."""
    out = []
    for p in pairs:
        if p.is_tie:
            continue  # a tie says neither is better: no thumbs up or down
        out.append(UnpairedResponse(p.prompt_messages, p.chosen, True, p.weight))
        out.append(UnpairedResponse(p.prompt_messages, p.rejected, False, p.weight))
    return out


def collate_sequences(sequences: list[EncodedSequence], *, pad_id: int) -> dict[str, torch.Tensor]:
    """One forward batch, right-padded.

    ``target_mask[i, t]`` marks the positions t whose NEXT token (ids[t + 1]) is
    a response token of sequence i: logits at t predict token t + 1, so the
    mask starts one before the response and stops one before the end.
    """
    width = max(len(s.ids) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(sequences), width), dtype=torch.long)
    target_mask = torch.zeros((len(sequences), width - 1), dtype=torch.bool)
    for i, s in enumerate(sequences):
        n = len(s.ids)
        input_ids[i, :n] = torch.tensor(s.ids, dtype=torch.long)
        attention[i, :n] = 1
        # A response trimmed to nothing keeps no target; prompt_len 0 (prompt
        # trimmed away) has no token to predict the first response token from.
        target_mask[i, max(s.prompt_len - 1, 0):n - 1] = True
    lengths = target_mask.sum(dim=1)
    return {"input_ids": input_ids, "attention_mask": attention, "target_mask": target_mask,
            "lengths": lengths}


def sequences_digest(sequences: list[EncodedSequence]) -> str:
    """A content hash of tokenized data (ids and boundaries), for the reference cache key."""
    h = hashlib.sha256()
    for s in sequences:
        h.update(np.asarray(s.ids, dtype=np.int64).tobytes())
        h.update(f"|{s.prompt_len};".encode())
    return h.hexdigest()
