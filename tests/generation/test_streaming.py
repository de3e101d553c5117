"""Token-by-token streaming for the arena: the streamed text is the text the
batch path generates (greedy), token counts are exact, and a stop request ends
a stream early — on transformers in-process and on a real vLLM server."""

import threading

import pytest

from generation.backends.base import SamplingParams
from generation.backends.streaming import Delta, StreamEnd, openai_stream, transformers_stream
from generation.backends.transformers_backend import TransformersBackend
from generation.backends.vllm_server import VllmServerBackend
from tests.generation.conftest import VLLM_API_KEY

CONVERSATION = [{"role": "user", "content": "write a poem about the river"}]


def collect(events):
    deltas, end = [], None
    for event in events:
        if isinstance(event, Delta):
            deltas.append(event.text)
        else:
            assert isinstance(event, StreamEnd)
            end = event
    return deltas, end


def test_transformers_stream_gives_the_greedy_answer_token_by_token(tiny_model_dir):
    backend = TransformersBackend(tiny_model_dir)
    sampling = SamplingParams(temperature=0.0, max_tokens=12)
    deltas, end = collect(transformers_stream(backend, CONVERSATION, sampling=sampling,
                                              stop=threading.Event(), timeout=60))
    (batch,) = backend.generate([CONVERSATION], sampling)
    assert "".join(deltas) == batch.completions[0].text
    assert end.completion_tokens == batch.completions[0].completion_tokens
    assert end.finish_reason == batch.completions[0].finish_reason
    assert len(deltas) > 1


def test_transformers_stream_stops_when_asked(tiny_model_dir):
    backend = TransformersBackend(tiny_model_dir)
    stop = threading.Event()
    events = transformers_stream(backend, CONVERSATION, sampling=SamplingParams(
        temperature=0.0, max_tokens=400), stop=stop, timeout=60)
    assert isinstance(next(events), Delta)
    stop.set()
    _, end = collect(events)
    assert end.finish_reason == "stopped"
    assert end.completion_tokens < 400


@pytest.mark.integration
def test_vllm_stream_gives_the_servers_greedy_answer(vllm_server):
    sampling = SamplingParams(temperature=0.0, max_tokens=12)
    deltas, end = collect(openai_stream(vllm_server, CONVERSATION, model="tiny", sampling=sampling,
                                        stop=threading.Event(), timeout=60, api_key=VLLM_API_KEY))
    client = VllmServerBackend(vllm_server, model="tiny", api_key=VLLM_API_KEY)
    (batch,) = client.generate([CONVERSATION], sampling)
    client.close()
    assert "".join(deltas) == batch.completions[0].text
    assert end.completion_tokens == batch.completions[0].completion_tokens
    assert len(deltas) > 1
