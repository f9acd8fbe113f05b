"""Trajectory search on magnification maps: the map against the lens equation, and the search
against a simulated caustic-crossing binary."""

import numpy as np
import pytest

from mulens_npe.errors import ConfigurationError
from mulens_npe.lightcurve import LightCurve
from mulens_npe.mapsearch import (
    _descend,
    _search_one,
    binned_data,
    caustic_band,
    caustic_points,
    crossing_trajectories,
    far_field,
    magnification_map,
    magnified_window,
    map_candidates,
    map_targets,
    score,
    sharp_times,
    trajectory_seeds,
)
from mulens_npe.polish import Likelihood
from mulens_npe.simulate.magnification import binary_magnification, source_trajectory

# a stellar binary whose resonant caustic the source crosses twice
BINARY = dict(t_0=2460030.0, u_0=0.12, t_E=20.0, rho=1e-3, s=1.1, q=0.3, alpha=60.0)
TIMES = 2460000.0 + np.arange(0.0, 60.0, 1.0 / 24.0)


def _event(params=BINARY, noise=0.003, seed=0):
    flux = 10.0 * binary_magnification(params, TIMES)[0] + 2.0
    err = np.full(TIMES.size, noise * 10.0)
    rng = np.random.default_rng(seed)
    return LightCurve(TIMES, flux + rng.normal(0.0, err), err)


@pytest.fixture(scope="module")
def sky():
    return magnification_map(BINARY["s"], BINARY["q"])


def test_the_map_reproduces_the_lens_equation_away_from_the_caustics(sky):
    # a trajectory that passes the lenses at u_0 = 0.6, far from the caustics
    params = dict(BINARY, u_0=0.6, rho=1e-5)
    x, y = source_trajectory(params, TIMES)
    exact = binary_magnification(params, TIMES)[0]
    np.testing.assert_allclose(sky(x[0], y[0]), exact, rtol=0.01)


def test_the_far_field_joins_the_map_at_its_edge(sky):
    ny, nx = sky.values.shape
    edge_x = sky.x0 + sky.step * np.arange(nx)
    edge_y = np.full(nx, sky.y0)
    np.testing.assert_allclose(far_field(sky.s, sky.q, edge_x, edge_y), sky.values[0], rtol=0.05)
    # a close pair far away is one lens of the total mass
    assert far_field(0.5, 0.3, np.array([30.0]), np.array([0.0]))[0] == pytest.approx(
        (900 + 2) / np.sqrt(900 * 904)
    )


def test_the_map_refuses_nonsense():
    with pytest.raises(ConfigurationError, match="magnification_map"):
        magnification_map(-1.0, 0.1)


def test_binning_keeps_a_constant_curve_and_adds_weights():
    lc = LightCurve(TIMES, np.full(TIMES.size, 5.0), np.full(TIMES.size, 0.1))
    data = binned_data(Likelihood(lc), max_points=100, floor=0.0)
    assert data.time.size <= 100
    np.testing.assert_allclose(data.flux[0], 5.0)
    assert data.weight[0].sum() == pytest.approx(TIMES.size / 0.1**2)


def test_window_bins_are_finer_inside_the_window_and_keep_every_epoch():
    lc = LightCurve(TIMES, np.full(TIMES.size, 5.0), np.full(TIMES.size, 0.1))
    window = (TIMES[600], TIMES[839])  # 240 of the 1,440 epochs
    data = binned_data(Likelihood(lc), max_points=100, floor=0.0, window=window)
    inside = (data.time >= window[0]) & (data.time <= window[1])
    # three quarters of 100 bins for the 240 epochs inside: ceil(240 / 75) = 4 epochs a bin,
    # 60 bins; a quarter for the 1,200 outside: 48 a bin, 13 in each run of 600 epochs
    assert inside.sum() == 60
    assert (~inside).sum() == 26
    np.testing.assert_allclose(np.diff(data.time[inside]), 4.0 / 24.0)
    np.testing.assert_allclose(data.flux[0], 5.0)
    assert data.weight[0].sum() == pytest.approx(TIMES.size / 0.1**2)
    # no bin straddles an edge of the window
    assert data.time[inside].min() >= window[0] and data.time[inside].max() <= window[1]
    # without a window: equal bins of ceil(1440 / 100) = 15 epochs, as before
    plain = binned_data(Likelihood(lc), max_points=100, floor=0.0)
    np.testing.assert_allclose(np.diff(plain.time)[:-1], 15.0 / 24.0)


def test_finite_nodes_follow_a_caustic_crossing_better_than_point_nodes():
    # a source of the node size crossing the resonant caustic: point-source nodes sample
    # the 1/sqrt(distance) divergence, finite-source nodes average it
    step = 0.01
    params = dict(BINARY, rho=step)
    times = np.linspace(BINARY["t_0"] - 9.0, BINARY["t_0"] - 4.0, 2001)  # the crossings
    exact = binary_magnification(params, times)[0]
    x, y = source_trajectory(params, times)
    errors = {}
    for finite in (False, True):
        sky = magnification_map(BINARY["s"], BINARY["q"], step=step, finite_nodes=finite)
        errors[finite] = np.abs(sky(x[0], y[0]) / exact - 1.0)
    assert exact.max() > 8.0  # it does cross the caustic
    # measured: 99th percentile of the relative error 0.118 against 0.328, median 3e-4
    assert np.percentile(errors[True], 99) < 0.5 * np.percentile(errors[False], 99)
    assert np.median(errors[True]) < 1e-3


def test_a_caustic_band_follows_a_small_caustic_that_the_coarse_map_misses():
    # the planetary caustic of a wide q = 0.007 lens is ~0.07 Einstein radii across: three
    # nodes of a 0.02 map; points within ~0.01 of the caustic curves, against the lens equation
    import VBMicrolensing

    vbm = VBMicrolensing.VBMicrolensing()
    s, q = 2.04, 0.0071
    coarse = magnification_map(s, q, step=0.02, max_nodes=250)
    band = caustic_band(coarse)
    assert band.band and band.outer is coarse and band.step == pytest.approx(0.004)
    curves = vbm.Caustics(s, q)
    points = np.concatenate([np.column_stack([cx, cy]) for cx, cy in curves])
    rng = np.random.default_rng(1)
    xy = points[rng.integers(0, len(points), 500)] + rng.normal(0.0, 0.01, (500, 2))
    exact = np.array([vbm.BinaryMag0(s, q, x, y) for x, y in xy])
    errors = {
        name: np.abs(m(xy[:, 0], xy[:, 1]) / exact - 1.0)
        for name, m in (("coarse", coarse), ("band", band))
    }
    # measured: median relative error 0.23 on the coarse map, 0.015 on the band
    assert np.median(errors["band"]) < 0.03
    assert np.median(errors["band"]) < 0.2 * np.median(errors["coarse"])
    # away from the caustics the band is the coarse map
    far = np.array([band.x0 + 0.5 * band.step]), np.array([band.y0 + 0.5 * band.step])
    assert band(*far)[0] == pytest.approx(coarse(*far)[0], rel=1e-9)


def test_a_caustic_band_gives_way_to_its_coarse_map_under_a_wide_blur():
    coarse = magnification_map(BINARY["s"], BINARY["q"], step=0.02, max_nodes=250)
    band = caustic_band(coarse)
    x, y = source_trajectory(BINARY, TIMES)
    # a blur wider than the coarse step: the band adds nothing
    wide = band.smoothed(0.04)
    assert not wide.band
    np.testing.assert_array_equal(wide(x[0], y[0]), coarse.smoothed(0.04)(x[0], y[0]))
    # a narrower one: the band stays, and the map it falls back on is blurred too
    narrow = band.smoothed(0.01)
    assert narrow.band and narrow.outer is not coarse
    np.testing.assert_array_equal(narrow.outer.values, coarse.smoothed(0.01).values)
    with pytest.raises(ConfigurationError, match="caustic_band"):
        caustic_band(coarse, refine=0)


def test_the_magnified_window_holds_the_peak():
    lo, hi = magnified_window(binned_data(Likelihood(_event())))
    assert lo < BINARY["t_0"] < hi
    assert hi - lo < 60.0


def test_the_true_trajectory_scores_best_and_negative_source_flux_is_refused(sky):
    data = binned_data(Likelihood(_event()))
    truth = {k: np.array([BINARY[k]]) for k in ("t_0", "u_0", "t_E", "alpha")}
    shifted = dict(truth, alpha=truth["alpha"] + 20.0)
    assert score(sky, data, truth)[0] < score(sky, data, shifted)[0]
    # a trajectory through nothing on an inverted curve would need a negative source flux
    flat = LightCurve(TIMES, 20.0 - _event().flux, _event().flux_err)
    assert np.isinf(score(sky, binned_data(Likelihood(flat)), truth)[0])


def test_map_targets_picks_the_densest_distinct_pairs():
    rng = np.random.default_rng(1)
    s = np.concatenate([10 ** rng.normal(0.1, 0.01, 600), 10 ** rng.normal(-0.3, 0.01, 300)])
    q = np.concatenate([10 ** rng.normal(-1.0, 0.05, 600), 10 ** rng.normal(-2.0, 0.05, 300)])
    targets = map_targets(s, q, 3)
    assert len(targets) >= 2
    assert targets[0][0] == pytest.approx(10**0.1, rel=0.05)
    assert targets[1][0] == pytest.approx(10**-0.3, rel=0.05)


def test_the_search_finds_the_trajectory_of_a_caustic_crossing_binary():
    likelihood = Likelihood(_event())
    found = map_candidates(likelihood, [(BINARY["s"], BINARY["q"])], seed=3)
    assert found["t_0"].size >= 1
    best = {k: found[k][0] for k in found}
    d_alpha = abs((best["alpha"] - BINARY["alpha"] + 180.0) % 360.0 - 180.0)
    assert d_alpha < 15.0
    assert best["u_0"] == pytest.approx(BINARY["u_0"], abs=0.08)
    assert best["t_E"] == pytest.approx(BINARY["t_E"], rel=0.3)
    assert best["t_0"] == pytest.approx(BINARY["t_0"], abs=2.0)
    assert set(found) == {"t_0", "u_0", "t_E", "rho", "s", "q", "alpha", "screen_chi2"}
    assert found["s"][0] == BINARY["s"] and found["q"][0] == BINARY["q"]


def test_the_search_stops_at_its_deadline():
    likelihood = Likelihood(_event())
    found = map_candidates(likelihood, [(1.1, 0.3), (0.8, 0.1)], deadline=0.0)
    assert found["t_0"].size == 0


def test_the_sharpest_times_are_where_the_source_crosses_a_caustic():
    times = sharp_times(binned_data(Likelihood(_event()), max_points=2000, floor=0.003))
    assert 2 <= times.size <= 6
    x, y = source_trajectory(BINARY, times[:2])
    caustic = caustic_points(BINARY["s"], BINARY["q"], 4000)
    distance = np.hypot(x[0][:, None] - caustic[:, 0], y[0][:, None] - caustic[:, 1]).min(axis=1)
    assert np.all(distance < 0.02), distance


def test_crossing_trajectories_recover_the_line_through_two_points():
    # the source positions of the true trajectory at two times give back that trajectory
    t_a, t_b = 2460025.0, 2460033.0
    x, y = source_trajectory(BINARY, np.array([t_a, t_b]))
    points = np.column_stack([x[0], y[0]])
    found = crossing_trajectories(points, np.array([t_b, t_a]), (1.0, 300.0))
    assert found["t_0"].size == 2  # both orders of the points
    match = [
        k
        for k in range(2)
        if abs(found["t_E"][k] - BINARY["t_E"]) < 1e-9
        and abs(found["t_0"][k] - BINARY["t_0"]) < 1e-6
        and abs(found["u_0"][k] - BINARY["u_0"]) < 1e-9
        and abs(found["alpha"][k] - BINARY["alpha"]) < 1e-6
    ]
    assert match
    # below the lens axis (u_0 < 0) the mirror image is returned: the same light curve
    below = dict(BINARY, u_0=-0.12, alpha=100.0)
    x, y = source_trajectory(below, np.array([t_a, t_b]))
    found = crossing_trajectories(np.column_stack([x[0], y[0]]), np.array([t_a, t_b]), (1, 300))
    k = int(np.argmin(np.abs(found["t_E"] - BINARY["t_E"]) + np.abs(found["t_0"] - BINARY["t_0"])))
    assert found["u_0"][k] == pytest.approx(0.12) and found["alpha"][k] == pytest.approx(260.0)
    mirrored = {**below, **{n: found[n][k] for n in ("t_0", "u_0", "t_E", "alpha")}}
    times = np.linspace(t_a - 10.0, t_b + 10.0, 50)
    np.testing.assert_allclose(
        binary_magnification(mirrored, times)[0], binary_magnification(below, times)[0], rtol=1e-6
    )
    # t_E outside the bounds is dropped
    assert crossing_trajectories(points, np.array([t_a, t_b]), (1.0, 5.0))["t_0"].size == 0


def test_the_crossing_seeded_search_finds_the_trajectory_with_few_random_trials():
    # 2,000 random trajectories and no fine map: at random the search ends off the true
    # basin for two of these three seeds; from the crossings it lands in it for all three
    likelihood = Likelihood(_event())
    options = dict(n_random=2000, n_elite=50, refine=False, crossing_seeds=True)
    for seed in (3, 4, 5):
        found = map_candidates(likelihood, [(BINARY["s"], BINARY["q"])], seed=seed, **options)
        best = {k: found[k][0] for k in found}
        d_alpha = abs((best["alpha"] - BINARY["alpha"] + 180.0) % 360.0 - 180.0)
        assert d_alpha < 5.0, (seed, best)
        assert best["u_0"] == pytest.approx(BINARY["u_0"], abs=0.02)
        assert best["t_E"] == pytest.approx(BINARY["t_E"], rel=0.05)
        assert best["t_0"] == pytest.approx(BINARY["t_0"], abs=0.2)


def test_trajectory_seeds_are_the_draws_near_the_map_in_their_order():
    posterior = {
        "t_0": np.arange(5.0),
        "u_0": np.full(5, 0.1),
        "t_E": np.full(5, 20.0),
        "alpha": np.full(5, 60.0),
        # near (1, 0.01): the first, third and fifth (0.09 dex and 0.29 dex away)
        "s": np.array([1.0, 1.3, 10**0.09, 1.0, 1.0]),
        "q": np.array([0.01, 0.01, 0.01, 0.03, 10**-1.71]),
    }
    seeds = trajectory_seeds(posterior, 1.0, 0.01)
    assert set(seeds) == {"t_0", "u_0", "t_E", "alpha"}
    np.testing.assert_array_equal(seeds["t_0"], [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(trajectory_seeds(posterior, 1.0, 0.01, n=2)["t_0"], [0.0, 2.0])
    assert trajectory_seeds(posterior, 3.0, 0.5)["t_0"].size == 0


def test_posterior_seeds_lead_the_search_into_the_true_basin_with_few_random_trials():
    # 300 random trajectories and no fine map: at random the search misses the true basin
    # for all three seeds (measured: alpha 66-141 degrees off); from 100 posterior-like draws
    # scattered around the truth (10 degrees, 0.05 in u_0, 15% in t_E, 1 day in t_0) it
    # lands in it for all three (alpha within 4 degrees, t_E within 4%)
    likelihood = Likelihood(_event())
    rng = np.random.default_rng(0)
    n = 100
    posterior = {
        "t_0": BINARY["t_0"] + rng.normal(0.0, 1.0, n),
        "u_0": np.abs(BINARY["u_0"] + rng.normal(0.0, 0.05, n)),
        "t_E": BINARY["t_E"] * np.exp(rng.normal(0.0, 0.15, n)),
        "alpha": BINARY["alpha"] + rng.normal(0.0, 10.0, n),
        "s": np.full(n, BINARY["s"]),
        "q": np.full(n, BINARY["q"]),
    }
    options = dict(n_random=300, n_elite=30, refine=False)
    hits = {}
    for seeded in (False, True):
        for seed in (3, 4, 5):
            found = map_candidates(
                likelihood,
                [(BINARY["s"], BINARY["q"])],
                seed=seed,
                posterior=posterior if seeded else None,
                **options,
            )
            best = {k: found[k][0] for k in found}
            d_alpha = abs((best["alpha"] - BINARY["alpha"] + 180.0) % 360.0 - 180.0)
            hits[seeded, seed] = bool(
                d_alpha < 5.0
                and abs(best["u_0"] - BINARY["u_0"]) < 0.02
                and abs(best["t_E"] / BINARY["t_E"] - 1.0) < 0.05
                and abs(best["t_0"] - BINARY["t_0"]) < 0.2
            )
    assert all(hits[True, seed] for seed in (3, 4, 5)), hits
    assert sum(hits[False, seed] for seed in (3, 4, 5)) <= 1, hits


def test_wide_share_draws_that_share_from_wider_t0_and_te_ranges(sky):
    data = binned_data(Likelihood(_event()))
    window = (2460020.0, 2460040.0)  # 20 days wide
    rng = np.random.default_rng(3)
    args = (sky, data, window, rng, 4000, 10, 0, (0.1, 1000.0))
    narrow, _ = _search_one(*args)
    wide, _ = _search_one(*args, wide_share=0.25)
    assert narrow["t_0"].min() >= 2460010.0 and narrow["t_0"].max() <= 2460050.0
    assert narrow["t_E"].min() >= 1.0 - 1e-9 and narrow["t_E"].max() <= 40.0 + 1e-9
    beyond = (wide["t_0"] < 2460010.0) | (wide["t_0"] > 2460050.0) | (wide["t_E"] > 40.0)
    # a quarter from t_0 within 40 days of the window and t_E up to 200 days: most of those
    # fall outside the narrow ranges
    assert 0.1 < beyond.mean() < 0.25
    assert wide["t_0"].min() >= 2459980.0 and wide["t_0"].max() <= 2460080.0
    assert wide["t_E"].max() <= 200.0 + 1e-9


def test_sharp_elites_are_the_best_on_the_less_blurred_map(sky):
    data = binned_data(Likelihood(_event()))
    rng = np.random.default_rng(4)
    n = 3000
    pop = {
        "t_0": rng.uniform(2460010.0, 2460050.0, n),
        "u_0": rng.uniform(0.0, 1.0, n),
        "t_E": rng.uniform(5.0, 40.0, n),
        "alpha": rng.uniform(0.0, 360.0, n),
    }
    blur = 0.04
    heavy = np.argsort(score(sky.smoothed(blur), data, pop))[:10]
    light = np.argsort(score(sky.smoothed(blur / 4), data, pop))[:10]
    assert set(heavy) != set(light)  # the two blurs rank differently here
    for share, expected in ((0.0, heavy), (1.0, light)):
        out, _ = _descend(
            sky,
            data,
            pop,
            np.random.default_rng(0),
            10,
            1,
            100,
            (1.0, 300.0),
            blur,
            sharp_elites=share,
        )
        # the first round's elites come first in the returned population
        np.testing.assert_array_equal(out["t_0"][:10], pop["t_0"][expected])
