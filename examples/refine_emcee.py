"""emcee posterior sampling of a binary-lens event, started from NPE walkers.

The walkers start in the likelihood peak of the best polished solution (its Gauss-Newton
width, inside the prior), so the chain needs a short burn-in rather than the long one a grid
node needs. Prints the acceptance fraction, the autocorrelation times and a summary of the
chain after burn-in, and writes the chain as ECSV.

    python examples/refine_emcee.py [LIGHT_CURVE] [--model FOLDER] [--steps N] [--walkers N]

LIGHT_CURVE (time, mag, error) defaults to ``examples/data/roman_planet_example.dat``.
``--likelihood mulensmodel`` uses ``MulensModel.Event.get_chi2`` (the reference, slower);
the default ``vbm`` is the same chi2, vectorised over the walkers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import mulens_npe
from mulens_npe.errors import MulensNPEError
from mulens_npe.initializer import NPEInitializer
from mulens_npe.parameters import PARAMETER_NAMES

DEFAULT = Path(__file__).resolve().parent / "data" / "roman_planet_example.dat"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("light_curve", nargs="?", default=str(DEFAULT))
    parser.add_argument("--model", default=None, help="model folder (default: shipped model)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--walkers", type=int, default=32)
    parser.add_argument("--likelihood", choices=("vbm", "mulensmodel"), default="vbm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="npe_chain.ecsv")
    args = parser.parse_args()
    try:
        init = NPEInitializer.load(args.model) if args.model else NPEInitializer.pretrained()
        result = init.propose(args.light_curve, seed=args.seed)
        print(result.to_table())
        # the data (anything as_lightcurves reads) and the proposal, or one of its solutions
        chain = mulens_npe.refine(
            args.light_curve,
            result,
            n_steps=args.steps,
            n_walkers=args.walkers,
            seed=args.seed,
            progress=True,
            likelihood=args.likelihood,
        )
    except MulensNPEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = chain.meta
    print(f"\nacceptance fraction {meta['acceptance_fraction']:.2f}")
    print(
        "autocorrelation times [steps]:", {k: round(v, 1) for k, v in meta["autocorr_time"].items()}
    )
    burn_in = meta["burn_in"] or args.steps // 2
    kept = chain[chain["step"] >= burn_in]
    print(f"after {burn_in} burn-in steps ({len(kept)} samples):")
    for name in PARAMETER_NAMES:
        low, mid, high = np.percentile(np.asarray(kept[name]), [16, 50, 84])
        print(f"  {name:6s} {mid:.6g} +{high - mid:.2g} -{mid - low:.2g}")
    chain.write(args.out, overwrite=True)
    print(f"chain written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
