"""The grid of MulensModel's example_08 with the local optimiser at every node, timed.

The issue's grid baseline: a 15 x 15 x 12 grid over (log s, log q, alpha) on the model's prior,
and at each node the trajectory and source size (t_0, u_0, t_E, rho) fitted with (s, q, alpha)
held. The inner fit here is this package's own optimiser (:func:`mulens_npe.polish.polish`'s
trust-region least squares, the same coordinates, forward-difference steps, tolerances and
limit of 200 magnification curves per start), restricted to the four free parameters, started
at the single-lens (t_0, u_0, t_E) and rho = 1e-3 as a grid user would. Timing all 2,700
nodes takes hours per event, so ``--nodes N`` random nodes are fitted and their time is scaled
to the full grid; its recovery is not measured.

In the same process, on the same events, ``NPEInitializer.propose`` runs with the ``fit``
defaults (10 starts per mode, ``--time-budget`` seconds), and the ratio grid / propose of
wall times is printed per event and as medians.

Usage: python benchmarks/bench_grid_optimised.py --events 3,18,24 [--nodes 40]
    [--seed 777] [--time-budget 120]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_propose import _grid, add_pool_arguments, pool_events  # noqa: E402

from mulens_npe.errors import OutOfPriorWarning  # noqa: E402
from mulens_npe.initializer import NPEInitializer  # noqa: E402
from mulens_npe.likelihood import Likelihood, single_lens_fit  # noqa: E402
from mulens_npe.polish import (  # noqa: E402
    _internal_bounds,
    _Objective,
    from_internal,
    to_internal,
)
from mulens_npe.proposing import event_prior  # noqa: E402
from mulens_npe.singlelens import estimate_single_lens  # noqa: E402

FREE = 4
"""Free coordinates at a node: t_0 / t_E, u_0, ln t_E, ln rho (then ln s, ln q, alpha held)."""


def fit_node(likelihood: Likelihood, start: dict[str, float], bounds, max_evaluations: int = 200):
    """polish's trust-region fit with (s, q, alpha) held, in polish's box (``bounds``: a
    prior's, t_0, u_0, t_E, rho, s and q).

    Returns the best chi2 seen, the magnification curves computed, and the best parameters.
    """
    t_ref, t_scale = start["t_0"], start["t_E"]
    objective = _Objective(likelihood, t_ref, t_scale, np.inf)
    z_all = to_internal(start, t_ref, t_scale)
    held = z_all[FREE:]
    low, high = (edge[:FREE] for edge in _internal_bounds(bounds, t_ref, t_scale))
    z0 = np.clip(z_all[:FREE], low, high)

    def fun(z: np.ndarray) -> np.ndarray:
        return objective.fun(np.concatenate([z, held]))

    def jac(z: np.ndarray) -> np.ndarray:
        return objective.jac(np.concatenate([z, held]), n_free=FREE)

    least_squares(
        fun,
        z0,
        jac=jac,
        bounds=(low, high),
        method="trf",
        x_scale="jac",
        max_nfev=max(1, max_evaluations // (FREE + 1)),
        xtol=1e-8,
        ftol=1e-6,
        gtol=1e-8,
    )
    best = {k: float(v) for k, v in from_internal(objective.best_z, t_ref, t_scale).items()}
    return objective.best_chi2, objective.n_evaluations, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pool_arguments(parser)
    parser.add_argument("--nodes", type=int, default=40, help="random grid nodes fitted")
    parser.add_argument("--time-budget", type=float, default=120.0, help="propose's budget")
    args = parser.parse_args()
    warnings.simplefilter("ignore", OutOfPriorWarning)
    init = NPEInitializer.pretrained()
    ratios, grids, proposes = [], [], []
    for event in pool_events(init, args):
        lc = event["lightcurve"]
        likelihood = Likelihood(lc)
        prior = event_prior(init.model.prior, lc)
        guess = estimate_single_lens(lc.time, lc.flux, lc.flux_err)
        single = single_lens_fit(likelihood, {k: getattr(guess, k) for k in ("t_0", "u_0", "t_E")})
        single = {k: float(np.clip(single[k], *prior.bounds[k])) for k in ("t_0", "u_0", "t_E")}
        grid = _grid(prior, (15, 15, 12))
        total = grid["s"].size
        rows = np.random.default_rng(0).choice(total, min(args.nodes, total), replace=False)
        begin = time.perf_counter()
        curves = []
        for row in rows:
            start = dict(single, rho=1e-3, **{k: float(v[row]) for k, v in grid.items()})
            curves.append(fit_node(likelihood, start, prior.bounds)[1])
        per_node = (time.perf_counter() - begin) / rows.size
        grid_time = per_node * total
        begin = time.perf_counter()
        init.propose(lc, seed=0, n_starts=10, time_budget=args.time_budget)
        propose_time = time.perf_counter() - begin
        ratios.append(grid_time / propose_time)
        grids.append(grid_time)
        proposes.append(propose_time)
        print(
            f"[{event['index']:3d}] {likelihood.n_points} pts dchi2 {event['delta_chi2']:10.1f} | "
            f"grid: {rows.size} nodes, {per_node:.2f} s/node (median {np.median(curves):.0f} "
            f"curves), {grid_time / 3600:.2f} h for {total} | propose {propose_time:.1f} s | "
            f"grid / propose {grid_time / propose_time:.0f}x",
            flush=True,
        )
    print(
        f"median over {len(ratios)} events: grid {np.median(grids) / 3600:.2f} h, propose "
        f"{np.median(proposes):.1f} s, grid / propose {np.median(ratios):.0f}x (range "
        f"{min(ratios):.0f}-{max(ratios):.0f}x)"
    )


if __name__ == "__main__":
    main()
