"""The one internal light-curve type.

A :class:`LightCurve` is one dataset (one telescope, one band) of one event: times in full
BJD/HJD days and fluxes at MulensModel's zero point 22. It is immutable: its arrays are
read-only copies, so no step of the pipeline can change what the user gave. Several datasets
of one event are a sequence of LightCurves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import InputDataError
from .photometry import ZERO_POINT, flux_to_mag

__all__ = ["LightCurve", "FULL_JD_THRESHOLD"]

FULL_JD_THRESHOLD: float = 2_400_000.0
"""Times below this (days) are not full JD/BJD/HJD; adapters ask for an explicit offset."""


def _frozen_array(values: Any, name: str, label: str) -> np.ndarray:
    try:
        array = np.array(values, dtype=float, copy=True)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{label}: column {name!r} is not numeric ({exc}).") from None
    if array.ndim != 1:
        raise InputDataError(
            f"{label}: column {name!r} must be one-dimensional, got shape {array.shape}."
        )
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class LightCurve:
    """One photometric dataset of a microlensing event.

    Arguments:
        time: Epochs of observation, full BJD/HJD (days), strictly increasing.
        flux: Flux at zero point 22 (MulensModel's scale); may be negative for
            difference-imaging data.
        flux_err: One-sigma flux uncertainties (same units as ``flux``), all > 0.
        band: Band or telescope name, e.g. ``"W149"`` or ``"OGLE I"``.
        meta: Provenance (file name, source object type, conversions applied). Read-only.

    Use :func:`mulens_npe.as_lightcurves` to build LightCurves from files and from
    MulensModel, pyLIMA or astropy objects: it validates, converts and sorts. The
    constructor itself only checks and never changes values.

    Example:
        >>> import numpy as np
        >>> from mulens_npe import LightCurve
        >>> lc = LightCurve(np.array([2460000.0, 2460001.0]), np.array([10.0, 12.0]),
        ...                 np.array([0.1, 0.1]), band="W149")
        >>> lc.n_points, lc.mag.round(3).tolist()
        (2, [19.5, 19.302])
    """

    time: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    band: str = "unknown"
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        label = f"LightCurve {self.band!r}"
        arrays = {
            name: _frozen_array(getattr(self, name), name, label)
            for name in ("time", "flux", "flux_err")
        }
        sizes = {name: a.size for name, a in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise InputDataError(f"{label}: columns have different lengths {sizes}.")
        if arrays["time"].size == 0:
            raise InputDataError(f"{label}: no data points.")
        for name, array in arrays.items():
            bad = np.flatnonzero(~np.isfinite(array))
            if bad.size:
                raise InputDataError(
                    f"{label}: column {name!r} has {bad.size} non-finite value(s), first at row(s) "
                    f"{bad[:5].tolist()} ({array[bad[:5]].tolist()})."
                )
        bad = np.flatnonzero(arrays["flux_err"] <= 0)
        if bad.size:
            raise InputDataError(
                f"{label}: column 'flux_err' has {bad.size} value(s) <= 0, first at row(s) "
                f"{bad[:5].tolist()}."
            )
        if np.any(np.diff(arrays["time"]) <= 0):
            raise InputDataError(
                f"{label}: times must be strictly increasing (use mulens_npe.as_lightcurves, "
                "which sorts and merges duplicate epochs)."
            )
        if arrays["time"][0] < FULL_JD_THRESHOLD:
            raise InputDataError(
                f"{label}: time {arrays['time'][0]} is not a full JD/BJD/HJD; add the offset "
                "(e.g. 2450000) first."
            )
        for name, array in arrays.items():
            object.__setattr__(self, name, array)
        object.__setattr__(self, "band", str(self.band))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle support (multiprocessing, Dask): rebuilt, and re-checked, from its columns."""
        return (LightCurve, (self.time, self.flux, self.flux_err, self.band, dict(self.meta)))

    @property
    def n_points(self) -> int:
        """Number of epochs."""
        return int(self.time.size)

    @property
    def mag(self) -> np.ndarray:
        """Magnitudes at zero point 22 (NaN where the flux is not positive)."""
        return flux_to_mag(self.flux)[0]

    @property
    def mag_err(self) -> np.ndarray:
        """Magnitude uncertainties (NaN where the flux is not positive)."""
        return flux_to_mag(self.flux, self.flux_err)[1]

    @property
    def time_span(self) -> float:
        """Days between the first and the last epoch."""
        return float(self.time[-1] - self.time[0])

    def select(self, mask: np.ndarray) -> LightCurve:
        """A new LightCurve with the epochs where ``mask`` is True (same band, same meta)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.time.shape:
            raise InputDataError(f"mask has shape {mask.shape}, light curve has {self.time.shape}.")
        return LightCurve(
            self.time[mask], self.flux[mask], self.flux_err[mask], self.band, self.meta
        )

    def to_table(self):
        """The data as an :class:`astropy.table.Table` (columns time, flux, flux_err, mag, mag_err)."""
        from astropy.table import Table

        table = Table(
            {
                "time": self.time,
                "flux": self.flux,
                "flux_err": self.flux_err,
                "mag": self.mag,
                "mag_err": self.mag_err,
            }
        )
        table["time"].unit = "d"
        table["mag"].unit = "mag"
        table["mag_err"].unit = "mag"
        table.meta.update({"band": self.band, "zero_point": ZERO_POINT, **dict(self.meta)})
        return table

    def __repr__(self) -> str:
        return (
            f"LightCurve(band={self.band!r}, n_points={self.n_points}, "
            f"time=[{self.time[0]:.4f} .. {self.time[-1]:.4f}])"
        )
