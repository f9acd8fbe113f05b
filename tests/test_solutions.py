"""Solutions and proposals: exports that reproduce the light curve, walkers inside the prior."""

import json
from dataclasses import replace

import numpy as np
import pytest
from proposal_helpers import TRUTH, proposal_at_truth

from mulens_npe.errors import ConfigurationError
from mulens_npe.parameters import PARAMETER_NAMES, canonicalize
from mulens_npe.simulate.magnification import binary_magnification
from mulens_npe.solutions import Proposal, Solution, rank_solutions


@pytest.fixture(scope="module")
def proposal():
    return proposal_at_truth()


def _times(params, n=200):
    return params["t_0"] + np.linspace(-3.0, 3.0, n) * params["t_E"]


def test_the_polished_solution_is_the_truths_minimum(proposal):
    best = proposal.best
    assert best.parameters["s"] == pytest.approx(TRUTH["s"], rel=5e-3)
    assert best.delta_chi2 > 1000 and best.dof == proposal.lightcurves[0].n_points - 9
    assert best.fluxes[0]["band"] == "W149"


def test_to_mulensmodel_reproduces_the_magnification(proposal):
    best = proposal.best
    times = _times(best.parameters)
    model = best.to_mulensmodel()
    assert model.methods  # VBBL set around the caustics
    ours = binary_magnification(best.parameters, times)[0]
    np.testing.assert_allclose(model.get_magnification(times), ours, rtol=1e-3)


def test_mirror_has_the_same_light_curve_and_undoes_itself(proposal):
    best = proposal.best
    mirror = best.mirror()
    assert mirror.parameters["u_0"] == -best.parameters["u_0"] and mirror.chi2 == best.chi2
    times = _times(best.parameters)
    np.testing.assert_allclose(
        binary_magnification(mirror.parameters, times),
        binary_magnification(best.parameters, times),
        rtol=2e-3,
    )
    twice = mirror.mirror()
    for name in PARAMETER_NAMES:
        assert twice.parameters[name] == pytest.approx(best.parameters[name])
    np.testing.assert_allclose(twice.covariance, best.covariance)
    # the (u_0, alpha) correlation changes sign with the reflection, variances do not
    i, j = PARAMETER_NAMES.index("u_0"), PARAMETER_NAMES.index("alpha")
    assert mirror.covariance[i, j] == pytest.approx(best.covariance[i, j])
    k = PARAMETER_NAMES.index("s")
    assert mirror.covariance[k, i] == pytest.approx(-best.covariance[k, i])


def test_to_pylima_names_and_units(proposal):
    best = proposal.best
    linear = best.to_pylima()
    assert linear["alpha"] == pytest.approx(np.deg2rad(best.parameters["alpha"]))
    assert linear["separation"] == best.parameters["s"]
    fancy = best.to_pylima(fancy=True)
    assert fancy["log_mass_ratio"] == pytest.approx(np.log10(best.parameters["q"]))


def test_emcee_walkers_are_finite_inside_the_prior_and_reproducible(proposal):
    walkers = proposal.emcee_walkers(64, seed=3)
    assert walkers.shape == (64, 7) and np.all(np.isfinite(walkers))
    params = dict(zip(proposal.walker_parameters, walkers.T, strict=True))
    assert np.all(proposal.prior.contains(canonicalize(params)))
    np.testing.assert_array_equal(walkers, proposal.emcee_walkers(64, seed=3))
    assert not np.array_equal(walkers, proposal.emcee_walkers(64, seed=4))
    subset = proposal.emcee_walkers(64, seed=3, parameters=["s", "q", "t_0"])
    np.testing.assert_array_equal(subset, walkers[:, [4, 5, 0]])


def test_walkers_sit_in_the_likelihood_peak(proposal):
    """Drawn at the Gauss-Newton width: chi2 of the walkers exceeds the minimum by ~ndim/2."""
    from mulens_npe.polish import Likelihood

    best = proposal.best
    walkers = proposal.emcee_walkers(200, seed=1)
    sigma = np.sqrt(np.diag(best.covariance))
    centre = np.array([best.parameters[n] for n in PARAMETER_NAMES])
    spread = walkers.std(axis=0) / sigma
    assert np.all((spread > 0.7) & (spread < 1.3))
    assert np.all(np.abs(walkers.mean(axis=0) - centre) < 0.3 * sigma)
    chi2 = Likelihood(proposal.lightcurves).chi2(
        dict(zip(PARAMETER_NAMES, walkers[:40].T, strict=True))
    )
    assert np.median(chi2 - best.chi2) < 20.0


def test_walkers_of_the_mirror_and_of_an_unpolished_solution(proposal):
    mirror = proposal.best.mirror()
    walkers = proposal.emcee_walkers(32, seed=0, solution=mirror)
    assert np.all(walkers[:, 1] < 0)
    params = dict(zip(PARAMETER_NAMES, walkers.T, strict=True))
    assert np.all(proposal.prior.contains(canonicalize(params)))
    raw = replace(proposal.best, covariance=None, polished=False)
    ball = proposal.emcee_walkers(200, seed=0, solution=raw)
    posterior_s = np.std(np.log(np.asarray(proposal.samples["s"])))
    assert np.std(np.log(ball[:, 4])) == pytest.approx(0.1 * posterior_s, rel=0.3)


def test_walkers_near_the_prior_edge_are_redrawn_inside(proposal):
    edge = replace(proposal.best, parameters=dict(proposal.best.parameters, rho=1.0001e-4))
    walkers = proposal.emcee_walkers(100, seed=0, solution=edge, scale=50.0)
    assert np.all(walkers[:, 3] >= 1e-4)


def test_table_has_units_and_mirrors(proposal):
    table = proposal.to_table()
    assert len(table) == 1 and table["t_E"].unit == "d" and table["alpha"].unit == "deg"
    assert table["chi2"][0] == proposal.best.chi2 and table["source_flux_0"][0] > 0
    both = proposal.table(mirrors=True)
    assert len(both) == 2 and both["u_0"][1] == -both["u_0"][0] and list(both["rank"]) == [1, 1]


def test_json_round_trip(proposal, tmp_path):
    text = proposal.to_json(tmp_path / "proposal.json")
    document = json.loads((tmp_path / "proposal.json").read_text())
    assert json.loads(text) == document
    solution = document["solutions"][0]
    assert solution["chi2"] == proposal.best.chi2
    assert solution["parameters"] == proposal.best.parameters
    assert np.array(solution["covariance"]).shape == (7, 7)
    assert document["modes"][0]["n_samples"] == proposal.modes[0].indices.size
    unknown = Proposal(
        solutions=[replace(proposal.best, delta_chi2=float("nan"))], samples=proposal.samples
    )
    assert json.loads(unknown.to_json())["solutions"][0]["delta_chi2"] is None  # strict JSON


def test_rank_solutions_sorts_and_drops_repeats():
    base = Solution(parameters=dict(TRUTH), chi2=100.0, dof=10)
    repeat = replace(base, parameters=dict(TRUTH, s=TRUTH["s"] * 1.001), chi2=100.5)
    wide = replace(base, parameters=dict(TRUTH, s=1 / TRUTH["s"]), chi2=90.0)
    failed = replace(base, parameters=dict(TRUTH, s=2.0), chi2=float("inf"))
    ranked = rank_solutions([repeat, failed, base, wide])
    assert [s.chi2 for s in ranked] == [90.0, 100.0, float("inf")]


def test_bad_arguments_raise_library_errors(proposal):
    with pytest.raises(ConfigurationError):
        proposal.emcee_walkers(0)
    with pytest.raises(ConfigurationError, match="parameters"):
        proposal.emcee_walkers(8, parameters=["t_0", "b"])
    with pytest.raises(ConfigurationError, match="out of range"):
        proposal.emcee_walkers(8, solution=3)
    with pytest.raises(ConfigurationError):
        proposal.emcee_walkers(8, scale=0.0)
    empty = Proposal(solutions=[], samples=proposal.samples)
    with pytest.raises(ConfigurationError, match="no solutions"):
        _ = empty.best
