"""Magnification curves against MulensModel (VBBL over the whole event), through caustic
crossings too, plus the exact symmetries of a static 2L1S light curve."""

from __future__ import annotations

import doctest

import MulensModel as mm
import numpy as np
import pytest
import VBMicrolensing

import mulens_npe.simulate.magnification
from mulens_npe.errors import ConfigurationError
from mulens_npe.parameters import PARAMETER_NAMES, flip_u0, time_reverse
from mulens_npe.prior import Prior
from mulens_npe.simulate import (
    CurvePool,
    binary_magnification,
    single_lens_magnification,
    source_trajectory,
)

SEASON = (2461447.75721, 2461519.75721)
TIMES = np.linspace(*SEASON, 700)


def _mulensmodel(params: dict, times: np.ndarray) -> np.ndarray:
    model = mm.Model({name: float(params[name]) for name in PARAMETER_NAMES})
    model.set_magnification_methods([times[0] - 1.0, "VBBL", times[-1] + 1.0])
    return model.get_magnification(times)


def _row(params: dict, i: int) -> dict:
    return {name: float(params[name][i]) for name in PARAMETER_NAMES}


def _crossing(s: float, q: float, rng: np.random.Generator) -> tuple[dict, float]:
    """Parameters whose source passes exactly over a random point of a caustic of (s, q)."""
    caustics = VBMicrolensing.VBMicrolensing().Caustics(s, q)
    x, y = (np.asarray(c) for c in caustics[rng.integers(len(caustics))])
    j = rng.integers(x.size)
    alpha = rng.uniform(0.0, 360.0)
    a = np.deg2rad(alpha)
    t_E, t_0 = 20.0, 2461480.0
    # source at -(tau e + u_0 n): through (x_j, y_j) at tau_c with impact u_0
    u_0 = x[j] * np.sin(a) - y[j] * np.cos(a)
    tau_c = -(x[j] * np.cos(a) + y[j] * np.sin(a))
    params = dict(t_0=t_0, u_0=u_0, t_E=t_E, rho=1e-3, s=s, q=q, alpha=alpha)
    return params, t_0 + tau_c * t_E


def test_agrees_with_mulensmodel_on_prior_draws():
    draws = Prior(t_0=SEASON).sample(12, np.random.default_rng(3))
    ours = binary_magnification(draws, TIMES)
    assert ours.shape == (12, TIMES.size) and ours.dtype == np.float64
    for i in range(12):
        reference = _mulensmodel(_row(draws, i), TIMES)
        np.testing.assert_allclose(ours[i], reference, rtol=1e-3)


@pytest.mark.parametrize(
    ("s", "q"),
    [
        (1.3, 1e-3),  # wide planet: central and planetary caustics
        (0.75, 3e-3),  # close planet: two off-axis triangular caustics
        (1.0, 1e-3),  # resonant planetary caustic
        (0.9, 0.3),  # stellar binary, resonant
        (2.2, 0.6),  # wide stellar binary
    ],
)
def test_agrees_with_mulensmodel_through_caustic_crossings(s, q):
    rng = np.random.default_rng(int(1e4 * s + 1e3 * q))
    params, t_cross = _crossing(s, q, rng)
    # dense around the crossing (source radius crossing time is rho t_E = 0.02 d)
    times = np.concatenate([np.linspace(t_cross - 1.0, t_cross + 1.0, 300), TIMES[::5]])
    times = np.unique(times)
    ours = binary_magnification(params, times)[0]
    pspl = single_lens_magnification(params["t_0"], params["u_0"], params["t_E"], times)[0]
    assert np.max(ours / pspl) > 1.3, "the constructed trajectory should cross a caustic"
    np.testing.assert_allclose(ours, _mulensmodel(params, times), rtol=1e-3)


def test_scalars_and_arrays_give_the_same_curves():
    draws = Prior(t_0=SEASON).sample(3, np.random.default_rng(5))
    together = binary_magnification(draws, TIMES)
    for i in range(3):
        # VBMicrolensing's last digits vary from call to call (~1e-12): not bit-identical
        alone = binary_magnification(_row(draws, i), TIMES)[0]
        np.testing.assert_allclose(alone, together[i], rtol=1e-10)
    mixed = dict(_row(draws, 0), q=draws["q"])  # scalars broadcast against arrays
    assert binary_magnification(mixed, TIMES).shape == (3, TIMES.size)


def test_symmetries_of_the_static_light_curve():
    draws = Prior(t_0=SEASON).sample(4, np.random.default_rng(8))
    original = binary_magnification(draws, TIMES)
    np.testing.assert_allclose(binary_magnification(flip_u0(draws), TIMES), original, rtol=2e-3)
    mirrored_times = 2 * draws["t_0"][:, None] - TIMES[None, :]
    reversed_params = time_reverse(draws)
    for i in range(4):
        row = _row(reversed_params, i)
        np.testing.assert_allclose(
            binary_magnification(row, mirrored_times[i][::-1])[0][::-1], original[i], rtol=2e-3
        )


def test_tolerance_controls_the_accuracy():
    params, t_cross = _crossing(1.3, 1e-3, np.random.default_rng(2))
    times = np.linspace(t_cross - 0.5, t_cross + 0.5, 200)
    exact = binary_magnification(params, times, tolerance=1e-6)[0]
    default = binary_magnification(params, times)[0]
    assert np.max(np.abs(default / exact - 1)) < 1e-3
    with pytest.raises(ConfigurationError):
        binary_magnification(params, times, tolerance=0.0)


def test_single_lens_agrees_with_mulensmodel():
    model = mm.Model({"t_0": 2461480.0, "u_0": 0.05, "t_E": 12.0})
    ours = single_lens_magnification(2461480.0, 0.05, 12.0, TIMES)
    np.testing.assert_allclose(ours[0], model.get_magnification(TIMES), rtol=1e-12)
    many = single_lens_magnification(np.array([2461480.0, 2461490.0]), 0.05, 12.0, TIMES)
    assert many.shape == (2, TIMES.size)
    np.testing.assert_array_equal(many[0], ours[0])


def test_source_trajectory_agrees_with_mulensmodel():
    params = dict(t_0=2461480.0, u_0=0.3, t_E=15.0, rho=1e-3, s=1.2, q=1e-2, alpha=37.0)
    x, y = source_trajectory(params, TIMES)
    trajectory = mm.Trajectory(TIMES, mm.ModelParameters(params))
    np.testing.assert_allclose(x[0], trajectory.x, atol=1e-12)
    np.testing.assert_allclose(y[0], trajectory.y, atol=1e-12)


def test_bad_parameters_are_refused():
    params = dict(t_0=2461480.0, u_0=0.3, t_E=15.0, rho=1e-3, s=1.2, q=1e-2, alpha=37.0)
    with pytest.raises(ConfigurationError, match="missing"):
        binary_magnification({k: v for k, v in params.items() if k != "rho"}, TIMES)
    with pytest.raises(ConfigurationError, match="> 0"):
        binary_magnification(dict(params, q=-1.0), TIMES)
    with pytest.raises(ConfigurationError, match="finite"):
        binary_magnification(dict(params, u_0=np.nan), TIMES)
    with pytest.raises(ConfigurationError, match="times"):
        binary_magnification(params, np.array([]))


def test_a_curve_pool_gives_the_curves_of_this_process_in_order():
    draws = Prior(t_0=(TIMES[0], TIMES[-1])).sample(7, np.random.default_rng(3))
    alone = binary_magnification(draws, TIMES)
    with CurvePool(3) as pool:
        assert pool.workers == 3
        shared = binary_magnification(draws, TIMES, pool=pool)
        one = binary_magnification({k: v[4] for k, v in draws.items()}, TIMES, pool=pool)
    # VBMicrolensing moves a curve by up to ~1e-14 with what its process computed before
    np.testing.assert_allclose(shared, alone, rtol=1e-9)
    np.testing.assert_allclose(one[0], alone[4], rtol=1e-9)
    # the rows differ from each other, so a shuffled order could not pass the check above
    gaps = [np.max(np.abs(alone[i] - alone[j])) for i in range(7) for j in range(i)]
    assert min(gaps) > 1e-3
    # closed: the curves are computed here
    assert pool.workers == 1
    np.testing.assert_allclose(binary_magnification(draws, TIMES, pool=pool), alone, rtol=1e-9)


def test_a_curve_pool_refuses_a_bad_number_of_workers():
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ConfigurationError, match="workers"):
            CurvePool(bad)


def test_docstring_examples():
    assert doctest.testmod(mulens_npe.simulate.magnification).failed == 0
