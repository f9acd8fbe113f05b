"""The quick single-lens estimate finds the event and its timescale."""

import numpy as np
import pytest

from mulens_npe.singlelens import estimate_single_lens, linear_fluxes, pspl_magnification

SEASON = np.arange(2461447.75, 2461447.75 + 72.0, 15.16 / 1440.0)


def test_pspl_magnification_known_values():
    # A(u) = (u^2 + 2) / (u sqrt(u^2 + 4)); A(1) = 3 / sqrt(5)
    assert pspl_magnification(0.0, 1.0) == pytest.approx(3 / np.sqrt(5))
    assert pspl_magnification(0.6, 0.8) == pytest.approx(3 / np.sqrt(5))
    assert pspl_magnification(0.0, 1e-4) == pytest.approx(1e4, rel=1e-6)


def test_linear_fluxes_recover_source_and_blend():
    a = pspl_magnification((SEASON - 2461480.0) / 10.0, 0.2)
    flux = 7.0 * a + 3.0
    source, blend, chi2 = linear_fluxes(a, flux, np.ones_like(flux))
    assert source == pytest.approx(7.0) and blend == pytest.approx(3.0)
    assert chi2 == pytest.approx(0.0, abs=1e-6)  # closed form: rounding of sum w f^2


@pytest.mark.parametrize(
    "t_0, u_0, t_E",
    [(2461470.0, 0.1, 20.0), (2461480.0, 0.5, 5.0), (2461460.0, 0.02, 60.0), (2461500.0, 0.3, 2.0)],
)
def test_estimate_locates_event_and_scale(t_0, u_0, t_E):
    rng = np.random.default_rng(3)
    flux_true = 10.0 * pspl_magnification((SEASON - t_0) / t_E, u_0) + 5.0
    err = 0.01 * np.sqrt(flux_true * 15.0) / np.sqrt(15.0)
    flux = flux_true + rng.normal(size=SEASON.size) * err
    est = estimate_single_lens(SEASON, flux, err)
    assert abs(est.t_0 - t_0) < 0.1 * t_E
    assert 0.33 < est.t_E / t_E < 3.0
    assert est.source_flux > 0


def test_refine_recovers_the_single_lens_that_the_coarse_grid_misses():
    from mulens_npe.singlelens import refine_single_lens

    rng = np.random.default_rng(1)
    t_0, u_0, t_E, f_s, f_b = 2461478.3, 0.137, 12.7, 1000.0, 300.0
    flux_true = f_s * pspl_magnification((SEASON - t_0) / t_E, u_0) + f_b
    err = 0.5 * np.sqrt(flux_true)
    flux = flux_true + rng.normal(size=SEASON.size) * err
    start = estimate_single_lens(SEASON, flux, err)
    fit = refine_single_lens(SEASON, flux, err, start)
    assert fit.chi2 <= start.chi2
    assert abs(fit.t_0 - t_0) < 0.01 and abs(fit.u_0 / u_0 - 1) < 0.02
    assert abs(fit.t_E / t_E - 1) < 0.02 and abs(fit.source_flux / f_s - 1) < 0.03
    # 300 bins of pure noise around the right model: chi2 ~ 300 - 5
    assert fit.chi2 < 400
