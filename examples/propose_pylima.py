"""A pyLIMA binary-lens fit that starts at the NPE solution instead of hours of DE.

pyLIMA cannot guess USBL/PSBL/FSBL models (``model_guess`` raises NotImplementedError), so
binary fits usually start with DEfit or GRIDfit. Here the proposal sets
``fit.model_parameters_guess`` (widening default bounds that would reject it) and TRF
converges from it; ``--de`` instead seeds DEfit's initial population from the posterior.

    python examples/propose_pylima.py [LIGHT_CURVE] [--model FOLDER] [--fancy] [--de]

LIGHT_CURVE (time, mag, error; full JD) defaults to the shipped example
``examples/data/roman_planet_example.dat``. Needs the optional pyLIMA extra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mulens_npe.errors import MulensNPEError
from mulens_npe.initializer import NPEInitializer

DEFAULT = Path(__file__).resolve().parent / "data" / "roman_planet_example.dat"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("light_curve", nargs="?", default=str(DEFAULT))
    parser.add_argument("--model", default=None, help="model folder (default: shipped model)")
    parser.add_argument("--fancy", action="store_true", help="fit log10 tE, rho, s, q")
    parser.add_argument("--de", action="store_true", help="run DEfit from an NPE population")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        from pyLIMA import event, telescopes
        from pyLIMA.fits import DE_fit, TRF_fit
        from pyLIMA.models import USBL_model, pyLIMA_fancy_parameters
    except ImportError:
        print("error: this example needs pyLIMA: pip install 'mulens-npe[pylima]'", file=sys.stderr)
        return 2
    try:
        init = NPEInitializer.load(args.model) if args.model else NPEInitializer.pretrained()
        from mulens_npe.integrations.pylima import de_population, pylima_guesses

        lightcurve = np.loadtxt(args.light_curve)
        telescope = telescopes.Telescope(
            name="W149",
            camera_filter="W149",
            lightcurve=lightcurve,
            lightcurve_names=["time", "mag", "err_mag"],
            lightcurve_units=["JD", "mag", "mag"],
        )
        pylima_event = event.Event()
        pylima_event.telescopes.append(telescope)
        pylima_event.check_event()
        fancy = pyLIMA_fancy_parameters.StandardFancyParameters() if args.fancy else None
        model = USBL_model.USBLmodel(
            pylima_event, blend_flux_parameter="ftotal", fancy_parameters=fancy
        )

        result = init.propose(pylima_event, seed=args.seed)
        print(result.to_table())
        if args.de:
            fit = DE_fit.DEfit(model, max_iteration=50)
            population = de_population(result, fit, seed=args.seed)
            fit.fit(initial_population=population)
        else:
            fit = TRF_fit.TRFfit(model)
            # The two lines that replace DE/GRIDfit:
            pylima_guesses(result, fit)
            fit.fit()
        # DEfit appends its polyfit fluxes after the fitted parameters: name those that are fitted.
        best = dict(zip(fit.fit_parameters, fit.fit_results["best_model"], strict=False))
        print("\npyLIMA best model:", best)
    except MulensNPEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
