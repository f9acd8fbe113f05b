"""From plain arrays to a :class:`~mulens_npe.LightCurve`: the checks every adapter shares.

Policy (documented in docs/inputs.md):

* empty input, mismatched lengths, non-numeric columns: :class:`InputDataError`;
* non-finite times/values/errors and errors <= 0: :class:`InputDataError` naming the column and
  rows, unless ``drop_invalid=True``, which drops those rows with a :class:`DataWarning`;
* unsorted times are sorted, with a :class:`DataWarning`;
* repeated epochs are merged into their inverse-variance weighted mean, with a
  :class:`DataWarning`;
* times below 2,400,000 are refused unless ``time_offset`` says what to add — never guessed;
* magnitudes outside [-5, 40] (e.g. fluxes passed as ``phot_fmt="mag"``) and light curves whose
  fluxes are mostly <= 0 when ``phot_fmt="flux"`` with no difference-flux option are refused;
* "fluxes" that look like magnitudes are refused: all values inside [-5, 40] and a significant
  excursion that is a dip (see :func:`_magnitude_dip`), since microlensing only brightens;
* fewer than ``min_points`` valid epochs: :class:`InputDataError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import DataWarning, InputDataError
from ..lightcurve import FULL_JD_THRESHOLD, LightCurve
from ..photometry import ZERO_POINT, mag_to_flux, rescale_flux

__all__ = ["lightcurve_from_arrays", "MIN_POINTS", "PHOT_FORMATS"]

MIN_POINTS: int = 10
"""Default smallest number of epochs a dataset must have to be useful."""

PHOT_FORMATS = ("mag", "flux")

_MAG_RANGE = (-5.0, 40.0)

_DIP_SIGMA = 5.0
"""A point is a dip (a rise) when it lies this many of its sigmas below (above) the median."""


def _as_column(values: ArrayLike, name: str, label: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{label}: column {name!r} is not numeric ({exc}).") from None
    if array.ndim != 1:
        raise InputDataError(
            f"{label}: column {name!r} must be one-dimensional, got shape {array.shape}."
        )
    return array


def _rows(indices: np.ndarray) -> str:
    shown = ", ".join(str(i) for i in indices[:5])
    return shown + (f" and {indices.size - 5} more" if indices.size > 5 else "")


def lightcurve_from_arrays(
    time: ArrayLike,
    value: ArrayLike,
    err: ArrayLike,
    *,
    phot_fmt: str = "mag",
    zero_point: float = ZERO_POINT,
    band: str = "unknown",
    meta: Mapping[str, Any] | None = None,
    time_offset: float | None = None,
    min_points: int = MIN_POINTS,
    drop_invalid: bool = False,
    allow_nonpositive_flux: bool = False,
    label: str | None = None,
    column_names: tuple[str, str, str] = ("time", "value", "err"),
) -> LightCurve:
    """Validate and convert one dataset given as arrays.

    Parameters
    ----------
    time : array_like
        Epochs (days): full BJD/HJD, or with ``time_offset`` subtracted.
    value : array_like
        Magnitudes (``phot_fmt="mag"``) or fluxes at ``zero_point`` (``phot_fmt="flux"``).
    err : array_like
        One-sigma uncertainties of ``value`` (mag or flux units).
    phot_fmt : {"mag", "flux"}
        What ``value`` holds.
    zero_point : float
        Zero point (mag) of the input fluxes; 22 for MulensModel, 27.4 for pyLIMA.
    band : str
        Band or telescope name stored in the LightCurve.
    meta : mapping, optional
        Provenance stored in the LightCurve.
    time_offset : float, optional
        Days added to ``time``, e.g. 2450000 for HJD - 2450000. Required when times are below
        2,400,000.
    min_points : int
        Fewest epochs accepted after cleaning.
    drop_invalid : bool
        Drop rows with non-finite values or non-positive errors (with a warning) instead of
        raising.
    allow_nonpositive_flux : bool
        Accept fluxes that are mostly <= 0 (difference-imaging data with a baseline near 0).
    label : str, optional
        Name of the dataset used in messages (defaults to ``band``).
    column_names : tuple of str
        Names of the three columns as the user knows them, used in messages.

    Returns
    -------
    LightCurve
        Sorted, with flux at zero point 22.

    Raises
    ------
    InputDataError
        With the dataset, column and rows at fault.
    """
    label = label or f"dataset {band!r}"
    if phot_fmt not in PHOT_FORMATS:
        raise InputDataError(f"{label}: phot_fmt must be 'mag' or 'flux', got {phot_fmt!r}.")
    if phot_fmt == "mag" and zero_point != ZERO_POINT:
        raise InputDataError(f"{label}: zero_point applies to fluxes only, not magnitudes.")
    t_name, v_name, e_name = column_names
    time_a = _as_column(time, t_name, label)
    value_a = _as_column(value, v_name, label)
    err_a = _as_column(err, e_name, label)
    lengths = {t_name: time_a.size, v_name: value_a.size, e_name: err_a.size}
    if len(set(lengths.values())) != 1:
        raise InputDataError(f"{label}: columns have different lengths {lengths}.")
    if time_a.size == 0:
        raise InputDataError(f"{label}: the dataset is empty.")

    invalid = np.zeros(time_a.size, dtype=bool)
    problems = []
    for name, array in ((t_name, time_a), (v_name, value_a), (e_name, err_a)):
        bad = ~np.isfinite(array)
        if bad.any():
            problems.append(f"column {name!r} is NaN/inf at row(s) {_rows(np.flatnonzero(bad))}")
        invalid |= bad
    bad_err = np.isfinite(err_a) & (err_a <= 0)
    if bad_err.any():
        problems.append(
            f"column {e_name!r} is <= 0 at row(s) {_rows(np.flatnonzero(bad_err))} "
            f"(values {err_a[bad_err][:5].tolist()})"
        )
    invalid |= bad_err
    if problems:
        if not drop_invalid:
            raise InputDataError(
                f"{label}: " + "; ".join(problems) + ". Fix the data or pass drop_invalid=True "
                "to drop these rows."
            )
        warnings.warn(
            f"{label}: dropped {int(invalid.sum())} invalid row(s): " + "; ".join(problems) + ".",
            DataWarning,
            stacklevel=3,
        )
        time_a, value_a, err_a = time_a[~invalid], value_a[~invalid], err_a[~invalid]

    if time_a.size < min_points:
        raise InputDataError(
            f"{label}: {time_a.size} usable epoch(s), at least {min_points} are needed."
        )

    if time_offset is not None:
        time_a = time_a + float(time_offset)
    if time_a.min() < FULL_JD_THRESHOLD:
        raise InputDataError(
            f"{label}: column {t_name!r} starts at {time_a.min():.5f}, which is not a full "
            "JD/BJD/HJD. Pass time_offset= the days to add (e.g. time_offset=2450000 for "
            "HJD-2450000, 2460000 for HJD-2460000)."
        )

    if phot_fmt == "mag":
        outside = (value_a < _MAG_RANGE[0]) | (value_a > _MAG_RANGE[1])
        if outside.any():
            raise InputDataError(
                f"{label}: column {v_name!r} has value(s) outside {_MAG_RANGE} mag at row(s) "
                f"{_rows(np.flatnonzero(outside))} (e.g. {value_a[outside][:3].tolist()}). "
                "Are these fluxes? Then pass phot_fmt='flux'."
            )
        flux, flux_err = mag_to_flux(value_a, err_a)
    else:
        if not allow_nonpositive_flux and np.median(value_a) <= 0:
            raise InputDataError(
                f"{label}: the median of column {v_name!r} is {np.median(value_a):.4g} <= 0. "
                "If these are difference-imaging fluxes pass allow_nonpositive_flux=True; if "
                "they are magnitudes pass phot_fmt='mag'."
            )
        dip = _magnitude_dip(time_a, value_a, err_a)
        if dip is not None:
            raise InputDataError(
                f"{label}: column {v_name!r} has values {value_a.min():.4g} to "
                f"{value_a.max():.4g}; {dip}: this looks like magnitudes (brighter = smaller), "
                f"and microlensing only brightens. {_mag_fix(meta)} If these really are "
                "fluxes, that dip is not microlensing: check or drop those epochs."
            )
        flux = rescale_flux(value_a, zero_point)
        flux_err = rescale_flux(err_a, zero_point)

    order = np.argsort(time_a, kind="stable")
    if np.any(np.diff(time_a) < 0):
        warnings.warn(f"{label}: times were not sorted; sorted them.", DataWarning, stacklevel=3)
        time_a, flux, flux_err = time_a[order], flux[order], flux_err[order]

    duplicated = np.diff(time_a) == 0
    if duplicated.any():
        time_a, flux, flux_err = _merge_repeated_epochs(time_a, flux, flux_err)
        warnings.warn(
            f"{label}: {int(duplicated.sum())} repeated epoch(s) merged into their "
            "inverse-variance weighted mean.",
            DataWarning,
            stacklevel=3,
        )

    info = dict(meta or {})
    info.setdefault("phot_fmt", phot_fmt)
    if phot_fmt == "flux":
        info.setdefault("input_zero_point", zero_point)
    if time_offset is not None:
        info["time_offset"] = float(time_offset)
    return LightCurve(time_a, flux, flux_err, band=band, meta=info)


def _merge_repeated_epochs(
    time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    unique, inverse = np.unique(time, return_inverse=True)
    weight = 1.0 / flux_err**2
    weight_sum = np.bincount(inverse, weight)
    mean = np.bincount(inverse, weight * flux) / weight_sum
    return unique, mean, 1.0 / np.sqrt(weight_sum)


def _magnitude_dip(time: np.ndarray, value: np.ndarray, err: np.ndarray) -> str | None:
    """Why a flux series looks like magnitudes (a sentence for the error), or None.

    Microlensing only brightens, so magnitudes read as fluxes show the event as a dip. With
    "low" and "high" the points more than ``_DIP_SIGMA`` of their own error below and above
    the median, a series is flagged when

    * all its values lie in the magnitude range ``_MAG_RANGE``;
    * its longest run of consecutive low epochs (time order) has at least 5 epochs, holds at
      least half of the low points (scattered outliers do not) and has at least 5 epochs on
      each side (a flux curve seen only in the wing of an event falls at one end of the data,
      not in its middle);
    * the excursions are one-sided: at most a tenth as many high points as low ones or, when
      the event fills most of the data and the median lies inside it, the lowest percentile
      at least 20 sigma and four times further below the median than the highest lies above.

    Checked on every photometry file shipped with MulensModel and in examples/data: each
    magnitude file whose event lies between baselines is caught, no flux file is.
    """
    if value.min() < _MAG_RANGE[0] or value.max() > _MAG_RANGE[1]:
        return None
    order = np.argsort(time, kind="stable")
    time, value, err = time[order], value[order], err[order]
    median = np.median(value)
    z = (value - median) / err
    low, high = z < -_DIP_SIGMA, z > _DIP_SIGMA
    n_low, n_high = int(low.sum()), int(high.sum())
    edges = np.diff(np.concatenate(([0], low.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if starts.size == 0:
        return None
    longest = int(np.argmax(ends - starts))
    start, end = int(starts[longest]), int(ends[longest])
    run = end - start
    if run < 5 or run < 0.5 * n_low or start < 5 or value.size - end < 5:
        return None
    scale = np.median(err)
    lowest, highest = np.quantile(value, [0.01, 0.99])
    depth, height = (median - lowest) / scale, (highest - median) / scale
    if not (n_high <= 0.1 * n_low or (depth >= 20 and depth >= 4 * height)):
        return None
    return (
        f"{n_low} points > {_DIP_SIGMA:g} sigma below the median, {n_high} above; the lowest "
        f"percentile lies {depth:.0f} sigma below it, the highest {height:.0f} sigma above; "
        f"the dip spans epochs {time[start]:.2f}-{time[end - 1]:.2f} ({run} in a row)"
    )


def _mag_fix(meta: Mapping[str, Any] | None) -> str:
    source = str((meta or {}).get("source", ""))
    if source.startswith("MulensModel"):
        return "Create the MulensData with phot_fmt='mag'."
    if source.startswith("pyLIMA"):
        return "Give the Telescope a lightcurve with columns time, mag, err_mag."
    return "Pass phot_fmt='mag' (--phot-fmt mag on the command line)."
