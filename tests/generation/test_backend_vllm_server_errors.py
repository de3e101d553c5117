"""Error paths of the vllm-server backend against a local fake server (the
real vLLM server is exercised in test_vllm_server.py)."""

import socket

import pytest

from generation.backends import (
    BackendProtocolError,
    BackendRequestError,
    BackendTimeout,
    BackendUnavailable,
    SamplingParams,
)
from generation.backends.vllm_server import VllmServerBackend
from tests.generation.fake_openai import FakeOpenAI

CONVERSATION = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def client(url, **options):
    options.setdefault("sleep", lambda seconds: None)
    options.setdefault("retries", 2)
    return VllmServerBackend(url, model="tiny", api_key="secret-key", **options)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_sends_the_sampling_parameters_and_the_api_key(fake):
    result = client(fake.url).generate([CONVERSATION], SamplingParams(
        n=2, temperature=0.5, top_p=0.9, max_tokens=4, seed=11, stop=("END",)))[0]
    payload = fake.requests[-1]["json"]
    assert {k: payload[k] for k in ("model", "n", "temperature", "top_p", "max_tokens", "seed",
                                    "stop")} == {"model": "tiny", "n": 2, "temperature": 0.5,
                                                 "top_p": 0.9, "max_tokens": 4, "seed": 11,
                                                 "stop": ["END"]}
    assert fake.headers[-1]["Authorization"] == "Bearer secret-key"
    assert [c.text for c in result.completions] == ["Hi 0", "Hi 1"]
    assert [c.completion_tokens for c in result.completions] == [4, 4]
    assert result.prompt_tokens == 5


def test_a_prefilled_answer_asks_the_server_to_continue_it(fake):
    client(fake.url).generate([CONVERSATION + [{"role": "assistant", "content": "Verdict:"}]],
                              SamplingParams())
    payload = fake.requests[-1]["json"]
    assert payload["continue_final_message"] is True and payload["add_generation_prompt"] is False
    client(fake.url).generate([CONVERSATION], SamplingParams())
    assert "continue_final_message" not in fake.requests[-1]["json"]


def test_server_down_is_unavailable_after_the_retries():
    sleeps = []
    backend = client(closed_port_url(), sleep=sleeps.append, retries=2)
    with pytest.raises(BackendUnavailable, match="not reachable.*serve_generation"):
        backend.generate([CONVERSATION], SamplingParams())
    assert len(sleeps) == 2


def test_backoff_grows_between_retries(fake):
    sleeps = []
    fake.default = (503, {"error": "loading"})
    with pytest.raises(BackendUnavailable, match="HTTP 503"):
        client(fake.url, sleep=sleeps.append, retries=3, backoff=1.0).generate(
            [CONVERSATION], SamplingParams())
    assert len(sleeps) == 3 and all(0 <= s <= 2 ** i for i, s in enumerate(sleeps))


def test_a_slow_server_times_out(fake):
    fake.delay = 1.0
    with pytest.raises(BackendTimeout, match="did not answer in time"):
        client(fake.url, timeout=0.2, retries=1).generate([CONVERSATION], SamplingParams())
    assert len(fake.requests) == 2


def test_a_server_error_is_retried_until_it_answers(fake):
    fake.script = [(500, "boom"), (502, "bad gateway")]
    result = client(fake.url, retries=2).generate([CONVERSATION], SamplingParams(n=1))
    assert result[0].completions[0].text == "Hi 0"
    assert len(fake.requests) == 3


def test_a_refused_request_is_not_retried(fake):
    fake.default = (400, {"error": {"message": "max_tokens is too large"}})
    with pytest.raises(BackendRequestError, match="HTTP 400.*max_tokens is too large"):
        client(fake.url).generate([CONVERSATION], SamplingParams())
    assert len(fake.requests) == 1


def test_an_answer_that_is_not_json_is_a_protocol_error(fake):
    fake.default = (200, "<html>proxy error</html>")
    with pytest.raises(BackendProtocolError, match="not JSON.*proxy error"):
        client(fake.url).generate([CONVERSATION], SamplingParams())
    assert len(fake.requests) == 1


@pytest.mark.parametrize("body", [{"choices": "nope"}, {"object": "chat.completion"},
                                  {"choices": [{"message": {}}]}, ["a", "list"]])
def test_json_that_is_not_a_chat_completion_is_a_protocol_error(fake, body):
    fake.default = (200, body)
    with pytest.raises(BackendProtocolError):
        client(fake.url).generate([CONVERSATION], SamplingParams())


def test_fewer_choices_than_asked_is_a_protocol_error(fake):
    fake.script = [(200, FakeOpenAI.completion({"n": 1}))]
    with pytest.raises(BackendProtocolError, match="returned 1 choices, asked for 3"):
        client(fake.url).generate([CONVERSATION], SamplingParams(n=3))


def test_concurrency_is_bounded(fake):
    fake.delay = 0.15
    results = client(fake.url, max_concurrency=2).generate([CONVERSATION] * 6, SamplingParams())
    assert len(results) == 6
    assert fake.max_in_flight == 2


def test_results_come_back_in_prompt_order(fake):
    conversations = [[{"role": "user", "content": f"prompt {i}"}] for i in range(5)]
    fake.delay = 0.05
    results = client(fake.url, max_concurrency=3).generate(conversations, SamplingParams())
    assert [r.completions[0].text for r in results] == [f"prompt {i} 0" for i in range(5)]


def test_health_passes_when_the_model_is_served(fake):
    client(fake.url).health()
    assert [r["path"] for r in fake.requests] == ["/health", "/v1/models"]


def test_health_fails_when_another_model_is_served(fake):
    fake.models = ["other"]
    with pytest.raises(BackendUnavailable, match="serves \\['other'\\], not 'tiny'"):
        client(fake.url).health()


def test_health_names_the_api_key_when_refused(fake):
    fake.script = [(200, ""), (401, {"error": "Unauthorized"})]
    with pytest.raises(BackendUnavailable, match="API key"):
        client(fake.url).health()


def test_health_of_a_stopped_server_is_unavailable():
    with pytest.raises(BackendUnavailable):
        client(closed_port_url(), retries=0).health()
