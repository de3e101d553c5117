"""Style control: a length bias in the votes shows up as a length coefficient,
and the style-controlled ratings of two equally good models come together."""

import numpy as np

from annotation.quality.leaderboard import leaderboard
from arena.style import style_controlled_fit, style_features


def test_markdown_density_counts_elements_per_100_characters():
    plain = style_features("just a sentence without any formatting at all")
    rich = style_features("# Title\n- one\n- two\n**bold** and `code`")
    assert plain["markdown"] == 0.0
    assert rich["markdown"] > 10
    assert rich["length"] == len("# Title\n- one\n- two\n**bold** and `code`")


def test_length_bias_is_attributed_to_length_not_to_the_model():
    rng = np.random.default_rng(0)
    n = 600
    # "verbose" writes long answers, "terse" short ones; labelers prefer the
    # longer answer 80% of the time, whoever wrote it. A third model, "mixed",
    # writes either length at random, which separates length from identity.
    names = ["verbose", "terse", "mixed"]
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(1, 3, n)) % 3
    def length(model):
        return np.where(model == 0, 900.0, np.where(model == 1, 150.0, rng.choice([150.0, 900.0], n)))
    la, lb = length(a), length(b)
    p_a = np.where(la > lb, 0.8, np.where(la < lb, 0.2, 0.5))
    outcome = (rng.random(n) < p_a).astype(float)
    model_a, model_b = [names[i] for i in a], [names[i] for i in b]
    fa = np.stack([la, np.zeros(n)], axis=1)
    fb = np.stack([lb, np.zeros(n)], axis=1)
    fit = style_controlled_fit(model_a=model_a, model_b=model_b, outcome=outcome.tolist(),
                               features_a=fa, features_b=fb)
    raw = {row["model"]: row["rating"] for row in leaderboard(
        model_a=model_a, model_b=model_b, outcome=outcome, n_resamples=10).as_dict()["rows"]}
    controlled = dict(zip(fit.models, fit.ratings, strict=True))
    assert fit.coefficients["length"] > 0.5
    assert raw["verbose"] - raw["terse"] > 150  # length bias inflates the raw gap
    assert abs(controlled["verbose"] - controlled["terse"]) < 60
