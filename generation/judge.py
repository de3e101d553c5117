"""The AI labeler's prompt and verdict parsing. Pure functions, no Django.

Each item is judged twice, the second time with the responses swapped, so a
judge that always says "A" cancels out into a tie instead of a preference.
"""

from __future__ import annotations

import re

PLACEHOLDERS = ("{prompt}", "{response_a}", "{response_b}")

DEFAULT_TEMPLATE = """You are judging two answers to the same request. Decide which answer is more \
helpful, correct and harmless. Ignore length and the order in which they appear.

[Request]
{prompt}

[Answer A]
{response_a}

[Answer B]
{response_b}

Reply with "Verdict: A", "Verdict: B" or "Verdict: tie" on the first line, then one sentence \
saying why."""


def template_check(template: str) -> str:
    """The template, or ValueError naming the missing placeholder."""
    if not isinstance(template, str) or not template.strip():
        raise ValueError("the judge prompt must not be empty")
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise ValueError(f"the judge prompt must contain {', '.join(missing)}")
    return template


ANSWER_PREFIX = "Verdict:"


def judge_messages(template: str, *, prompt: str, response_a: str, response_b: str) -> list[dict]:
    """The judge prompt as a user turn, and the judge's answer started as
    "Verdict:" for the model to continue: small models that ignore a requested
    format still complete a started one. One pass of substitution, not
    str.format: the texts may hold braces or placeholder names and are never
    read as fields."""
    values = {"prompt": prompt, "response_a": response_a, "response_b": response_b}
    text = _FIELD.sub(lambda match: values[match.group(1)], template)
    return [{"role": "user", "content": text}, {"role": "assistant", "content": ANSWER_PREFIX}]


_FIELD = re.compile(r"\{(prompt|response_a|response_b)\}")
_LABEL = r"(?:answer|response|option|assistant|output)?\s*"
_PATTERNS = [
    # "Verdict: A", "**Verdict:** [[B]]", "verdict - tie", "Final verdict: Answer A"
    re.compile(r"verdict\s*\**\s*[:\-=]?\s*\**\s*" + _LABEL + r"[\[\(\"'*]*\s*((?-i:A|B)|tie)\b", re.I),
    # "[[A]]" as in MT-Bench judges
    re.compile(r"\[\[\s*((?-i:A|B)|tie)\s*\]\]", re.I),
    # "Answer A is better", "Response B was more helpful"
    re.compile(r"\b(?:answer|response|option)\s+((?-i:A|B))\b[^.\n]{0,20}?\b(?:is|was|seems)\s+"
               r"(?:clearly\s+|much\s+|slightly\s+)?(?:better|best|preferred|more|superior)", re.I),
    # "I prefer answer B", "I choose A"
    re.compile(r"\bI\s+(?:would\s+)?(?:prefer|choose|pick|select)\s+" + _LABEL + r"((?-i:A|B))\b", re.I),
    # "Better: A"
    re.compile(r"\bbetter(?:\s+answer)?\s*[:\-]\s*" + _LABEL + r"((?-i:A|B))\b", re.I),
]
_BARE = re.compile(r"^\W*(?:answer\s+|response\s+)?(A|B)\W*$", re.I)
_TIE = re.compile(r"\b(?:tie|equally\s+(?:good|bad|helpful)|both\s+(?:are\s+)?(?:equally|equal)"
                  r"|neither\s+is\s+better)\b", re.I)


def verdict_parse(text: str) -> str | None:
    """"A", "B", "tie" or None when the answer says nothing usable.

    Explicit patterns are tried in order and the first that matches wins; a
    first line that is only "A"/"B" counts; a tie needs tie wording; anything
    else (including text mentioning both without a verdict) is None.
    """
    if not text:
        return None
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            value = match.group(1)
            return "tie" if value.lower() == "tie" else value.upper()
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    bare = _BARE.match(first_line)
    if bare:
        return bare.group(1).upper()
    if _TIE.search(text):
        return "tie"
    return None


def strength_from_verdicts(first: str | None, swapped: str | None) -> int | None:
    """Combine the two passes into a canonical strength (−1 prefers canonical A,
    +1 prefers B, 0 tie), or None when neither pass gave a verdict.

    ``first`` saw canonical A as "A"; ``swapped`` saw canonical B as "A". Two
    agreeing passes, or one verdict and one tie, give ±1; passes that contradict
    each other (the order decided, not the content) give a tie. The judge never
    claims "much better" (±2).
    """
    def score(verdict: str | None, flipped: bool) -> int | None:
        if verdict is None:
            return None
        if verdict == "tie":
            return 0
        prefers_a = verdict == "A"
        if flipped:
            prefers_a = not prefers_a
        return -1 if prefers_a else 1

    scores = [s for s in (score(first, False), score(swapped, True)) if s is not None]
    if not scores:
        return None
    total = sum(scores)
    return (total > 0) - (total < 0)


# K-way rankings ------------------------------------------------------------------
# A ranking item is judged pair by pair — every one of its C(K, 2) pairs in both
# orders, with the same (project-editable) pairwise prompt and parser — and the
# verdicts are aggregated into a full order by Copeland's rule. Why not one
# listwise prompt ("order these K answers"): small judges rarely return a
# valid permutation of K labels, a parse failure loses the whole item, and
# the position bias of a list cannot be cancelled by one swap (it would take K
# rotations of the list). Pairs cost K(K−1) generations per item (12 for K=4),
# sent as one batch.


def ranking_pairs_of(k: int) -> list[tuple[int, int]]:
    """The canonical pairs (i, j), i < j, of a K-way item, in a fixed order."""
    return [(i, j) for i in range(k) for j in range(i + 1, k)]


def ranking_from_pair_strengths(k: int, strengths: dict[tuple[int, int], int | None]
                                ) -> list[int] | None:
    """A dense ranking (1 is best, equal ranks tie) of K responses from pair
    verdicts, or None when no pair got a verdict.

    ``strengths[(i, j)]`` is strength_from_verdicts for canonical i shown as "A"
    first: −1 prefers i, +1 prefers j, 0 tie, None no verdict (counted as a
    tie: the judge gave no evidence either way). Copeland's rule: a response
    scores +1 per pair it wins and −1 per pair it loses; higher score ranks
    better. It is Condorcet-consistent (a response that beats every other is
    ranked first) and a preference cycle (a > b > c > a) becomes a tie rather
    than an order decided by which pair was asked first.
    """
    if not any(s is not None for s in strengths.values()):
        return None
    score = [0] * k
    for (i, j), strength in strengths.items():
        if strength:
            winner, loser = (i, j) if strength < 0 else (j, i)
            score[winner] += 1
            score[loser] -= 1
    distinct = sorted(set(score), reverse=True)
    return [distinct.index(s) + 1 for s in score]
