"""The Prior: seeded sampling, support, a normalised log density that matches the sampler,
and a JSON round trip that refuses what it does not understand."""

from __future__ import annotations

import dataclasses
import doctest
import json
import pickle

import numpy as np
import pytest
from scipy import integrate, stats

import mulens_npe.parameters
import mulens_npe.prior
from mulens_npe.errors import ConfigurationError, MulensNPEError
from mulens_npe.parameters import PARAMETER_NAMES
from mulens_npe.prior import DEFAULT_BOUNDS, LOG_UNIFORM, Prior

SEASON = (2460000.0, 2460072.0)


@pytest.fixture(scope="module")
def prior():
    return Prior(t_0=SEASON)


@pytest.fixture(scope="module")
def draws(prior):
    return prior.sample(20_000, np.random.default_rng(42))


def _inside_point(prior):
    """A parameter set strictly inside the prior (geometric/arithmetic midpoints)."""
    point = {}
    for name, (low, high) in prior.bounds.items():
        point[name] = np.sqrt(low * high) if name in LOG_UNIFORM else 0.5 * (low + high)
    return point


def test_default_bounds_are_the_design_table(prior):
    assert prior.bounds == {**DEFAULT_BOUNDS, "t_0": SEASON}
    assert list(prior.bounds) == list(PARAMETER_NAMES)
    assert LOG_UNIFORM == {"t_E", "rho", "s", "q"}


def test_sample_is_reproducible(prior):
    a = prior.sample(100, np.random.default_rng(7))
    b = prior.sample(100, np.random.default_rng(7))
    c = prior.sample(100, 7)
    d = prior.sample(100, np.random.default_rng(8))
    for name in PARAMETER_NAMES:
        np.testing.assert_array_equal(a[name], b[name])
        np.testing.assert_array_equal(a[name], c[name])
        assert not np.array_equal(a[name], d[name])


def test_samples_are_inside(prior, draws):
    assert sorted(draws) == sorted(PARAMETER_NAMES)
    assert all(draws[name].shape == (20_000,) for name in PARAMETER_NAMES)
    assert prior.contains(draws).all()
    assert np.isfinite(prior.log_prob(draws)).all()
    assert np.all((draws["alpha"] >= 0) & (draws["alpha"] < 360))
    assert np.all(draws["u_0"] >= 0)


@pytest.mark.parametrize("name", PARAMETER_NAMES)
def test_marginals_have_the_stated_distribution(prior, draws, name):
    low, high = prior.bounds[name]
    values = draws[name]
    if name in LOG_UNIFORM:
        values, low, high = np.log(values), np.log(low), np.log(high)
    assert stats.kstest(values, "uniform", args=(low, high - low)).pvalue > 0.01


@pytest.mark.parametrize("name", PARAMETER_NAMES)
def test_log_prob_along_each_axis_is_the_sampled_density(prior, draws, name):
    """Integrate exp(log_prob) along one axis into a CDF; the samples must follow it."""
    low, high = prior.bounds[name]
    log_axis = name in LOG_UNIFORM
    grid = (
        np.linspace(np.log(low), np.log(high), 2001) if log_axis else np.linspace(low, high, 2001)
    )
    values = np.exp(grid) if log_axis else grid
    point = {key: np.full(grid.shape, value) for key, value in _inside_point(prior).items()}
    point[name] = values
    density = np.exp(prior.log_prob(point)) * (values if log_axis else 1.0)
    increments = 0.5 * (density[1:] + density[:-1]) * np.diff(grid)
    cdf = np.concatenate([[0.0], np.cumsum(increments)])
    cdf /= cdf[-1]
    samples = np.log(draws[name]) if log_axis else draws[name]
    assert stats.kstest(samples, lambda x: np.interp(x, grid, cdf)).pvalue > 0.01


def test_log_prob_is_normalised(prior):
    """For a product density p = prod p_i with every p_i normalised, integrating exp(log_prob)
    along axis i through a point x gives p(x) / p_i(x_i); the product over the seven axes is
    p(x)**6. Trapezoids are exact here (the density is constant in the integration variable)."""
    point = _inside_point(prior)
    log_integrals = 0.0
    for name in PARAMETER_NAMES:
        low, high = prior.bounds[name]
        log_axis = name in LOG_UNIFORM
        grid = (
            np.linspace(np.log(low), np.log(high), 101) if log_axis else np.linspace(low, high, 101)
        )
        values = np.exp(grid) if log_axis else grid
        varied = {key: np.full(grid.shape, value) for key, value in point.items()}
        varied[name] = values
        density = np.exp(prior.log_prob(varied)) * (values if log_axis else 1.0)
        log_integrals += np.log(integrate.trapezoid(density, grid))
    assert log_integrals == pytest.approx(6 * float(prior.log_prob(point)), rel=1e-10)


def test_log_prob_value(prior):
    point = _inside_point(prior)
    expected = -np.log(72.0) - np.log(2.0) - np.log(360.0)
    for name in LOG_UNIFORM:
        low, high = prior.bounds[name]
        expected += -np.log(point[name]) - np.log(np.log(high / low))
    assert float(prior.log_prob(point)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("t_0", SEASON[0] - 1.0),
        ("u_0", -0.1),
        ("u_0", 2.5),
        ("t_E", 0.5),
        ("rho", 5e-2),
        ("s", 0.1),
        ("q", 1.5),
        ("q", 0.0),
        ("q", -1.0),
        ("s", np.nan),
        ("alpha", np.inf),
    ],
)
def test_log_prob_is_minus_infinity_outside(prior, name, value):
    point = {**_inside_point(prior), name: value}
    assert not prior.contains(point)
    assert prior.log_prob(point) == -np.inf


def test_contains_takes_alpha_modulo_360(prior):
    point = _inside_point(prior)
    for alpha in (-10.0, 370.0, 720.0, -720.0, 359.999):
        assert prior.contains({**point, "alpha": alpha})
        assert np.isfinite(prior.log_prob({**point, "alpha": alpha}))


def test_alpha_range_may_wrap():
    prior = Prior(t_0=SEASON, bounds={"alpha": (-30.0, 30.0)})
    draws = prior.sample(2000, np.random.default_rng(1))
    assert prior.contains(draws).all()
    assert np.all((draws["alpha"] >= 0) & (draws["alpha"] < 360))
    assert np.all((draws["alpha"] <= 30) | (draws["alpha"] >= 330))
    point = _inside_point(prior)
    inside = [350.0, -10.0, 390.0, 0.0, 30.0, -30.0]
    outside = [40.0, 180.0, 320.0, -400.0]
    alphas = np.array(inside + outside)
    np.testing.assert_array_equal(
        prior.contains({**point, "alpha": alphas}), [True] * len(inside) + [False] * len(outside)
    )
    assert np.isfinite(prior.log_prob({**point, "alpha": 350.0}))
    shifted = {**point, "alpha": 0.0}
    difference = prior.log_prob(shifted) - Prior(t_0=SEASON).log_prob(shifted)
    assert float(difference) == pytest.approx(np.log(360.0 / 60.0))


def test_log_prob_broadcasts(prior, draws):
    assert prior.log_prob(_inside_point(prior)).shape == ()
    subset = {name: values[:5] for name, values in draws.items()}
    subset["t_0"] = 2460010.0
    assert prior.log_prob(subset).shape == (5,)
    assert prior.contains(subset).shape == (5,)
    with pytest.raises(ConfigurationError, match="missing"):
        prior.log_prob({"q": 0.1})


def test_to_dict_from_dict_round_trip():
    prior = Prior(t_0=SEASON, bounds={"q": (1e-4, 1.0), "alpha": (-30, 30)})
    spec = prior.to_dict()
    assert Prior.from_dict(spec) == prior
    assert Prior.from_dict(json.loads(json.dumps(spec))) == prior
    assert hash(Prior.from_dict(spec)) == hash(prior)
    assert Prior.from_dict({"t_0": list(SEASON)}) == Prior(t_0=SEASON)
    assert spec["log_uniform"] == sorted(LOG_UNIFORM)


def test_rebuilding_from_bounds_and_replace():
    prior = Prior(t_0=SEASON, bounds={"s": (0.5, 2.0)})
    assert Prior(t_0=SEASON, bounds=prior.bounds) == prior
    later = dataclasses.replace(prior, t_0=(2460400.0, 2460472.0))
    assert later.bounds["t_0"] == (2460400.0, 2460472.0)
    assert later.bounds["s"] == (0.5, 2.0)
    assert pickle.loads(pickle.dumps(prior)) == prior


@pytest.mark.parametrize(
    "spec",
    [
        {"t_0": SEASON, "prior": {}},
        {"t_0": SEASON, "bounds": {"mass": (0.1, 1.0)}},
        {"t_0": SEASON, "bounds": {"pi_E": (0.0, 1.0)}},
        {"t_0": SEASON, "log_uniform": ["q"]},
        {"t_0": SEASON, "bounds": [("q", (0.1, 1.0))]},
        {"bounds": {}},
        ["t_0", SEASON],
    ],
)
def test_from_dict_refuses_unknown_or_missing_keys(spec):
    with pytest.raises(ConfigurationError):
        Prior.from_dict(spec)


@pytest.mark.parametrize(
    ("t_0", "bounds"),
    [
        ((10.0, 5.0), {}),
        ((5.0, 5.0), {}),
        ((0.0, np.inf), {}),
        ((0.0,), {}),
        (SEASON, {"q": (0.0, 1.0)}),
        (SEASON, {"rho": (-1e-3, 1e-2)}),
        (SEASON, {"s": (2.0, 1.0)}),
        (SEASON, {"t_E": (1.0, np.nan)}),
        (SEASON, {"u_0": (-1.0, 1.0)}),
        (SEASON, {"alpha": (0.0, 400.0)}),
        (SEASON, {"q": (1e-3, 1.0, 2.0)}),
        (SEASON, {"q": "wide"}),
        (SEASON, [("q", (0.1, 1.0))]),
    ],
)
def test_bad_ranges_raise_configuration_error(t_0, bounds):
    with pytest.raises(ConfigurationError) as error:
        Prior(t_0=t_0, bounds=bounds)
    assert isinstance(error.value, ValueError) and isinstance(error.value, MulensNPEError)


@pytest.mark.parametrize("n", [-1, 2.5, "3", True])
def test_sample_refuses_bad_n(prior, n):
    with pytest.raises(ConfigurationError):
        prior.sample(n, np.random.default_rng(0))


def test_sample_needs_a_seed(prior):
    with pytest.raises(ConfigurationError):
        prior.sample(3, None)
    assert all(values.shape == (0,) for values in prior.sample(0, 0).values())


@pytest.mark.parametrize("module", [mulens_npe.prior, mulens_npe.parameters])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
