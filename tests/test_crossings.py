"""Caustic-crossing coordinates: geometry against VBMicrolensing, round trips, and the polish."""

import numpy as np
import pytest
import VBMicrolensing
from test_polish import TRUTH, _event

from mulens_npe.crossings import (
    caustic_point,
    critical_points,
    crossing_coordinates,
    from_crossing,
    trajectory_crossings,
)
from mulens_npe.polish import Likelihood, crossing_polish, crossing_round

# a resonant caustic crossed four times, a planetary one crossed twice, a central one
GEOMETRIES = [
    dict(t_0=2461000.0, u_0=0.476, t_E=40.2, rho=1.5e-3, s=1.187, q=0.463, alpha=110.6),
    dict(t_0=2461000.0, u_0=0.0, t_E=8.3, rho=1e-3, s=2.45, q=0.0115, alpha=174.4),
    dict(t_0=2461000.0, u_0=0.01, t_E=20.0, rho=1e-3, s=0.9, q=0.01, alpha=60.0),
]


def _polyline_crossings(params):
    """Crossing times from VBMicrolensing's sampled caustics (linear between its points)."""
    alpha = np.deg2rad(params["alpha"])
    e = np.array([-np.cos(alpha), -np.sin(alpha)])
    n = np.array([np.sin(alpha), -np.cos(alpha)])
    times = []
    for cx, cy in VBMicrolensing.VBMicrolensing().Caustics(params["s"], params["q"]):
        points = np.column_stack([cx, cy])
        d = points @ n - params["u_0"]
        for k in np.nonzero(np.sign(d[:-1]) != np.sign(d[1:]))[0]:
            x = points[k] + d[k] / (d[k] - d[k + 1]) * (points[k + 1] - points[k])
            times.append(params["t_0"] + float(x @ e) * params["t_E"])
    return np.sort(times)


@pytest.mark.parametrize("s, q", [(1.187, 0.463), (2.45, 0.0115), (0.6, 0.1)])
def test_the_critical_curve_maps_onto_vbmicrolensing_caustics(s, q):
    ours = caustic_point(s, q, critical_points(s, q, np.linspace(0, 2 * np.pi, 3000))).ravel()
    theirs = np.concatenate(
        [
            np.array(cx) + 1j * np.array(cy)
            for cx, cy in VBMicrolensing.VBMicrolensing().Caustics(s, q)
        ]
    )
    scale = np.ptp(theirs.real) + np.ptp(theirs.imag)
    # every point of ours lies on theirs and every point of theirs is near one of ours
    assert np.max(np.min(np.abs(ours[:, None] - theirs[None, :]), axis=1)) < 0.02 * scale
    assert np.max(np.min(np.abs(theirs[:, None] - ours[None, :]), axis=1)) < 0.02 * scale


@pytest.mark.parametrize("params", GEOMETRIES)
def test_crossing_times_agree_with_the_sampled_caustics(params):
    ours = np.array([c[0] for c in trajectory_crossings(params)])
    theirs = _polyline_crossings(params)
    assert ours.size == theirs.size >= 2
    np.testing.assert_allclose(ours, theirs, atol=2e-3 * params["t_E"])


def test_a_trajectory_that_misses_the_caustic_has_no_crossings():
    far = dict(GEOMETRIES[0], u_0=1.5)
    assert trajectory_crossings(far) == []
    assert crossing_polish(Likelihood(_event()), dict(TRUTH, u_0=1.5)) is None
    assert crossing_round(Likelihood(_event()), dict(TRUTH, u_0=1.5)) is None


@pytest.mark.parametrize("anchor", [(0, -1), (1, 2), (0,), (3,)])
def test_crossing_coordinates_round_trip(anchor):
    params = GEOMETRIES[0]
    x0, to_params, _ = crossing_coordinates(params, anchor)
    back = to_params(x0)
    for name, value in params.items():
        assert back[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_moving_s_and_q_in_crossing_coordinates_keeps_the_crossings_at_their_times():
    params = GEOMETRIES[0]
    crossings = trajectory_crossings(params)
    for anchor in [(0, -1), (1,)]:
        x0, to_params, _ = crossing_coordinates(params, anchor)
        moved = to_params(x0 + np.array([0, 0, 0, 0, 0.02, -0.1, 0.0]))  # ln s, ln q
        assert moved["s"] == pytest.approx(params["s"] * np.exp(0.02))
        times = np.array([c[0] for c in trajectory_crossings(moved)])
        for k in anchor:
            assert np.min(np.abs(times - crossings[k][0])) < 1e-6
        # in the usual coordinates the same change of s and q moves them
        plain = dict(params, s=moved["s"], q=moved["q"])
        plain_times = np.array([c[0] for c in trajectory_crossings(plain)])
        assert np.min(np.abs(plain_times - crossings[anchor[0]][0])) > 1e-3


def test_from_crossing_puts_the_source_on_the_caustic_point_at_its_time():
    s, q = 1.187, 0.463
    z = critical_points(s, q, np.array([0.7]))[0][1]
    params = from_crossing(s, q, 1e-3, 2461000.0, 0.7, z, 12.0, 40.0)
    point = caustic_point(s, q, z)
    alpha = np.deg2rad(40.0)
    tau = (2461000.0 - params["t_0"]) / params["t_E"]
    x = -(tau * np.cos(alpha) - params["u_0"] * np.sin(alpha))
    y = -(tau * np.sin(alpha) + params["u_0"] * np.cos(alpha))
    assert x == pytest.approx(point.real, abs=1e-12) and y == pytest.approx(point.imag, abs=1e-12)


def test_a_crossing_round_returns_to_the_minimum_from_starts_a_polish_often_misses():
    """Starts 0.01 dex off in s, 0.1 dex in q and 2 degrees in alpha: the narrow valley of a
    caustic crossing, where a plain polish stops short (4 of these 8 starts, measured)."""
    likelihood = Likelihood(_event())
    minimum = crossing_round(likelihood, TRUTH).chi2
    assert minimum <= likelihood.chi2(TRUTH)[0]
    rng = np.random.default_rng(0)
    for _ in range(8):
        start = dict(TRUTH)
        start["s"] *= 10 ** rng.normal(0, 0.01)
        start["q"] *= 10 ** rng.normal(0, 0.1)
        start["alpha"] += rng.normal(0, 2)
        result = crossing_round(likelihood, start)
        assert result.chi2 < minimum + 1.0
        assert result.start_chi2 == pytest.approx(likelihood.chi2(start)[0], rel=1e-6)
        assert abs(np.log10(result.parameters["s"] / TRUTH["s"])) < 0.003
        assert abs(np.log10(result.parameters["q"] / TRUTH["q"])) < 0.05


def test_a_crossing_polish_is_never_worse_than_its_start_and_keeps_the_deadline():
    likelihood = Likelihood(_event())
    start = dict(TRUTH, s=TRUTH["s"] * 1.03, alpha=TRUTH["alpha"] + 3.0)
    result = crossing_polish(likelihood, start, max_evaluations=50)
    assert result.chi2 <= likelihood.chi2(start)[0] + 1e-6
    assert result.n_evaluations <= 50 + 8
    assert crossing_polish(likelihood, start, deadline=0.0) is None  # no time: nothing seen
