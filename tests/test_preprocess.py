"""The shared preprocessing: event located, gaps masked, identical for data read back from a file."""

import numpy as np
import pytest

from mulens_npe.adapters import lightcurve_from_arrays
from mulens_npe.errors import ConfigurationError, InputDataError
from mulens_npe.lightcurve import LightCurve
from mulens_npe.photometry import flux_to_mag
from mulens_npe.preprocess import CHANNELS, PreprocessSpec, preprocess
from mulens_npe.singlelens import pspl_magnification

SEASON = np.arange(2461447.75, 2461447.75 + 72.0, 15.16 / 1440.0)
SPEC = PreprocessSpec(n_bins=128)


def _event(t_0=2461480.0, u_0=0.1, t_E=12.0, f_s=8.0, f_b=4.0, seed=0, time=SEASON):
    rng = np.random.default_rng(seed)
    flux = f_s * pspl_magnification((time - t_0) / t_E, u_0) + f_b
    err = 0.02 * np.sqrt(flux)
    return LightCurve(time, flux + rng.normal(size=time.size) * err, err, band="W149")


def test_channels_and_frame():
    net_input = preprocess(_event(), SPEC)
    assert net_input.values.shape == (len(CHANNELS), SPEC.n_bins)
    assert net_input.values.dtype == np.float32
    assert abs(net_input.t_ref - 2461480.0) < 1.0
    value, _, mask, tau = net_input.values
    assert set(np.unique(mask)) <= {0.0, 1.0}
    # the peak bin sits at the centre and is where the excess is largest
    peak = np.argmax(np.where(mask > 0, value, -np.inf))
    assert abs(tau[peak]) < 0.1
    # blending is divided out with the single-lens fluxes: the peak value is asinh(A - 1) of
    # that model's peak magnification (blending and u_0 trade off, so not the true A)
    estimate = net_input.single_lens
    assert np.sinh(value[peak]) + 1 == pytest.approx(pspl_magnification(0.0, estimate.u_0), rel=0.1)


def test_gaps_are_masked():
    keep = (SEASON < 2461478.0) | (SEASON > 2461479.5)
    net_input = preprocess(_event(time=SEASON[keep]), SPEC)
    tau = net_input.values[3] * SPEC.window
    bin_t = net_input.t_ref + tau * net_input.t_scale
    half = SPEC.window * net_input.t_scale / SPEC.n_bins
    inside_gap = (bin_t - half > 2461478.0) & (bin_t + half < 2461479.5)
    assert inside_gap.any()
    assert np.all(net_input.values[2][inside_gap] == 0)
    assert np.all(net_input.values[0][inside_gap] == 0)


def test_identical_for_a_light_curve_read_back_from_a_file(tmp_path):
    lc = _event()
    mag, mag_err = flux_to_mag(lc.flux, lc.flux_err)
    path = tmp_path / "event.dat"
    np.savetxt(path, np.column_stack([lc.time, mag, mag_err]), fmt="%.12f")
    back = lightcurve_from_arrays(*np.loadtxt(path).T, phot_fmt="mag", band="W149")
    a, b = preprocess(lc, SPEC), preprocess(back, SPEC)
    assert a.t_ref == pytest.approx(b.t_ref, abs=1e-8)
    np.testing.assert_allclose(a.values, b.values, atol=1e-5)


def test_several_datasets_are_combined():
    full = _event()
    half_a = full.select(np.arange(full.n_points) % 2 == 0)
    half_b = full.select(np.arange(full.n_points) % 2 == 1)
    joint = preprocess([half_a, half_b], SPEC)
    assert joint.values[2].sum() >= preprocess(half_a, SPEC).values[2].sum()


def test_too_few_points_near_the_event():
    short = _event(time=SEASON[:8])
    with pytest.raises(InputDataError, match="epoch"):
        preprocess(short, SPEC)


def test_spec_round_trip_and_validation():
    assert PreprocessSpec.from_dict(SPEC.to_dict()) == SPEC
    with pytest.raises(ConfigurationError):
        PreprocessSpec(n_bins=4)
    with pytest.raises(ConfigurationError, match="unknown"):
        PreprocessSpec.from_dict({"n_bins": 64, "colour": 1})


def test_residual_channel_is_noise_for_a_single_lens_and_marks_a_planet():
    from mulens_npe.preprocess import RESIDUAL
    from mulens_npe.simulate.magnification import binary_magnification

    spec = PreprocessSpec(n_bins=128, residual=True)
    assert spec.channels == (*CHANNELS, RESIDUAL)
    single = preprocess(_event(u_0=0.3), spec).values
    assert single.shape == (len(CHANNELS) + 1, 128)
    np.testing.assert_array_equal(single[:4], preprocess(_event(u_0=0.3), SPEC).values)
    filled = single[2] > 0
    # asinh of a bin's summed normalised residual / sqrt(n): ~N(0, 1) for a single lens
    assert np.std(np.sinh(single[4][filled])) < 1.6
    # a planetary caustic crossed 10 days after the peak: the residual channel lights up there
    params = {"t_0": 2461480.0, "u_0": 0.3, "t_E": 12.0, "rho": 1e-3, "s": 1.6, "q": 3e-3}
    params["alpha"] = 180.0 - np.degrees(np.arctan2(0.3, 1.6 - 1 / 1.6))
    magnification = binary_magnification(params, SEASON)[0]
    rng = np.random.default_rng(0)
    flux = 8.0 * magnification + 4.0
    err = 0.02 * np.sqrt(flux)
    planet = LightCurve(SEASON, flux + rng.normal(size=SEASON.size) * err, err, band="W149")
    net_input = preprocess(planet, spec)
    significance = np.abs(np.sinh(net_input.values[4]))
    assert significance.max() > 10
    # ... at the bin where the binary departs most from the single lens
    single_lens = pspl_magnification((SEASON - 2461480.0) / 12.0, 0.3)
    t_worst = SEASON[np.argmax(np.abs(magnification - single_lens))]
    tau_worst = (t_worst - net_input.t_ref) / net_input.t_scale
    tau = net_input.values[3] * spec.window
    bin_width = 2 * spec.window / spec.n_bins
    assert abs(tau[np.argmax(significance)] - tau_worst) < 2 * bin_width


def test_residual_spec_round_trip_and_channel_check():
    spec = PreprocessSpec(n_bins=64, residual=True)
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    assert "residual" not in PreprocessSpec(n_bins=64).to_dict()
    with pytest.raises(ConfigurationError, match="channels"):
        PreprocessSpec.from_dict({**PreprocessSpec(n_bins=64).to_dict(), "residual": True})
    with pytest.raises(ConfigurationError, match="residual must be"):
        PreprocessSpec(residual=1)
