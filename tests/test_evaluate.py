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
    assert "posterior median" in (out / "evaluation.md").read_text()


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
