"""The caustic-targeted proposal: exact densities (weighted draws follow the prior), more
planetary anomalies than the prior, caustic geometry, seeds and configuration."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

import mulens_npe.simulate.sampling
from mulens_npe.errors import ConfigurationError
from mulens_npe.parameters import PARAMETER_NAMES
from mulens_npe.prior import Prior
from mulens_npe.simulate import ProposalSampler, binary_magnification, caustic_targets

SEASON = (2461447.75721, 2461519.75721)


@pytest.fixture(scope="module")
def prior():
    return Prior(t_0=SEASON)


@pytest.fixture(scope="module")
def proposal(prior):
    sampler = ProposalSampler(prior, caustic_fraction=0.5)
    return sampler.sample(8000, np.random.default_rng(2024))


def _weighted_mean_and_error(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Self-normalised importance-sampling estimate and its standard error."""
    mean = np.sum(weights * values) / np.sum(weights)
    error = np.sqrt(np.sum(weights**2 * (values - mean) ** 2)) / np.sum(weights)
    return float(mean), float(error)


def test_draws_are_inside_the_prior_and_canonical(prior, proposal):
    params, log_weight = proposal
    assert sorted(params) == sorted(PARAMETER_NAMES)
    assert prior.contains(params).all()
    assert np.all(params["u_0"] >= 0)
    assert np.all(np.isfinite(log_weight)) and np.all(log_weight <= np.log(2.0) + 1e-12)


def test_the_proposal_differs_from_the_prior(proposal):
    params, _ = proposal
    # half of the draws aim at caustics: far more small impact parameters than the prior's 5%
    assert np.mean(params["u_0"] < 0.1) > 0.2


@pytest.mark.parametrize(
    ("name", "function", "prior_value"),
    [
        ("u_0", lambda u: u, 1.0),
        ("u_0", lambda u: (u < 0.1).astype(float), 0.05),
        ("u_0", lambda u: (u < 0.01).astype(float), 0.005),
        ("t_0", lambda t: (t - SEASON[0]) / 72.0, 0.5),
        ("t_0", lambda t: (t - SEASON[0] < 7.2).astype(float), 0.1),
    ],
)
def test_weighted_draws_recover_the_prior(proposal, name, function, prior_value):
    params, log_weight = proposal
    mean, error = _weighted_mean_and_error(function(params[name]), np.exp(log_weight))
    assert abs(mean - prior_value) < 4 * error


def test_weighted_histogram_of_u0_is_flat(proposal):
    params, log_weight = proposal
    weights = np.exp(log_weight)
    for low in np.arange(0.0, 2.0, 0.25):
        inside = ((params["u_0"] >= low) & (params["u_0"] < low + 0.25)).astype(float)
        mean, error = _weighted_mean_and_error(inside, weights)
        assert abs(mean - 0.125) < 4 * error


def test_importance_weights_average_to_one(proposal):
    weights = np.exp(proposal[1])
    assert abs(weights.mean() - 1.0) < 4 * weights.std() / np.sqrt(weights.size)


def test_caustic_density_is_normalised():
    """With the other parameters fixed, the caustic component's (t_0, u_0) density integrates
    to 1 over the prior range: recover it from log_weight on a fine grid."""
    prior = Prior(t_0=SEASON)
    f = 0.5
    sampler = ProposalSampler(prior, caustic_fraction=f)
    u = np.linspace(0.0, 2.0, 4001)[:-1] + 0.00025
    t = np.linspace(*SEASON, 201)[:-1] + 0.18
    for s, q, alpha in [(1.3, 1e-2, 250.0), (0.7, 3e-3, 100.0), (1.0, 0.5, 30.0)]:
        uu, tt = np.meshgrid(u, t)
        params = dict(t_0=tt.ravel(), u_0=uu.ravel(), t_E=15.0, rho=1e-3, s=s, q=q, alpha=alpha)
        params = {k: np.broadcast_to(v, uu.size).astype(float) for k, v in params.items()}
        ratio = (np.exp(-sampler.log_weight(params)) - (1 - f)) / f  # h / p
        assert ratio.mean() == pytest.approx(1.0, rel=0.01)
        assert ratio.max() > 1.4  # the component is concentrated, not the prior in disguise


def test_log_prob_is_the_mixture(prior):
    sampler = ProposalSampler(prior, caustic_fraction=0.3)
    params, log_weight = sampler.sample(200, np.random.default_rng(1))
    np.testing.assert_allclose(sampler.log_prob(params), prior.log_prob(params) - log_weight)
    np.testing.assert_allclose(sampler.log_weight(params), log_weight)
    outside = dict({k: v[:3] for k, v in params.items()}, u_0=np.array([-0.1, 2.5, 1.0]))
    assert np.all(np.isneginf(sampler.log_prob(outside)[:2]))


def test_zero_caustic_fraction_is_the_prior(prior):
    params, log_weight = ProposalSampler(prior, caustic_fraction=0.0).sample(
        50, np.random.default_rng(3)
    )
    plain = prior.sample(50, np.random.default_rng(3))
    for name in PARAMETER_NAMES:
        np.testing.assert_array_equal(params[name], plain[name])
    np.testing.assert_allclose(log_weight, 0.0, atol=1e-12)


def test_same_seed_same_draws(prior):
    sampler = ProposalSampler(prior)
    a, wa = sampler.sample(100, np.random.default_rng(7))
    b, wb = sampler.sample(100, np.random.default_rng(7))
    c, _ = sampler.sample(100, np.random.default_rng(8))
    for name in PARAMETER_NAMES:
        np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a["u_0"], c["u_0"])


def _anomalous(params: dict, times: np.ndarray) -> np.ndarray:
    """Whether the binary curve departs by > 1% from the primary's own point-lens curve."""
    s, q = params["s"][:, None], params["q"][:, None]
    alpha = np.deg2rad(params["alpha"])[:, None]
    tau = (times[None, :] - params["t_0"][:, None]) / params["t_E"][:, None]
    u_0 = params["u_0"][:, None]
    x = -(tau * np.cos(alpha) - u_0 * np.sin(alpha)) + s * q / (1 + q)
    y = -(tau * np.sin(alpha) + u_0 * np.cos(alpha))
    u2 = (x * x + y * y) * (1 + q)  # in units of the primary's Einstein radius
    single = (u2 + 2) / np.sqrt(u2 * (u2 + 4))
    return np.max(np.abs(binary_magnification(params, times) / single - 1), axis=1) > 0.01


def test_caustic_component_finds_planetary_anomalies():
    # small planets, small sources (so that finite-source effects alone are no anomaly)
    prior = Prior(t_0=SEASON, bounds={"q": (1e-5, 1e-3), "rho": (1e-4, 1.2e-4)})
    times = np.linspace(*SEASON, 1728)
    plain = prior.sample(60, np.random.default_rng(11))
    targeted, _ = ProposalSampler(prior, caustic_fraction=0.95).sample(
        60, np.random.default_rng(11)
    )
    plain_rate = _anomalous(plain, times).mean()
    targeted_rate = _anomalous(targeted, times).mean()
    assert plain_rate < 0.2
    assert targeted_rate > 0.6


def test_caustic_targets_match_the_small_q_geometry():
    s = np.array([1.5, 2.5, 0.7, 0.5])
    q = np.full(4, 1e-4)
    targets = caustic_targets(s, q)
    counts = np.sum(np.isfinite(targets[..., 0]), axis=1)
    np.testing.assert_array_equal(counts, [2, 2, 3, 3])
    primary = -s * q / (1 + q)
    for i in range(2):  # wide: planetary caustic on the planet's side at s - 1/s (Han 2006)
        planetary = targets[i][np.nanargmax(np.abs(targets[i, :, 0]))]
        assert planetary[0] == pytest.approx(primary[i] + s[i] - 1 / s[i], rel=0.01)
        assert planetary[1] == pytest.approx(0.0, abs=1e-6)
    for i in (2, 3):  # close: two caustics opposite the planet, off the axis
        off_axis = targets[i][np.abs(targets[i, :, 1]) > 1e-6]
        assert len(off_axis) == 2
        np.testing.assert_allclose(off_axis[:, 0], primary[i] + s[i] - 1 / s[i], rtol=0.02)
        expected_y = 2 * np.sqrt(q[i]) / (s[i] * np.sqrt(1 + s[i] ** 2))
        np.testing.assert_allclose(np.sort(off_axis[:, 1]), [-expected_y, expected_y], rtol=0.1)
    assert np.all(targets[..., 2][np.isfinite(targets[..., 2])] > 0)
    # duplicates are computed once and broadcast back
    np.testing.assert_array_equal(caustic_targets(s[[0, 0]], q[[0, 0]]), targets[[0, 0]])


def test_config_round_trip(prior):
    sampler = ProposalSampler(prior, caustic_fraction=0.3, width=3.0)
    again = ProposalSampler.from_config(json.loads(json.dumps(sampler.to_config())))
    assert again.to_config() == sampler.to_config()
    a, wa = sampler.sample(20, np.random.default_rng(0))
    b, wb = again.sample(20, np.random.default_rng(0))
    np.testing.assert_array_equal(a["u_0"], b["u_0"])
    np.testing.assert_array_equal(wa, wb)


def test_bad_configuration_is_refused(prior):
    with pytest.raises(ConfigurationError):
        ProposalSampler(prior, caustic_fraction=1.0)
    with pytest.raises(ConfigurationError):
        ProposalSampler(prior, width=0.0)
    with pytest.raises(ConfigurationError, match="unknown"):
        ProposalSampler.from_config({"prior": prior.to_dict(), "fraction": 0.5})
    with pytest.raises(ConfigurationError, match="prior"):
        ProposalSampler.from_config({"caustic_fraction": 0.5})


def test_docstring_examples():
    assert doctest.testmod(mulens_npe.simulate.sampling).failed == 0
