"""MulensModel ``MulensData`` and ``Event`` as LightCurves.

MulensData already holds flux at zero point 22 (``data.flux``, ``data.err_flux``; computed from
magnitudes when the data were given in mag, with any ``scale_errorbars`` applied), so it is read
in flux, with no round trip through magnitudes. Only the ``good`` epochs are kept.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import InputDataError
from ..lightcurve import LightCurve
from ..photometry import ZERO_POINT
from .arrays import MIN_POINTS, lightcurve_from_arrays

__all__ = ["lightcurve_from_mulensdata", "lightcurves_from_event"]


def lightcurve_from_mulensdata(
    data: Any,
    *,
    band: str | None = None,
    time_offset: float | None = None,
    min_points: int = MIN_POINTS,
    drop_invalid: bool = False,
    allow_nonpositive_flux: bool = True,
    source: str = "MulensModel.MulensData",
    dataset_index: int | None = None,
) -> LightCurve:
    """Read the good epochs of a ``MulensModel.MulensData``.

    Parameters
    ----------
    data : MulensModel.MulensData
        The dataset; it is not modified.
    band : str, optional
        Name of the LightCurve. Default: ``plot_properties["label"]``, else the file's base
        name, else ``bandpass``, else ``"unknown"``.
    time_offset : float, optional
        Days added to ``data.time`` when it is not a full JD (e.g. 2450000).
    min_points : int
        Fewest good epochs accepted.
    drop_invalid : bool
        Drop non-finite rows and errors <= 0 with a warning instead of raising.
    allow_nonpositive_flux : bool
        Accept a median flux <= 0. True by default: fluxes in a MulensData are what the user
        chose to fit, difference-imaging fluxes included.
    source, dataset_index
        Provenance recorded in ``meta`` (set by :func:`lightcurves_from_event`).

    Returns
    -------
    LightCurve
        Flux at zero point 22, sorted.
    """
    good = np.asarray(data.good, dtype=bool)
    file_name = data.file_name
    label_text = data.plot_properties.get("label")
    name = band or _dataset_name(label_text, file_name, data.bandpass)
    label = f"MulensData {name!r}"
    if not good.any():
        raise InputDataError(f"{label}: all {good.size} epochs are flagged bad (data.bad).")
    meta: dict[str, Any] = {
        "source": source,
        "source_phot_fmt": data.input_fmt,
        "input_zero_point": ZERO_POINT,
        "columns": ("time", "flux", "err_flux"),
        "n_bad_excluded": int(good.size - good.sum()),
    }
    optional = {
        "file_name": file_name,
        "label": label_text,
        "bandpass": data.bandpass,
        "telescope": data.telescope,
        "dataset_index": dataset_index,
    }
    meta.update({key: value for key, value in optional.items() if value is not None})
    # Boolean indexing copies, so nothing below can reach the user's arrays.
    return lightcurve_from_arrays(
        data.time[good],
        data.flux[good],
        data.err_flux[good],
        phot_fmt="flux",
        zero_point=ZERO_POINT,
        band=name,
        meta=meta,
        time_offset=time_offset,
        min_points=min_points,
        drop_invalid=drop_invalid,
        allow_nonpositive_flux=allow_nonpositive_flux,
        label=label,
        column_names=("time", "flux", "err_flux"),
    )


def lightcurves_from_event(event: Any, **options: Any) -> list[LightCurve]:
    """Read every dataset of a ``MulensModel.Event`` (options as :func:`lightcurve_from_mulensdata`).

    Returns
    -------
    list of LightCurve
        One per dataset, in the order of ``event.datasets``.
    """
    datasets = event.datasets
    if not datasets:
        raise InputDataError("MulensModel.Event has no datasets: set Event(datasets=...).")
    return [
        lightcurve_from_mulensdata(data, source="MulensModel.Event", dataset_index=index, **options)
        for index, data in enumerate(datasets)
    ]


def _dataset_name(label: Any, file_name: str | None, bandpass: str | None) -> str:
    # MulensModel's own order for naming a dataset (MulensData._get_name), then the bandpass.
    if label is not None:
        return str(label)
    if file_name is not None:
        return os.path.basename(file_name)
    if bandpass is not None:
        return str(bandpass)
    return "unknown"
