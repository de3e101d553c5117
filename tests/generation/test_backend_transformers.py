import pytest

from generation.backends import BackendRequestError, BackendUnavailable, SamplingParams
from generation.backends.transformers_backend import TransformersBackend, completion_from_ids

EOS, PAD = 2, 2


def conversation(text):
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return TransformersBackend(tiny_model_dir, model_name="tiny", max_batch_sequences=6)


def decode(ids):
    return " ".join(str(i) for i in ids)


def test_completion_stops_at_the_first_end_token_and_counts_it():
    completion = completion_from_ids([5, 6, EOS, PAD, PAD], eos_ids={EOS}, pad_id=PAD, max_tokens=5,
                                     stop=(), decode=decode)
    assert (completion.text, completion.finish_reason, completion.completion_tokens) == ("5 6", "stop", 3)


def test_completion_without_end_token_at_the_limit_is_length():
    completion = completion_from_ids([5, 6, 7], eos_ids={EOS}, pad_id=0, max_tokens=3, stop=(),
                                     decode=decode)
    assert (completion.finish_reason, completion.completion_tokens) == ("length", 3)


def test_completion_strips_padding_after_a_stop_string_and_cuts_the_text():
    completion = completion_from_ids([5, 6, 7, 0, 0], eos_ids={EOS}, pad_id=0, max_tokens=5,
                                     stop=("7",), decode=decode)
    assert (completion.text, completion.finish_reason, completion.completion_tokens) == ("5 6 ", "stop", 3)


def test_generates_n_completions_per_prompt_in_the_callers_order(backend):
    prompts = ["short", "a much longer prompt about the river and the mountain " * 3, "medium one"]
    results = backend.generate([conversation(p) for p in prompts],
                               SamplingParams(n=3, max_tokens=6, temperature=1.0, seed=1))
    assert [len(r.completions) for r in results] == [3, 3, 3]
    lengths = [r.prompt_tokens for r in results]
    assert lengths[1] > lengths[2] > lengths[0]  # order kept although batches are length-sorted
    for result in results:
        for completion in result.completions:
            assert 1 <= completion.completion_tokens <= 6
            assert completion.finish_reason in ("stop", "length")


def test_left_padding_leaves_greedy_output_unchanged(backend):
    greedy = SamplingParams(n=1, max_tokens=8, temperature=0.0)
    alone = backend.generate([conversation("why is the sky blue")], greedy)[0]
    batched = backend.generate([conversation("explain the long answer about seven apples " * 4),
                                conversation("why is the sky blue")], greedy)[1]
    assert alone.completions[0].text == batched.completions[0].text


def test_the_same_seed_gives_the_same_samples(backend):
    sampling = SamplingParams(n=2, max_tokens=8, temperature=1.0, seed=7)
    first = backend.generate([conversation("a poem about paris")], sampling)
    second = backend.generate([conversation("a poem about paris")], sampling)
    assert [c.text for c in first[0].completions] == [c.text for c in second[0].completions]


def test_max_tokens_cuts_with_finish_reason_length(backend):
    result = backend.generate([conversation("tell me everything")],
                              SamplingParams(n=2, max_tokens=3, temperature=1.0, seed=3))[0]
    assert all(c.completion_tokens == 3 and c.finish_reason == "length"
               for c in result.completions if c.finish_reason != "stop")


def test_greedy_with_n_repeats_the_single_answer(backend):
    result = backend.generate([conversation("hello")], SamplingParams(n=3, max_tokens=4,
                                                                      temperature=0.0))[0]
    assert len({c.text for c in result.completions}) == 1 and len(result.completions) == 3


def test_a_final_assistant_message_is_continued_not_closed(backend):
    rendered = backend.render([{"role": "user", "content": "Which?"},
                               {"role": "assistant", "content": "Verdict:"}])
    assert rendered.endswith("<|im_start|>assistant\nVerdict:")
    plain = backend.render([{"role": "user", "content": "Which?"}])
    assert plain.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_prompt_beyond_the_context_is_refused(backend):
    with pytest.raises(BackendRequestError, match="context"):
        backend.generate([conversation("word " * 600)], SamplingParams(max_tokens=10))


def test_missing_checkpoint_says_how_to_make_it(tmp_path):
    with pytest.raises(BackendUnavailable, match="bootstrap_models"):
        TransformersBackend(tmp_path / "nothing").health()


@pytest.mark.parametrize("bad", [{"n": 0}, {"temperature": -1}, {"top_p": 0}, {"max_tokens": 0},
                                 {"seed": -2}, {"stop": [""]}, {"beam": 3}])
def test_invalid_sampling_is_refused(bad):
    with pytest.raises(ValueError):
        SamplingParams.from_dict(bad)
