"""MulensModel's example_08 (planet fitting on WFIRST_1827.dat) with the grid replaced by propose.

MulensModel's example_08 fits a PSPL model, estimates s from the anomaly time and runs a grid
over (s, q, alpha) with an inner optimiser before emcee. Here one call proposes ranked,
polished solutions; the best becomes a ``MulensModel.Model`` and an ``Event`` as usual, and
the walkers go to a starting file for MulensModel's ``ulens_model_fit.py`` (example 16).

    python examples/propose_mulensmodel.py [LIGHT_CURVE] [--model FOLDER] [--plot out.png]

LIGHT_CURVE defaults to ``MulensModel.DATA_PATH/WFIRST_1827.dat`` (time, mag, error); the
model defaults to the one shipped with mulens_npe.
"""

from __future__ import annotations

import argparse
import os
import sys

import MulensModel as mm

from mulens_npe.errors import MulensNPEError
from mulens_npe.initializer import NPEInitializer
from mulens_npe.integrations.mulensmodel import write_starting_file


def main() -> int:
    default = os.path.join(mm.DATA_PATH, "WFIRST_1827.dat")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("light_curve", nargs="?", default=default)
    parser.add_argument("--model", default=None, help="model folder (default: shipped model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-budget", type=float, default=None, help="seconds")
    parser.add_argument("--plot", default=None, help="save the light curve with the best model")
    parser.add_argument("--starting-file", default="npe_starting_walkers.txt")
    args = parser.parse_args()
    try:
        init = NPEInitializer.load(args.model) if args.model else NPEInitializer.pretrained()
        data = mm.MulensData(file_name=args.light_curve, phot_fmt="mag")

        # The two lines that replace the PSPL fit and the (s, q, alpha) grid:
        result = init.propose(data, n_samples=10_000, seed=args.seed, time_budget=args.time_budget)
        model = result.best.to_mulensmodel()

        print(result.to_table(mirrors=True))
        event = mm.Event(datasets=data, model=model)
        print(f"\nbest solution: chi2 = {event.get_chi2():.2f} for {result.best.dof} dof")
        print(f"delta chi2 over a single lens: {result.best.delta_chi2:.1f}")
        print("timings [s]:", {k: round(v, 3) for k, v in result.timings.items()})
        block = write_starting_file(result, args.starting_file, n_walkers=32, seed=args.seed)
        print(f"\nulens_model_fit.py starting walkers written; YAML: {block}")
    except MulensNPEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.plot:
        import matplotlib.pyplot as plt

        event.plot_data()
        event.plot_model(color="red", t_range=[data.time.min(), data.time.max()], n_epochs=5000)
        plt.savefig(args.plot, dpi=120)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
