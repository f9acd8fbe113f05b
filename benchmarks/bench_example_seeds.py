"""Does ``mulens-npe fit`` find a shipped example's solution whatever the seed of the draws?

Runs :meth:`NPEInitializer.propose` with the settings of ``mulens-npe fit`` (10,000 samples,
``--n-starts`` 10, a 120 s time budget) on one event (default: the README example,
``examples/data/roman_planet_example.dat``) once per seed of the posterior draws, and
compares each best solution with a polish started at the truth (``*.truth.json`` beside the
event; same optimiser and limit as ``bench_propose.py``). Prints, per seed, the best chi2,
its label and origin (posterior / anomaly / map), top-1 / top-3 recovery (within max(25,
0.2%) of the truth-started polish, mirrors merged) and wall time; then the count of seeds
that found it. The anomaly screening and the polish are time-bounded, so the figures depend
on the machine's load: say what else ran.

Usage::

    python benchmarks/bench_example_seeds.py [MODEL_FOLDER] [--event FILE] [--seeds 0 1 2 3 4]
        [--time-budget 120] [--threads 1] [--json OUT.json]

Two processes with different ``--seeds`` can share a 2-core machine, one core each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from mulens_npe import as_lightcurves
from mulens_npe.cli_fit import FIT_N_STARTS
from mulens_npe.errors import OutOfPriorWarning
from mulens_npe.polish import Likelihood

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_propose import (  # noqa: E402
    _ranked,
    _truth_from_file,
    _warm_up,
    load_initializer,
    top_k_recovered,
    truth_polish,
)

ROOT = Path(__file__).resolve().parents[1]
EVENT = ROOT / "examples" / "data" / "roman_planet_example.dat"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="?", default=None, help="model folder (default: shipped)")
    p.add_argument("--event", type=Path, default=EVENT, help="light-curve file with a truth")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--time-budget", type=float, default=120.0, help="seconds per run (120)")
    p.add_argument("--n-starts", type=int, default=FIT_N_STARTS)
    p.add_argument("--max-evaluations", type=int, default=200, help="curves per polish start")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", type=Path, default=None, help="write the records here")
    args = p.parse_args(argv)

    truth = _truth_from_file(args.event)
    if truth is None:
        print(f"error: no {args.event.with_suffix('.truth.json').name} beside {args.event}")
        return 2
    init = load_initializer(args.model, args.threads)
    if init is None:
        return 2
    lcs = as_lightcurves(args.event)
    _warm_up(init, lcs)
    likelihood = Likelihood(lcs)
    records = []
    reference = None
    print(f"model: {args.model or 'shipped roman-2l1s'}; event {args.event.name}")
    for seed in args.seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OutOfPriorWarning)
            start = time.perf_counter()
            result = init.propose(
                lcs,
                n_samples=10_000,
                seed=seed,
                n_starts=args.n_starts,
                max_evaluations=args.max_evaluations,
                time_budget=args.time_budget,
            )
            wall = time.perf_counter() - start
        if reference is None:
            reference = truth_polish(likelihood, truth, result.prior, args.max_evaluations).chi2
            print(f"truth-started polish chi2 {reference:.1f}")
        ranked = _ranked(result.solutions)
        best = result.best
        record = {
            "seed": seed,
            "best_chi2": float(best.chi2),
            "label": best.label,
            "origin": best.origin,
            "top1": top_k_recovered(ranked, reference, 1),
            "top3": top_k_recovered(ranked, reference, 3),
            "seconds": wall,
            "rho_median": float(np.median(result.samples["rho"])),
            "timings": dict(result.timings),
        }
        records.append(record)
        print(
            f"seed {seed}: best chi2 {best.chi2:,.1f} ({best.label}, from {best.origin}); "
            f"top-1 {'yes' if record['top1'] else 'no'}, top-3 "
            f"{'yes' if record['top3'] else 'no'}; {wall:.1f} s (anomaly "
            f"{result.timings['anomaly']:.1f} s, map {result.timings['map']:.1f} s)"
        )
    found = sum(bool(r["top3"]) for r in records)
    print(
        f"found (top-3) with {found} of {len(records)} seeds, top-1 with "
        f"{sum(bool(r['top1']) for r in records)}; reference {reference:.1f}"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"reference": reference, "records": records}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
