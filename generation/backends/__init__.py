"""Generation backends behind one interface (see ``base``).

``transformers`` (batched ``generate``, the CPU default), ``vllm-server`` (an
OpenAI-compatible HTTP server such as vLLM's) and ``vllm`` (the in-process
engine, for a ``--pool solo`` GPU worker). Heavy libraries are imported lazily
inside each backend, so importing this package is cheap.
"""

from generation.backends.base import (
    BackendError,
    BackendProtocolError,
    BackendRequestError,
    BackendTimeout,
    BackendUnavailable,
    Completion,
    Conversation,
    GenerationBackend,
    PromptResult,
    SamplingParams,
)

__all__ = [
    "BackendError",
    "BackendProtocolError",
    "BackendRequestError",
    "BackendTimeout",
    "BackendUnavailable",
    "Completion",
    "Conversation",
    "GenerationBackend",
    "PromptResult",
    "SamplingParams",
]
