"""The one interface every generation backend implements. No Django here:
backends run in the web process, a Celery worker, a benchmark, or vLLM's own
virtualenv alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

# [{"role": "user", "content": "..."}, ...]. A conversation that ends with an
# assistant message is a prefill: the model continues that message (e.g. a
# judge answer started as "Verdict:") instead of starting a new one.
Conversation = list[dict]


def is_prefill(conversation: Conversation) -> bool:
    return bool(conversation) and conversation[-1].get("role") == "assistant"


class BackendError(Exception):
    """Generation failed; the message says why and what to do."""


class BackendUnavailable(BackendError):
    """The engine or server cannot be reached or started."""


class BackendTimeout(BackendError):
    """The server did not answer in time (after retries)."""


class BackendProtocolError(BackendError):
    """The server answered something that is not what the protocol promises."""


class BackendRequestError(BackendError):
    """The server refused the request (4xx): retrying would not help."""


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    temperature: float = 0.8
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.n, int) or not 1 <= self.n <= 64:
            raise ValueError("n must be an integer from 1 to 64")
        if not 0.0 <= float(self.temperature) <= 5.0:
            raise ValueError("temperature must be from 0 to 5")
        if not 0.0 < float(self.top_p) <= 1.0:
            raise ValueError("top_p must be in (0, 1]")
        if not isinstance(self.max_tokens, int) or not 1 <= self.max_tokens <= 32768:
            raise ValueError("max_tokens must be an integer from 1 to 32768")
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise ValueError("seed must be a non-negative integer")
        stop = tuple(self.stop or ())
        if len(stop) > 8 or any(not isinstance(s, str) or not s for s in stop):
            raise ValueError("stop must be at most 8 non-empty strings")
        object.__setattr__(self, "stop", stop)

    @classmethod
    def from_dict(cls, data: dict | None) -> SamplingParams:
        data = dict(data or {})
        unknown = set(data) - {"n", "temperature", "top_p", "max_tokens", "seed", "stop"}
        if unknown:
            raise ValueError(f"unknown sampling parameters: {', '.join(sorted(unknown))}")
        if "stop" in data:
            data["stop"] = tuple(data["stop"] or ())
        return cls(**data)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop" (end of sequence or a stop string) or "length"
    completion_tokens: int


@dataclass(frozen=True)
class PromptResult:
    completions: list[Completion]
    prompt_tokens: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.completions)


class GenerationBackend(Protocol):
    name: str
    model_name: str

    def health(self) -> None:
        """Raise BackendUnavailable unless the backend can take work now."""

    def generate(self, conversations: Sequence[Conversation],
                 sampling: SamplingParams) -> list[PromptResult]:
        """One result per conversation, in order, each with ``sampling.n`` completions."""

    def close(self) -> None:
        """Free what the backend holds (connections, engines)."""


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string, as OpenAI-style servers do."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    if cut < 0:
        return text, False
    return text[:cut], True
