"""Reward-model evaluation on held-out pairs: framework-free (numpy only).

Input: the rewards the model gave each pair's chosen and rejected response,
and which pairs are ties. Ties have no winner, so accuracy, loss and
calibration are computed on decided pairs; ties report the mean |r_c - r_r|
(0 would be a perfect "equal reward").
"""

import numpy as np


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    # log σ(x) = -softplus(-x), computed without overflow for large |x|.
    return -np.logaddexp(0.0, -x)


def expected_calibration_error(p_chosen: np.ndarray, *, bins: int = 10) -> float:
    """ECE of the model's pairwise predictions σ(r_c - r_r).

    Each decided pair is a binary prediction: the model predicts "chosen wins"
    when p = σ(r_c - r_r) > ½ with confidence c = max(p, 1 - p), and is right
    when p > ½. With B equal-width bins over confidence [½, 1]:

        ECE = Σ_b (|b| / n) · |accuracy(b) - mean confidence(b)|
    """
    p = np.asarray(p_chosen, dtype=np.float64)
    if p.size == 0:
        return float("nan")
    confidence = np.maximum(p, 1.0 - p)
    correct = (p > 0.5).astype(np.float64)
    # Confidence lies in [0.5, 1]: map to [0, 1) for binning; 1.0 joins the last bin.
    index = np.minimum(((confidence - 0.5) * 2 * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def pairwise_metrics(chosen: np.ndarray, rejected: np.ndarray, *,
                     is_tie: np.ndarray | None = None, bins: int = 10) -> dict[str, float | None]:
    """accuracy, loss (Bradley–Terry, mean over decided pairs), ECE, margin.

    accuracy = mean 1[r_c > r_r]; loss = mean -log σ(r_c - r_r);
    margin = mean (r_c - r_r); all over decided (non-tie) pairs.
    """
    chosen = np.asarray(chosen, dtype=np.float64)
    rejected = np.asarray(rejected, dtype=np.float64)
    ties = np.zeros(chosen.shape, dtype=bool) if is_tie is None else np.asarray(is_tie, dtype=bool)
    d = (chosen - rejected)[~ties]
    out: dict[str, float | None] = {"pairs": int(d.size), "ties": int(ties.sum())}
    if d.size:
        out |= {
            "accuracy": float((d > 0).mean()),
            "loss": float(-_log_sigmoid(d).mean()),
            "ece": expected_calibration_error(1.0 / (1.0 + np.exp(-d)), bins=bins),
            "margin": float(d.mean()),
        }
    else:
        # None, not NaN: the metrics are stored as JSON and PostgreSQL's jsonb refuses NaN.
        out |= {"accuracy": None, "loss": None, "ece": None, "margin": None}
    if ties.any():
        out["tie_abs_diff"] = float(np.abs(chosen - rejected)[ties].mean())
    out["reward_mean"] = float(np.concatenate([chosen, rejected]).mean()) if chosen.size else None
    return out
