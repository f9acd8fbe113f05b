"""Throughput of :func:`mulens_npe.simulate.binary_magnification` against VBMicrolensing itself.

Budget (DESIGN.md): simulation within 1.5x of calling VBMicrolensing's own light-curve routine
directly. Both sides compute the same curves (N prior draws, one 72-day season) at the same
accuracy (Tol = RelTol = 1e-3), on one core, in the same process; the direct side gets its
parameter vectors precomputed, so everything our function adds is counted against it.

    python benchmarks/bench_magnification.py            # N = 200
    python benchmarks/bench_magnification.py --n 500 --repeat 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import VBMicrolensing

from mulens_npe.parameters import PARAMETER_NAMES, vbm_vector
from mulens_npe.prior import Prior
from mulens_npe.simulate import ROMAN_SEASON_START, binary_magnification

TOLERANCE = 1e-3


def direct(vectors: list[list[float]], times: np.ndarray, tol: float, rel_tol: float) -> None:
    vbm = VBMicrolensing.VBMicrolensing()
    vbm.Tol = tol
    vbm.RelTol = rel_tol
    for vector in vectors:
        vbm.BinaryLightCurve(vector, times)


def best_of(function, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of prior draws")
    parser.add_argument("--repeat", type=int, default=2, help="timing repeats (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    season = (ROMAN_SEASON_START, ROMAN_SEASON_START + 72.0)
    draws = Prior(t_0=season).sample(args.n, np.random.default_rng(args.seed))
    vectors = [
        vbm_vector({name: float(draws[name][i]) for name in PARAMETER_NAMES}) for i in range(args.n)
    ]
    print(f"{args.n} prior draws, best of {args.repeat}, one core, tolerance {TOLERANCE:g}")
    print(f"{'epochs':>7} {'direct VBM':>12} {'ours':>12} {'ratio':>7} {'VBM defaults':>14}")
    for n_epochs in (6912, 1728):
        times = np.linspace(*season, n_epochs)
        t_direct = best_of(lambda t=times: direct(vectors, t, TOLERANCE, TOLERANCE), args.repeat)
        t_ours = best_of(
            lambda t=times: binary_magnification(draws, t, tolerance=TOLERANCE), args.repeat
        )
        # VBMicrolensing's own defaults (Tol 1e-2 absolute, no RelTol), for context only
        t_default = best_of(lambda t=times: direct(vectors, t, 1e-2, 0.0), args.repeat)
        print(
            f"{n_epochs:>7} {args.n / t_direct:>8.1f} c/s {args.n / t_ours:>8.1f} c/s "
            f"{t_ours / t_direct:>6.3f}x {args.n / t_default:>10.1f} c/s"
        )


if __name__ == "__main__":
    main()
