"""The README's usage example: from a light-curve file to a MulensModel fit's starting point.

    python examples/quickstart.py [LIGHT_CURVE] [--model FOLDER]

LIGHT_CURVE (time, mag, error) defaults to the shipped ``examples/data/roman_planet_example.dat``;
the model to the one shipped with mulens_npe.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import MulensModel as mm

from mulens_npe.errors import MulensNPEError
from mulens_npe.initializer import NPEInitializer

DEFAULT = Path(__file__).resolve().parent / "data" / "roman_planet_example.dat"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("light_curve", nargs="?", default=str(DEFAULT))
    parser.add_argument("--model", default=None, help="model folder (default: shipped model)")
    parser.add_argument("--time-budget", type=float, default=None, help="seconds")
    args = parser.parse_args()
    try:
        init = NPEInitializer.load(args.model) if args.model else NPEInitializer.pretrained()
        data = mm.MulensData(file_name=args.light_curve, phot_fmt="mag")
        result = init.propose(data, n_samples=10_000, seed=0, time_budget=args.time_budget)
    except MulensNPEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.to_table()["rank", "label", "chi2", "s", "q", "alpha"])
    model = result.best.to_mulensmodel()  # a MulensModel.Model with VBBL set
    event = mm.Event(datasets=data, model=model)
    print(f"best: chi2 = {event.get_chi2():.1f} for {result.best.dof} dof")
    walkers = result.emcee_walkers(n_walkers=32, seed=1)  # emcee starting positions
    print(f"emcee walkers: {walkers.shape}, timings [s]: {result.timings['total']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
