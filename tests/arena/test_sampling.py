"""Pair sampling: battles balance across pairs in proportion to the weights."""

import random
from collections import Counter

import pytest

from arena.sampling import pair_key, pair_next


def draw(weights, n, seed=0):
    rng = random.Random(seed)
    counts: Counter = Counter()
    sides: Counter = Counter()
    for _ in range(n):
        a, b = pair_next(weights=weights, counts=counts, rng=rng)
        counts[pair_key(a, b)] += 1
        sides[a] += 1
    return counts, sides


def test_equal_weights_give_every_pair_the_same_number_of_battles():
    counts, _ = draw({1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}, 60)
    assert sorted(counts.values()) == [10] * 6


def test_pairs_follow_the_product_of_their_weights():
    counts, _ = draw({1: 2.0, 2: 1.0, 3: 1.0}, 400)
    # Targets w_i * w_j: (1,2)=2, (1,3)=2, (2,3)=1 → 160, 160, 80, each within one battle.
    assert abs(counts[(1, 2)] - 160) <= 1 and abs(counts[(1, 3)] - 160) <= 1
    assert abs(counts[(2, 3)] - 80) <= 1


def test_a_new_model_catches_up_before_old_pairs_fight_again():
    counts = Counter({(1, 2): 50})
    a, b = pair_next(weights={1: 1.0, 2: 1.0, 3: 1.0}, counts=counts, rng=random.Random(1))
    assert 3 in (a, b)


def test_weight_zero_is_never_drawn_and_sides_are_random():
    counts, sides = draw({1: 1.0, 2: 1.0, 3: 0.0}, 200)
    assert set(counts) == {(1, 2)}
    assert 70 < sides[1] < 130  # left/right is a coin flip


def test_fewer_than_two_drawable_models_is_an_error():
    with pytest.raises(ValueError, match="at least two"):
        pair_next(weights={1: 1.0, 2: 0.0}, counts={})
