"""The loop benchmark's ground truth: the synthetic labelers' rules, applied to
a policy answer and a reference answer, say what the labelers would have said."""

import pytest

from benchmarks.loop_truth import first_sentence, names_topic, pair_score, preference_strength


def test_shorter_wins_by_words_and_equal_lengths_tie():
    assert pair_score("shorter", "Two words.", "Three words here.") == 1.0
    assert pair_score("shorter", "one two three", "one two") == 0.0
    assert pair_score("shorter", "a b", "c d") == 0.5
    # As the labelers submit it: −2 prefers the first (canonical A), 2 the second.
    assert preference_strength("shorter", ["short one", "a longer answer"]) == -2
    assert preference_strength("shorter", ["a longer answer", "short one"]) == 2


def test_naming_the_topic_in_the_first_sentence_wins_whatever_the_length():
    topic = "a black hole"
    named = "Black holes are regions where gravity traps light. They form when stars collapse."
    late = "Space is strange. A black hole traps light."
    assert first_sentence(named) == "Black holes are regions where gravity traps light."
    assert first_sentence("  **Tides** rise twice a day\nbecause of the moon.") == "Tides** rise twice a day"
    assert names_topic(named, topic) and not names_topic(late, topic)
    assert names_topic("The Moon's phases repeat. Yes.", "the moon")
    assert not names_topic("A holey black sock.", topic)  # the words, in order, as words
    # Length cannot fake it: the long answer that names the topic first beats the short one.
    assert pair_score("topic", named, "Space is strange.", topic) == 1.0
    assert pair_score("topic", late, named, topic) == 0.0
    assert pair_score("topic", "Nothing here.", "Nor here.", topic) == 0.5
    assert pair_score("topic", named, named, "") == 0.5  # no topic known: nobody names it


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown preference 'longer'"):
        pair_score("longer", "a", "b")
