"""pyLIMA ``Telescope`` and ``Event`` as LightCurves.

pyLIMA is optional (and GPL): this module never imports it. It reads the telescope's
``lightcurve``, an astropy ``QTable`` with columns time, mag, err_mag, flux, err_flux,
inv_err_flux that pyLIMA fills from whichever of mag or flux the user gave.

Magnitudes are read, not fluxes: pyLIMA's fluxes are at its module-level zero point (27.4 unless a
user changed ``pyLIMA.toolbox.brightness_transformation.ZERO_POINT``), while magnitudes mean the
same whatever it is. Fluxes at 27.4 are used only for a light curve without magnitudes.

pyLIMA cleans data when a Telescope is built: it sorts by time, keeps the first of repeated
epochs, and drops rows with a non-finite value — which includes every negative difference
flux, whose magnitude is NaN. Those rows are gone from the Telescope and cannot be read back.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputDataError
from ..lightcurve import LightCurve
from ..photometry import PYLIMA_ZERO_POINT
from .arrays import MIN_POINTS

__all__ = ["lightcurve_from_telescope", "lightcurves_from_event"]


def lightcurve_from_telescope(
    telescope: Any,
    *,
    band: str | None = None,
    time_offset: float | None = None,
    min_points: int = MIN_POINTS,
    drop_invalid: bool = False,
    allow_nonpositive_flux: bool = True,
    source: str = "pyLIMA.Telescope",
    dataset_index: int | None = None,
) -> LightCurve:
    """Read the photometry of a ``pyLIMA.telescopes.Telescope``.

    Parameters
    ----------
    telescope : pyLIMA.telescopes.Telescope
        The telescope; it is not modified.
    band : str, optional
        Name of the LightCurve; default the telescope's ``name``.
    time_offset : float, optional
        Days added to the times when they are not full JD (e.g. 2450000).
    min_points, drop_invalid
        As in :func:`~mulens_npe.adapters.arrays.lightcurve_from_arrays`.
    allow_nonpositive_flux : bool
        Accept a median flux <= 0 when the light curve has fluxes only (default True).
    source, dataset_index
        Provenance recorded in ``meta`` (set by :func:`lightcurves_from_event`).

    Returns
    -------
    LightCurve
        Flux at zero point 22, sorted.
    """
    from .astropy_table import lightcurve_from_table

    name = band or str(telescope.name)
    label = f"pyLIMA telescope {name!r}"
    if not hasattr(telescope, "lightcurve"):
        raise InputDataError(
            f"{label}: no 'lightcurve' attribute; mulens_npe reads pyLIMA >= 1.9 Telescopes."
        )
    table = telescope.lightcurve
    if table is None:
        raise InputDataError(f"{label}: the telescope has no photometry (lightcurve is None).")
    columns = set(table.colnames)
    meta: dict[str, Any] = {"source": source, "telescope": str(telescope.name)}
    if getattr(telescope, "filter", None) is not None:
        meta["filter"] = str(telescope.filter)
    if dataset_index is not None:
        meta["dataset_index"] = dataset_index
    if {"time", "mag", "err_mag"} <= columns:
        value, err, phot_fmt, zero_point = "mag", "err_mag", "mag", None
    elif {"time", "flux", "err_flux"} <= columns:
        value, err, phot_fmt, zero_point = "flux", "err_flux", "flux", PYLIMA_ZERO_POINT
    else:
        raise InputDataError(
            f"{label}: the lightcurve table has columns {table.colnames}; expected time, mag, "
            "err_mag or time, flux, err_flux."
        )
    options: dict[str, Any] = {"zero_point": zero_point} if zero_point is not None else {}
    return lightcurve_from_table(
        table,
        time_column="time",
        value_column=value,
        err_column=err,
        phot_fmt=phot_fmt,
        band=name,
        time_offset=time_offset,
        min_points=min_points,
        drop_invalid=drop_invalid,
        allow_nonpositive_flux=allow_nonpositive_flux,
        meta=meta,
        label=label,
        **options,
    )


def lightcurves_from_event(event: Any, **options: Any) -> list[LightCurve]:
    """Read every telescope of a ``pyLIMA.event.Event`` (options as :func:`lightcurve_from_telescope`).

    Returns
    -------
    list of LightCurve
        One per telescope, in the order of ``event.telescopes``.
    """
    telescopes = list(event.telescopes)
    if not telescopes:
        raise InputDataError(
            "pyLIMA Event has no telescopes: add them with event.telescopes.append."
        )
    return [
        lightcurve_from_telescope(telescope, source="pyLIMA.Event", dataset_index=index, **options)
        for index, telescope in enumerate(telescopes)
    ]
