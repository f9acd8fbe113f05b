"""Write the simulated Roman example events in examples/data/ (fixed seed, reproducible).

- ``roman_planet_example.dat``: a planet (q = 1e-3, s = 1.1) whose source crosses the
  resonant caustic near the peak;
- ``roman_binary_example.dat``: a stellar binary (q = 0.3, s = 0.9) with caustic crossings.

Each file has three columns (BJD, W149 magnitude at zero point 22, error) and reads with
``MulensModel.MulensData(file_name=...)``; ``*.truth.json`` holds the true parameters, the
source and blend fluxes and how the file was made. One 72-day season, one W149 epoch every
15.16 min, Roman noise, random gaps and dropouts (mulens_npe.simulate).

    python examples/make_example_events.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mulens_npe.simulate import (
    ROMAN_SEASON_START,
    W149NoiseModel,
    binary_magnification,
    roman_epochs,
    simulated_lightcurve,
    write_lightcurve,
)

OUT = Path(__file__).resolve().parent / "data"
SEED = 20260101

EVENTS = {
    "roman_planet_example": {
        "params": dict(
            t_0=ROMAN_SEASON_START + 36.0, u_0=0.1, t_E=25.0, rho=1e-3, s=1.1, q=1e-3, alpha=45.0
        ),
        "source_mag": 19.5,
        "f_s": 0.7,
        "description": "planet, q = 1e-3, s = 1.1: the source crosses the resonant caustic",
    },
    "roman_binary_example": {
        "params": dict(
            t_0=ROMAN_SEASON_START + 38.0, u_0=0.15, t_E=35.0, rho=3e-3, s=0.9, q=0.3, alpha=30.0
        ),
        "source_mag": 20.5,
        "f_s": 0.5,
        "description": "stellar binary, q = 0.3, s = 0.9: caustic crossings",
    },
}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    times = roman_epochs()
    noise = W149NoiseModel()
    for k, (name, event) in enumerate(EVENTS.items()):
        params = event["params"]
        rng = np.random.default_rng([SEED, k])
        magnification = binary_magnification(params, times)[0]
        lc = simulated_lightcurve(
            magnification,
            times,
            rng,
            noise=noise,
            source_mag=event["source_mag"],
            f_s=event["f_s"],
            meta=params,
        )
        write_lightcurve(lc, OUT / f"{name}.dat")
        truth = {
            "description": event["description"],
            "parameters": params,
            "convention": "MulensModel 3.x (alpha in degrees, origin at the centre of mass)",
            "band": lc.band,
            "zero_point": 22.0,
            "source_mag": lc.meta["source_mag"],
            "f_s": lc.meta["f_s"],
            "flux_source": lc.meta["flux_source"],
            "flux_blend": lc.meta["flux_blend"],
            "n_points": lc.n_points,
            "gaps": lc.meta["gaps"],
            "dropout": lc.meta["dropout"],
            "n_saturated": lc.meta["n_saturated"],
            "epochs": "roman_epochs(): one 72-day season from ROMAN_SEASON_START, every 15.16 min",
            "noise": noise.to_dict(),
            "seed": [SEED, k],
            "made_by": "examples/make_example_events.py",
        }
        (OUT / f"{name}.truth.json").write_text(json.dumps(truth, indent=2) + "\n")
        size = (OUT / f"{name}.dat").stat().st_size
        print(f"{name}: {lc.n_points} points, {size / 1024:.0f} KiB, gaps {lc.meta['gaps']}")


if __name__ == "__main__":
    main()
