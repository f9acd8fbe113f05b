"""astropy ``Table``, ``QTable`` and ``TimeSeries`` as LightCurves.

Columns are found by the names people use (case-insensitive): a time column (``time``, ``JD``,
``HJD``, ``BJD_TDB``, ``HJD-2450000``, ``date``, any astropy ``Time`` column), a value column
(``mag``, ``RELATIVE_MAGNITUDE``, ``flux``, ``Relative_Flux``, any column with a magnitude unit)
and its uncertainty (``mag_err``, ``e_mag``, ``sigma``, ``MAGNITUDE_UNCERTAINTY``,
``flux_err``...). When a role has no candidate or several, the error lists the columns and the
option (``time_column=``, ``value_column=``, ``err_column=``, ``phot_fmt=``) that settles it.
Units are honoured: ``Time`` columns become JD, time units convert to days, magnitude units
(mag, mmag, AB mag) mean ``phot_fmt="mag"``.
"""

from __future__ import annotations

import re
from typing import Any

import astropy.units as u
import numpy as np
from astropy.table import Table
from astropy.time import Time
from astropy.timeseries import TimeSeries

from ..errors import InputDataError
from ..lightcurve import LightCurve
from ..photometry import ZERO_POINT
from .arrays import MIN_POINTS, lightcurve_from_arrays

__all__ = ["lightcurve_from_table"]

_TIME_TOKEN = re.compile(r"^(time|date|epoch|\d*[bhm]?jd(tdb|utc)?\d*)$")
_ERR_TOKEN = re.compile(r"^(e|err|errs|error|errors|sig|sigma|unc|std)$")
_ERR_FUSED = re.compile(r"^(e|err|sig|sigma)(mag|flux)|(mag|flux)(err|error|sig|sigma|unc)$")


def lightcurve_from_table(
    table: Table,
    *,
    time_column: str | None = None,
    value_column: str | None = None,
    err_column: str | None = None,
    phot_fmt: str | None = None,
    zero_point: float = ZERO_POINT,
    band: str | None = None,
    time_offset: float | None = None,
    min_points: int = MIN_POINTS,
    drop_invalid: bool = False,
    allow_nonpositive_flux: bool = False,
    meta: dict[str, Any] | None = None,
    label: str | None = None,
) -> LightCurve:
    """Read one dataset from an astropy table.

    Parameters
    ----------
    table : astropy.table.Table
        A ``Table``, ``QTable`` or ``TimeSeries`` (``TimeSeries.time`` is the time column);
        not modified.
    time_column, value_column, err_column : str, optional
        Column names (case-insensitive); found from common names when not given.
    phot_fmt : {"mag", "flux"}, optional
        What the value column holds; inferred from its name (mag*, flux*) or unit when not
        given. Required when neither says.
    zero_point : float
        Zero point (mag) of input fluxes, default 22.
    band : str, optional
        Name of the LightCurve; default ``table.meta["band"]`` or ``"unknown"``.
    time_offset : float, optional
        Days added to the time column (e.g. 2450000 for a ``HJD-2450000`` column).
    min_points, drop_invalid, allow_nonpositive_flux
        As in :func:`~mulens_npe.adapters.arrays.lightcurve_from_arrays`.
    meta : dict, optional
        Provenance added to the LightCurve's ``meta`` (over what this function records).
    label : str, optional
        Name of the dataset in error messages.

    Returns
    -------
    LightCurve
        Flux at zero point 22, sorted; ``meta["columns"]`` names the columns used.
    """
    name = band or str(table.meta.get("band", "unknown"))
    label = label or f"table {name!r}"
    columns = list(table.colnames)
    if len(table) == 0:
        raise InputDataError(f"{label}: the table is empty (columns {columns}).")

    t_name = _resolve(table, time_column, "time_column", label)
    if t_name is None:
        t_name = _find_time_column(table, label)
    v_name, phot_fmt = _find_value_column(table, value_column, phot_fmt, t_name, label)
    e_name = _resolve(table, err_column, "err_column", label)
    if e_name is None:
        e_name = _find_err_column(table, v_name, phot_fmt, t_name, label)

    time, time_info = _time_values(table[t_name], t_name, label)
    value, value_unit = _values(table[v_name], v_name, label)
    err, err_unit = _values(table[e_name], e_name, label)
    if phot_fmt == "mag":
        # mmag and AB/ST magnitudes: express value and error in plain magnitudes.
        value = _to_mag(value, value_unit)
        err = _to_mag(err, err_unit)
    elif _is_known(value_unit) and _is_known(err_unit) and err_unit.is_equivalent(value_unit):
        err = err * err_unit.to(value_unit)

    info: dict[str, Any] = {
        "source": f"{type(table).__module__.split('.')[0]}.{type(table).__name__}",
        "columns": (t_name, v_name, e_name),
        **time_info,
    }
    if value_unit is not None:
        info["value_unit"] = value_unit.to_string()
    info.update(meta or {})
    return lightcurve_from_arrays(
        time,
        value,
        err,
        phot_fmt=phot_fmt,
        zero_point=zero_point,
        band=name,
        meta=info,
        time_offset=time_offset,
        min_points=min_points,
        drop_invalid=drop_invalid,
        allow_nonpositive_flux=allow_nonpositive_flux,
        label=label,
        column_names=(t_name, v_name, e_name),
    )


def _tokens(name: str) -> list[str]:
    return [token for token in re.split(r"[^a-z0-9]+", name.lower()) if token]


def _is_err_name(name: str) -> bool:
    tokens = _tokens(name)
    if tokens and tokens[0] == "inv":  # pyLIMA's inv_err_flux is 1/sigma, not sigma
        return False
    return any(
        _ERR_TOKEN.match(token) or _ERR_FUSED.match(token) or token.startswith("uncert")
        for token in tokens
    )


def _is_time_column(table: Table, name: str) -> bool:
    if isinstance(table[name], Time):
        return True
    if _is_err_name(name):
        return False
    return name.lower() == "t" or any(_TIME_TOKEN.match(token) for token in _tokens(name))


def _unit(column: Any) -> u.UnitBase | None:
    unit = getattr(column, "unit", None)
    return None if unit is None else u.Unit(unit, parse_strict="silent")


def _is_known(unit: u.UnitBase | None) -> bool:
    return unit is not None and not isinstance(unit, u.UnrecognizedUnit)


def _is_mag_unit(unit: u.UnitBase | None) -> bool:
    if not _is_known(unit):
        return False
    return isinstance(unit, u.MagUnit) or unit.is_equivalent(u.mag)


def _kind(table: Table, name: str) -> str | None:
    """'mag' or 'flux' from the column's unit or name, None when neither says."""
    if _is_mag_unit(_unit(table[name])):
        return "mag"
    tokens = _tokens(name)
    if any(t.startswith("mag") and not t.startswith("magnif") for t in tokens) or any(
        t.endswith("mag") for t in tokens
    ):
        return "mag"
    if any("flux" in t for t in tokens):
        return "flux"
    return None


def _resolve(table: Table, name: str | None, option: str, label: str) -> str | None:
    """The table's column for a user-given name: exact match, else the unique case-insensitive one."""
    if name is None:
        return None
    if name in table.colnames:
        return name
    matches = [c for c in table.colnames if c.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    raise InputDataError(
        f"{label}: {option}={name!r} is not a column"
        + (f" (several match ignoring case: {matches})" if matches else "")
        + f". Available columns: {table.colnames}."
    )


def _find_time_column(table: Table, label: str) -> str:
    if isinstance(table, TimeSeries) and "time" in table.colnames:
        return "time"
    candidates = [c for c in table.colnames if _is_time_column(table, c)]
    return _one(candidates, "time", "time_column", table, label)


def _find_value_column(
    table: Table, value_column: str | None, phot_fmt: str | None, t_name: str, label: str
) -> tuple[str, str]:
    name = _resolve(table, value_column, "value_column", label)
    if name is not None:
        kind = _kind(table, name)
        if phot_fmt is None and kind is None:
            raise InputDataError(
                f"{label}: cannot tell whether column {name!r} holds magnitudes or fluxes; pass "
                f"phot_fmt='mag' or phot_fmt='flux'. Columns: {table.colnames}."
            )
        if phot_fmt is not None and kind is not None and kind != phot_fmt:
            raise InputDataError(
                f"{label}: column {name!r} looks like {_WORD[kind]} (name or unit) but "
                f"phot_fmt={phot_fmt!r}; pass phot_fmt={kind!r} if the column is right."
            )
        return name, phot_fmt or kind
    others = [c for c in table.colnames if c != t_name and not _is_err_name(c)]
    kinds = {c: _kind(table, c) for c in others}
    if phot_fmt is None:
        candidates = [c for c in others if kinds[c] is not None]
        if not candidates:
            raise InputDataError(
                f"{label}: no column is named or has a unit of magnitude or flux. Name the "
                f"value column with value_column= and its format with phot_fmt='mag' or "
                f"'flux'. Columns: {table.colnames}."
            )
        if len({kinds[c] for c in candidates}) > 1:
            raise InputDataError(
                f"{label}: both magnitude and flux columns found ({candidates}); choose with "
                "phot_fmt='mag' or phot_fmt='flux' (or value_column=)."
            )
        name = _one(candidates, "value", "value_column", table, label)
        return name, kinds[name]
    candidates = [c for c in others if kinds[c] == phot_fmt]
    if not candidates:
        wrong = [c for c in others if kinds[c] is not None]
        hint = (
            f" Found {_WORD[kinds[wrong[0]]]} column(s) {wrong}: is phot_fmt wrong?"
            if wrong
            else " Name it with value_column=."
        )
        raise InputDataError(
            f"{label}: no {_WORD[phot_fmt]} column (phot_fmt={phot_fmt!r}) among "
            f"{table.colnames}.{hint}"
        )
    return _one(candidates, "value", "value_column", table, label), phot_fmt


_WORD = {"mag": "magnitude", "flux": "flux"}


def _find_err_column(table: Table, v_name: str, phot_fmt: str, t_name: str, label: str) -> str:
    candidates = [c for c in table.colnames if c not in (t_name, v_name) and _is_err_name(c)]
    # With both mag and flux errors present, keep those of the value's kind, then those whose
    # name contains the value column's name (mag -> mag_err, not e_flux).
    same_kind = [c for c in candidates if _kind(table, c) in (phot_fmt, None)]
    candidates = same_kind or candidates
    if len(candidates) > 1:
        key = "".join(_tokens(v_name))
        named = [c for c in candidates if key and key in "".join(_tokens(c))]
        candidates = named or candidates
    return _one(candidates, "uncertainty", "err_column", table, label)


def _one(candidates: list[str], role: str, option: str, table: Table, label: str) -> str:
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputDataError(
            f"{label}: no {role} column found among {table.colnames}; name it with {option}=."
        )
    raise InputDataError(
        f"{label}: several possible {role} columns {candidates}; choose one with {option}=."
    )


def _values(column: Any, name: str, label: str) -> tuple[np.ndarray, u.UnitBase | None]:
    """Float values of a column (masked entries as NaN, so the invalid-row policy applies)."""
    unit = _unit(column)
    if isinstance(column, Time):
        raise InputDataError(f"{label}: column {name!r} holds times, not photometry.")
    data = column.value if isinstance(column, u.Quantity) else column
    if hasattr(data, "unmasked"):  # astropy's Masked arrays (masked Quantity columns)
        data = np.ma.MaskedArray(data.unmasked, mask=data.mask)
    try:
        values = np.array(np.ma.getdata(data), dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{label}: column {name!r} is not numeric ({exc}).") from None
    mask = np.ma.getmaskarray(data)
    if mask.any():
        values[mask] = np.nan
    return values, unit


def _time_values(column: Any, name: str, label: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Times in days: astropy Time as JD in its own scale, time units converted to days."""
    if isinstance(column, Time):
        return np.array(column.jd, dtype=float), {"time_scale": column.scale}
    values, unit = _values(column, name, label)
    if unit is None:
        return values, {}
    if isinstance(unit, u.UnrecognizedUnit):
        # IPAC and pyLIMA write time-system labels ("days", "JD", "HJD") as units: days.
        return values, {"time_unit": unit.to_string()}
    if not unit.is_equivalent(u.day):
        raise InputDataError(
            f"{label}: time column {name!r} has unit {unit.to_string()!r}, which is not a time."
        )
    return values * unit.to(u.day), {"time_unit": unit.to_string()}


def _to_mag(values: np.ndarray, unit: u.UnitBase | None) -> np.ndarray:
    # AB/ST magnitudes (MagUnit) are magnitudes already; mmag is scaled.
    if _is_known(unit) and not isinstance(unit, u.MagUnit) and unit.is_equivalent(u.mag):
        return values * unit.to(u.mag)
    return values
