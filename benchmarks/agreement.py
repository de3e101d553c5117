"""Benchmark: Krippendorff's alpha and Dawid–Skene on a million annotations.

Data: ``--items`` items × ``--labelers`` labelers (default 100,000 × 10) with
``--missing`` of the cells empty (default 30%, so ~700,000 annotations of the
1,000,000 cells), pairwise strengths on the -2..2 scale around a hidden
truth, each labeler with its own noise level. Seeded, so every run times the
same data.

Named baseline: the ``krippendorff`` package (``krippendorff.alpha``) on the
same reliability matrix, for each level of measurement. Printed per level:
wall time (median of ``--repeat`` runs, after one warm-up), peak memory of
the call (tracemalloc, in a separate run) and

    ratio = baseline time / our time      (>= 1.0 means ours is faster)

plus the absolute difference of the two alphas (must be <= 1e-9). Dawid–Skene
(A/tie/B collapse, then the 5-point labels) is timed on the same annotations
as (item, labeler, label) triples; there is no packaged baseline for it.

    .venv/bin/python benchmarks/agreement.py            # defaults, a few minutes on 2 cores
    .venv/bin/python benchmarks/agreement.py --items 10000 --repeat 1   # quick
    .venv/bin/python benchmarks/agreement.py --ranking-only              # ranking consensus, ~20 s

Ranking consensus (always run; ``--ranking-only`` runs only it): simulated
crowds of ``--ranking-items`` items, K = 4, overlap 3, four careful rankers
(quality + Gaussian noise), one who shuffles and one who ranks in display
order (tests/quality/ranking_crowd.py), one per seed in ``--ranking-seeds``.
Named baseline: the mean-rank consensus. Printed: mean Kendall's tau-b of each
consensus with the hidden truth, the careful rankers alone (the oracle the
weighted consensus should approach), the items sent to adjudication by the
old rule (W on all rankers below 0.6) and the new one (W of the rankers who
count below 0.5), and the time of the reliability fit plus the weighted
consensus on ``--ranking-timing-items`` items.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotation.quality import (  # noqa: E402
    STRENGTH_SCALE,
    collapse_strength,
    dawid_skene,
    krippendorff_alpha,
    krippendorff_alpha_ci,
)

LEVELS = ("nominal", "ordinal", "interval")


def make_data(*, items: int, labelers: int, missing: float, seed: int) -> np.ndarray:
    """(labelers × items) strengths in -2..2 with NaN for missing cells."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(-2, 3, items)
    noise = np.linspace(0.5, 2.0, labelers)[:, None]  # labeler l's noise scale
    data = np.clip(np.rint(truth[None, :] + rng.normal(size=(labelers, items)) * noise), -2, 2)
    data[rng.random((labelers, items)) < missing] = np.nan
    return data


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median wall time over ``repeat`` runs after one warm-up run, and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peak_mib(fn: Callable[[], object]) -> float:
    """Peak memory allocated while ``fn`` runs (tracemalloc traces numpy buffers too)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - before) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--labelers", type=int, default=10)
    parser.add_argument("--missing", type=float, default=0.3)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ci-resamples", type=int, default=1000, help="bootstrap resamples (0 skips)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the krippendorff package")
    parser.add_argument("--ranking-only", action="store_true", help="only the ranking consensus part")
    parser.add_argument("--ranking-items", type=int, default=200)
    parser.add_argument("--ranking-seeds", type=int, nargs="+", default=[11, 12, 13, 14, 15])
    parser.add_argument("--ranking-timing-items", type=int, default=20_000)
    args = parser.parse_args()
    if args.ranking_only:
        ranking_consensus_benchmark(args)
        return

    data = make_data(items=args.items, labelers=args.labelers, missing=args.missing, seed=args.seed)
    n_annotations = int((~np.isnan(data)).sum())
    print(f"# agreement benchmark: {args.items:,} items × {args.labelers} labelers, "
          f"{args.missing:.0%} missing -> {n_annotations:,} annotations")
    print(f"# python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
          f"repeat={args.repeat} (median)")

    baseline = None
    if not args.no_baseline:
        import krippendorff

        baseline = krippendorff
        print(f"# baseline: krippendorff {metadata.version('krippendorff')} (krippendorff.alpha)")

    columns = ("ours s", "ours MiB", "base s", "base MiB", "ratio", "|diff|")
    header = f"{'measurement':34s} " + " ".join(f"{c:>9s}" for c in columns)
    print(header)
    print("-" * len(header))
    ok = True
    for level in LEVELS:
        ours_fn = lambda level=level: krippendorff_alpha(reliability_data=data, level=level)  # noqa: E731
        ours_s, ours_value = timed(ours_fn, args.repeat)
        ours_mem = peak_mib(ours_fn)
        line = f"{'alpha ' + level:34s} {ours_s:9.3f} {ours_mem:9.1f}"
        if baseline is not None:
            base_fn = lambda level=level: baseline.alpha(  # noqa: E731
                reliability_data=data, level_of_measurement=level
            )
            base_s, base_value = timed(base_fn, args.repeat)
            base_mem = peak_mib(base_fn)
            diff = abs(float(ours_value) - float(base_value))
            ok &= diff <= 1e-9 and base_s / ours_s >= 1.0
            line += f" {base_s:9.3f} {base_mem:9.1f} {base_s / ours_s:9.2f} {diff:9.1e}"
        print(line + f"   alpha={ours_value:.6f}")

    if args.ci_resamples:
        ci_fn = lambda: krippendorff_alpha_ci(  # noqa: E731
            reliability_data=data, level="ordinal", n_resamples=args.ci_resamples, seed=0
        )
        start = time.perf_counter()
        ci = ci_fn()
        ci_s = time.perf_counter() - start
        print(f"{'alpha ordinal 95% CI, ' + str(args.ci_resamples) + ' resamples':34s} {ci_s:9.3f} "
              f"{peak_mib(ci_fn):9.1f}   [{ci.low:.4f}, {ci.high:.4f}]")

    labeler_idx, item_idx = np.nonzero(~np.isnan(data))
    strengths = data[labeler_idx, item_idx]
    for name, labels, classes in [
        ("A/tie/B", collapse_strength(strengths), (-1, 0, 1)),
        ("5-point", strengths, STRENGTH_SCALE),
    ]:
        ds_fn = lambda labels=labels, classes=classes: dawid_skene(  # noqa: E731
            items=item_idx, labelers=labeler_idx, labels=labels, classes=classes
        )
        start = time.perf_counter()
        fit = ds_fn()
        ds_s = time.perf_counter() - start
        per_iter = ds_s / max(fit.n_iter, 1)
        print(f"{'Dawid-Skene ' + name:34s} {ds_s:9.3f} {peak_mib(ds_fn):9.1f}   "
              f"{fit.n_iter} EM rounds ({per_iter * 1e3:.0f} ms each), converged={fit.converged}")

    if baseline is not None:
        print("# ratio = krippendorff package time / our time; >= 1.0 means ours is faster")
        print("# PASS: alpha equals the package to 1e-9 and is at least as fast" if ok else
              "# FAIL: alpha differs from the package or is slower")
    print()
    ranking_consensus_benchmark(args)


def ranking_consensus_benchmark(args: argparse.Namespace) -> None:
    from annotation.quality import consensus_rankings, kendall_tau_b, ranking_reliability
    from tests.quality.ranking_crowd import SHUFFLER, simulate_ranking_crowd

    def tau_to_truth(crowd, result) -> np.ndarray:
        return np.array([kendall_tau_b(x=crowd.truth[i], y=result.ranking[k])
                         for k, i in enumerate(result.item_ids)])

    print(f"# ranking consensus: {args.ranking_items} items, K = 4, overlap 3, 4 careful rankers, "
          "1 shuffler, 1 display-order ranker; baseline: mean rank")
    header = (f"{'seed':>5s} {'mean rank':>10s} {'weighted':>10s} {'careful':>10s} {'gain':>8s} "
              f"{'flag old':>9s} {'flag new':>9s} {'tau flagged':>12s} {'tau rest':>9s}")
    print(header)
    print("-" * len(header))
    gains = []
    for seed in args.ranking_seeds:
        c = simulate_ranking_crowd(n_items=args.ranking_items, seed=seed)
        rankings = list(c.rankings)
        fit = ranking_reliability(items=c.items, labelers=c.labelers, rankings=rankings,
                                  display_orders=list(c.display_orders))
        plain = consensus_rankings(items=c.items, labelers=c.labelers, rankings=rankings)
        weighted = consensus_rankings(items=c.items, labelers=c.labelers, rankings=rankings,
                                      weights=fit.annotation_weight)
        keep = c.labelers < SHUFFLER
        careful = consensus_rankings(items=c.items[keep], labelers=c.labelers[keep],
                                     rankings=list(c.rankings[keep]))
        t_plain, t_weighted = tau_to_truth(c, plain), tau_to_truth(c, weighted)
        old_flags = int((np.nan_to_num(plain.kendall_w, nan=1.0) < 0.6).sum())
        confidence = np.where(np.isnan(weighted.kendall_w), weighted.agreement, weighted.kendall_w)
        flagged = confidence < 0.5
        gains.append(t_weighted.mean() - t_plain.mean())
        print(f"{seed:5d} {t_plain.mean():10.3f} {t_weighted.mean():10.3f} "
              f"{tau_to_truth(c, careful).mean():10.3f} {gains[-1]:+8.3f} {old_flags:9d} "
              f"{int(flagged.sum()):9d} {t_weighted[flagged].mean():12.3f} "
              f"{t_weighted[~flagged].mean():9.3f}")
    print(f"# weighted beats mean rank on {sum(g > 0 for g in gains)} of {len(gains)} crowds "
          f"(mean gain in tau-b {np.mean(gains):+.3f})")

    c = simulate_ranking_crowd(n_items=args.ranking_timing_items, seed=1)
    start = time.perf_counter()
    fit = ranking_reliability(items=c.items, labelers=c.labelers, rankings=list(c.rankings),
                              display_orders=list(c.display_orders))
    consensus_rankings(items=c.items, labelers=c.labelers, rankings=list(c.rankings),
                       weights=fit.annotation_weight)
    print(f"# reliability fit + weighted consensus on {len(c.items):,} rankings: "
          f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
