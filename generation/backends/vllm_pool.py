"""Several vLLM servers behind one backend: scale generation out, survive a dead server.

Each server (a ``VllmServerBackend``: its own retries and backoff) gets
``max_concurrency`` worker threads that pull prompts from one shared queue, so
a server that answers faster takes more prompts (least-loaded first, no
central guess of load) and no server has more than its cap in flight. When a
server stays unreachable after its own retries (BackendUnavailable or
BackendTimeout), it is marked dead for the rest of the job, the prompt it held
goes back on the queue for the others, and its threads stop. A refusal
(4xx, a malformed answer) is the prompt's fault, not the server's: it fails
the job as with one server. With every server dead the job fails with the
last error. Results come back in the order of the prompts.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

from generation.backends.base import (
    BackendTimeout,
    BackendUnavailable,
    Conversation,
    PromptResult,
    SamplingParams,
)
from generation.backends.vllm_server import VllmServerBackend

SERVER_DOWN = (BackendUnavailable, BackendTimeout)


def server_urls(value: str) -> list[str]:
    """Base URLs from a setting or a ModelSpec's endpoint: comma- or space-separated."""
    return [u for u in value.replace(",", " ").split() if u]


class VllmServerPool:
    name = "vllm-server"

    def __init__(self, servers: Sequence[VllmServerBackend]):
        if not servers:
            raise ValueError("a server pool needs at least one server")
        self.servers = list(servers)
        self.model_name = self.servers[0].model_name
        self.dead: dict[str, str] = {}  # root URL -> why, for the job's log
        self.served: dict[str, int] = {s.root_url: 0 for s in self.servers}

    def health(self) -> None:
        """Healthy when at least one server answers."""
        errors = []
        for server in self.servers:
            try:
                server.health()
                return
            except SERVER_DOWN as error:
                errors.append(str(error))
        raise BackendUnavailable("no server of the pool answers: " + "; ".join(errors))

    def close(self) -> None:
        for server in self.servers:
            server.close()

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams,
                 *, on_batch: Callable[[int], None] | None = None) -> list[PromptResult]:
        if not conversations:
            return []
        todo: queue.Queue[int] = queue.Queue()
        for i in range(len(conversations)):
            todo.put(i)
        results: list[PromptResult | None] = [None] * len(conversations)
        lock = threading.Lock()
        failure: list[BaseException] = []
        last_down: list[BaseException] = []
        alive = {s.root_url for s in self.servers if s.root_url not in self.dead}
        remaining = [len(conversations)]
        finished = threading.Event()

        def worker(server: VllmServerBackend) -> None:
            while not finished.is_set():
                with lock:
                    if server.root_url not in alive:
                        return
                try:
                    i = todo.get(timeout=0.05)
                except queue.Empty:
                    continue
                try:
                    result = server._one(conversations[i], sampling)
                except SERVER_DOWN as error:
                    todo.put(i)  # another server takes it
                    with lock:
                        alive.discard(server.root_url)
                        self.dead[server.root_url] = str(error)
                        last_down.append(error)
                        if not alive:
                            finished.set()
                    return
                except BaseException as error:  # a refusal or a bad answer: the job fails
                    with lock:
                        failure.append(error)
                    finished.set()
                    return
                with lock:
                    results[i] = result
                    self.served[server.root_url] += 1
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        finished.set()
                if on_batch is not None:
                    on_batch(1)

        threads = [threading.Thread(target=worker, args=(server,), name=f"vllm-pool-{n}-{k}", daemon=True)
                   for n, server in enumerate(self.servers) if server.root_url in alive
                   for k in range(min(server.max_concurrency, len(conversations)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failure:
            raise failure[0]
        if any(r is None for r in results):
            error = last_down[-1] if last_down else BackendUnavailable("no server of the pool is alive")
            raise BackendUnavailable(f"every server of the pool is down; last: {error}") from error
        return results  # type: ignore[return-value]
