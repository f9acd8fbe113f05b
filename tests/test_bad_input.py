"""Bad input: every case raises InputDataError (or ConfigurationError for options) naming what
is wrong, or is repaired with a DataWarning that says what was done."""

from __future__ import annotations

import re
from pathlib import Path

import astropy.units as u
import MulensModel as mm
import numpy as np
import pytest
from astropy.table import Table

from mulens_npe import (
    ConfigurationError,
    DataWarning,
    InputDataError,
    LightCurve,
    MulensNPEError,
    as_lightcurves,
)


def raises_input_error(*fragments: str):
    """pytest.raises for InputDataError whose message contains every fragment."""
    pattern = "".join(f"(?=.*{re.escape(fragment)})" for fragment in fragments)
    return pytest.raises(InputDataError, match=re.compile(pattern, re.DOTALL))


def test_input_data_error_is_a_value_error_and_a_mulens_npe_error():
    assert issubclass(InputDataError, ValueError)
    assert issubclass(InputDataError, MulensNPEError)
    assert issubclass(ConfigurationError, MulensNPEError)


# --- invalid values ---------------------------------------------------------------------------


@pytest.mark.parametrize("column, index", [("time", 0), ("mag", 1), ("mag_err", 2)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_name_column_and_row(simple_mag, column, index, bad):
    columns = [c.copy() for c in simple_mag]
    columns[index][7] = bad
    with raises_input_error(f"column {column!r} is NaN/inf at row(s) 7", "drop_invalid=True"):
        as_lightcurves(tuple(columns), phot_fmt="mag")


@pytest.mark.parametrize("bad", [0.0, -0.01])
def test_non_positive_errors_are_refused(simple_mag, bad):
    time, mag, err = (c.copy() for c in simple_mag)
    err[[3, 4]] = bad
    with raises_input_error("column 'mag_err' is <= 0 at row(s) 3, 4"):
        as_lightcurves((time, mag, err))


def test_nan_error_in_a_table_names_the_table_column(simple_mag):
    time, mag, err = (c.copy() for c in simple_mag)
    err[2] = np.nan
    table = Table({"HJD": time, "Imag": mag, "e_Imag": err})
    with raises_input_error("column 'e_Imag' is NaN/inf at row(s) 2"):
        as_lightcurves(table)


def test_drop_invalid_drops_rows_with_a_warning(simple_mag):
    time, mag, err = (c.copy() for c in simple_mag)
    mag[0], err[5], err[6] = np.nan, 0.0, -1.0
    with pytest.warns(DataWarning, match="dropped 3 invalid row"):
        (lc,) = as_lightcurves((time, mag, err), drop_invalid=True)
    assert lc.n_points == 27
    np.testing.assert_array_equal(lc.time, np.delete(time, [0, 5, 6]))


def test_mulensdata_with_nan_follows_the_same_policy(simple_mag):
    time, mag, err = (c.copy() for c in simple_mag)
    mag[4] = np.nan
    data = mm.MulensData(data_list=[time, mag, err])
    with raises_input_error("column 'flux' is NaN/inf at row(s) 4"):
        as_lightcurves(data)
    with pytest.warns(DataWarning):
        (lc,) = as_lightcurves(data, drop_invalid=True)
    assert lc.n_points == 29


# --- order and repeated epochs ----------------------------------------------------------------


def test_unsorted_times_are_sorted_with_a_warning(simple_mag):
    time, mag, err = simple_mag
    order = np.random.default_rng(1).permutation(time.size)
    with pytest.warns(DataWarning, match="not sorted"):
        (lc,) = as_lightcurves((time[order], mag[order], err[order]))
    assert np.all(np.diff(lc.time) > 0)
    np.testing.assert_array_equal(lc.time, time)
    np.testing.assert_allclose(lc.mag, mag, rtol=1e-12)  # values moved with their times


def test_repeated_epochs_are_merged_into_the_weighted_mean(simple_mag):
    time = 2460000.0 + np.arange(12.0)
    time[5] = time[4]
    flux = np.full(12, 100.0)
    flux[4], flux[5] = 10.0, 40.0
    err = np.full(12, 1.0)
    err[4], err[5] = 1.0, 2.0
    with pytest.warns(DataWarning, match="1 repeated epoch"):
        (lc,) = as_lightcurves((time, flux, err), phot_fmt="flux")
    assert lc.n_points == 11
    weights = np.array([1.0, 0.25])
    assert lc.flux[4] == pytest.approx(np.sum(weights * [10.0, 40.0]) / weights.sum())  # 16
    assert lc.flux_err[4] == pytest.approx(1.0 / np.sqrt(weights.sum()))


# --- too little data ----------------------------------------------------------------------------


def test_fewer_points_than_min_points(simple_mag):
    short = tuple(c[:9] for c in simple_mag)
    with raises_input_error("9 usable epoch(s), at least 10 are needed"):
        as_lightcurves(short)
    with raises_input_error("30 usable epoch(s), at least 50"):
        as_lightcurves(simple_mag, min_points=50)
    assert as_lightcurves(short, min_points=5)[0].n_points == 9


def test_min_points_counts_after_dropping_invalid_rows(simple_mag):
    time, mag, err = (c[:11].copy() for c in simple_mag)
    mag[:2] = np.nan
    with pytest.warns(DataWarning), raises_input_error("9 usable epoch(s)"):
        as_lightcurves((time, mag, err), drop_invalid=True)


@pytest.mark.parametrize(
    "empty, fragment",
    [
        ((np.array([]), np.array([]), np.array([])), "empty"),
        ([], "empty"),
        (Table({"time": [], "mag": [], "mag_err": []}), "table is empty"),
    ],
)
def test_empty_input(empty, fragment):
    with raises_input_error(fragment):
        as_lightcurves(empty)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.dat"
    path.write_text("# nothing observed yet\n")
    with raises_input_error("'empty.dat'", "no data rows"):
        as_lightcurves(path)


def test_all_epochs_bad_in_mulensdata(simple_mag):
    data = mm.MulensData(data_list=list(simple_mag), bad=np.ones(30, dtype=bool))
    with raises_input_error("all 30 epochs are flagged bad"):
        as_lightcurves(data)


def test_event_without_datasets():
    with raises_input_error("Event has no datasets"):
        as_lightcurves(mm.Event())


# --- magnitudes and fluxes confused -----------------------------------------------------------


def test_fluxes_given_as_magnitudes(simple_mag):
    time, mag, err = simple_mag
    flux = 10.0 ** (0.4 * (27.4 - mag))  # ~1500 at pyLIMA's zero point
    with raises_input_error("outside (-5.0, 40.0) mag", "phot_fmt='flux'"):
        as_lightcurves((time, flux, 0.01 * flux), phot_fmt="mag")


def test_difference_fluxes_given_as_magnitudes(moa_path, moa_columns):
    with raises_input_error("outside", "Are these fluxes?", "phot_fmt='flux'"):
        as_lightcurves(moa_columns, phot_fmt="mag")
    # In a file or table the column name already says "flux".
    with raises_input_error("column 'Relative_Flux' looks like flux", "phot_fmt='flux'"):
        as_lightcurves(moa_path, phot_fmt="mag", value_column="Relative_Flux")


def test_magnitudes_given_as_flux_column_names(simple_mag):
    table = Table(dict(zip(("time", "mag", "mag_err"), simple_mag, strict=True)))
    with raises_input_error("no flux column", "magnitude column(s) ['mag']", "phot_fmt"):
        as_lightcurves(table, phot_fmt="flux")
    with raises_input_error("column 'mag' looks like magnitude", "phot_fmt='mag'"):
        as_lightcurves(table, phot_fmt="flux", value_column="mag")


def test_magnitudes_given_as_flux_by_unit(simple_mag):
    time, mag, err = simple_mag
    table = Table({"time": time, "W149": mag * u.mag, "sigma": err * u.mag})
    with raises_input_error("column 'W149' looks like magnitude"):
        as_lightcurves(table, phot_fmt="flux", value_column="W149")


EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "data"


@pytest.mark.parametrize(
    "name, fragments",
    [
        # a survey season: baseline on both sides of the event, nothing above the median
        ("WFIRST_1827.dat", ["values 18.23 to 19.79", "5722 points > 5 sigma below the median, 0 above"]),
        # the event fills the data: the median lies inside it, the dip reaches much further
        ("roman_planet_example.dat", ["the lowest percentile lies 605 sigma below it, the highest 101"]),
    ],
)  # fmt: skip
def test_magnitudes_read_as_flux_from_a_file_are_refused(wfirst_path, name, fragments):
    path = wfirst_path if name == wfirst_path.name else EXAMPLES / name
    with raises_input_error(
        f"file {name!r}", "column 'col2'", *fragments, "looks like magnitudes",
        "(brighter = smaller)", "phot_fmt='mag'", "--phot-fmt mag",
    ):  # fmt: skip
        as_lightcurves(path, phot_fmt="flux")
    assert as_lightcurves(path, phot_fmt="mag")[0].meta["phot_fmt"] == "mag"


def test_magnitudes_passed_as_flux_arrays_are_refused(ogle_columns):
    time, mag, err = ogle_columns
    with raises_input_error(
        "arrays 'unknown'", "column 'flux'", "values 17.39 to 19.58",
        "60 points > 5 sigma below the median, 0 above", "the dip spans epochs 2452811.69-",
        "looks like magnitudes", "phot_fmt='mag'",
    ):  # fmt: skip
        as_lightcurves((time, mag, err), phot_fmt="flux")
    data = mm.MulensData(data_list=[time, mag, err], phot_fmt="flux")
    with raises_input_error("MulensData", "Create the MulensData with phot_fmt='mag'"):
        as_lightcurves(data)


def test_cli_fit_with_phot_fmt_flux_on_magnitudes_exits_2(wfirst_path, tmp_path, capsys):
    from mulens_npe.cli import main

    # The data are read before the model is loaded: no model is needed to see the error.
    argv = ["fit", str(wfirst_path), "--phot-fmt", "flux", "--model", str(tmp_path / "none")]
    status = main([*argv, "--quiet", "--out", str(tmp_path / "out")])
    stderr = capsys.readouterr().err
    assert status == 2
    assert stderr.startswith("mulens-npe fit: error: file 'WFIRST_1827.dat': column 'col2'")
    assert "looks like magnitudes" in stderr and "--phot-fmt mag" in stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("blend_fraction", [0.0, 0.5, 0.95])
@pytest.mark.parametrize(
    "t_E, window",
    [
        (20.0, (-60.0, 60.0)),  # the whole event and its baseline
        (20.0, (-3.0, 3.0)),  # only the peak
        (20.0, (-0.5, 4.0)),  # the peak and one wing
        (300.0, (-20.0, 100.0)),  # a plateau that declines at one end: more points low than high
        (300.0, (-100.0, 20.0)),
    ],
)
def test_microlensing_flux_curves_in_the_magnitude_range_are_accepted(blend_fraction, t_E, window):
    # fluxes at zero point 22 of a 21 mag star (2.5) lie in [-5, 40] like magnitudes, but
    # a dip in them, if any, is at an end of the data, not between baselines
    rng = np.random.default_rng(7)
    time = 2460000.0 + np.linspace(*window, 600)
    baseline = 10 ** (0.4 * (22.0 - 21.0))
    model = mm.Model({"t_0": 2460000.0, "u_0": 0.1 if t_E < 100 else 0.5, "t_E": t_E})
    flux = baseline * ((1 - blend_fraction) * model.get_magnification(time) + blend_fraction)
    err = 0.01 * np.sqrt(flux * baseline)
    observed = flux + err * rng.standard_normal(time.size)
    observed[rng.choice(time.size, 6, replace=False)] -= 20 * err[0]  # low outliers
    assert -5 < observed.min() and observed.max() < 40
    (lc,) = as_lightcurves((time, observed, err), phot_fmt="flux")
    assert lc.n_points == time.size


def test_real_flux_curves_are_accepted(moa_path, ogle_columns):
    # OB03235 MOA difference flux as MulensModel reads it, and the OGLE magnitudes of the
    # same event converted to flux relative to their baseline (values 1 to 8)
    assert as_lightcurves(moa_path, phot_fmt="flux")[0].n_points == 1250
    time, mag, err = ogle_columns
    relative = 10 ** (0.4 * (np.max(mag) - mag))
    (lc,) = as_lightcurves((time, relative, relative * err / 1.0857), phot_fmt="flux")
    assert lc.n_points == time.size


@pytest.mark.parametrize("sigma", [0.001, 0.3])
def test_flat_and_noisy_faint_flux_curves_are_accepted(sigma):
    time = 2460000.0 + np.arange(500.0) / 5.0
    flux = 1.0 + sigma * np.random.default_rng(4).standard_normal(time.size)
    flux[[40, 200, 201, 350]] -= 10 * sigma  # isolated bad points
    (lc,) = as_lightcurves((time, flux, np.full(time.size, sigma)), phot_fmt="flux")
    assert lc.n_points == time.size


def test_negative_median_flux_needs_allow_nonpositive_flux(simple_mag):
    time, _, _ = simple_mag
    flux = np.random.default_rng(3).normal(-5.0, 10.0, time.size)
    err = np.full(time.size, 10.0)
    with raises_input_error("median of column 'flux'", "allow_nonpositive_flux=True"):
        as_lightcurves((time, flux, err), phot_fmt="flux")
    (lc,) = as_lightcurves((time, flux, err), phot_fmt="flux", allow_nonpositive_flux=True)
    assert lc.n_points == time.size
    # A MulensData in flux is taken as the user fits it: negative fluxes are allowed.
    assert as_lightcurves(mm.MulensData(data_list=[time, flux, err], phot_fmt="flux"))


# --- columns ----------------------------------------------------------------------------------


def test_unknown_column_name_lists_the_columns(simple_mag):
    table = Table(dict(zip(("BJD", "mag", "mag_err"), simple_mag, strict=True)))
    with raises_input_error("time_column='HJD' is not a column", "['BJD', 'mag', 'mag_err']"):
        as_lightcurves(table, time_column="HJD")


def test_no_recognisable_columns(simple_mag):
    table = Table(dict(zip(("a", "b", "c"), simple_mag, strict=True)))
    with raises_input_error("no time column found among ['a', 'b', 'c']", "time_column="):
        as_lightcurves(table)
    with raises_input_error("no column is named or has a unit", "phot_fmt", "['a', 'b', 'c']"):
        as_lightcurves(table, time_column="a")
    with raises_input_error("cannot tell whether column 'b'", "phot_fmt"):
        as_lightcurves(table, time_column="a", value_column="b")


def test_ambiguous_columns_list_the_candidates(simple_mag):
    time, mag, err = simple_mag
    table = Table({"HJD": time, "BJD": time, "mag": mag, "mag_err": err})
    with raises_input_error("several possible time columns ['HJD', 'BJD']", "time_column="):
        as_lightcurves(table)
    both = Table({"time": time, "mag": mag, "mag_err": err, "flux": 10**-mag, "flux_err": err})
    with raises_input_error("both magnitude and flux columns", "phot_fmt="):
        as_lightcurves(both)
    two_errors = Table({"time": time, "mag": mag, "err": err, "sigma": err})
    with raises_input_error("several possible uncertainty columns", "err_column="):
        as_lightcurves(two_errors)


def test_time_column_with_a_non_time_unit(simple_mag):
    time, mag, err = simple_mag
    table = Table({"time": time * u.m, "mag": mag, "mag_err": err})
    with raises_input_error("time column 'time' has unit 'm'"):
        as_lightcurves(table)


def test_non_numeric_column(simple_mag):
    time, mag, err = simple_mag
    table = Table({"time": time, "mag": mag.astype(str), "mag_err": err})
    table["mag"][3] = "n/a"
    with raises_input_error("column 'mag' is not numeric"):
        as_lightcurves(table)


def test_mismatched_lengths(simple_mag):
    time, mag, err = simple_mag
    with raises_input_error("different lengths"):
        as_lightcurves((time, mag[:-1], err))


# --- times ------------------------------------------------------------------------------------


def test_short_times_need_time_offset(simple_mag):
    time, mag, err = simple_mag
    with raises_input_error("column 'time' starts at 10004.89567", "time_offset=2450000"):
        as_lightcurves((time - 2450000.0, mag, err))
    table = Table({"HJD-2450000": time - 2450000.0, "mag": mag, "mag_err": err})
    with raises_input_error("column 'HJD-2450000'", "not a full JD/BJD/HJD"):
        as_lightcurves(table)
    with raises_input_error("time_offset"):  # MulensData read without add_2450000
        as_lightcurves(mm.MulensData(data_list=[time - 2450000.0, mag, err]))


# --- files ------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with raises_input_error("no such file"):
        as_lightcurves(tmp_path / "missing.dat")


def test_file_with_two_columns(tmp_path):
    path = tmp_path / "two.dat"
    np.savetxt(path, np.column_stack([2460000.0 + np.arange(12.0), np.full(12, 19.0)]))
    with raises_input_error("'two.dat'", "fewer than 3 columns"):
        as_lightcurves(path)


def test_file_that_is_not_a_table_of_numbers(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is\nnot photometry at all\n")
    with raises_input_error("'notes.txt'", "not a table of numbers"):
        as_lightcurves(path)


# --- types and options ------------------------------------------------------------------------


@pytest.mark.parametrize("obj", [{"time": [1, 2]}, 42, None, object()])
def test_unsupported_types_list_what_is_accepted(obj):
    with raises_input_error(type(obj).__qualname__, "MulensModel.MulensData", "astropy Table"):
        as_lightcurves(obj)


def test_wrong_array_shapes(simple_mag):
    with raises_input_error("shape (N, 3)", "got shape (3, 30)"):
        as_lightcurves(np.vstack(simple_mag))
    with raises_input_error("exactly 3 columns", "got 2"):
        as_lightcurves(simple_mag[:2])
    with raises_input_error("mixes arrays and other objects"):
        as_lightcurves([simple_mag[0], "file.dat", simple_mag[2]])


def test_unknown_option_is_named(simple_mag):
    with pytest.raises(ConfigurationError, match=r"unknown option\(s\) \['phot_format'\]"):
        as_lightcurves(simple_mag, phot_format="mag")


@pytest.mark.parametrize(
    "option, fragment",
    [
        ({"phot_fmt": "counts"}, "phot_fmt must be 'mag' or 'flux'"),
        ({"min_points": 0}, "min_points must be an integer >= 1"),
        ({"time_offset": float("nan")}, "time_offset must be a finite number"),
        ({"drop_invalid": "yes"}, "drop_invalid must be True or False"),
        ({"band": 149}, "band must be a string"),
    ],
)
def test_bad_option_values(simple_mag, option, fragment):
    with pytest.raises(ConfigurationError, match=re.escape(fragment)):
        as_lightcurves(simple_mag, **option)


def test_lightcurve_itself_refuses_bad_arrays():
    with pytest.raises(InputDataError, match="strictly increasing"):
        LightCurve(np.array([2460001.0, 2460000.0]), np.ones(2), np.ones(2))
