"""Every supported input gives the same LightCurve as every other input of the same data."""

from __future__ import annotations

import subprocess
import sys
import warnings

import astropy.units as u
import MulensModel as mm
import numpy as np
import pytest
from astropy.table import QTable, Table
from astropy.time import Time
from astropy.timeseries import TimeSeries

from mulens_npe import LightCurve, as_lightcurves
from mulens_npe.photometry import mag_to_flux

RTOL = 1e-10

# Reading the OB03235 IPAC files with numpy/MulensModel: skip the "\KEY" and "| name |" lines.
IPAC_COMMENTS = ["\\", "|"]

# pyLIMA fluxes are at zero point 27.4, MulensModel's at 22.
PYLIMA_FLUX_SCALE = 10.0 ** (0.4 * (27.4 - 22.0))

# pyLIMA takes log10 of negative difference fluxes when it builds a Telescope (its own warning).
pylima_log_warning = pytest.mark.filterwarnings(
    "ignore:invalid value encountered in log10:RuntimeWarning"
)


def assert_same(lc: LightCurve, other: LightCurve, rtol: float = RTOL) -> None:
    assert lc.n_points == other.n_points
    np.testing.assert_allclose(lc.time, other.time, rtol=1e-15, atol=0)
    np.testing.assert_allclose(lc.flux, other.flux, rtol=rtol, atol=0)
    np.testing.assert_allclose(lc.flux_err, other.flux_err, rtol=rtol, atol=0)


def only(lightcurves: list[LightCurve]) -> LightCurve:
    assert len(lightcurves) == 1
    return lightcurves[0]


# --- OGLE magnitudes and MOA difference fluxes of OGLE-2003-BLG-235, from every source -------


def test_ogle_is_the_same_from_file_mulensdata_table_and_arrays(ogle_path, ogle_columns):
    time, mag, err = ogle_columns
    reference = only(as_lightcurves(ogle_path))
    flux, flux_err = mag_to_flux(mag, err)
    np.testing.assert_allclose(reference.flux, flux, rtol=RTOL)
    np.testing.assert_allclose(reference.flux_err, flux_err, rtol=RTOL)
    np.testing.assert_array_equal(reference.time, time)

    sources = {
        "MulensData": mm.MulensData(file_name=str(ogle_path), comments=IPAC_COMMENTS),
        "ipac Table": Table.read(ogle_path, format="ipac"),
        "named Table": Table({"HJD": time, "mag": mag, "mag_err": err}),
        "path str": str(ogle_path),
        "tuple": (time, mag, err),
        "(N, 3) array": np.column_stack(ogle_columns),
    }
    for source in sources.values():
        assert_same(only(as_lightcurves(source, phot_fmt="mag")), reference)


def test_moa_difference_flux_is_the_same_from_file_mulensdata_and_table(moa_path, moa_columns):
    time, flux, err = moa_columns
    reference = only(as_lightcurves(moa_path))
    assert reference.meta["phot_fmt"] == "flux"  # from the column name Relative_Flux
    assert reference.n_points == 1250 and np.sum(reference.flux <= 0) == 403
    np.testing.assert_array_equal(reference.flux, flux)  # zero point 22 -> no rescaling at all

    data = mm.MulensData(file_name=str(moa_path), comments=IPAC_COMMENTS, phot_fmt="flux")
    assert_same(only(as_lightcurves(data)), reference, rtol=0)
    assert_same(only(as_lightcurves(Table.read(moa_path, format="ipac"))), reference, rtol=0)
    assert_same(only(as_lightcurves((time, flux, err), phot_fmt="flux")), reference, rtol=0)


def test_pylima_telescope_in_mag_matches_the_file(ogle_path, ogle_columns, make_telescope):
    telescope = make_telescope("OGLE", ogle_columns, "mag")
    lc = only(as_lightcurves(telescope))
    # Read through pyLIMA's mag column, which holds the user's magnitudes unchanged: exact.
    assert_same(lc, only(as_lightcurves(ogle_path)), rtol=0)
    assert lc.band == "OGLE"
    assert lc.meta["source"] == "pyLIMA.Telescope" and lc.meta["filter"] == "I"


@pylima_log_warning
def test_pylima_telescope_in_flux_drops_negative_fluxes(moa_path, moa_columns, make_telescope):
    time, flux, err = moa_columns
    # A pyLIMA user gives fluxes at pyLIMA's zero point 27.4.
    telescope = make_telescope(
        "MOA", (time, flux * PYLIMA_FLUX_SCALE, err * PYLIMA_FLUX_SCALE), "flux"
    )
    lc = only(as_lightcurves(telescope))
    # pyLIMA computed mag = 27.4 - 2.5 log10(flux) (NaN for flux <= 0) and then dropped every
    # row with a non-finite value: the 403 non-positive fluxes are not in the Telescope. The
    # rest agree with MulensData to a few 1e-15 after flux(27.4) -> mag -> flux(22).
    reference = only(as_lightcurves(moa_path)).select(flux > 0)
    assert lc.n_points == 847
    assert_same(lc, reference, rtol=1e-13)


@pylima_log_warning
def test_pylima_event_gives_one_lightcurve_per_telescope(ogle_columns, moa_columns, make_telescope):
    from pyLIMA import event

    pylima_event = event.Event()
    pylima_event.telescopes.append(make_telescope("OGLE", ogle_columns, "mag"))
    time, flux, err = moa_columns
    moa = make_telescope(
        "MOA", (time, flux * PYLIMA_FLUX_SCALE, err * PYLIMA_FLUX_SCALE), "flux", "R"
    )
    pylima_event.telescopes.append(moa)
    ogle_lc, moa_lc = as_lightcurves(pylima_event)
    assert (ogle_lc.band, moa_lc.band) == ("OGLE", "MOA")
    assert [lc.meta["dataset_index"] for lc in (ogle_lc, moa_lc)] == [0, 1]
    assert moa_lc.meta["source"] == "pyLIMA.Event" and moa_lc.meta["filter"] == "R"


def test_pylima_is_never_imported_by_mulens_npe():
    # The core must import and read data with pyLIMA unavailable (it is optional and GPL).
    code = (
        "import sys; sys.modules['pyLIMA'] = None\n"
        "import numpy as np, mulens_npe\n"
        "t = 2460000.0 + np.arange(12.0)\n"
        "lc, = mulens_npe.as_lightcurves((t, np.full(12, 19.0), np.full(12, 0.01)))\n"
        "assert lc.n_points == 12\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- MulensModel objects --------------------------------------------------------------------


def test_mulensdata_bad_epochs_are_excluded(ogle_columns):
    bad = np.zeros(ogle_columns[0].size, dtype=bool)
    bad[[0, 5, 100]] = True
    data = mm.MulensData(data_list=list(ogle_columns), bad=bad)
    lc = only(as_lightcurves(data))
    assert lc.n_points == bad.size - 3
    assert lc.meta["n_bad_excluded"] == 3
    np.testing.assert_array_equal(lc.time, ogle_columns[0][~bad])
    assert_same(lc, only(as_lightcurves(ogle_columns)).select(~bad))


def test_mulensdata_errorbar_scaling_is_honoured(ogle_columns):
    data = mm.MulensData(data_list=list(ogle_columns))
    data.scale_errorbars(factor=2.0)
    lc = only(as_lightcurves(data))
    time, mag, err = ogle_columns
    np.testing.assert_allclose(lc.flux_err, mag_to_flux(mag, 2.0 * err)[1], rtol=RTOL)


def test_mulensdata_band_and_provenance(ogle_path):
    data = mm.MulensData(
        file_name=str(ogle_path), comments=IPAC_COMMENTS, bandpass="I", telescope="OGLE"
    )
    lc = only(as_lightcurves(data))
    assert lc.band == "OB03235_OGLE.tbl.txt"  # MulensModel's label: the file's base name
    assert lc.meta["source"] == "MulensModel.MulensData"
    assert lc.meta["file_name"] == str(ogle_path)
    assert lc.meta["source_phot_fmt"] == "mag" and lc.meta["input_zero_point"] == 22.0
    assert (lc.meta["bandpass"], lc.meta["telescope"]) == ("I", "OGLE")
    labelled = mm.MulensData(
        data_list=[data.time, data.mag, data.err_mag], plot_properties={"label": "OGLE I"}
    )
    assert only(as_lightcurves(labelled)).band == "OGLE I"
    assert only(as_lightcurves(data, band="I")).band == "I"


def test_mulensmodel_event_gives_one_lightcurve_per_dataset(ogle_path, moa_path):
    ogle = mm.MulensData(file_name=str(ogle_path), comments=IPAC_COMMENTS)
    moa = mm.MulensData(file_name=str(moa_path), comments=IPAC_COMMENTS, phot_fmt="flux")
    event = mm.Event(datasets=[ogle, moa])
    lightcurves = as_lightcurves(event)
    assert [lc.band for lc in lightcurves] == ["OB03235_OGLE.tbl.txt", "OB03235_MOA.tbl.txt"]
    assert [lc.meta["source"] for lc in lightcurves] == ["MulensModel.Event"] * 2
    assert_same(lightcurves[1], only(as_lightcurves(moa)), rtol=0)


# --- astropy tables -------------------------------------------------------------------------


def test_astropy_time_column_is_converted_to_jd(ogle_columns):
    time, mag, err = ogle_columns
    table = Table({"obs": Time(time - 2400000.5, format="mjd", scale="utc"), "I": mag, "sig": err})
    lc = only(as_lightcurves(table, phot_fmt="mag", value_column="I"))
    np.testing.assert_allclose(lc.time, time, rtol=1e-15)
    assert lc.meta["time_scale"] == "utc" and lc.meta["columns"] == ("obs", "I", "sig")


def test_timeseries_with_units(ogle_columns):
    time, mag, err = ogle_columns
    series = TimeSeries(
        time=Time(time, format="jd"), data={"W149": mag * u.mag, "W149_err": err * 1000 * u.mmag}
    )
    lc = only(as_lightcurves(series))  # phot_fmt from the mag unit, errors from mmag
    assert lc.meta["source"] == "astropy.TimeSeries" and lc.meta["phot_fmt"] == "mag"
    assert_same(lc, only(as_lightcurves(ogle_columns)))


def test_hjd_minus_2450000_column_needs_time_offset(ogle_columns):
    time, mag, err = ogle_columns
    table = Table({"HJD-2450000": time - 2450000.0, "Imag": mag, "e_Imag": err})
    lc = only(as_lightcurves(table, time_offset=2450000))
    assert lc.meta["time_offset"] == 2450000.0
    assert_same(lc, only(as_lightcurves(ogle_columns)))
    shifted = mm.MulensData(data_list=[time - 2450000.0, mag, err], add_2450000=True)
    assert_same(lc, only(as_lightcurves(shifted)))


def test_time_quantity_in_other_units_is_converted(ogle_columns):
    time, mag, err = ogle_columns
    table = QTable({"t": time * 24.0 * u.hour, "mag": mag * u.mag, "magerr": err * u.mag})
    assert_same(only(as_lightcurves(table)), only(as_lightcurves(ogle_columns)), rtol=1e-13)


def test_columns_named_explicitly_and_case_insensitively(ogle_columns):
    time, mag, err = ogle_columns
    table = Table({"BJD_TDB": time, "col_a": mag, "col_b": err, "airmass": np.ones(time.size)})
    lc = only(
        as_lightcurves(
            table, time_column="bjd_tdb", value_column="COL_A", err_column="Col_B", phot_fmt="mag"
        )
    )
    assert lc.meta["columns"] == ("BJD_TDB", "col_a", "col_b")
    assert_same(lc, only(as_lightcurves(ogle_columns)))


def test_mag_and_flux_error_columns_are_paired_with_their_values(ogle_columns):
    time, mag, err = ogle_columns
    flux, flux_err = mag_to_flux(mag, err)
    table = Table({"time": time, "mag": mag, "mag_err": err, "flux": flux, "flux_err": flux_err})
    from_mag = only(as_lightcurves(table, phot_fmt="mag"))
    from_flux = only(as_lightcurves(table, phot_fmt="flux"))
    assert from_mag.meta["columns"] == ("time", "mag", "mag_err")
    assert from_flux.meta["columns"] == ("time", "flux", "flux_err")
    assert_same(from_mag, from_flux)


def test_masked_entries_count_as_invalid(ogle_columns):
    table = Table(
        {"time": ogle_columns[0], "mag": ogle_columns[1], "err": ogle_columns[2]}, masked=True
    )
    table["mag"].mask[3] = True
    with pytest.warns(match="dropped 1 invalid row"):
        lc = only(as_lightcurves(table, drop_invalid=True))
    assert lc.n_points == len(table) - 1


# --- files, arrays, lists, pass-through -----------------------------------------------------


def test_wfirst_plain_text_file_matches_mulensdata(wfirst_path):
    lc = only(as_lightcurves(wfirst_path))  # phot_fmt defaults to "mag", as in MulensModel
    assert lc.n_points == 20735 and lc.band == "WFIRST_1827.dat"
    assert lc.meta["format"] == "text" and lc.meta["phot_fmt"] == "mag"
    assert_same(lc, only(as_lightcurves(mm.MulensData(file_name=str(wfirst_path)))))


def test_text_file_with_a_header_line(tmp_path, simple_mag):
    path = tmp_path / "event.csv"
    Table(dict(zip(("BJD", "mag", "mag_err"), simple_mag, strict=True))).write(path, format="csv")
    lc = only(as_lightcurves(path))
    assert lc.meta["format"] == "ascii" and lc.meta["columns"] == ("BJD", "mag", "mag_err")
    assert_same(lc, only(as_lightcurves(simple_mag)))


def test_plain_flux_file_needs_phot_fmt_flux(tmp_path, simple_mag):
    time, mag, err = simple_mag
    flux, flux_err = mag_to_flux(mag, err)
    path = tmp_path / "flux.dat"
    np.savetxt(path, np.column_stack([time, flux, flux_err]), header="BJD flux err")
    assert_same(only(as_lightcurves(path, phot_fmt="flux")), only(as_lightcurves(simple_mag)))


def test_list_of_sources_gives_their_concatenation(ogle_path, moa_path, simple_mag):
    data = mm.MulensData(data_list=list(simple_mag))
    lightcurves = as_lightcurves([str(ogle_path), moa_path, data])
    assert [lc.n_points for lc in lightcurves] == [285, 1250, 30]
    assert [lc.meta["source"] for lc in lightcurves] == ["file", "file", "MulensModel.MulensData"]


def test_numpy_triple_and_n_by_3_array(simple_mag):
    time, mag, err = simple_mag
    from_tuple = only(as_lightcurves((time, mag, err), phot_fmt="mag", band="W149"))
    from_lists = only(as_lightcurves([list(time), list(mag), list(err)]))
    from_array = only(as_lightcurves(np.column_stack(simple_mag)))
    assert from_tuple.band == "W149" and from_tuple.meta["source"] == "numpy"
    assert_same(from_lists, from_tuple, rtol=0)
    assert_same(from_array, from_tuple, rtol=0)
    np.testing.assert_allclose(from_tuple.mag, mag, rtol=1e-12)


def test_lightcurves_pass_through(simple_mag):
    lc = only(as_lightcurves(simple_mag))
    assert as_lightcurves(lc)[0] is lc
    assert [x is lc for x in as_lightcurves([lc, lc])] == [True, True]


# --- the user's objects are never changed ---------------------------------------------------


def test_user_objects_are_not_modified(ogle_columns, moa_columns, simple_mag):
    bad = np.zeros(ogle_columns[0].size, dtype=bool)
    bad[:4] = True
    data = mm.MulensData(data_list=[c.copy() for c in ogle_columns], bad=bad.copy())
    moa = mm.MulensData(data_list=[c.copy() for c in moa_columns], phot_fmt="flux")
    unsorted = tuple(np.ascontiguousarray(c[::-1]) for c in simple_mag)
    table = Table({"time": unsorted[0], "mag": unsorted[1], "err": unsorted[2]})
    before = {
        "data": [a.copy() for a in (data.time, data.mag, data.err_mag, data.flux, data.bad)],
        "moa": [a.copy() for a in (moa.time, moa.flux, moa.err_flux)],
        "unsorted": [a.copy() for a in unsorted],
        "table": table.copy(copy_data=True),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unsorted inputs warn
        as_lightcurves([data, moa, unsorted, table])

    after_data = (data.time, data.mag, data.err_mag, data.flux, data.bad)
    for old, new in zip(before["data"], after_data, strict=True):
        np.testing.assert_array_equal(old, new)
        assert new.flags.writeable
    assert moa._mag is None  # MulensModel's lazy mag of a flux dataset was never computed
    for old, new in zip(before["moa"], (moa.time, moa.flux, moa.err_flux), strict=True):
        np.testing.assert_array_equal(old, new)
        assert new.flags.writeable
    for old, new in zip(before["unsorted"], unsorted, strict=True):
        np.testing.assert_array_equal(old, new)
        assert new.flags.writeable
    for name in table.colnames:
        np.testing.assert_array_equal(before["table"][name], table[name])
        assert table[name].data.flags.writeable


def test_pylima_telescope_is_not_modified(ogle_columns, make_telescope):
    telescope = make_telescope("OGLE", ogle_columns, "mag")
    before = telescope.lightcurve.copy()
    as_lightcurves(telescope)
    for name in before.colnames:
        np.testing.assert_array_equal(before[name].value, telescope.lightcurve[name].value)
        assert telescope.lightcurve[name].value.flags.writeable


def test_a_lightcurve_pickles_to_an_equal_read_only_copy(ogle_path):
    import pickle

    [lc] = as_lightcurves(ogle_path, phot_fmt="mag")
    copy = pickle.loads(pickle.dumps(lc))
    for name in ("time", "flux", "flux_err"):
        np.testing.assert_array_equal(getattr(copy, name), getattr(lc, name))
        assert not getattr(copy, name).flags.writeable
    assert copy.band == lc.band and dict(copy.meta) == dict(lc.meta)
    with pytest.raises(TypeError):
        copy.meta["source"] = "changed"
