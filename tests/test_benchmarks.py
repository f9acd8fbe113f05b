"""The pure helpers of benchmarks/bench_propose.py, bench_burnin.py and bench_grid_optimised.py."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tool_modules import load_script

bench_propose = load_script("benchmarks", "bench_propose")
bench_burnin = load_script("benchmarks", "bench_burnin")
bench_grid_optimised = load_script("benchmarks", "bench_grid_optimised")

P = dict(t_0=2461480.0, u_0=0.2, t_E=20.0, rho=1e-3, s=1.1, q=1e-3, alpha=60.0)


def _other(**changes):
    return {**P, **changes}


def test_recovery_tolerance_is_25_or_two_per_mille():
    assert bench_propose.tolerance(5000.0) == 25.0
    assert bench_propose.tolerance(20000.0) == pytest.approx(40.0)
    assert bench_propose.recovered(5024.9, 5000.0) is True
    assert bench_propose.recovered(5025.1, 5000.0) is False
    assert bench_propose.recovered(20039.0, 20000.0) is True
    assert bench_propose.recovered(20041.0, 20000.0) is False
    assert bench_propose.recovered(4000.0, 5000.0) is True  # better than the truth's polish
    assert bench_propose.recovered(float("nan"), 5000.0) is False
    assert bench_propose.recovered(5000.0, None) is None


def test_top_k_counts_distinct_solutions_and_merges_mirrors():
    ref = 5000.0
    wrong_1 = (_other(s=0.7), 5400.0)
    mirror_1 = (_other(u_0=-0.2, alpha=-60.0, s=0.7), 5400.5)  # the mirror of wrong_1
    wrong_2 = (_other(q=1e-2), 5600.0)
    wrong_3 = (_other(s=1.6), 5700.0)
    right = (P, 5010.0)
    assert bench_propose.top_k_recovered([right, wrong_1], ref, 1) is True
    assert bench_propose.top_k_recovered([wrong_1, right], ref, 1) is False
    assert bench_propose.top_k_recovered([wrong_1, wrong_2, right], ref, 3) is True
    assert bench_propose.top_k_recovered([wrong_1, wrong_2, wrong_3, right], ref, 3) is False
    # a repeat of the same minimum does not take a slot either
    assert bench_propose.top_k_recovered([wrong_1, wrong_2, wrong_2, right], ref, 3) is True
    # the mirror of the first does not take a top-3 slot: the right one is third
    assert bench_propose.top_k_recovered([wrong_1, mirror_1, wrong_2, right], ref, 3) is True
    kept = bench_propose.distinct_up_to_mirror([wrong_1, mirror_1, wrong_2, right])
    assert [c for _, c in kept] == [5400.0, 5600.0, 5010.0]
    assert bench_propose.top_k_recovered([wrong_1], None, 3) is None


def test_final_steps_switch_sets_the_polish_constants_and_refuses_bad_values(monkeypatch):
    from mulens_npe import polish

    monkeypatch.setattr(polish, "FINAL_STEPS", polish.FINAL_STEPS)
    monkeypatch.setattr(polish, "FIRST_RESTARTS", polish.FIRST_RESTARTS)
    assert bench_propose.set_final_steps("crossing, rho,anneal", 1) is None
    assert polish.FINAL_STEPS == ("crossing", "rho", "anneal") and polish.FIRST_RESTARTS == 1
    assert "unknown steps ['shake']" in bench_propose.set_final_steps("crossing,shake", None)
    assert "--first-restarts" in bench_propose.set_final_steps(None, polish.MAX_RESTARTS + 1)
    assert polish.FINAL_STEPS == ("crossing", "rho", "anneal")  # a refused value changes nothing
    args = bench_propose.parser().parse_args(["--final-steps", "rho", "--first-restarts", "2"])
    assert (args.final_steps, args.first_restarts) == ("rho", 2)


def test_summary_counts_recovery_by_signal():
    def record(dchi2, top1, top3, grid_top1, t_npe, t_grid):
        grid = None
        if t_grid is not None:
            grid = {"top1": grid_top1, "top3": grid_top1, "time": t_grid, "extrapolated": False}
        return {
            "delta_chi2": dchi2,
            "propose": {"top1": top1, "top3": top3, "time": t_npe},
            "grid": grid,
        }

    records = [
        record(500.0, True, True, False, 2.0, 100.0),
        record(50.0, False, False, True, 4.0, 100.0),
        record(300.0, False, True, True, 6.0, None),
    ]
    summary = bench_propose.summarise(records)
    strong = summary["recovery"]["delta_chi2 > 100"]
    assert strong["n_events"] == 2
    assert strong["propose_top1"] == {"n": 2, "recovered": 1, "rate": 0.5}
    assert strong["propose_top3"] == {"n": 2, "recovered": 2, "rate": 1.0}
    assert strong["grid_top1"] == {"n": 1, "recovered": 0, "rate": 0.0}
    times = summary["time_per_event"]
    assert times["propose"]["median"] == 4.0 and times["propose"]["total"] == 12.0
    assert times["grid"]["n"] == 2
    assert times["ratio_grid_over_propose_median"] == pytest.approx(100.0 / 3.0)


def _converging_chain(step: int, n_steps: int = 1000, n_walkers: int = 32, seed: int = 0):
    """chi2 of walkers that fall from 5200 to a stationary level 5006 at ``step``."""
    rng = np.random.default_rng(seed)
    level = 5000.0 + rng.chisquare(7, size=(n_steps, n_walkers))
    decay = np.zeros(n_steps)
    decay[:step] = np.linspace(200.0, 20.0, step)
    return level + decay[:, None]


@pytest.mark.parametrize("step", [1, 137, 600])
def test_burn_in_finds_the_step_where_the_median_settles(step):
    found, stationary = bench_burnin.burn_in(_converging_chain(step))
    assert found == step
    assert 5004.0 < stationary < 5009.0


def test_burn_in_of_a_stationary_chain_is_zero():
    chi2 = 5000.0 + np.random.default_rng(1).chisquare(7, size=(500, 32))
    assert bench_burnin.burn_in(chi2)[0] == 0


def test_burn_in_of_a_drifting_chain_is_not_established():
    drift = np.linspace(400.0, 0.0, 1000)[:, None] + np.zeros((1000, 32))
    assert bench_burnin.burn_in(5000.0 + drift)[0] is None
    # settling inside the last 20% (the reference window) does not count as stationary
    assert bench_burnin.burn_in(_converging_chain(900))[0] is None
    # a walker excursion late in the chain moves the burn-in past it
    chi2 = _converging_chain(100)
    chi2[700, :20] += 50.0
    assert bench_burnin.burn_in(chi2)[0] == 701


def test_gaussian_ball_is_small_and_inside_the_prior():
    from mulens_npe.prior import Prior

    prior = Prior(t_0=(2461450.0, 2461520.0))
    centre = _other(u_0=1e-5)
    walkers = bench_burnin.gaussian_ball(centre, 64, np.random.default_rng(0), prior)
    assert walkers.shape == (64, 7)
    for j, name in enumerate(bench_burnin.PARAMETER_NAMES):
        spread = np.std(walkers[:, j])
        if name == "t_0":
            assert spread == pytest.approx(1e-4 * centre["t_E"], rel=0.3)
        elif name == "alpha":
            assert spread == pytest.approx(np.rad2deg(1e-4), rel=0.3)
        else:
            assert spread == pytest.approx(1e-4 * abs(centre[name]), rel=0.3)
    canonical = bench_burnin.canonicalize(bench_burnin._columns(walkers))
    assert prior.contains(canonical).all()


def test_log_posterior_is_minus_half_chi2_plus_prior_and_mirror_symmetric():
    from mulens_npe import LightCurve
    from mulens_npe.polish import Likelihood
    from mulens_npe.prior import Prior
    from mulens_npe.simulate.magnification import binary_magnification

    t = P["t_0"] + np.linspace(-30.0, 30.0, 300)
    flux = 10.0 * binary_magnification(P, t)[0] + 2.0
    likelihood = Likelihood(LightCurve(t, flux, np.full(t.size, 0.1)))
    prior = Prior(t_0=(P["t_0"] - 40.0, P["t_0"] + 40.0))
    log_posterior = bench_burnin.LogPosterior(likelihood, prior)
    x = np.array([[P[n] for n in bench_burnin.PARAMETER_NAMES]])
    mirror = x.copy()
    mirror[0, 1], mirror[0, 6] = -mirror[0, 1], -mirror[0, 6]
    outside = x.copy()
    outside[0, 4] = 50.0  # s beyond the prior
    values = log_posterior(np.vstack([x, mirror, outside]))
    expected = prior.log_prob(P)[()] - 0.5 * likelihood.chi2(P)[0]
    assert values[0] == pytest.approx(expected)
    assert values[1] == pytest.approx(expected, abs=1e-6)
    assert values[2] == -np.inf
    assert log_posterior.n_curves == 2


def test_burn_ratio_text():
    assert bench_burnin.burn_ratio(500, 50, 2000) == "10x"
    assert bench_burnin.burn_ratio(0, 21, 2000) == "0.0476x"
    assert bench_burnin.burn_ratio(None, 50, 2000).startswith("> 40.0x")
    assert bench_burnin.burn_ratio(500, None, 2000).startswith("< ")


def test_a_grid_node_fit_holds_s_q_alpha_and_finds_the_trajectory():
    """At the true (s, q, alpha) of a close binary (no caustic crossed: a smooth chi2
    surface) the node fit brings an offset trajectory back to the truth's chi2 within its 200
    curves; s, q and alpha stay the node's."""
    from mulens_npe.lightcurve import LightCurve
    from mulens_npe.polish import Likelihood
    from mulens_npe.simulate.magnification import binary_magnification

    node = dict(P, s=0.5, q=0.05)
    times = P["t_0"] + np.linspace(-40.0, 40.0, 800)
    err = np.full(times.size, 0.05)
    flux = 10.0 * binary_magnification(node, times)[0] + 2.0
    flux += np.random.default_rng(1).normal(0.0, err)
    likelihood = Likelihood(LightCurve(times, flux, err))
    truth_chi2 = float(likelihood.chi2(node)[0])
    start = dict(node, t_0=P["t_0"] + 0.3, u_0=0.23, t_E=22.0, rho=3e-3)
    assert float(likelihood.chi2(start)[0]) > truth_chi2 + 500.0
    bounds = dict(
        t_0=(P["t_0"] - 50.0, P["t_0"] + 50.0),
        u_0=(-2.0, 2.0),
        t_E=(1.0, 300.0),
        rho=(1e-4, 0.03),
        s=(0.2, 5.0),
        q=(1e-6, 1.0),
    )
    chi2, curves, best = bench_grid_optimised.fit_node(likelihood, start, bounds)
    assert chi2 < truth_chi2 + 5.0
    assert curves <= 200 + 5
    assert (best["s"], best["q"], best["alpha"] % 360.0) == pytest.approx(
        (0.5, 0.05, P["alpha"]), rel=1e-12
    )
    assert best["t_0"] == pytest.approx(P["t_0"], abs=0.02)


def test_pick_events_deals_strong_events_evenly_between_the_lists():
    bench_pick_events = load_script("benchmarks", "bench_pick_events")
    events = [(7, 1e6), (3, 150.0), (9, 2e5), (1, 300.0), (4, 5e4), (8, 120.0)]
    first, second = bench_pick_events.split_by_strength(events)
    assert first == [3, 4, 7] and second == [1, 8, 9]  # 7 > 9 > 4 > 1 > 3 > 8, dealt
    assert sorted(first + second) == sorted(index for index, _ in events)
