"""Augmentation: fluxes from source magnitude and blending, noise that follows its error bars,
saturation, gaps and dropouts, seeds, LightCurve output and a file MulensModel reads back."""

from __future__ import annotations

import doctest
import importlib
import json
import warnings
from pathlib import Path

import MulensModel as mm
import numpy as np
import pytest

from mulens_npe import LightCurve
from mulens_npe.errors import DataWarning, InputDataError
from mulens_npe.simulate import (
    W149NoiseModel,
    augment,
    binary_magnification,
    cadence_mask,
    roman_epochs,
    simulated_lightcurve,
    write_lightcurve,
)

TIMES = roman_epochs()
PLANET = dict(t_0=2461480.0, u_0=0.1, t_E=20.0, rho=1e-3, s=1.1, q=1e-3, alpha=60.0)


@pytest.fixture(scope="module")
def magnification():
    return binary_magnification(PLANET, TIMES)[0]


NO_CADENCE_LOSS = dict(n_gaps=(0, 0), dropout=(0.0, 0.0))


def test_flux_is_source_times_magnification_plus_blend(magnification):
    time, flux, flux_err, info = augment(
        magnification, TIMES, np.random.default_rng(0), source_mag=20.0, f_s=0.4, **NO_CADENCE_LOSS
    )
    np.testing.assert_array_equal(time, TIMES)
    assert info["flux_source"] == pytest.approx(10 ** (-0.4 * (20.0 - 22.0)))
    assert info["flux_source"] / (info["flux_source"] + info["flux_blend"]) == pytest.approx(0.4)
    truth = info["flux_source"] * magnification + info["flux_blend"]
    pulls = (flux - truth) / flux_err
    assert abs(pulls.mean()) < 4 / np.sqrt(pulls.size)
    assert pulls.std() == pytest.approx(1.0, abs=0.03)
    np.testing.assert_allclose(flux_err, W149NoiseModel().flux_err(truth))


def test_error_is_one_percent_at_21_15():
    flat = np.ones(TIMES.size)
    _, flux, flux_err, info = augment(
        flat, TIMES, np.random.default_rng(1), source_mag=21.15, f_s=1.0, **NO_CADENCE_LOSS
    )
    # reported errors are those of the true magnitude, 21.15
    np.testing.assert_allclose(flux_err / info["flux_source"] * 2.5 / np.log(10), 0.01)
    assert np.std(flux / info["flux_source"]) * 2.5 / np.log(10) == pytest.approx(0.01, rel=0.05)


def test_source_magnitude_and_blending_are_drawn_from_the_flux_prior(magnification):
    mags, fractions = [], []
    for seed in range(200):
        info = augment(magnification, TIMES, np.random.default_rng(seed))[3]
        mags.append(info["source_mag"])
        fractions.append(info["f_s"])
    assert 18.0 <= min(mags) and max(mags) <= 25.0 and np.std(mags) > 1.5
    assert 0.05 <= min(fractions) and max(fractions) <= 1.0


def test_saturated_points_are_removed(magnification):
    noise = W149NoiseModel()
    time, _, _, info = augment(
        magnification, TIMES, np.random.default_rng(2), source_mag=16.0, f_s=1.0, **NO_CADENCE_LOSS
    )
    true_mag = 16.0 - 2.5 * np.log10(magnification)
    saturated = true_mag < noise.saturation_mag
    assert saturated.sum() > 10 and info["n_saturated"] == saturated.sum()
    np.testing.assert_array_equal(info["keep"], ~saturated)
    np.testing.assert_array_equal(time, TIMES[~saturated])


def test_gaps_and_dropouts():
    rng = np.random.default_rng(3)
    keep, info = cadence_mask(TIMES, rng, n_gaps=(2, 2), gap_days=(3.0, 3.0), dropout=(0.0, 0.0))
    assert len(info["gaps"]) == 2
    for start, end in info["gaps"]:
        assert end - start == pytest.approx(3.0)
        assert not np.any(keep & (TIMES >= start) & (TIMES <= end))
    outside = np.ones(TIMES.size, bool)
    for start, end in info["gaps"]:
        outside &= (TIMES < start) | (TIMES > end)
    np.testing.assert_array_equal(keep, outside)
    keep, info = cadence_mask(TIMES, rng, n_gaps=(0, 0), dropout=(0.3, 0.3))
    assert info["dropout"] == 0.3 and keep.mean() == pytest.approx(0.7, abs=0.02)


def test_default_cadence_losses_stay_in_their_ranges():
    for seed in range(50):
        keep, info = cadence_mask(TIMES, np.random.default_rng(seed))
        assert 0 <= len(info["gaps"]) <= 3 and 0.0 <= info["dropout"] <= 0.3
        assert all(0.5 <= end - start <= 5.0 for start, end in info["gaps"])
        assert keep.mean() > 0.4


def test_same_seed_same_light_curve(magnification):
    a = augment(magnification, TIMES, np.random.default_rng(5))
    b = augment(magnification, TIMES, np.random.default_rng(5))
    c = augment(magnification, TIMES, np.random.default_rng(6))
    for x, y in zip(a[:3], b[:3], strict=True):
        np.testing.assert_array_equal(x, y)
    assert a[3]["gaps"] == b[3]["gaps"] and a[3]["source_mag"] == b[3]["source_mag"]
    assert a[3]["source_mag"] != c[3]["source_mag"]


def test_fixing_the_flux_keeps_the_noise_realisation(magnification):
    drawn = augment(magnification, TIMES, np.random.default_rng(9), **NO_CADENCE_LOSS)
    fixed = augment(
        magnification,
        TIMES,
        np.random.default_rng(9),
        source_mag=drawn[3]["source_mag"],
        f_s=drawn[3]["f_s"],
        **NO_CADENCE_LOSS,
    )
    np.testing.assert_array_equal(drawn[1], fixed[1])


def test_options_may_be_given_as_dicts(magnification):
    noise = W149NoiseModel(floor=0.002)
    as_object = augment(magnification, TIMES, np.random.default_rng(4), noise=noise)
    as_dict = augment(magnification, TIMES, np.random.default_rng(4), noise=noise.to_dict())
    np.testing.assert_array_equal(as_object[2], as_dict[2])
    info = augment(
        magnification, TIMES, np.random.default_rng(4), flux_prior={"source_mag": [19.0, 19.5]}
    )[3]
    assert 19.0 <= info["source_mag"] <= 19.5


def test_simulated_lightcurve(magnification):
    lc = simulated_lightcurve(magnification, TIMES, np.random.default_rng(7), meta=PLANET)
    assert isinstance(lc, LightCurve) and lc.band == "W149"
    assert lc.meta["simulated"] and lc.meta["s"] == 1.1 and "source_mag" in lc.meta
    assert "keep" not in lc.meta
    assert 0.4 * TIMES.size < lc.n_points <= TIMES.size
    with pytest.raises(InputDataError, match="saturation"):
        simulated_lightcurve(magnification, TIMES, np.random.default_rng(7), source_mag=10.0)


def test_written_file_reads_back_in_mulensmodel(magnification, tmp_path):
    lc = simulated_lightcurve(
        magnification, TIMES, np.random.default_rng(8), meta=PLANET, source_mag=19.0, f_s=0.8
    )
    path = tmp_path / "event.dat"
    write_lightcurve(lc, path)
    data = mm.MulensData(file_name=str(path), phot_fmt="mag")
    np.testing.assert_allclose(data.time, lc.time, atol=1e-6)
    np.testing.assert_allclose(data.mag, lc.mag, atol=1e-5)
    np.testing.assert_allclose(data.err_mag, lc.mag_err, atol=1e-5)
    header = [line for line in path.read_text().splitlines() if line.startswith("# truth: ")]
    truth = json.loads(header[0].removeprefix("# truth: "))
    assert {k: truth[k] for k in PLANET} == PLANET
    assert truth["source_mag"] == 19.0 and truth["f_s"] == 0.8


def test_points_without_a_magnitude_are_left_out_of_the_file(tmp_path):
    lc = LightCurve(
        2461480.0 + np.arange(4.0), np.array([1.0, -0.1, 2.0, 3.0]), np.full(4, 0.5), band="W149"
    )
    path = tmp_path / "negative.dat"
    with pytest.warns(DataWarning, match="1 point"):
        write_lightcurve(lc, path, params={"t_0": 2461481.0})
    assert np.loadtxt(path).shape == (3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_lightcurve(lc.select(lc.flux > 0), tmp_path / "positive.dat")


def test_docstring_examples():
    # the package exports the function augment under the module's name
    module = importlib.import_module("mulens_npe.simulate.augment")
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("name", ["roman_planet_example", "roman_binary_example"])
def test_example_events_are_consistent_with_their_truth(name):
    """The shipped example files: MulensModel reads them and their true model fits (chi2/N ~ 1)."""
    folder = Path(__file__).resolve().parent.parent / "examples" / "data"
    truth = json.loads((folder / f"{name}.truth.json").read_text())
    data = mm.MulensData(file_name=str(folder / f"{name}.dat"), phot_fmt="mag")
    assert data.n_epochs == truth["n_points"]
    model = mm.Model(truth["parameters"])
    model.set_magnification_methods([data.time[0] - 1, "VBBL", data.time[-1] + 1])
    event = mm.Event(datasets=data, model=model)
    event.fix_source_flux = {data: truth["flux_source"]}
    event.fix_blend_flux = {data: truth["flux_blend"]}
    assert event.get_chi2() / data.n_epochs == pytest.approx(
        1.0, abs=5 * np.sqrt(2 / data.n_epochs)
    )
