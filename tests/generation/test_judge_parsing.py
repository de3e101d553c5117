import pytest

from generation.judge import (
    DEFAULT_TEMPLATE,
    judge_messages,
    strength_from_verdicts,
    template_check,
    verdict_parse,
)


@pytest.mark.parametrize("text, verdict", [
    ("Verdict: A\nA is more precise.", "A"),
    ("verdict: B", "B"),
    ("**Verdict:** [[B]] because it answers.", "B"),
    ("Final verdict - Answer A", "A"),
    ("Verdict: tie", "tie"),
    ("[[A]]", "A"),
    ("After thinking, Answer B is clearly better.", "B"),
    ("I would prefer answer A.", "A"),
    ("Better: B", "B"),
    ("B", "B"),
    ("(A)", "A"),
    ("Both are equally good.", "tie"),
    ("Neither is better here.", "tie"),
    ("Verdict: a tough call; both are equally vague", "tie"),
    ("", None),
    ("I cannot decide what to say about these.", None),
    ("A and B both talk about rivers.", None),
])
def test_verdicts_are_parsed_from_many_phrasings(text, verdict):
    assert verdict_parse(text) == verdict


@pytest.mark.parametrize("first, swapped, strength", [
    ("A", "B", -1),     # canonical A wins in both orders
    ("B", "A", 1),      # canonical B wins in both orders
    ("A", "A", 0),      # always the first shown: order bias cancels to a tie
    ("B", "B", 0),
    ("A", "tie", -1),
    ("tie", "A", 1),
    ("tie", "tie", 0),
    ("A", None, -1),
    (None, "A", 1),
    (None, None, None),
])
def test_two_passes_combine_into_a_canonical_strength(first, swapped, strength):
    assert strength_from_verdicts(first, swapped) == strength


def test_texts_are_inserted_literally():
    messages = judge_messages(DEFAULT_TEMPLATE, prompt="use {response_b} and {0}",
                              response_a="{prompt}", response_b="B text")
    content = messages[0]["content"]
    assert "use {response_b} and {0}" in content
    assert "[Answer A]\n{prompt}\n" in content and "[Answer B]\nB text\n" in content
    assert messages[1] == {"role": "assistant", "content": "Verdict:"}  # answer prefilled


def test_a_template_without_placeholders_is_refused():
    with pytest.raises(ValueError, match="{response_b}"):
        template_check("Compare {prompt} {response_a}")
