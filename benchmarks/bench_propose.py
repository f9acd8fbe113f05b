"""Time to a polished solution: NPEInitializer.propose against a grid search, same optimiser.

For each event (default: the shipped examples, ``examples/data/*.dat``) and the model given,
in one process on this CPU:

* ``propose`` with 10,000 samples, its wall time split into preprocessing, sampling, mode
  finding and polishing (screening the draws of each mode, then the local optimiser);
* the grid baseline of MulensModel's example_08 workflow: a 15 x 15 x 12 grid over
  (log s, log q, alpha) over the model's prior, at the single-lens (t_0, u_0, t_E) and
  rho = 1e-3, chi2 with linear fluxes on all epochs, then the same local optimiser
  (:func:`mulens_npe.polish.polish`, same evaluation limit) from the best nodes;
* the ratio of the two wall times and, where a ``*.truth.json`` sits next to the event,
  whether each found the truth's minimum (chi2 within max(25, 0.2%) of a polish started at
  the truth).

The full grid costs minutes per event; ``--grid-nodes N`` times N random nodes and scales
the time to the full grid (printed as extrapolated), for quick checks.

Usage: python benchmarks/bench_propose.py MODEL_FOLDER [--event FILE ...] [--grid-nodes N]
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
from mulens_npe.errors import MulensNPEError, OutOfPriorWarning
from mulens_npe.initializer import NPEInitializer
from mulens_npe.polish import Likelihood, polish

ROOT = Path(__file__).resolve().parents[1]
EVENTS = sorted((ROOT / "examples" / "data").glob("*.dat"))


def _grid(prior, shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    log_s = np.linspace(*np.log10(prior.bounds["s"]), shape[0])
    log_q = np.linspace(*np.log10(prior.bounds["q"]), shape[1])
    alpha = np.linspace(0.0, 360.0, shape[2], endpoint=False)
    s, q, a = np.meshgrid(10**log_s, 10**log_q, alpha, indexing="ij")
    return {"s": s.ravel(), "q": q.ravel(), "alpha": a.ravel()}


def _grid_search(likelihood, result, shape, nodes, n_polish, max_evaluations, seed):
    """Grid chi2 (timed on ``nodes`` nodes, scaled to the full grid), then polish the best."""
    grid = _grid(result.prior, shape)
    total = grid["s"].size
    rows = np.arange(total)
    if nodes < total:
        rows = np.sort(np.random.default_rng(seed).choice(total, nodes, replace=False))
    single = result.single_lens
    params = {
        "t_0": np.full(rows.size, single["t_0"]),
        "u_0": np.full(rows.size, single["u_0"]),
        "t_E": np.full(rows.size, single["t_E"]),
        "rho": np.full(rows.size, 1e-3),
        **{k: v[rows] for k, v in grid.items()},
    }
    start = time.perf_counter()
    chi2 = np.concatenate(
        [
            likelihood.chi2({k: v[i : i + 64] for k, v in params.items()})
            for i in range(0, rows.size, 64)
        ]
    )
    grid_time = (time.perf_counter() - start) * total / rows.size
    best = np.argsort(chi2)[:n_polish]
    start = time.perf_counter()
    polished = polish(
        likelihood,
        {k: v[best] for k, v in params.items()},
        prior=result.prior,
        max_evaluations=max_evaluations,
    )
    polish_time = time.perf_counter() - start
    return grid_time, polish_time, min(r.chi2 for r in polished), rows.size < total


def _truth_chi2(likelihood, event: Path, prior, max_evaluations: int) -> float | None:
    truth_file = event.with_suffix(".truth.json")
    if not truth_file.is_file():
        return None
    truth = json.loads(truth_file.read_text())["parameters"]
    [result] = polish(likelihood, truth, prior=prior, max_evaluations=max_evaluations)
    return result.chi2


def _recovered(chi2: float, reference: float | None) -> str:
    if reference is None:
        return "-"
    return "yes" if chi2 <= reference + max(25.0, 2e-3 * reference) else "no"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="model folder (default: shipped)")
    parser.add_argument("--event", action="append", type=Path, help="light-curve file(s)")
    parser.add_argument("--n-samples", type=int, default=10_000)
    parser.add_argument("--n-starts", type=int, default=3, help="draws polished per mode")
    parser.add_argument("--max-evaluations", type=int, default=200)
    parser.add_argument("--time-budget", type=float, default=None)
    parser.add_argument(
        "--grid", type=int, nargs=3, default=(15, 15, 12), metavar=("NS", "NQ", "NA")
    )
    parser.add_argument("--grid-nodes", type=int, default=None, help="time N nodes, extrapolate")
    parser.add_argument("--grid-polish", type=int, default=3, help="best grid nodes polished")
    args = parser.parse_args()

    try:
        init = NPEInitializer.load(args.model) if args.model else NPEInitializer.pretrained()
    except MulensNPEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    events = args.event or EVENTS
    shape = tuple(args.grid)
    nodes = int(np.prod(shape)) if args.grid_nodes is None else args.grid_nodes
    print(f"model: {init.card.get('name', args.model)}; grid {shape[0]}x{shape[1]}x{shape[2]}")
    for event in events:
        lcs = as_lightcurves(event)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OutOfPriorWarning)
            init.propose(lcs, n_samples=100, seed=0, polish=False)  # warm-up (torch, caches)
            start = time.perf_counter()
            result = init.propose(
                lcs,
                n_samples=args.n_samples,
                seed=0,
                n_starts=args.n_starts,
                max_evaluations=args.max_evaluations,
                time_budget=args.time_budget,
            )
            npe_time = time.perf_counter() - start
        likelihood = Likelihood(lcs)
        grid_time, grid_polish, grid_chi2, extrapolated = _grid_search(
            likelihood, result, shape, nodes, args.grid_polish, args.max_evaluations, seed=0
        )
        reference = _truth_chi2(likelihood, event, result.prior, args.max_evaluations)
        t = result.timings
        print(f"\n{event.name}: {likelihood.n_points} epochs, {len(result.modes)} modes")
        print(
            f"  propose  total {npe_time:8.2f} s = preprocess {t['preprocess']:.3f} + sampling "
            f"{t['sampling']:.3f} ({args.n_samples} samples) + modes {t['modes']:.3f} + polish "
            f"{t['polish']:.2f} ({result.meta['n_evaluations']} curves)"
        )
        print(
            f"  grid     total {grid_time + grid_polish:8.2f} s = chi2 grid {grid_time:.2f}"
            f"{f' (extrapolated from {nodes} nodes)' if extrapolated else ''} + polish "
            f"{grid_polish:.2f} ({args.grid_polish} nodes)"
        )
        print(f"  ratio grid / propose: {(grid_time + grid_polish) / npe_time:.1f}x")
        truth = f"{reference:.1f}" if reference is not None else "-"
        print(
            f"  best chi2: propose {result.best.chi2:.1f} (found: {_recovered(result.best.chi2, reference)}), "
            f"grid {grid_chi2:.1f} (found: {_recovered(grid_chi2, reference)}), truth-started {truth}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
