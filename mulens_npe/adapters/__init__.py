"""Adapters: everything a user may hold, turned into :class:`~mulens_npe.LightCurve` objects.

:func:`as_lightcurves` is the one entry point. It recognises the input by its type and hands it
to the module for its host package (``mulensmodel``, ``pylima``, ``astropy_table``, ``textfile``);
every path ends in :func:`~mulens_npe.adapters.arrays.lightcurve_from_arrays`, so the checks and
the bad-input policy are the same for all inputs (see docs/inputs.md).

Host packages are recognised through ``sys.modules``, never imported here: an object of a class
from MulensModel, pyLIMA or astropy can only exist if its package is already loaded, so
``import mulens_npe`` stays light and pyLIMA (GPL, optional) is never imported by this package.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable
from numbers import Real
from typing import Any

import numpy as np

from ..errors import ConfigurationError, InputDataError
from ..lightcurve import LightCurve
from .arrays import MIN_POINTS, PHOT_FORMATS, lightcurve_from_arrays

__all__ = ["as_lightcurves", "lightcurve_from_arrays", "MIN_POINTS", "OPTIONS"]

OPTIONS: tuple[str, ...] = (
    "phot_fmt",
    "zero_point",
    "time_offset",
    "band",
    "min_points",
    "drop_invalid",
    "allow_nonpositive_flux",
    "time_column",
    "value_column",
    "err_column",
)
"""Keyword options accepted by :func:`as_lightcurves`."""

# Options each input kind uses. Options that do not apply to an input are ignored, so that one
# call can read a list mixing files and MulensData objects (a MulensData knows its own format).
_COMMON = ("band", "time_offset", "min_points", "drop_invalid", "allow_nonpositive_flux")
_FOR_TABLES = (*_COMMON, "phot_fmt", "zero_point", "time_column", "value_column", "err_column")
_FOR_ARRAYS = (*_COMMON, "phot_fmt", "zero_point")

_ACCEPTED = (
    "MulensModel.MulensData, MulensModel.Event, pyLIMA Telescope or Event, astropy Table/QTable/"
    "TimeSeries, a file path (str or pathlib.Path), a (time, value, err) tuple of arrays, an "
    "(N, 3) numpy array, a LightCurve, or a list of these"
)


def as_lightcurves(obj: Any, **options: Any) -> list[LightCurve]:
    """Read photometry from any supported object into a list of :class:`~mulens_npe.LightCurve`.

    Parameters
    ----------
    obj : object
        One of: ``MulensModel.MulensData`` (good epochs only) or ``MulensModel.Event`` (all its
        datasets); pyLIMA ``Telescope`` or ``Event`` (all telescopes); astropy ``Table``,
        ``QTable`` or ``TimeSeries``; a path to a text file (whitespace-separated columns
        time, value, error, as MulensModel reads them, or an IPAC ``.tbl`` table); a tuple
        ``(time, value, err)`` of 1-d arrays or an ``(N, 3)`` array; a ``LightCurve`` (passed
        through unchanged); or a list of any of these, which gives the concatenation.
    **options
        phot_fmt : {"mag", "flux"}, optional
            What the value column holds. Inferred for tables from column names/units; for
            arrays and plain text files the default is ``"mag"``, as in MulensModel. Ignored
            for MulensModel/pyLIMA objects, which know their format.
        zero_point : float
            Zero point (mag) of input fluxes, default 22 (MulensModel); 27.4 for pyLIMA fluxes.
        time_offset : float, optional
            Days added to every time, e.g. 2450000 for HJD-2450000. Times below 2,400,000 are
            refused without it; the offset is never guessed.
        band : str, optional
            Band/dataset name given to every LightCurve read (default: from the object or file).
        min_points : int
            Fewest valid epochs a dataset must keep, default 10.
        drop_invalid : bool
            Drop rows with NaN/inf values or errors <= 0 with a warning instead of raising.
        allow_nonpositive_flux : bool, optional
            Accept flux columns whose median is <= 0 (difference imaging). Default: True for
            MulensModel and pyLIMA objects (already in flux, negative flux is legitimate),
            False for tables, files and arrays.
        time_column, value_column, err_column : str, optional
            Column names (case-insensitive) for tables and files with a header, when they
            cannot be found from common names.

    Returns
    -------
    list of LightCurve
        One per dataset, in input order; times in full BJD/HJD days, flux at zero point 22,
        provenance in ``meta``.

    Raises
    ------
    InputDataError
        The data cannot be used; the message names the dataset, column and rows.
    ConfigurationError
        An unknown option or an option value out of range.

    Example:
        >>> import numpy as np
        >>> from mulens_npe import as_lightcurves
        >>> time = 2460000.0 + np.arange(20.0)
        >>> [lc] = as_lightcurves((time, np.full(20, 19.5), np.full(20, 0.01)), phot_fmt="mag")
        >>> lc.n_points, float(lc.flux[0].round(6)), lc.meta["source"]
        (20, 10.0, 'numpy')
    """
    checked = _check_options(options)
    return _dispatch(obj, checked)


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {unknown} for as_lightcurves; accepted options are {list(OPTIONS)}."
        )
    checked = {name: value for name, value in options.items() if value is not None}
    if checked.get("phot_fmt", "mag") not in PHOT_FORMATS:
        raise ConfigurationError(f"phot_fmt must be 'mag' or 'flux', got {checked['phot_fmt']!r}.")
    for name in ("zero_point", "time_offset"):
        if name in checked and not (
            isinstance(checked[name], Real) and math.isfinite(checked[name])
        ):
            raise ConfigurationError(f"{name} must be a finite number, got {checked[name]!r}.")
    min_points = checked.get("min_points", MIN_POINTS)
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 1:
        raise ConfigurationError(f"min_points must be an integer >= 1, got {min_points!r}.")
    for name in ("band", "time_column", "value_column", "err_column"):
        if name in checked and not isinstance(checked[name], str):
            raise ConfigurationError(f"{name} must be a string, got {checked[name]!r}.")
    for name in ("drop_invalid", "allow_nonpositive_flux"):
        if name in checked and not isinstance(checked[name], bool | np.bool_):
            raise ConfigurationError(f"{name} must be True or False, got {checked[name]!r}.")
    return checked


def _pick(options: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: options[name] for name in names if name in options}


def _loaded_instance(obj: Any, module: str, class_name: str) -> bool:
    """isinstance(obj, module.class_name), without importing ``module``."""
    loaded = sys.modules.get(module)
    cls = getattr(loaded, class_name, None)
    return isinstance(cls, type) and isinstance(obj, cls)


def _dispatch(obj: Any, options: dict[str, Any]) -> list[LightCurve]:
    if isinstance(obj, LightCurve):
        return [obj]
    if _loaded_instance(obj, "MulensModel", "MulensData"):
        from .mulensmodel import lightcurve_from_mulensdata

        return [lightcurve_from_mulensdata(obj, **_pick(options, _COMMON))]
    if _loaded_instance(obj, "MulensModel", "Event"):
        from .mulensmodel import lightcurves_from_event

        return lightcurves_from_event(obj, **_pick(options, _COMMON))
    if _loaded_instance(obj, "pyLIMA.telescopes", "Telescope"):
        from .pylima import lightcurve_from_telescope

        return [lightcurve_from_telescope(obj, **_pick(options, _COMMON))]
    if _loaded_instance(obj, "pyLIMA.event", "Event"):
        from .pylima import lightcurves_from_event as from_pylima_event

        return from_pylima_event(obj, **_pick(options, _COMMON))
    if _loaded_instance(obj, "astropy.table", "Table"):
        from .astropy_table import lightcurve_from_table

        return [lightcurve_from_table(obj, **_pick(options, _FOR_TABLES))]
    if isinstance(obj, str | os.PathLike):
        from .textfile import lightcurve_from_file

        return [lightcurve_from_file(obj, **_pick(options, _FOR_TABLES))]
    if isinstance(obj, np.ndarray):
        return [_lightcurve_from_ndarray(obj, options)]
    if isinstance(obj, list | tuple):
        return _from_sequence(obj, options)
    raise InputDataError(
        f"cannot read photometry from an object of type "
        f"{type(obj).__module__}.{type(obj).__qualname__}. as_lightcurves accepts {_ACCEPTED}. "
        "(A pandas DataFrame can be converted with astropy.table.Table.from_pandas.)"
    )


def _from_sequence(items: list | tuple, options: dict[str, Any]) -> list[LightCurve]:
    if len(items) == 0:
        raise InputDataError("nothing to read: the list of datasets is empty.")
    numeric = [_is_numeric_column(item) for item in items]
    if all(numeric):
        if len(items) != 3:
            raise InputDataError(
                f"a sequence of arrays must hold exactly 3 columns (time, value, err), got "
                f"{len(items)}."
            )
        return [_lightcurve_from_columns(*items, options=options)]
    if any(numeric):
        raise InputDataError(
            "a sequence mixes arrays and other objects; pass (time, value, err) as one tuple "
            "of three arrays, or a list of datasets."
        )
    lightcurves: list[LightCurve] = []
    for item in items:
        lightcurves.extend(_dispatch(item, options))
    return lightcurves


def _is_numeric_column(item: Any) -> bool:
    """A 1-d array, or a list/tuple of real numbers (not a path or a dataset object)."""
    if isinstance(item, np.ndarray):
        return item.ndim == 1
    if isinstance(item, list | tuple):
        return len(item) > 0 and all(isinstance(x, Real) and not isinstance(x, bool) for x in item)
    return False


def _lightcurve_from_ndarray(array: np.ndarray, options: dict[str, Any]) -> LightCurve:
    if array.ndim != 2 or array.shape[1] != 3:
        raise InputDataError(
            f"a numpy array must have shape (N, 3) with columns time, value, err; got shape "
            f"{array.shape}. For (3, N) data pass tuple(array) or array.T."
        )
    return _lightcurve_from_columns(array[:, 0], array[:, 1], array[:, 2], options=options)


def _lightcurve_from_columns(
    time: Any, value: Any, err: Any, *, options: dict[str, Any]
) -> LightCurve:
    kwargs = _pick(options, _FOR_ARRAYS)
    phot_fmt = kwargs.pop("phot_fmt", "mag")  # MulensModel's default for data_list
    band = kwargs.pop("band", "unknown")
    return lightcurve_from_arrays(
        time,
        value,
        err,
        phot_fmt=phot_fmt,
        band=band,
        meta={"source": "numpy", "columns": ("time", phot_fmt, f"{phot_fmt}_err")},
        label=f"arrays {band!r}",
        column_names=("time", phot_fmt, f"{phot_fmt}_err"),
        **kwargs,
    )
