"""Worker processes for the polish's curves (``propose(workers=N)``) against one process.

Two figures on the shipped example events (examples/data), each run first with one process
and then with ``N`` in this process, one after the other:

1. The same polish (``mulens_npe.polish.polish`` from 3 starts perturbed from the truth,
   ``--max-evaluations`` curves each, no deadline) timed with
   ``Likelihood(..., pool=CurvePool(N))``: curves per second of the polish itself (the
   paths can part, as the curves differ by ~1e-14, and then take different numbers of
   curves), and the chi2 each setting ends at.
2. ``propose`` with ``fit``'s settings and a time budget (``--budget``): curves evaluated
   (``meta["n_evaluations"]``) and the best chi2 reached within the budget.

    python benchmarks/bench_workers.py                 # N = 2, budget 60 s
    python benchmarks/bench_workers.py --workers 4 --budget 120

Run it with nothing else on the machine: the ratio is that of the cores it finds idle.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from mulens_npe.adapters import as_lightcurves
from mulens_npe.initializer import NPEInitializer
from mulens_npe.likelihood import Likelihood
from mulens_npe.parameters import PARAMETER_NAMES
from mulens_npe.polish import polish
from mulens_npe.simulate import CurvePool

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"
EVENTS = ("roman_planet_example", "roman_binary_example")


def starts(truth: dict[str, float], rng: np.random.Generator, n: int = 3) -> dict:
    """``n`` starts off the truth by ~0.5% in s, 5% in q, 0.5 deg in alpha, 1% in t_E."""
    out = {name: np.full(n, float(truth[name])) for name in PARAMETER_NAMES}
    out["s"] *= 1 + rng.normal(0, 0.005, n)
    out["q"] *= 1 + rng.normal(0, 0.05, n)
    out["alpha"] += rng.normal(0, 0.5, n)
    out["t_E"] *= 1 + rng.normal(0, 0.01, n)
    return out


def timed_polish(likelihood: Likelihood, start: dict, max_evaluations: int):
    mark = time.perf_counter()
    results = polish(likelihood, start, max_evaluations=max_evaluations, covariance=False)
    return time.perf_counter() - mark, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes of the pool (2)")
    parser.add_argument("--budget", type=float, default=60.0, help="propose time budget, s")
    parser.add_argument("--max-evaluations", type=int, default=80)
    parser.add_argument("--skip-propose", action="store_true")
    args = parser.parse_args()
    init = NPEInitializer.pretrained()
    print(f"workers 1 against {args.workers}; polish: 3 starts x {args.max_evaluations} curves")
    for event in EVENTS:
        lcs = as_lightcurves(str(DATA / f"{event}.dat"))
        truth = json.loads((DATA / f"{event}.truth.json").read_text())["parameters"]
        start = starts(truth, np.random.default_rng(0))
        alone, res1 = timed_polish(Likelihood(lcs), start, args.max_evaluations)
        with CurvePool(args.workers) as pool:
            shared, resn = timed_polish(Likelihood(lcs, pool=pool), start, args.max_evaluations)
        # the two paths can part and take different numbers of curves: compare curves/s
        curves1 = sum(r.n_evaluations for r in res1)
        curvesn = sum(r.n_evaluations for r in resn)
        rate1, raten = curves1 / alone, curvesn / shared
        print(
            f"{event}: {sum(lc.n_points for lc in lcs)} epochs | polish alone "
            f"{curves1} curves in {alone:.1f} s ({rate1:.1f}/s), with "
            f"{args.workers} {curvesn} in {shared:.1f} s "
            f"({raten:.1f}/s): {raten / rate1:.2f}x | chi2 {[round(r.chi2, 1) for r in res1]} "
            f"vs {[round(r.chi2, 1) for r in resn]}",
            flush=True,
        )
        if args.skip_propose:
            continue
        for workers in (1, args.workers):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mark = time.perf_counter()
                result = init.propose(
                    lcs, seed=0, time_budget=args.budget, n_starts=10, workers=workers
                )
                wall = time.perf_counter() - mark
            print(
                f"    propose, budget {args.budget:g} s, workers {workers}: {wall:.1f} s, "
                f"{result.meta['n_evaluations']} curves in the polish, best chi2 "
                f"{result.best.chi2:.1f} ({result.best.origin}); timings "
                + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()),
                flush=True,
            )


if __name__ == "__main__":
    main()
