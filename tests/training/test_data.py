"""Encoding pairs: truncation keeps the response, trims the prompt from the left."""

import pytest
from transformers import AutoTokenizer

from training.reward.data import DataCursor, SequenceEncoder, collate, pairs_encode
from training.reward.data import PreferencePair as Pair


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def words(tokenizer, ids):
    return tokenizer.convert_ids_to_tokens(ids)


def test_a_pair_is_cls_prompt_sep_response_sep_with_segment_ids(tokenizer):
    ids, types, cut = SequenceEncoder(tokenizer, 32).encode(
        [{"role": "user", "content": "question word1 ?"}], "good1 word2")
    assert words(tokenizer, ids) == ["[CLS]", "question", "word1", "?", "[SEP]", "good1", "word2", "[SEP]"]
    assert types == [0, 0, 0, 0, 0, 1, 1, 1] and not cut


def test_truncation_trims_the_prompt_from_the_left_and_keeps_the_response(tokenizer):
    prompt = [{"role": "user", "content": "word1 word2 word3 word4 word5 word6"}]
    ids, _, cut = SequenceEncoder(tokenizer, 8).encode(prompt, "good1 good2 good3")
    # 8 = 3 special + 3 response + the LAST 2 prompt tokens
    assert words(tokenizer, ids) == ["[CLS]", "word5", "word6", "[SEP]", "good1", "good2", "good3", "[SEP]"]
    assert cut


def test_a_response_longer_than_the_budget_loses_its_tail_and_the_whole_prompt(tokenizer):
    ids, _, _ = SequenceEncoder(tokenizer, 6).encode([{"role": "user", "content": "word1"}],
                                                     "good1 good2 good3 good4 good5")
    assert words(tokenizer, ids) == ["[CLS]", "[SEP]", "good1", "good2", "good3", "[SEP]"]


def test_multi_turn_prompts_keep_their_roles(tokenizer):
    ids, _, _ = SequenceEncoder(tokenizer, 64).encode(
        [{"role": "user", "content": "word1"}, {"role": "assistant", "content": "word2"},
         {"role": "user", "content": "word3"}], "good1")
    assert "word3" in words(tokenizer, ids)


def test_chat_template_tokenizers_render_the_response_as_the_assistant_turn(tokenizer, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} [SEP] {% endfor %}"
        "{% if add_generation_prompt %}assistant {% endif %}")
    tokenizer.add_special_tokens({"eos_token": "[SEP]"})
    ids, types, _ = SequenceEncoder(tokenizer, 64).encode([{"role": "user", "content": "word1"}], "good1")
    assert types is None
    assert words(tokenizer, ids) == ["[UNK]", "word1", "[SEP]", "[UNK]", "good1", "[SEP]"]
    short, _, _ = SequenceEncoder(tokenizer, 3).encode([{"role": "user", "content": "word1 word2"}],
                                                       "good1")
    assert words(tokenizer, short) == ["[UNK]", "good1", "[SEP]"]  # "assistant", then the response


def test_collate_puts_chosen_first_and_pads_right(tokenizer):
    pairs = pairs_encode([Pair([{"role": "user", "content": "word1"}], "good1 good2", "bad1", margin=1.0),
                          Pair([{"role": "user", "content": "word2"}], "good3", "bad2", is_tie=True)],
                         tokenizer, 32)
    batch = collate(pairs, pad_id=tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (4, 6)
    assert batch["attention_mask"].sum(dim=1).tolist() == [6, 5, 5, 5]
    assert batch["input_ids"][1, -1].item() == tokenizer.pad_token_id
    assert batch["margin"].tolist() == [1.0, 0.0] and batch["is_tie"].tolist() == [False, True]


def test_the_data_cursor_is_independent_of_batch_size_and_resumable():
    a = DataCursor(10, seed=1, shuffle=True)
    whole = a.take(25)
    b = DataCursor(10, seed=1, shuffle=True)
    pieces = b.take(7) + b.take(6)
    c = DataCursor(10, seed=1, shuffle=True, **b.state())
    assert pieces + c.take(12) == whole
    assert sorted(whole[:10]) == list(range(10)) and whole[:10] != whole[10:20]
