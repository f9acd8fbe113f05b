"""propose with and without anomaly starts on MulensModel's WFIRST_1827 (example_08's planet).

Prints, for ``anomaly_starts`` True and False, the origin, chi2, dof, parameters and wall time
of the best solution (``propose(data, seed=0, time_budget=120)``, the shipped model unless a
model folder is given).

Usage: python benchmarks/bench_anomaly_starts.py [MODEL_FOLDER] [--time-budget 120]
"""

from __future__ import annotations

import argparse
import os
import warnings

import MulensModel as mm

from mulens_npe.initializer import NPEInitializer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="model folder (default: shipped)")
    parser.add_argument("--time-budget", type=float, default=120.0)
    args = parser.parse_args()
    path = os.path.join(mm.DATA_PATH, "WFIRST_1827.dat")
    data = mm.MulensData(file_name=path, phot_fmt="mag")
    init = NPEInitializer.load(args.model) if args.model else NPEInitializer.pretrained()
    for anomaly_starts in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = init.propose(
                data, seed=0, time_budget=args.time_budget, anomaly_starts=anomaly_starts
            )
        best = result.best
        params = {k: round(v, 5) for k, v in best.parameters.items()}
        print(
            f"anomaly_starts={anomaly_starts}: best from {best.origin}, chi2 {best.chi2:.1f} "
            f"for {best.dof} dof ({best.chi2_per_dof:.3f}), {params}, "
            f"{result.timings['total']:.1f} s"
        )


if __name__ == "__main__":
    main()
