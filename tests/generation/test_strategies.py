import random

from generation.strategies import (
    Candidate,
    all_pairs,
    candidates_clean,
    cross_model,
    random_pairs,
    ranking,
    text_clean,
)


def samples(texts, model="m"):
    return [Candidate(model, i, t) for i, t in enumerate(texts)]


def rng():
    return random.Random(0)


def test_empty_and_identical_responses_are_dropped():
    kept, dropped = candidates_clean(samples(["A cat.", "  ", "a  CAT.", "A dog.", ""]))
    assert [c.text for c in kept] == ["A cat.", "A dog."]
    assert dropped == 3


def test_nul_characters_and_outer_whitespace_are_removed():
    assert text_clean("  hi\x00 there \n") == "hi there"


def test_truncated_responses_are_kept_and_marked():
    kept, _ = candidates_clean([Candidate("m", 0, "cut off", "length"), Candidate("m", 1, "done")])
    assert [c.truncated for c in kept] == [True, False]


def test_all_pairs_covers_every_pair_once():
    groups = all_pairs(samples("abcd"), k=2, max_items=None, rng=rng())
    assert sorted(tuple(sorted(g)) for g in groups) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3),
                                                         (2, 3)]


def test_pairs_are_shuffled_so_position_a_is_not_fixed():
    groups = all_pairs(samples("abcdefgh"), k=2, max_items=None, rng=rng())
    assert any(g[0] > g[1] for g in groups) and any(g[0] < g[1] for g in groups)


def test_random_pairs_is_a_subset_of_the_requested_size_without_repeats():
    groups = random_pairs(samples("abcdef"), k=2, max_items=4, rng=rng())
    assert len(groups) == 4 and len({frozenset(g) for g in groups}) == 4


def test_random_pairs_depends_on_the_seed():
    texts = samples("abcdefgh")
    first = {frozenset(g) for g in random_pairs(texts, k=2, max_items=3, rng=random.Random(1))}
    second = {frozenset(g) for g in random_pairs(texts, k=2, max_items=3, rng=random.Random(2))}
    assert first != second


def test_cross_model_pairs_each_sample_with_the_other_models_same_index():
    candidates = samples(["x0", "x1"], model="x") + samples(["y0", "y1"], model="y")
    groups = cross_model(candidates, k=2, max_items=None, rng=rng())
    assert sorted(tuple(sorted(g)) for g in groups) == [(0, 2), (1, 3)]
    assert all({candidates[i].model_name for i in g} == {"x", "y"} for g in groups)


def test_cross_model_needs_two_models():
    assert cross_model(samples("abc"), k=2, max_items=None, rng=rng()) == []


def test_ranking_cuts_disjoint_sets_of_k():
    groups = ranking(samples("abcdefg"), k=3, max_items=None, rng=rng())
    assert len(groups) == 2 and all(len(g) == 3 for g in groups)
    assert len(set(groups[0]) | set(groups[1])) == 6


def test_ranking_with_too_few_candidates_builds_nothing():
    assert ranking(samples("ab"), k=3, max_items=None, rng=rng()) == []
