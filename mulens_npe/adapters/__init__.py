"""Adapters: everything a user may hold, turned into :class:`~mulens_npe.LightCurve` objects."""

from __future__ import annotations

from .arrays import MIN_POINTS, lightcurve_from_arrays

__all__ = ["as_lightcurves", "lightcurve_from_arrays", "MIN_POINTS"]


def as_lightcurves(obj, **options):  # replaced by the dispatching implementation
    raise NotImplementedError
