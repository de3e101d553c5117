"""An OpenAI-compatible chat-completions server (vLLM's) over HTTP.

One request per prompt carries all ``n`` samples; at most ``max_concurrency``
requests are in flight (vLLM batches them on its side). Connection failures,
timeouts, 429 and 5xx answers are retried with exponential backoff and
jitter; a 4xx answer or a body that is not a chat completion is not, since
repeating it cannot help.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from generation.backends.base import (
    BackendError,
    BackendProtocolError,
    BackendRequestError,
    BackendTimeout,
    BackendUnavailable,
    Completion,
    Conversation,
    PromptResult,
    SamplingParams,
    is_prefill,
)

RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


class VllmServerBackend:
    name = "vllm-server"

    def __init__(self, base_url: str, *, model: str, api_key: str = "", timeout: float = 300.0,
                 connect_timeout: float = 5.0, max_concurrency: int = 8, retries: int = 3,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.root_url = self.base_url[: -len("/v1")]
        self.model_name = model
        self.max_concurrency = max(1, max_concurrency)
        self.retries = max(0, retries)
        self.backoff = backoff
        self._sleep = sleep
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers, transport=transport,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=self.max_concurrency,
                                max_keepalive_connections=self.max_concurrency))

    def close(self) -> None:
        self._client.close()

    # One HTTP exchange, with retries ----------------------------------------
    def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TimeoutException as error:
                failure: BackendError = BackendTimeout(
                    f"{self.name} at {self.root_url} did not answer in time "
                    f"({type(error).__name__}) after {attempt + 1} attempt(s)")
            except httpx.TransportError as error:  # refused, reset, dropped mid-answer
                failure = BackendUnavailable(
                    f"{self.name} at {self.root_url} is not reachable ({_snippet(str(error))}) "
                    f"after {attempt + 1} attempt(s); is it running? "
                    "Start one with `python manage.py serve_generation MODEL`.")
            else:
                if response.status_code < 400:
                    return response
                body = _snippet(response.text)
                if response.status_code not in RETRY_STATUS:
                    raise BackendRequestError(
                        f"{self.name} at {self.root_url} refused the request "
                        f"(HTTP {response.status_code}): {body}")
                failure = BackendUnavailable(
                    f"{self.name} at {self.root_url} answered HTTP {response.status_code} "
                    f"after {attempt + 1} attempt(s): {body}")
            if attempt >= self.retries:
                raise failure
            # Full jitter: concurrent clients do not retry in lockstep.
            self._sleep(random.uniform(0, self.backoff * 2 ** attempt))  # noqa: S311
            attempt += 1

    def _json(self, response: httpx.Response) -> dict:
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BackendProtocolError(
                f"{self.name} at {self.root_url} answered with something that is not JSON: "
                f"{_snippet(response.text)}") from None
        if not isinstance(data, dict):
            raise BackendProtocolError(
                f"{self.name} at {self.root_url} answered JSON that is not an object: "
                f"{_snippet(response.text)}")
        return data

    # Health ---------------------------------------------------------------
    def health(self) -> None:
        """The server answers /health and serves this model under this API key."""
        response = self._request("GET", f"{self.root_url}/health")
        del response
        try:
            data = self._json(self._request("GET", f"{self.base_url}/models"))
        except BackendRequestError as error:
            raise BackendUnavailable(f"{error} (wrong API key? set PALATE_VLLM_API_KEY)") from None
        served = [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]
        if self.model_name not in served:
            raise BackendUnavailable(
                f"{self.name} at {self.root_url} serves {served or 'no model'}, "
                f"not '{self.model_name}'")

    # Generation -------------------------------------------------------------
    def _payload(self, conversation: Conversation, sampling: SamplingParams) -> dict:
        payload = {
            "model": self.model_name, "messages": conversation, "n": sampling.n,
            "temperature": sampling.temperature, "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            # vLLM extension: per-choice token ids, the only exact per-sample count.
            "return_token_ids": True,
        }
        if sampling.seed is not None:
            payload["seed"] = sampling.seed  # vLLM gives sample i the seed + i
        if sampling.stop:
            payload["stop"] = list(sampling.stop)
        if is_prefill(conversation):  # vLLM extension: continue the assistant's message
            payload.update(add_generation_prompt=False, continue_final_message=True)
        return payload

    def _parse(self, data: dict, sampling: SamplingParams) -> PromptResult:
        try:
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            completions = []
            for choice in choices:
                text = choice["message"]["content"] or ""
                if not isinstance(text, str):
                    raise TypeError("content is not a string")
                token_ids = choice.get("token_ids")
                completions.append(Completion(
                    text=text, finish_reason=str(choice.get("finish_reason") or "stop"),
                    completion_tokens=len(token_ids) if isinstance(token_ids, list) else 0))
            usage = data.get("usage") or {}
            if completions and not any(c.completion_tokens for c in completions):
                # A server without return_token_ids: share the total out evenly.
                total = int(usage.get("completion_tokens") or 0)
                share = total // len(completions)
                completions = [Completion(c.text, c.finish_reason, share) for c in completions]
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise BackendProtocolError(
                f"{self.name} at {self.root_url} answered JSON that is not a chat completion "
                f"({type(error).__name__}: {error}): {_snippet(json.dumps(data))}") from None
        if len(completions) != sampling.n:
            raise BackendProtocolError(
                f"{self.name} at {self.root_url} returned {len(completions)} choices, "
                f"asked for {sampling.n}")
        return PromptResult(completions=completions, prompt_tokens=prompt_tokens)

    def _one(self, conversation: Conversation, sampling: SamplingParams) -> PromptResult:
        response = self._request("POST", f"{self.base_url}/chat/completions",
                                 json=self._payload(conversation, sampling))
        return self._parse(self._json(response), sampling)

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams,
                 *, on_batch: Callable[[int], None] | None = None) -> list[PromptResult]:
        if not conversations:
            return []
        workers = min(self.max_concurrency, len(conversations))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vllm-client") as pool:
            futures = [pool.submit(self._one, c, sampling) for c in conversations]
            results = []
            try:
                for future in futures:
                    results.append(future.result())
                    if on_batch is not None:
                        on_batch(1)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return results
