"""Training metrics of a policy run: running sums between logs, their means, and
the likelihood-displacement alarm.

Per-pair means for paired losses; for kto, "chosen" means the desirable
responses and "rejected" the undesirable ones. Lengths are those of the
chosen and rejected responses in the batches (the loop does not sample).
"""

import time

import torch

from training.policy.config import PolicyConfig


class DisplacementAlarm:
    """Likelihood displacement: DPO can raise the margin while LOWERING the chosen
    response's likelihood (both responses fall, the rejected one faster).

    Fed the chosen response's mean log-ratio to the reference (log π − log π_ref:
    the per-example baseline cancels, so batches are comparable) at each log; it
    fires when that value fell at each of the last ``window`` logs, by at least
    ``min_drop`` nats in all, and is below zero (below the reference).
    """

    def __init__(self, window: int, min_drop: float):
        self.window, self.min_drop = window, min_drop
        self.values: list[float] = []
        self.first_step: int | None = None

    def update(self, step: int, value: float | None) -> bool:
        if value is None:
            return False
        self.values = (self.values + [value])[-self.window:]
        v = self.values
        fired = (len(v) == self.window and all(b < a for a, b in zip(v, v[1:], strict=False))
                 and v[0] - v[-1] >= self.min_drop and v[-1] < 0)
        if fired and self.first_step is None:
            self.first_step = step
        return fired


class MetricWindow:
    """Running sums between two logs; tensors stay on the device (``.item()`` is a
    host-device sync: once per log, not once per micro-batch)."""

    KEYS = ("loss", "correct", "margin", "chosen_reward", "rejected_reward", "chosen_logp", "rejected_logp",
            "chosen_logratio")

    def __init__(self, device):
        self.sums = {k: torch.zeros((), device=device) for k in self.KEYS}
        self.reset()

    def reset(self):
        for value in self.sums.values():
            value.zero_()
        self.n_chosen = self.n_rejected = self.n_pairs = 0
        self.len_chosen = self.len_rejected = 0
        self.tokens = self.sequences = self.steps = 0
        self.started = time.perf_counter()

    def mean(self, key: str, n: int) -> float | None:
        return self.sums[key].item() / n if n else None


def accumulate(window: MetricWindow, out: dict, loss: torch.Tensor, *, paired: bool) -> None:
    s = window.sums
    with torch.no_grad():
        s["loss"] += loss.detach()
        window.tokens += out["tokens"]
        if paired:
            n = out["chosen_logp"].shape[0]
            window.n_pairs += n
            window.n_chosen += n
            window.sequences += n
            window.len_chosen += int(out["chosen_len"].sum())
            s["chosen_logp"] += out["chosen_logp"].detach().sum()
            if "chosen_logratio" in out:
                s["chosen_logratio"] += out["chosen_logratio"].detach().sum()
            if out["rejected_logp"] is not None:
                window.n_rejected += n
                window.sequences += n
                window.len_rejected += int(out["rejected_len"].sum())
                s["rejected_logp"] += out["rejected_logp"].detach().sum()
                c, r = out["chosen_reward"].detach(), out["rejected_reward"].detach()
                s["chosen_reward"] += c.sum()
                s["rejected_reward"] += r.sum()
                s["margin"] += (c - r).sum()
                s["correct"] += (c > r).sum()
        else:
            good = out["desirable"]
            n_good = int(good.sum())
            n = good.shape[0]
            window.n_chosen += n_good
            window.n_rejected += n - n_good
            window.sequences += n
            lengths = out["lengths"]
            window.len_chosen += int(lengths[good.cpu()].sum())
            window.len_rejected += int(lengths[~good.cpu()].sum())
            logps, rewards = out["logps"].detach(), out["rewards"].detach()
            zero = torch.zeros((), device=logps.device)
            s["chosen_logp"] += torch.where(good, logps, zero).sum()
            s["rejected_logp"] += torch.where(good, zero, logps).sum()
            s["chosen_reward"] += torch.where(good, rewards, zero).sum()
            s["rejected_reward"] += torch.where(good, zero, rewards).sum()


def window_values(window: MetricWindow, config: PolicyConfig) -> dict:
    """The window's means. Per-pair for paired losses; for kto, 'chosen' means the
    desirable responses and 'rejected' the undesirable ones."""
    w = window
    chosen_reward = w.mean("chosen_reward", w.n_chosen)
    rejected_reward = w.mean("rejected_reward", w.n_rejected)
    if config.paired:
        margin = w.mean("margin", w.n_rejected)
        accuracy = w.mean("correct", w.n_rejected)
    else:
        margin = (chosen_reward - rejected_reward
                  if chosen_reward is not None and rejected_reward is not None else None)
        accuracy = None
    logratio = None
    if config.needs_reference and config.paired:
        logratio = w.mean("chosen_logratio", w.n_chosen)
    elif not config.paired and chosen_reward is not None:
        logratio = chosen_reward / config.beta
    elif not config.needs_reference:
        # Reference-free: follow the chosen response's per-token log-prob instead.
        logratio = w.sums["chosen_logp"].item() / w.len_chosen if w.len_chosen else None
    return {
        "loss": w.sums["loss"].item() / max(w.steps, 1),
        "accuracy": accuracy,
        "margin": margin,
        "chosen_reward": chosen_reward,
        "rejected_reward": rejected_reward,
        "chosen_logp": w.mean("chosen_logp", w.n_chosen),
        "rejected_logp": w.mean("rejected_logp", w.n_rejected),
        "chosen_logratio": logratio,
        "chosen_length": w.len_chosen / w.n_chosen if w.n_chosen else None,
        "rejected_length": w.len_rejected / w.n_rejected if w.n_rejected else None,
    }


def window_all_reduce(window: MetricWindow, dist) -> None:
    """Sum a window's sums and counts over the ranks of a data-parallel run, so that
    rank 0's means are the global batch's (``steps`` is the same on every rank)."""
    if not dist.active:
        return
    for value in window.sums.values():
        dist.all_reduce_(value)
    names = ("n_chosen", "n_rejected", "n_pairs", "len_chosen", "len_rejected", "tokens", "sequences")
    for name, total in zip(names, dist.sum_numbers(*(getattr(window, n) for n in names)), strict=True):
        setattr(window, name, int(total))
