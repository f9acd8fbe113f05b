"""Starting points read off a planetary anomaly: geometry against simulated planets."""

import numpy as np
import pytest

from mulens_npe.anomaly import Anomaly, anomaly_candidates, anomaly_starts, find_anomalies
from mulens_npe.lightcurve import LightCurve
from mulens_npe.parameters import PARAMETER_NAMES
from mulens_npe.polish import Likelihood, polish, single_lens_fit
from mulens_npe.simulate.magnification import binary_magnification

# a wide planet whose planetary caustic the source crosses before the peak
PLANET = dict(t_0=2460030.0, u_0=0.1, t_E=25.0, rho=1e-3, s=1.1, q=1e-3, alpha=45.0)


def _event(params, noise=0.002, seed=0):
    times = 2460000.0 + np.arange(0.0, 60.0, 0.25 / 24.0)
    flux = 10.0 * binary_magnification(params, times)[0] + 2.0
    err = np.full(times.size, noise * 10.0)
    rng = np.random.default_rng(seed)
    return LightCurve(times, flux + rng.normal(0.0, err), err)


@pytest.fixture(scope="module")
def planet():
    lc = _event(PLANET)
    likelihood = Likelihood(lc)
    single = single_lens_fit(likelihood, {"t_0": 2460030.0, "u_0": 0.2, "t_E": 20.0})
    return likelihood, single


def test_a_single_lens_event_has_no_anomaly():
    lc = _event(dict(PLANET, q=1e-9, s=5.0))  # a planet too small and far to show
    likelihood = Likelihood(lc)
    single = single_lens_fit(likelihood, {"t_0": 2460030.0, "u_0": 0.2, "t_E": 20.0})
    assert find_anomalies(likelihood, single) == []
    found = anomaly_candidates(likelihood, single)
    assert all(v.size == 0 for v in found.values())


def test_the_anomaly_is_found_where_the_source_meets_the_planetary_caustic(planet):
    likelihood, single = planet
    anomalies = find_anomalies(likelihood, single)
    assert anomalies and anomalies[0].excess_chi2 > 1e4
    first = anomalies[0]
    # the planetary caustic lies at s - 1/s = 0.191 from the host on the binary axis, which
    # the trajectory (u_0 = 0.1, alpha = 45 deg) meets at tau = -0.1, i.e. t_0 - 2.5 d
    assert first.t_peak == pytest.approx(PLANET["t_0"] - 2.5, abs=1.0)
    assert 0.0 < first.duration < 3.0


def test_the_geometry_puts_the_caustic_on_the_trajectory():
    single = dict(t_0=0.0, u_0=0.1, t_E=10.0)
    anomaly = Anomaly(t_start=-1.2, t_end=-0.8, t_peak=-1.0, excess_chi2=1e3, sign=1)
    starts = anomaly_starts(anomaly, single)
    u_a = np.hypot(0.1, 0.1)
    wide = starts["s"] > 1
    # wide: s - 1/s = u_a; close: its twin 1/s
    assert np.allclose(starts["s"][wide] - 1 / starts["s"][wide], u_a)
    assert np.allclose(1 / starts["s"][~wide] - starts["s"][~wide], u_a)
    # with no off-axis shift, the source sits on the binary axis (y = 0) at the anomaly:
    # MulensModel's trajectory is (tau cos a - u_0 sin a, tau sin a + u_0 cos a)
    alpha = np.radians(starts["alpha"][wide])
    y = -0.1 * np.sin(alpha) + 0.1 * np.cos(alpha)
    assert np.allclose(y, 0.0, atol=1e-12)
    # the q ladder spans the prior in half-dex steps
    assert np.allclose(np.unique(np.log10(starts["q"])), np.arange(-6.0, 0.01, 0.5))


def test_candidates_polish_into_the_example_planet():
    """The shipped example (a Roman planet, q = 1e-3, crossing its caustic): the anomaly's
    geometry leads the polish to the true minimum, which the posterior draws miss."""
    import json
    from pathlib import Path

    import mulens_npe

    path = Path(__file__).parents[1] / "examples" / "data" / "roman_planet_example.dat"
    header = next(line for line in path.read_text().splitlines() if line.startswith("# truth:"))
    truth = json.loads(header.split(":", 1)[1])
    likelihood = Likelihood(mulens_npe.as_lightcurves(path))
    single = single_lens_fit(likelihood, {"t_0": truth["t_0"], "u_0": 0.2, "t_E": 20.0})
    found = anomaly_candidates(likelihood, single, n_keep=1)
    best = polish(likelihood, found, max_evaluations=400)[0]
    truth_chi2 = likelihood.chi2({k: truth[k] for k in PLANET})[0]
    # in the true basin: the single lens has chi2 2.1e6, the truth 5.4e3 (the last factor of
    # two is the polish's job: the surface is rugged there, propose polishes several starts)
    assert best.chi2 < 2.0 * truth_chi2
    assert best.parameters["s"] == pytest.approx(truth["s"], rel=0.01)
    assert np.log10(best.parameters["q"]) == pytest.approx(np.log10(truth["q"]), abs=0.05)
    assert best.parameters["alpha"] == pytest.approx(truth["alpha"], abs=1.0)


def test_a_spent_deadline_returns_no_candidates(planet):
    likelihood, single = planet
    found = anomaly_candidates(likelihood, single, deadline=0.0)
    assert all(v.size == 0 for v in found.values())


def test_the_ladder_screens_every_source_size_then_one_local_grid(planet, monkeypatch):
    from mulens_npe import anomaly
    from mulens_npe.anomaly import RHO_LADDER, anomaly_candidates_ladder

    likelihood, single = planet
    screened = []
    real_screen = anomaly._screen

    def counting(subset, params, deadline):
        screened.append(params["t_0"].size)
        return real_screen(subset, params, deadline)

    monkeypatch.setattr(anomaly, "_screen", counting)
    found = anomaly_candidates_ladder(likelihood, single, rho=1.2e-3, n_keep=5)
    assert found["rho"].size == 5
    assert set(np.round(found["rho"], 6)) <= {6e-4, 1.2e-3, 2.4e-3}
    # the coarse starts at each of the three sizes, then one grid of 243 around 3 geometries
    # (a grid per size, as before, screened three times as many)
    assert len(screened) == len(RHO_LADDER) + 1
    assert screened[0] == screened[1] == screened[2] and screened[3] == 3 * 243
    # the starts still lead to the planet: the best screened is on the true side (s > 1)
    assert np.any(np.abs(found["s"] - PLANET["s"]) < 0.05)
    monkeypatch.setattr(anomaly, "_screen", real_screen)
    # one size: the same starts as anomaly_candidates at that size
    one = anomaly_candidates_ladder(likelihood, single, rho=1e-3, n_keep=4, factors=(1.0,))
    alone = anomaly_candidates(likelihood, single, rho=1e-3, n_keep=4)
    for name in PARAMETER_NAMES:
        np.testing.assert_allclose(one[name], alone[name])
    spent = anomaly_candidates_ladder(likelihood, single, rho=1e-3, deadline=0.0)
    assert all(v.size == 0 for v in spent.values())


def test_geometries_outside_the_prior_s_range_are_not_screened():
    # an anomaly 1,000 t_E from the single lens's peak (a poor fit whose "anomaly" is the
    # start of the season): the geometry gives s ~ 1,000 and 1e-3, outside any prior, and
    # curves that take VBMicrolensing seconds each; they are dropped before the screening
    from mulens_npe.anomaly import _coarse_starts, _Prepared

    single = {"t_0": 2460000.0, "u_0": 0.8, "t_E": 0.12}
    far = Anomaly(t_start=2460119.0, t_end=2460121.0, t_peak=2460120.0, excess_chi2=1e6, sign=1)
    prepared = _Prepared([far], single, screen=None, near=None)
    everything = _coarse_starts(prepared, 1e-3, (1e-9, 1e9), (1e-6, 1.0))
    assert everything["s"].max() > 900.0 and everything["s"].min() < 1.2e-3
    kept = _coarse_starts(prepared, 1e-3, (0.2, 5.0), (1e-6, 1.0))
    assert kept["s"].size == 0
    # a planet's anomaly near the peak keeps every start of the geometry
    near = Anomaly(t_start=2460000.9, t_end=2460001.1, t_peak=2460001.0, excess_chi2=1e3, sign=1)
    single = {"t_0": 2460000.0, "u_0": 0.1, "t_E": 20.0}
    prepared = _Prepared([near], single, screen=None, near=None)
    all_of_them = anomaly_starts(near, single, rho=1e-3)
    kept = _coarse_starts(prepared, 1e-3, (0.2, 5.0), (1e-6, 1.0))
    assert kept["s"].size == all_of_them["s"].size > 0


def test_the_screening_stops_at_its_deadline_between_single_curves():
    import time

    from mulens_npe.anomaly import _screen

    class Slow:
        """A likelihood whose every curve takes 50 ms."""

        evaluated = 0

        def chi2(self, params):
            n = params["t_0"].size
            time.sleep(0.05 * n)
            Slow.evaluated += n
            return np.zeros(n)

    starts = {name: np.ones(16) for name in PARAMETER_NAMES}
    chi2 = _screen(Slow(), starts, deadline=time.perf_counter() + 0.12)
    # 3 curves reach the deadline (a batch of 8, as without one, would have run 8)
    assert 1 <= Slow.evaluated <= 4
    assert np.isfinite(chi2).sum() == Slow.evaluated and np.isinf(chi2[Slow.evaluated :]).all()
    Slow.evaluated = 0
    assert np.isfinite(_screen(Slow(), {n: np.ones(3) for n in PARAMETER_NAMES}, None)).all()
