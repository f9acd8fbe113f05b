"""A small simulated binary-lens event and a Proposal built at its polished solution.

Shared by test_solutions.py and test_integrations.py, so that the hooks are tested on a real
fit without training a network: the "posterior" is a Gaussian cloud around the truth.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from mulens_npe.modes import find_modes
from mulens_npe.parameters import PARAMETER_NAMES
from mulens_npe.polish import Likelihood, polish, single_lens_fit
from mulens_npe.prior import Prior
from mulens_npe.simulate.augment import simulated_lightcurve
from mulens_npe.simulate.magnification import binary_magnification
from mulens_npe.solutions import Proposal, Solution

TRUTH = dict(t_0=2461452.0, u_0=0.15, t_E=3.0, rho=3e-3, s=1.2, q=0.05, alpha=30.0)
TIMES = 2461448.0 + np.arange(0.0, 7.0, 1.0 / 24.0)
SCATTER = dict(t_0=0.01, u_0=0.005, t_E=0.03, rho=0.1, s=0.01, q=0.05, alpha=1.0)
"""Width of the fake posterior: absolute for t_0, u_0, alpha; relative for the others."""


def simulated_event(params=TRUTH, times=TIMES, seed=2):
    magnification = binary_magnification(params, times)[0]
    return simulated_lightcurve(
        magnification,
        times,
        np.random.default_rng(seed),
        source_mag=19.0,
        f_s=0.9,
        n_gaps=(0, 0),
        dropout=(0.0, 0.0),
    )


def fake_samples(n=2000, seed=0, centre=TRUTH):
    rng = np.random.default_rng(seed)
    columns = {}
    for name in PARAMETER_NAMES:
        noise = rng.standard_normal(n) * SCATTER[name]
        additive = name in ("t_0", "u_0", "alpha")
        columns[name] = centre[name] + noise if additive else centre[name] * np.exp(noise)
    columns["u_0"] = np.abs(columns["u_0"])
    columns["alpha"] = np.mod(columns["alpha"], 360.0)
    return Table(columns)


def proposal_at_truth(lightcurve=None):
    """A Proposal with one polished solution (started at the truth) and a fake posterior."""
    lightcurve = simulated_event() if lightcurve is None else lightcurve
    likelihood = Likelihood(lightcurve)
    [result] = polish(likelihood, TRUTH)
    single = single_lens_fit(likelihood, {"t_0": TRUTH["t_0"], "u_0": 0.2, "t_E": TRUTH["t_E"]})
    samples = fake_samples()
    modes = find_modes(samples)
    solution = Solution(
        parameters=result.parameters,
        chi2=result.chi2,
        dof=likelihood.dof,
        delta_chi2=single["chi2"] - result.chi2,
        fluxes=(
            {
                "band": lightcurve.band,
                "source_flux": result.fluxes[0, 0],
                "blend_flux": result.fluxes[0, 1],
            },
        ),
        label=modes[0].label,
        weight=modes[0].weight,
        covariance=result.covariance,
        mode=0,
    )
    prior = Prior(t_0=(TIMES[0] - 3.5, TIMES[-1] + 3.5))
    return Proposal(
        solutions=[solution],
        samples=samples,
        modes=modes,
        prior=prior,
        single_lens=single,
        lightcurves=(lightcurve,),
        meta={"model": "test"},
    )
