"""Token-by-token generation for one conversation, for the arena. No Django.

``transformers``: ``generate`` runs in a thread and hands each token to a
streamer that releases the new text at once; a stopping criterion counts tokens and ends the
generation as soon as the caller sets ``stop``. ``vllm-server`` (any
OpenAI-compatible server): ``stream: true`` chat completions read as
server-sent events; closing the response makes vLLM abort the request.

Each stream yields ``Delta`` items and ends with one ``StreamEnd``.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from generation.backends.base import (
    BackendError,
    BackendProtocolError,
    BackendRequestError,
    BackendTimeout,
    BackendUnavailable,
    Conversation,
    SamplingParams,
)
from generation.backends.transformers_backend import TransformersBackend


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class StreamEnd:
    finish_reason: str  # "stop", "length", or "stopped" (the caller asked)
    completion_tokens: int


StreamEvent = Delta | StreamEnd


class _TokenQueue:
    """A ``generate`` streamer that hands out text token by token.

    transformers' TextIteratorStreamer waits for a space before it releases a
    word, so a model writing one long word shows nothing until its end. Here
    the generated ids are decoded whole after every token and the new suffix is
    released at once, held back only while it ends inside a multi-byte
    character (the decoder's U+FFFD).
    """

    def __init__(self, tokenizer, timeout: float):
        self._tokenizer = tokenizer
        self._queue: queue.Queue = queue.Queue()
        self._timeout = timeout
        self._ids: list[int] = []
        self._sent = 0
        self._prompt_seen = False

    def _decode(self) -> str:
        return self._tokenizer.decode(self._ids, skip_special_tokens=True)

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompt
            self._prompt_seen = True
            return
        self._ids.extend(value.reshape(-1).tolist())
        text = self._decode()
        if text.endswith("\ufffd") or len(text) <= self._sent:
            return
        self._queue.put(text[self._sent:])
        self._sent = len(text)

    def end(self) -> None:
        text = self._decode()
        if len(text) > self._sent:
            self._queue.put(text[self._sent:])
            self._sent = len(text)
        self._queue.put(None)

    def __iter__(self):
        while True:
            text = self._queue.get(timeout=self._timeout)  # queue.Empty: no token in time
            if text is None:
                return
            yield text


def transformers_stream(backend: TransformersBackend, conversation: Conversation, *,
                        sampling: SamplingParams, stop: threading.Event,
                        timeout: float) -> Iterator[StreamEvent]:
    """Stream one answer from the in-process model (``sampling.n`` is ignored: one answer)."""
    import torch  # the torch stack: loaded where a model is used, never in the web process

    # The submodule, not the package: transformers' lazy top-level import is
    # not safe when two streams start at once in two threads (ImportError).
    from transformers.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList

    model, tokenizer = backend._load()
    ids = tokenizer(backend.render(conversation), add_special_tokens=False,
                    return_tensors="pt")["input_ids"].to(backend.device)
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and ids.shape[1] + sampling.max_tokens > limit:
        raise BackendRequestError(
            f"the conversation has {ids.shape[1]} tokens; with max_tokens={sampling.max_tokens} "
            f"it exceeds the model's context of {limit}")
    counted = [0]

    class _CountAndStop(StoppingCriteria):
        # Called once per generated token: the count is exact, and a stop
        # request ends generation at the next token instead of at max_tokens.
        def __call__(self, input_ids, scores, **kwargs):
            counted[0] += 1
            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool)

    streamer = _TokenQueue(tokenizer, timeout)
    sample = sampling.temperature > 0
    # min_new_tokens=1: an answer is never just the end token (a chat turn
    # that says nothing cannot be compared).
    kwargs: dict = {"max_new_tokens": sampling.max_tokens, "min_new_tokens": 1, "do_sample": sample,
                    "pad_token_id": tokenizer.pad_token_id, "eos_token_id": sorted(backend._eos_ids()),
                    "streamer": streamer, "stopping_criteria": StoppingCriteriaList([_CountAndStop()])}
    if sample:
        kwargs.update(temperature=float(sampling.temperature), top_p=float(sampling.top_p), top_k=0)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    failure: list[BaseException] = []

    def run():
        try:
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            with torch.inference_mode():
                model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        except BaseException as error:  # reported to the reader below
            failure.append(error)
            streamer.end()

    thread = threading.Thread(target=run, name="arena-generate", daemon=True)
    thread.start()
    read_all = False
    try:
        for text in streamer:
            if text:
                yield Delta(text)
        read_all = True
    except Exception as error:  # queue.Empty: no token within the timeout
        raise BackendTimeout(f"no token from '{backend.model_name}' within {timeout:.0f} s") from error
    finally:
        if not read_all:
            stop.set()  # the reader left early or gave up: end the generation at the next token
        thread.join(timeout)
    if failure:
        raise BackendError(f"'{backend.model_name}' failed: {failure[0]}") from failure[0]
    finish = "length" if counted[0] >= sampling.max_tokens else "stop"
    if stop.is_set():
        finish = "stopped"
    yield StreamEnd(finish_reason=finish, completion_tokens=counted[0])


def openai_stream(base_url: str, conversation: Conversation, *, model: str, sampling: SamplingParams,
                  stop: threading.Event, timeout: float, api_key: str = "",
                  transport: httpx.BaseTransport | None = None) -> Iterator[StreamEvent]:
    """Stream one answer from an OpenAI-compatible server (vLLM's)."""
    base = base_url.rstrip("/")
    base = base if base.endswith("/v1") else base + "/v1"
    payload = {"model": model, "messages": conversation, "stream": True,
               "stream_options": {"include_usage": True}, "temperature": sampling.temperature,
               "top_p": sampling.top_p, "max_tokens": sampling.max_tokens,
               "min_tokens": 1}  # vLLM extension: never only the end token
    if sampling.seed is not None:
        payload["seed"] = sampling.seed
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    finish, tokens, chunks = "stop", None, 0
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0), transport=transport) as client, \
                client.stream("POST", f"{base}/chat/completions", json=payload,
                              headers=headers) as response:
            if response.status_code >= 400:
                body = " ".join(response.read().decode(errors="replace").split())[:200]
                kind = BackendRequestError if response.status_code < 500 else BackendUnavailable
                raise kind(f"{base} answered HTTP {response.status_code}: {body}")
            for line in response.iter_lines():
                if stop.is_set():
                    # Leaving the block closes the connection: vLLM aborts the request.
                    finish = "stopped"
                    break
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                    choices = chunk.get("choices") or []
                    if choices:
                        choice = choices[0]
                        text = (choice.get("delta") or {}).get("content") or ""
                        finish = choice.get("finish_reason") or finish
                        if text:
                            chunks += 1
                            yield Delta(text)
                    if chunk.get("usage"):
                        tokens = int(chunk["usage"].get("completion_tokens") or 0)
                except (ValueError, TypeError, AttributeError) as error:
                    raise BackendProtocolError(
                        f"{base} streamed something that is not a chat completion chunk: "
                        f"{data[:200]}") from error
    except httpx.TimeoutException as error:
        raise BackendTimeout(f"{base} did not stream in time ({type(error).__name__})") from error
    except httpx.TransportError as error:
        raise BackendUnavailable(f"{base} is not reachable ({error})") from error
    # vLLM sends one token per chunk; without usage that count is the best there is.
    yield StreamEnd(finish_reason=finish, completion_tokens=chunks if tokens is None else tokens)


def stream_with_deadline(events: Iterator[StreamEvent], *, deadline: float,
                         stop: threading.Event) -> Iterator[StreamEvent]:
    """``events`` until the wall-clock ``deadline`` (time.monotonic()); past it
    the stream is stopped and BackendTimeout raised."""
    for event in events:
        if time.monotonic() > deadline:
            stop.set()
            raise BackendTimeout("the answer took longer than the turn's time limit")
        yield event
