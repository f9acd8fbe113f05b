"""The Roman observing model: epochs, the W149 noise law (0.01 mag at 21.15, floor,
saturation) and the source-flux prior."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

import mulens_npe.simulate.roman
from mulens_npe.errors import ConfigurationError
from mulens_npe.photometry import mag_to_flux
from mulens_npe.simulate import (
    ROMAN_SEASON_START,
    FluxPrior,
    W149NoiseModel,
    roman_dc2026_epochs,
    roman_epochs,
)


def test_roman_epochs_follow_the_2018_design():
    times = roman_epochs()
    steps = np.diff(times) * 1440.0
    np.testing.assert_allclose(steps, 15.16, rtol=1e-6)
    assert times[0] == ROMAN_SEASON_START
    assert times[-1] - times[0] <= 72.0 and times[-1] - times[0] > 72.0 - 15.16 / 1440
    short = roman_epochs(2460000.0, duration=1.0, cadence_min=60.0)
    np.testing.assert_allclose(short, 2460000.0 + np.arange(25) / 24)
    with pytest.raises(ConfigurationError):
        roman_epochs(cadence_min=0.0)


def test_default_season_start_is_the_data_challenge_season_1():
    assert roman_dc2026_epochs(1)[0] == ROMAN_SEASON_START


@pytest.mark.parametrize("season", range(1, 7))
def test_dc2026_epochs(season):
    times = roman_dc2026_epochs(season)
    assert times.size > 8000 and np.all(np.diff(times) > 0) and times[0] > 2.46e6
    assert times[-1] - times[0] == pytest.approx(70.74, abs=0.05)
    assert np.median(np.diff(times)) * 1440 == pytest.approx(12.14, abs=0.01)


def test_dc2026_refuses_unknown_seasons():
    for season in (0, 7, "1"):
        with pytest.raises(ConfigurationError, match="season"):
            roman_dc2026_epochs(season)


def test_noise_is_one_percent_at_21_15():
    noise = W149NoiseModel()
    assert noise.mag_err(21.15) == pytest.approx(0.01, rel=1e-12)
    assert W149NoiseModel(floor=0.0).mag_err(21.15) == pytest.approx(0.01, rel=1e-12)


def test_noise_law_shape():
    noise = W149NoiseModel()
    mags = np.linspace(12.0, 26.0, 200)
    errors = noise.mag_err(mags)
    assert np.all(np.diff(errors) > 0)
    # bright: the 1 mmag systematic floor dominates
    assert noise.mag_err(12.0) == pytest.approx(0.001, rel=0.01)
    assert np.all(errors >= 0.001)
    # faint: background-limited, sigma_mag ~ 1 / flux
    assert noise.mag_err(26.0) / noise.mag_err(25.0) == pytest.approx(10**0.4, rel=0.1)
    # in between: photon noise from the star, sigma_mag ~ flux^-1/2 when b << f
    bright = W149NoiseModel(floor=0.0)
    assert bright.mag_err(15.0) / bright.mag_err(17.5) == pytest.approx(10**-0.5, rel=0.05)


def test_flux_err_is_the_mag_err_in_flux():
    noise = W149NoiseModel()
    mags = np.array([15.0, 19.0, 21.15, 24.0])
    flux, flux_err = mag_to_flux(mags, noise.mag_err(mags))
    np.testing.assert_allclose(noise.flux_err(flux), flux_err, rtol=1e-12)


def test_saturation():
    noise = W149NoiseModel()
    np.testing.assert_array_equal(noise.saturated([14.0, 14.79, 14.81, 20.0]), [1, 1, 0, 0])


def test_observed_noise_follows_the_reported_errors():
    noise = W149NoiseModel()
    flux = mag_to_flux(np.full(20_000, 21.15))[0]
    observed, sigma = noise.observe(flux, np.random.default_rng(0))
    pulls = (observed - flux) / sigma
    assert abs(pulls.mean()) < 4 / np.sqrt(pulls.size)
    assert pulls.std() == pytest.approx(1.0, abs=0.02)
    again, _ = noise.observe(flux, np.random.default_rng(0))
    np.testing.assert_array_equal(observed, again)


def test_noise_model_round_trip_and_validation():
    noise = W149NoiseModel(background_mag=21.0)
    assert W149NoiseModel.from_dict(json.loads(json.dumps(noise.to_dict()))) == noise
    with pytest.raises(ConfigurationError):
        W149NoiseModel(floor=0.02)
    with pytest.raises(ConfigurationError, match="unknown"):
        W149NoiseModel.from_dict({"zeropoint": 27.6})


def test_flux_prior_draws():
    prior = FluxPrior()
    draws = prior.sample(20_000, np.random.default_rng(1))
    assert draws["source_mag"].min() >= 18.0 and draws["source_mag"].max() <= 25.0
    assert draws["f_s"].min() >= 0.05 and draws["f_s"].max() <= 1.0
    assert draws["source_mag"].mean() == pytest.approx(21.5, abs=0.05)
    assert draws["f_s"].mean() == pytest.approx(0.525, abs=0.01)
    total = draws["flux_source"] + draws["flux_blend"]
    np.testing.assert_allclose(draws["flux_source"] / total, draws["f_s"], rtol=1e-12)
    np.testing.assert_allclose(draws["flux_source"], 10 ** (-0.4 * (draws["source_mag"] - 22)))
    again = prior.sample(20_000, np.random.default_rng(1))
    np.testing.assert_array_equal(draws["source_mag"], again["source_mag"])


def test_flux_prior_luminosity_function_slope():
    slope = 0.3
    mags = FluxPrior(mag_slope=slope).sample(50_000, np.random.default_rng(2))["source_mag"]
    counts = np.histogram(mags, bins=7, range=(18.0, 25.0))[0]
    # p(m) ~ 10^(slope m): each magnitude bin holds 10^slope times the previous one
    np.testing.assert_allclose(counts[1:] / counts[:-1], 10**slope, rtol=0.08)


def test_flux_prior_round_trip_and_validation():
    prior = FluxPrior(source_mag=(19.0, 24.0), f_s=(0.1, 0.9), mag_slope=0.2)
    assert FluxPrior.from_dict(json.loads(json.dumps(prior.to_dict()))) == prior
    with pytest.raises(ConfigurationError):
        FluxPrior(f_s=(0.0, 1.0))
    with pytest.raises(ConfigurationError):
        FluxPrior(source_mag=(25.0, 18.0))


def test_docstring_examples():
    assert doctest.testmod(mulens_npe.simulate.roman).failed == 0
