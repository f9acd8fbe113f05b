"""Magnitudes, fluxes and zero points.

Inside mulens_npe every flux is on MulensModel's scale, zero point 22:
``flux = 10 ** (-0.4 * (mag - 22))``. pyLIMA uses zero point 27.4.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "ZERO_POINT",
    "PYLIMA_ZERO_POINT",
    "mag_to_flux",
    "flux_to_mag",
    "rescale_flux",
]

ZERO_POINT: float = 22.0
"""Zero point (mag) of every flux inside mulens_npe (MulensModel's)."""

PYLIMA_ZERO_POINT: float = 27.4
"""Zero point (mag) of pyLIMA fluxes."""

_LN10_OVER_2P5 = np.log(10.0) / 2.5


def mag_to_flux(
    mag: ArrayLike, mag_err: ArrayLike | None = None, zero_point: float = ZERO_POINT
) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert magnitudes (and their errors) to flux.

    Parameters
    ----------
    mag : array_like
        Magnitudes.
    mag_err : array_like, optional
        Magnitude uncertainties (mag).
    zero_point : float
        Magnitude of unit flux, by default 22 (MulensModel).

    Returns
    -------
    flux, flux_err : numpy.ndarray
        Flux at ``zero_point``; ``flux_err`` is None when ``mag_err`` is None.
    """
    mag = np.asarray(mag, dtype=float)
    flux = 10.0 ** (-0.4 * (mag - zero_point))
    if mag_err is None:
        return flux, None
    return flux, np.asarray(mag_err, dtype=float) * flux * _LN10_OVER_2P5


def flux_to_mag(
    flux: ArrayLike, flux_err: ArrayLike | None = None, zero_point: float = ZERO_POINT
) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert fluxes (and their errors) to magnitudes; the inverse of :func:`mag_to_flux`.

    Non-positive fluxes give NaN magnitudes.
    """
    flux = np.asarray(flux, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = zero_point - 2.5 * np.log10(np.where(flux > 0, flux, np.nan))
        if flux_err is None:
            return mag, None
        mag_err = np.asarray(flux_err, dtype=float) / (flux * _LN10_OVER_2P5)
    return mag, np.where(flux > 0, mag_err, np.nan)


def rescale_flux(
    flux: ArrayLike, from_zero_point: float, to_zero_point: float = ZERO_POINT
) -> np.ndarray:
    """Express fluxes given at one zero point at another (errors scale the same way)."""
    return np.asarray(flux, dtype=float) * 10.0 ** (-0.4 * (from_zero_point - to_zero_point))
