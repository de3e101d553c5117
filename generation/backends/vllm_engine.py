"""vLLM's engine in this process, for a dedicated GPU worker.

vLLM starts worker processes of its own, which a daemonic Celery prefork
child may not do: run the worker with ``--pool solo`` (one job per GPU) or use
the ``vllm-server`` backend. ``vllm`` is imported only when the engine starts,
so the rest of the platform runs without it.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from pathlib import Path

from generation.backends.base import (
    BackendUnavailable,
    Completion,
    Conversation,
    PromptResult,
    SamplingParams,
    is_prefill,
)


class VllmEngineBackend:
    name = "vllm"

    def __init__(self, path: str | Path, *, model_name: str | None = None,
                 gpu_memory_utilization: float = 0.9, dtype: str = "auto",
                 max_model_len: int | None = None, enforce_eager: bool = False,
                 kv_cache_memory_bytes: int | None = None, seed: int = 0, **engine_options):
        self.path = Path(path)
        self.model_name = model_name or self.path.name
        self.options = {
            "gpu_memory_utilization": gpu_memory_utilization, "dtype": dtype,
            "max_model_len": max_model_len, "enforce_eager": enforce_eager,
            "kv_cache_memory_bytes": kv_cache_memory_bytes, "seed": seed, **engine_options,
        }
        if "trust_remote_code" in self.options:
            raise ValueError("remote code is never enabled")
        self._llm = None

    def _engine(self):
        if self._llm is not None:
            return self._llm
        if multiprocessing.current_process().daemon:
            raise BackendUnavailable(
                "the in-process vLLM engine cannot start inside a daemonic process (a Celery "
                "prefork child): run that worker with --pool solo, or use the vllm-server backend")
        try:
            from vllm import LLM  # optional, and only in the worker that runs the engine
        except ImportError:
            raise BackendUnavailable(
                "vllm is not installed in this environment: use the vllm-server backend "
                "(`manage.py serve_generation`) or install requirements-gpu.txt") from None
        if not (self.path / "config.json").is_file():
            raise BackendUnavailable(f"no checkpoint at {self.path}")
        options = {k: v for k, v in self.options.items() if v is not None}
        self._llm = LLM(model=str(self.path), served_model_name=self.model_name,
                        trust_remote_code=False, **options)
        return self._llm

    def health(self) -> None:
        self._engine()

    def close(self) -> None:
        self._llm = None

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams,
                 *, on_batch: Callable[[int], None] | None = None) -> list[PromptResult]:
        # Optional: only in the worker whose environment has vLLM.
        from vllm import SamplingParams as VllmSampling

        llm = self._engine()
        params = VllmSampling(n=sampling.n, temperature=sampling.temperature,
                              top_p=sampling.top_p, max_tokens=sampling.max_tokens,
                              seed=sampling.seed, stop=list(sampling.stop) or None)
        prefill = bool(conversations) and all(is_prefill(c) for c in conversations)
        if not prefill and any(is_prefill(c) for c in conversations):
            raise ValueError("mix of prefilled and plain conversations in one call")
        outputs = llm.chat([list(c) for c in conversations], params, use_tqdm=False,
                           add_generation_prompt=not prefill, continue_final_message=prefill)
        results = []
        for output in outputs:
            completions = [
                Completion(text=o.text, finish_reason=o.finish_reason or "stop",
                           completion_tokens=len(o.token_ids))
                for o in sorted(output.outputs, key=lambda o: o.index)
            ]
            results.append(PromptResult(completions=completions,
                                        prompt_tokens=len(output.prompt_token_ids or [])))
        if on_batch is not None:
            on_batch(len(results))
        return results
