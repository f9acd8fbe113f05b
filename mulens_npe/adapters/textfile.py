"""Photometry files as LightCurves.

Three layouts are read:

* plain text as MulensModel reads it (``numpy.loadtxt``): whitespace-separated columns time,
  value, error (further columns ignored), ``#`` comments. Nothing in such a file says whether
  the values are magnitudes or fluxes: ``phot_fmt`` defaults to ``"mag"``, MulensModel's default;
  pass ``phot_fmt="flux"`` for fluxes.
* IPAC tables (``\\KEY = value`` and ``| name |`` header lines, e.g. the NASA Exoplanet Archive
  ``.tbl`` files), read with astropy and then as a table: column names and units choose the
  columns and the format.
* text with a header line of column names (e.g. CSV), read with astropy as a table.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputDataError
from ..lightcurve import LightCurve
from ..photometry import ZERO_POINT
from .arrays import MIN_POINTS, lightcurve_from_arrays

__all__ = ["lightcurve_from_file"]


def lightcurve_from_file(
    path: str | os.PathLike,
    *,
    phot_fmt: str | None = None,
    zero_point: float = ZERO_POINT,
    band: str | None = None,
    time_offset: float | None = None,
    min_points: int = MIN_POINTS,
    drop_invalid: bool = False,
    allow_nonpositive_flux: bool = False,
    time_column: str | None = None,
    value_column: str | None = None,
    err_column: str | None = None,
) -> LightCurve:
    """Read one dataset from a text file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    phot_fmt : {"mag", "flux"}, optional
        What the value column holds. Plain files: default ``"mag"`` (as MulensModel).
        IPAC/headed files: inferred from column names and units when not given.
    zero_point : float
        Zero point (mag) of input fluxes, default 22.
    band : str, optional
        Name of the LightCurve; default the file's base name (MulensModel's default label).
    time_offset : float, optional
        Days added to the times (e.g. 2450000 for HJD-2450000).
    min_points, drop_invalid, allow_nonpositive_flux
        As in :func:`~mulens_npe.adapters.arrays.lightcurve_from_arrays`.
    time_column, value_column, err_column : str, optional
        Column names, for files with a header.

    Returns
    -------
    LightCurve
        Flux at zero point 22, sorted; ``meta`` holds ``file_name`` and ``format``.
    """
    path = Path(path)
    name = band or path.name
    label = f"file {path.name!r}"
    if not path.is_file():
        raise InputDataError(f"{label}: no such file ({path}).")
    common: dict[str, Any] = {
        "zero_point": zero_point,
        "band": name,
        "time_offset": time_offset,
        "min_points": min_points,
        "drop_invalid": drop_invalid,
        "allow_nonpositive_flux": allow_nonpositive_flux,
    }
    named = {"time_column": time_column, "value_column": value_column, "err_column": err_column}
    meta: dict[str, Any] = {"source": "file", "file_name": str(path)}

    if _is_ipac(path):
        table = _read_table(path, "ipac", label)
        meta["format"] = "ipac"
        return _from_table(table, phot_fmt, common, named, meta, label)

    try:
        with warnings.catch_warnings():
            # An empty file is reported below as an InputDataError, not as numpy's warning.
            warnings.simplefilter("ignore", UserWarning)
            columns = np.loadtxt(path, usecols=(0, 1, 2), ndmin=2, unpack=True)
    except ValueError as exc:
        if "column index" in str(exc):  # numpy's message when a row has < 3 columns
            raise InputDataError(
                f"{label}: fewer than 3 columns ({exc}); expected time, value and error."
            ) from None
        table = _read_headed_text(path, label, exc)
        meta["format"] = "ascii"
        return _from_table(table, phot_fmt, common, named, meta, label)
    phot_fmt = phot_fmt or "mag"  # MulensModel's default for files
    names = ("col1", "col2", "col3")
    meta.update(format="text", columns=names)
    if columns.size == 0:
        raise InputDataError(f"{label}: the file has no data rows.")
    return lightcurve_from_arrays(
        *columns, phot_fmt=phot_fmt, meta=meta, label=label, column_names=names, **common
    )


def _is_ipac(path: Path) -> bool:
    with path.open("r", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return line.lstrip().startswith(("\\", "|"))
    return False


def _read_table(path: Path, fmt: str, label: str) -> Any:
    from astropy.table import Table

    try:
        return Table.read(path, format=fmt)
    except Exception as exc:  # astropy raises many types for malformed files
        raise InputDataError(f"{label}: cannot be read as a {fmt} table ({exc}).") from None


def _read_headed_text(path: Path, label: str, loadtxt_error: ValueError) -> Any:
    """A file numpy cannot parse may have a header line of names; only then is it a table."""
    from astropy.table import Table

    try:
        table = Table.read(path, format="ascii")
    except Exception:
        table = None
    if table is None or len(table) == 0 or all(c.startswith("col") for c in table.colnames):
        raise InputDataError(
            f"{label}: not a table of numbers ({loadtxt_error}). Expected whitespace-separated "
            "columns time, value, error with '#' comments, an IPAC table, or a header line of "
            "column names."
        )
    return table


def _from_table(
    table: Any,
    phot_fmt: str | None,
    common: dict[str, Any],
    named: dict[str, str | None],
    meta: dict[str, Any],
    label: str,
) -> LightCurve:
    from .astropy_table import lightcurve_from_table

    return lightcurve_from_table(
        table, phot_fmt=phot_fmt, meta=meta, label=label, **named, **common
    )
