"""The loop benchmark's synthetic preferences and their ground-truth judge. No Django.

The benchmark's labelers answer every item by one explicit rule; the same rule,
applied to a policy answer and the reference answer drawn for the same prompt
and seed, is the ground truth of that benchmark: what the labelers themselves
would have said. Two rules:

- ``shorter``: the answer with fewer words wins; equal counts tie;
- ``topic``: the answer whose first sentence names the prompt's topic wins;
  both or neither: a tie. Length cannot fake it: a short answer that never
  names the topic loses to a long one that names it at once.
"""

from __future__ import annotations

import re

PREFERENCES = ("shorter", "topic")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")
_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.I)


def words(text: str) -> int:
    return len(text.split())


def first_sentence(text: str) -> str:
    """Up to the first sentence end (". ", "! ", "? ") or line break; the
    leading whitespace and markdown emphasis are skipped first."""
    text = text.strip().lstrip("#*-> ").strip()
    return _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""


def topic_key(topic: str) -> str:
    """The topic as matched: lower case, without a leading article
    ("a black hole" → "black hole")."""
    return _ARTICLE.sub("", topic.strip().lower())


def names_topic(text: str, topic: str) -> bool:
    """True when the first sentence contains the topic's words in order
    (case-insensitive; a plural or possessive ending counts)."""
    key = topic_key(topic)
    if not key:
        return False
    pattern = r"\b" + r"\s+".join(re.escape(part) for part in key.split()) + r"(?:s|es|'s)?\b"
    return re.search(pattern, first_sentence(text).lower()) is not None


def preference_strength(rule: str, texts: list[str], topic: str = "") -> int:
    """The labelers' answer on an item, as a strength on its canonical order
    (−2 prefers the first answer, 2 the second, 0 a tie)."""
    score = pair_score(rule, texts[0], texts[1], topic)
    return {1.0: -2, 0.0: 2, 0.5: 0}[score]


def pair_score(rule: str, first: str, second: str, topic: str = "") -> float:
    """The ground truth on (first, second): 1 ``first`` wins, 0 it loses, ½ a tie."""
    if rule == "shorter":
        a, b = words(first), words(second)
        return 0.5 if a == b else (1.0 if a < b else 0.0)
    if rule == "topic":
        a, b = names_topic(first, topic), names_topic(second, topic)
        return 0.5 if a == b else (1.0 if a else 0.0)
    raise ValueError(f"unknown preference '{rule}' (known: {', '.join(PREFERENCES)})")
