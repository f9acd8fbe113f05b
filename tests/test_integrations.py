"""Hooks into MulensModel, emcee and pyLIMA, checked on a fitted simulated event."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from proposal_helpers import TRUTH, proposal_at_truth

from mulens_npe.errors import ConfigurationError
from mulens_npe.integrations import event, mulens_data, refine, write_starting_file
from mulens_npe.parameters import PARAMETER_NAMES
from mulens_npe.polish import Likelihood
from mulens_npe.simulate.magnification import binary_magnification
from mulens_npe.solutions import Solution


@pytest.fixture(scope="module")
def proposal():
    return proposal_at_truth()


# --- MulensModel and emcee ---------------------------------------------------------------


def test_mulensmodel_event_chi2_equals_the_solution_chi2(proposal):
    mm_event = event(proposal)
    assert mm_event.get_chi2() == pytest.approx(proposal.best.chi2, abs=0.5)
    fluxes = mm_event.get_flux_for_dataset(0)
    assert fluxes[0][0] == pytest.approx(proposal.best.fluxes[0]["source_flux"], rel=1e-3)
    again = event(proposal.best, data=proposal.lightcurves[0])
    assert again.get_chi2() == pytest.approx(mm_event.get_chi2())


def test_refine_with_the_fast_likelihood_stays_in_the_peak_and_is_reproducible(proposal):
    chain = refine(None, proposal, n_steps=10, n_walkers=14, seed=5, likelihood="vbm")
    assert len(chain) == 10 * 14
    assert chain.colnames == ["step", "walker", *PARAMETER_NAMES, "chi2", "log_prob"]
    assert chain["t_0"].unit == "d" and np.all(np.isfinite(chain["log_prob"]))
    meta = chain.meta
    assert 0.05 < meta["acceptance_fraction"] < 0.9
    assert set(meta["autocorr_time"]) == set(PARAMETER_NAMES)
    assert meta["best_chi2"] <= proposal.best.chi2 + 1.0
    assert np.median(chain["chi2"]) < proposal.best.chi2 + 20.0
    again = refine(proposal.lightcurves, proposal, 10, 14, 5, likelihood="vbm")
    np.testing.assert_array_equal(np.asarray(chain["s"]), np.asarray(again["s"]))
    other = refine(None, proposal, n_steps=10, n_walkers=14, seed=6, likelihood="vbm")
    assert not np.array_equal(np.asarray(chain["s"]), np.asarray(other["s"]))


def test_refine_is_exported_lazily_from_the_package():
    code = (
        "import sys, mulens_npe; loaded = 'mulens_npe.integrations' in sys.modules;"
        "from mulens_npe import refine; import mulens_npe.integrations.mulensmodel as m;"
        "print(loaded, refine is m.refine, 'refine' in mulens_npe.__all__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "True", "True"], result.stderr


def test_refine_from_a_solution_uses_its_covariance_and_the_given_data(proposal):
    data = mulens_data(proposal.lightcurves)  # MulensData: any input as_lightcurves reads
    chain = refine(data, proposal.best, n_steps=6, n_walkers=14, seed=3, likelihood="vbm")
    assert len(chain) == 6 * 14 and np.median(chain["chi2"]) < proposal.best.chi2 + 20.0
    # after one move the walkers still have the width of the likelihood peak (the solution's
    # Gauss-Newton covariance), not that of a ball of arbitrary size
    first = np.column_stack([chain[n][chain["step"] == 0] for n in PARAMETER_NAMES])
    sigma = np.sqrt(np.diag(proposal.best.covariance))
    centre = np.array([proposal.best.parameters[n] for n in PARAMETER_NAMES])
    spread = (first - centre).std(axis=0) / sigma
    assert np.all((spread > 0.3) & (spread < 3.0)), spread


def test_refine_with_mulensmodel_uses_the_same_chi2(proposal):
    chain = refine(None, proposal, n_steps=2, n_walkers=14, seed=1)
    positions = np.column_stack([chain[n] for n in PARAMETER_NAMES])
    ours = Likelihood(proposal.lightcurves).chi2(
        dict(zip(PARAMETER_NAMES, positions.T, strict=True))
    )
    np.testing.assert_allclose(chain["chi2"], ours, atol=1.0)
    assert chain.meta["likelihood"] == "mulensmodel"


def test_starting_file_for_ulens_model_fit(proposal, tmp_path):
    block = write_starting_file(proposal, tmp_path / "start.txt", n_walkers=20, seed=2)
    assert block == {
        "starting_parameters": {
            "file": str(tmp_path / "start.txt"),
            "parameters": "t_0 u_0 t_E rho s q alpha",
        }
    }
    rows = np.loadtxt(tmp_path / "start.txt")
    np.testing.assert_allclose(rows, proposal.emcee_walkers(20, seed=2), rtol=1e-9)


def test_refine_rejects_bad_options(proposal):
    with pytest.raises(ConfigurationError, match="likelihood"):
        refine(None, proposal, n_steps=2, likelihood="exact")
    with pytest.raises(ConfigurationError, match="n_walkers"):
        refine(None, proposal, n_steps=2, n_walkers=4)
    with pytest.raises(ConfigurationError, match="n_steps"):
        refine(None, proposal, n_steps=0)
    with pytest.raises(ConfigurationError, match="data"):
        event(proposal.best)


def test_refine_names_the_argument_that_is_wrong(proposal):
    best = proposal.best
    with pytest.raises(ConfigurationError, match=r"got a Proposal as data.*refine\(data, proposal"):
        refine(proposal, None, n_steps=2)  # the order before the data came first
    with pytest.raises(ConfigurationError, match="proposal must be a Proposal .* got dict"):
        refine(None, dict(best.parameters), n_steps=2)
    with pytest.raises(ConfigurationError, match="Solution carries no data"):
        refine(None, best, n_steps=2)
    with pytest.raises(ConfigurationError, match="solution= picks one of a Proposal's"):
        refine(proposal.lightcurves, best, n_steps=2, solution=0)
    unpolished = replace(best, covariance=None, polished=False)
    with pytest.raises(ConfigurationError, match="no usable covariance.*solution=that_solution"):
        refine(proposal.lightcurves, unpolished, n_steps=2)
    with pytest.raises(ConfigurationError, match="solution index 3 out of range"):
        refine(None, proposal, n_steps=2, solution=3)


# --- pyLIMA ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pylima_event(proposal):
    pytest.importorskip("pyLIMA", reason="pyLIMA is an optional dependency")
    from mulens_npe.integrations.pylima import pylima_event

    return pylima_event(proposal.lightcurves[0])


def _usbl(pylima_event, fancy=False, **options):
    from pyLIMA.models import USBL_model, pyLIMA_fancy_parameters

    fancy_parameters = pyLIMA_fancy_parameters.StandardFancyParameters() if fancy else None
    return USBL_model.USBLmodel(
        pylima_event, blend_flux_parameter="ftotal", fancy_parameters=fancy_parameters, **options
    )


@pytest.mark.pylima
@pytest.mark.parametrize("fancy", [False, True])
def test_pylima_guess_gives_the_same_magnification_in_pylima(proposal, pylima_event, fancy):
    from pyLIMA.fits import TRF_fit

    from mulens_npe.integrations.pylima import pylima_guesses

    fit = TRF_fit.TRFfit(_usbl(pylima_event, fancy))
    guess = pylima_guesses(proposal, fit)
    assert fit.model_parameters_guess == guess and len(guess) == 7
    telescope = pylima_event.telescopes[0]
    pylima_parameters = fit.model.compute_pyLIMA_parameters(guess)
    theirs = np.asarray(fit.model.model_magnification(telescope, pylima_parameters))
    ours = binary_magnification(proposal.best.parameters, telescope.lightcurve["time"].value)[0]
    np.testing.assert_allclose(theirs, ours, rtol=1e-3)


@pytest.mark.pylima
def test_pylima_trf_started_by_the_hook_converges_to_our_chi2(proposal, pylima_event, capsys):
    from pyLIMA.fits import TRF_fit

    from mulens_npe.integrations.pylima import npe_fit_class

    fit = npe_fit_class(TRF_fit.TRFfit)(_usbl(pylima_event))
    fit.npe_result = proposal
    fit.fit()  # pyLIMA cannot guess binary models itself: model_guess comes from the mixin
    assert fit.fit_results["chi2"] == pytest.approx(proposal.best.chi2, abs=1.0)
    best = fit.fit_results["best_model"]
    assert best[4] == pytest.approx(TRUTH["s"], rel=5e-3)


@pytest.mark.pylima
def test_pylima_bounds_are_widened_for_guesses_they_reject(proposal, pylima_event):
    from pyLIMA.fits import TRF_fit

    from mulens_npe.integrations.pylima import pylima_guesses

    outside = Solution(parameters=dict(TRUTH, u_0=1.3, rho=0.07), chi2=0.0, dof=1)
    fit = TRF_fit.TRFfit(_usbl(pylima_event))
    with pytest.raises(ConfigurationError, match="outside pyLIMA's bounds"):
        pylima_guesses(outside, fit, widen_bounds=False)
    with pytest.warns(UserWarning, match="widened"):
        guess = pylima_guesses(outside, fit)
    assert fit.fit_parameters["u0"][1][1] >= 1.3 and fit.fit_parameters["rho"][1][1] >= 0.07
    assert fit.initial_guess() is not None  # pyLIMA accepts the guess now
    assert guess[1] == 1.3


@pytest.mark.pylima
def test_de_population_lies_in_the_bounds_and_starts_with_the_solutions(proposal, pylima_event):
    from pyLIMA.fits import DE_fit

    from mulens_npe.integrations.pylima import de_population, guess_vector

    fit = DE_fit.DEfit(_usbl(pylima_event, fancy=True))
    population = de_population(proposal, fit, seed=1)
    assert population.shape == (fit.DE_population_size * 7, len(fit.fit_parameters))
    low = np.array([b[1][0] for b in fit.fit_parameters.values()])
    high = np.array([b[1][1] for b in fit.fit_parameters.values()])
    assert np.all((population >= low) & (population <= high))
    np.testing.assert_allclose(population[0], guess_vector(proposal.best, fit))
    np.testing.assert_array_equal(population, de_population(proposal, fit, seed=1))
    with_fluxes = DE_fit.DEfit(_usbl(pylima_event), telescopes_fluxes_method="fit")
    assert de_population(proposal, with_fluxes, n=6).shape == (6, 9)


@pytest.mark.pylima
def test_pylima_models_we_cannot_guess_are_refused(proposal, pylima_event):
    from mulens_npe.integrations.pylima import guess_vector

    off_centre = _usbl(pylima_event, origin=["central_caustic", [0.0, 0.0]])
    with pytest.raises(ConfigurationError, match="origin"):
        guess_vector(proposal.best, off_centre)
    with pytest.raises(ConfigurationError, match="pyLIMA fit or model"):
        guess_vector(proposal.best, object())
