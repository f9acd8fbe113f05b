"""A quick single-lens (PSPL) estimate: where the event is and how long it lasts.

Used by the preprocessing to put every event on the network's grid in units of its own
timescale, and later as the single-lens reference of delta chi2. It is a coarse grid search with
the source and blend fluxes solved by linear least squares, so it is deterministic and takes
about a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "SingleLensEstimate",
    "estimate_single_lens",
    "refine_single_lens",
    "pspl_magnification",
    "linear_fluxes",
]

_U0_GRID = np.geomspace(1e-3, 2.0, 12)
_TE_FACTORS = np.geomspace(0.05, 20.0, 18)


@dataclass(frozen=True)
class SingleLensEstimate:
    """Best PSPL model found by :func:`estimate_single_lens`.

    Attributes
    ----------
    t_0 : float
        Time of closest approach (full BJD/HJD days).
    u_0 : float
        Impact parameter (Einstein radii).
    t_E : float
        Einstein timescale (days).
    source_flux, blend_flux : float
        Linear fluxes at zero point 22.
    chi2 : float
        chi2 of the model on the (binned) data used for the estimate.
    """

    t_0: float
    u_0: float
    t_E: float
    source_flux: float
    blend_flux: float
    chi2: float


def pspl_magnification(tau: np.ndarray, u_0: np.ndarray | float) -> np.ndarray:
    """Point-source point-lens magnification at ``tau = (t - t_0) / t_E``."""
    u2 = np.asarray(tau) ** 2 + np.asarray(u_0) ** 2
    return (u2 + 2.0) / np.sqrt(u2 * (u2 + 4.0))


def linear_fluxes(
    magnification: np.ndarray, flux: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least-squares source and blend flux for one or many model curves.

    Parameters
    ----------
    magnification : numpy.ndarray
        Shape (..., n) model magnifications.
    flux : numpy.ndarray
        Shape (n,) observed flux.
    weight : numpy.ndarray
        Shape (n,) inverse variances.

    Returns
    -------
    source_flux, blend_flux, chi2 : numpy.ndarray
        Each of shape (...).
    """
    magnification = np.asarray(magnification, dtype=float)
    s_w = weight.sum()
    flux_c = flux - (weight @ flux) / s_w
    mean_a = (magnification @ weight) / s_w
    # centred sums: no cancellation even for nearly flat model curves
    a_c = magnification - mean_a[..., None]
    s_aa = (a_c * a_c) @ weight
    s_af = a_c @ (weight * flux_c)
    s_ff = weight @ flux_c**2
    flat = s_aa <= np.finfo(float).tiny
    source = np.where(flat, 0.0, s_af / np.where(flat, 1.0, s_aa))
    blend = (weight @ flux) / s_w - source * mean_a
    chi2 = np.maximum(s_ff - source * s_af, 0.0)
    return source, blend, chi2


def _binned(time, flux, flux_err, n_bins):
    """Inverse-variance means of time and flux in ``n_bins`` equal bins (the epochs if < 5 bins)."""
    weight = 1.0 / flux_err**2
    edges = np.linspace(time[0], time[-1] + 1e-9, n_bins + 1)
    index = np.clip(np.searchsorted(edges, time, side="right") - 1, 0, edges.size - 2)
    w = np.bincount(index, weight, edges.size - 1)
    wf = np.bincount(index, weight * flux, edges.size - 1)
    wt = np.bincount(index, weight * time, edges.size - 1)
    filled = w > 0
    if filled.sum() < 5:
        return time, flux, weight
    return wt[filled] / w[filled], wf[filled] / w[filled], w[filled]


def estimate_single_lens(
    time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray, n_bins: int = 300
) -> SingleLensEstimate:
    """Fit a point-source point-lens model on a coarse grid.

    The data are first averaged into at most ``n_bins`` bins; the peak is the brightest
    point of a 5-bin running median; ``u_0`` and ``t_E`` are then searched on a log grid
    (``t_E`` relative to the width of the bright part), with ``t_0`` refined around the peak.

    Parameters
    ----------
    time, flux, flux_err : numpy.ndarray
        One light curve (days, flux at any zero point).
    n_bins : int
        Bins used for the search.

    Returns
    -------
    SingleLensEstimate
    """
    t_b, f_b, w_b = _binned(time, flux, flux_err, n_bins)
    padded = np.pad(f_b, 2, mode="edge")
    smooth = np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=-1)
    peak = int(np.argmax(smooth))
    baseline = np.median(smooth)
    half = baseline + 0.5 * (smooth[peak] - baseline)
    above = smooth >= half
    left, right = peak, peak
    while left > 0 and above[left - 1]:
        left -= 1
    while right < above.size - 1 and above[right + 1]:
        right += 1
    bin_width = (time[-1] - time[0]) / n_bins
    width = max(t_b[right] - t_b[left], bin_width, 0.02)
    t_e_grid = width * _TE_FACTORS
    t_0_grid = t_b[peak] + width * np.linspace(-0.25, 0.25, 3)
    t0, te, u0 = np.meshgrid(t_0_grid, t_e_grid, _U0_GRID, indexing="ij")
    tau = (t_b[None, :] - t0.reshape(-1, 1)) / te.reshape(-1, 1)
    model = pspl_magnification(tau, u0.reshape(-1, 1))
    source, blend, chi2 = linear_fluxes(model, f_b, w_b)
    chi2 = np.where(source > 0, chi2, np.inf)
    best = int(np.argmin(chi2))
    return SingleLensEstimate(
        t_0=float(t0.flat[best]),
        u_0=float(u0.flat[best]),
        t_E=float(te.flat[best]),
        source_flux=float(source[best]),
        blend_flux=float(blend[best]),
        chi2=float(chi2[best]),
    )


def refine_single_lens(
    time: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray,
    start: SingleLensEstimate,
    n_bins: int = 300,
    max_evaluations: int = 60,
) -> SingleLensEstimate:
    """Polish a single-lens estimate by least squares on the binned curve.

    The grid of :func:`estimate_single_lens` is coarse (its t_0 steps are a quarter of the
    bright part's width), so its residuals show the grid's misfit as much as any anomaly.
    Levenberg-Marquardt on (t_0, ln u_0, ln t_E), with the fluxes solved linearly at each
    step, on the same ``n_bins`` bins; the better of the start and the polish is returned,
    so the chi2 never rises.

    Parameters
    ----------
    time, flux, flux_err : numpy.ndarray
        One light curve (days, flux at any zero point).
    start : SingleLensEstimate
        Starting point, e.g. from :func:`estimate_single_lens` on the same curve.
    n_bins : int
        Bins of the fit.
    max_evaluations : int
        Most model evaluations of the least-squares search.

    Returns
    -------
    SingleLensEstimate
    """
    from scipy.optimize import least_squares

    t_b, f_b, w_b = _binned(time, flux, flux_err, n_bins)
    sigma = 1.0 / np.sqrt(w_b)

    def unpack(p: np.ndarray) -> tuple[float, float, float]:
        """(t_0, u_0, t_E) from the search coordinates (t_0, ln u_0, ln t_E), kept finite."""
        return p[0], np.exp(np.clip(p[1], -12.0, 3.0)), np.exp(np.clip(p[2], -10.0, 10.0))

    def magnification(p: np.ndarray) -> np.ndarray:
        t_0, u_0, t_e = unpack(p)
        return pspl_magnification((t_b - t_0) / t_e, u_0)

    def residuals(p: np.ndarray) -> np.ndarray:
        a = magnification(p)
        source, blend, _ = linear_fluxes(a, f_b, w_b)
        return (f_b - source * a - blend) / sigma

    x0 = np.array([start.t_0, np.log(max(start.u_0, 1e-6)), np.log(start.t_E)])
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            fit = least_squares(residuals, x0, method="lm", max_nfev=max_evaluations)
        except ValueError:  # non-finite residuals at the start: keep the grid's estimate
            return start
    chi2 = float(np.sum(fit.fun**2)) if np.all(np.isfinite(fit.fun)) else np.inf
    source, blend, _ = linear_fluxes(magnification(fit.x), f_b, w_b)
    if not (chi2 < float(np.sum(residuals(x0) ** 2)) and source > 0):
        return start
    t_0, u_0, t_e = unpack(fit.x)
    return SingleLensEstimate(
        t_0=float(t_0),
        u_0=float(u_0),
        t_E=float(t_e),
        source_flux=float(source),
        blend_flux=float(blend),
        chi2=chi2,
    )
