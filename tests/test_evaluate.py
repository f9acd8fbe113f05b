"""evaluate: coverage, ranks, TARP and the report on fresh simulations (tiny model)."""

import json

import numpy as np

from mulens_npe.artifact import load_model
from mulens_npe.evaluate import LEVELS, evaluate_model, write_report
from tests.tiny import TINY_SIMULATION


def test_evaluate_reports_calibration_and_writes_the_report(tiny_model, tmp_path):
    model = load_model(tiny_model)
    times = TINY_SIMULATION.grid.epochs()
    result = evaluate_model(model, times, n=6, seed=99, n_samples=100, progress=False)
    n = result.delta_chi2.size
    assert 1 <= n <= 6
    for name, coverage in result.coverage.items():
        assert set(coverage) == {f"{int(level * 100)}%" for level in LEVELS}
        # a 95% interval contains a 68% one: coverage can only grow with the level
        assert 0.0 <= coverage["68%"] <= coverage["95%"] <= 1.0, name
        assert np.all((result.ranks[name] >= 0) & (result.ranks[name] <= 1))
    assert result.tarp_coverage[0] == 0.0 and result.tarp_coverage[-1] <= 1.0
    assert np.all(np.diff(result.tarp_coverage) >= 0)
    again = evaluate_model(model, times, n=6, seed=99, n_samples=100, progress=False)
    # same seed, same events; VBMicrolensing repeats its curves to ~1e-12 (docs/datasets.md)
    np.testing.assert_allclose(again.delta_chi2, result.delta_chi2, rtol=1e-6)
    out = write_report(result, model, tmp_path / "report", seed=99)
    summary = json.loads((out / "evaluation.json").read_text())
    assert summary["n_events"] == n and summary["seed"] == 99
    assert (out / "calibration.png").stat().st_size > 10_000
    assert "| s |" in (out / "evaluation.md").read_text()
    assert set(summary["mode_errors"]) == set(summary["median_errors"])
    assert set(summary["reference_errors"]) == set(summary["median_errors"])
    assert "reads no data" in (out / "evaluation.md").read_text()
    assert "posterior median" in (out / "evaluation.md").read_text()
    # the events whose truth a linear map clips are counted, by the same rule as FeatureMap's
    from mulens_npe.evaluate import simulated_events

    expected = [
        not model.features.inside_linear_range(
            model.features.to_torus(e["truth"], e["net_input"].t_ref, e["net_input"].t_scale)
        )
        for e in simulated_events(model, times, 6, 99, None)
        if "skipped" not in e
    ]
    assert result.outside_range.tolist() == expected
    assert summary["outside_linear_range"] == sum(expected)
    assert "3 single-lens timescales" in (out / "evaluation.md").read_text()


def test_posterior_median_is_twin_invariant_in_s_and_circular_in_alpha():
    from mulens_npe.evaluate import _posterior_median

    rng = np.random.default_rng(3)
    log_s = rng.normal(0.3, 0.02, 1001)
    close_wide = np.where(rng.uniform(size=log_s.size) < 0.5, log_s, -log_s)
    # half the draws at the close twin: the estimate is still s ~ 10**0.3, not s ~ 1
    assert abs(np.log10(_posterior_median("s", 10**close_wide)) - 0.3) < 0.01
    alpha = np.concatenate([rng.normal(355.0, 2.0, 500), rng.normal(5.0, 2.0, 500)]) % 360.0
    estimate = _posterior_median("alpha", alpha)
    assert min(estimate, 360.0 - estimate) < 1.0  # around 0 deg, not 180
    assert _posterior_median("q", np.array([1e-4, 1e-3, 1e-2])) == 1e-3


def test_reference_errors_are_the_groups_median_deviation_and_exact_estimates_score_zero():
    from mulens_npe.evaluate import _median_errors, _reference_errors

    rng = np.random.default_rng(5)
    n = 101
    truths = {
        "t_0": rng.uniform(0, 1, n),
        "u_0": rng.uniform(0.01, 1, n),
        "t_E": 10 ** rng.uniform(0, 2, n),
        "rho": 10 ** rng.uniform(-4, -2, n),
        "s": 10 ** rng.uniform(-0.5, 0.5, n),
        "q": 10 ** rng.uniform(-6, 0, n),
        "alpha": rng.uniform(0, 360, n),
    }
    delta_chi2 = np.where(np.arange(n) < 41, 1e4, 1.0)
    used = np.ones(n, bool)
    exact = _median_errors(truths, truths, delta_chi2, used)
    assert all(v == 0.0 for e in exact.values() for k, v in e.items() if k != "n")
    reference = _reference_errors(truths, delta_chi2, used)
    clear = delta_chi2 > 100
    assert reference["delta_chi2 > 100"]["n"] == 41  # odd: the median is one of the values
    log_q = np.log10(truths["q"][clear])
    assert np.isclose(
        reference["delta_chi2 > 100"]["log10_q"], np.median(np.abs(log_q - np.median(log_q)))
    )
    # s is compared up to the close/wide twin: the guess is the median of |log10 s|
    abs_log_s = np.abs(np.log10(truths["s"]))
    assert np.isclose(
        reference["all"]["log10_s"], np.median(np.abs(abs_log_s - np.median(abs_log_s)))
    )
