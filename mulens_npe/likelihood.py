"""The true likelihood of a 2L1S model: chi2 against every dataset of one event.

Finite-source binary-lens magnifications come from VBMicrolensing
(:func:`~mulens_npe.simulate.binary_magnification`, one C++ call per model over all epochs);
for each dataset, the source and blend fluxes that minimise chi2 for that magnification curve
are solved by weighted linear least squares, so they are never sampled or optimised.
:func:`single_lens_fit` is the point-source point-lens reference of delta chi2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from .errors import ConfigurationError, InputDataError
from .lightcurve import LightCurve
from .parameters import PARAMETER_NAMES
from .simulate.magnification import CurvePool, binary_magnification
from .singlelens import pspl_magnification

__all__ = ["Likelihood", "single_lens_fit", "parameter_columns"]


def parameter_columns(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The seven MulensModel parameters as equally long 1-d arrays (scalars broadcast)."""
    missing = [name for name in PARAMETER_NAMES if name not in params]
    if missing:
        raise ConfigurationError(f"parameters {missing} are missing; got {sorted(params)}.")
    columns = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(params[n], dtype=float)) for n in PARAMETER_NAMES)
    )
    return dict(zip(PARAMETER_NAMES, columns, strict=True))


def _as_lightcurves(lightcurves: LightCurve | Sequence[LightCurve]) -> tuple[LightCurve, ...]:
    if isinstance(lightcurves, LightCurve):
        return (lightcurves,)
    lcs = tuple(lightcurves)
    if not lcs or not all(isinstance(lc, LightCurve) for lc in lcs):
        raise InputDataError(
            "Likelihood: give one LightCurve or a non-empty list of them "
            "(mulens_npe.as_lightcurves reads files, MulensModel and pyLIMA objects)."
        )
    return lcs


class Likelihood:
    """chi2 of 2L1S models against the datasets of one event, fluxes solved linearly.

    Arguments:
        lightcurves: One :class:`~mulens_npe.LightCurve` or several (one per dataset).
        tolerance: Relative accuracy of the magnification (VBMicrolensing ``Tol`` and
            ``RelTol``).
        pool: Processes that share the curves of each batch
            (:class:`~mulens_npe.simulate.CurvePool`); default this process alone. The
            likelihoods made by :meth:`subset` and :meth:`compressed` share it.

    Example:
        >>> import numpy as np
        >>> from mulens_npe import LightCurve
        >>> p = dict(t_0=2460010.0, u_0=0.1, t_E=10.0, rho=1e-3, s=1.1, q=1e-3, alpha=30.0)
        >>> t = 2460000.0 + np.linspace(0.0, 20.0, 200)
        >>> flux = 10.0 * binary_magnification(p, t)[0] + 2.0
        >>> likelihood = Likelihood(LightCurve(t, flux, np.full(200, 0.1)))
        >>> chi2, fluxes = likelihood.fit(p)
        >>> float(chi2[0]) < 1e-6, fluxes[0, 0].round(3).tolist()
        (True, [10.0, 2.0])
    """

    def __init__(
        self,
        lightcurves: LightCurve | Sequence[LightCurve],
        tolerance: float = 1e-3,
        pool: CurvePool | None = None,
    ) -> None:
        self.lightcurves = _as_lightcurves(lightcurves)
        self.tolerance = float(tolerance)
        self.pool = pool
        times = np.concatenate([lc.time for lc in self.lightcurves])
        self._order = np.argsort(times, kind="stable")
        self._times = times[self._order]
        self._inverse = np.argsort(self._order, kind="stable")
        self._flux = [np.asarray(lc.flux) for lc in self.lightcurves]
        self._err = [np.asarray(lc.flux_err) for lc in self.lightcurves]
        self._weight = [1.0 / e**2 for e in self._err]
        edges = np.cumsum([0] + [lc.n_points for lc in self.lightcurves])
        self._slices = [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]

    @property
    def n_points(self) -> int:
        """Number of epochs over all datasets."""
        return int(self._times.size)

    @property
    def n_datasets(self) -> int:
        """Number of datasets (each has its own source and blend flux)."""
        return len(self.lightcurves)

    @property
    def dof(self) -> int:
        """Degrees of freedom of a 2L1S fit: epochs - 7 - 2 per dataset."""
        return self.n_points - len(PARAMETER_NAMES) - 2 * self.n_datasets

    @property
    def time_range(self) -> tuple[float, float]:
        """First and last epoch (full BJD/HJD days)."""
        return float(self._times[0]), float(self._times[-1])

    def magnification(self, params: Mapping[str, Any]) -> np.ndarray:
        """Magnification of ``n`` parameter sets at every epoch, shape ``(n, n_points)``.

        Columns follow the datasets in order (dataset 0's epochs first).
        """
        sorted_magnification = binary_magnification(
            parameter_columns(params), self._times, tolerance=self.tolerance, pool=self.pool
        )
        return sorted_magnification[:, self._inverse]

    def _solve(self, magnification: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """chi2 (n,) and fluxes (n, n_datasets, 2) for magnification curves (n, n_points)."""
        chi2 = np.zeros(magnification.shape[0])
        fluxes = np.empty((magnification.shape[0], self.n_datasets, 2))
        for k, part in enumerate(self._slices):
            source, blend, chi2_k = _linear_fit(
                magnification[:, part], self._flux[k], self._weight[k]
            )
            fluxes[:, k, 0], fluxes[:, k, 1] = source, blend
            chi2 += chi2_k
        return chi2, fluxes

    def fit(self, params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """chi2 and the best linear fluxes of ``n`` parameter sets.

        Parameters
        ----------
        params : mapping
            MulensModel parameters (``alpha`` in degrees), scalars or arrays of length ``n``.

        Returns
        -------
        chi2 : numpy.ndarray
            Shape ``(n,)``.
        fluxes : numpy.ndarray
            Shape ``(n, n_datasets, 2)``: source and blend flux of each dataset at zero
            point 22.
        """
        return self._solve(self.magnification(params))

    def chi2(self, params: Mapping[str, Any]) -> np.ndarray:
        """chi2 of ``n`` parameter sets, shape ``(n,)``."""
        return self.fit(params)[0]

    def residuals_from_magnification(self, magnification: np.ndarray) -> np.ndarray:
        """Normalised residuals ``(F - F_s A - F_b) / sigma`` with the best fluxes, (n, n_points)."""
        _, fluxes = self._solve(magnification)
        out = np.empty_like(magnification)
        for k, part in enumerate(self._slices):
            model = fluxes[:, k, :1] * magnification[:, part] + fluxes[:, k, 1:]
            out[:, part] = (self._flux[k] - model) / self._err[k]
        return out

    def subset(self, max_points: int) -> Likelihood:
        """A likelihood on every k-th epoch of each dataset, at most ~``max_points`` epochs.

        Its chi2 estimates ``chi2 / k`` of the full data: cheap enough to rank many draws,
        not to report.
        """
        stride = max(1, int(np.ceil(self.n_points / max(int(max_points), 1))))
        if stride == 1:
            return self
        lcs = [lc.select(np.arange(lc.n_points) % stride == 0) for lc in self.lightcurves]
        return Likelihood(lcs, tolerance=self.tolerance, pool=self.pool)

    def compressed(self, stride: int = 4, threshold: float = 3.0, pad: int = 2) -> Likelihood:
        """A cheaper likelihood with nearly the same chi2 differences, for the optimiser.

        Each dataset is cut into bins of ``stride`` consecutive epochs. Where the light curve
        bends within a few bins (a bin's mean flux departs from the straight line through its
        neighbours' by more than ``threshold`` sigma: a caustic crossing, a sharp peak, a
        planet's blip), every epoch of those bins and of ``pad`` bins on each side is kept as
        it is. Elsewhere the light curve is straight on the scale of a bin, and each run of up
        to ``stride`` consecutive epochs (never across a gap longer than three typical
        spacings) becomes one epoch: its weighted mean time and flux, with the error of that
        mean.

        A model that is smooth across a bin changes chi2 there as it would on the epochs
        themselves (the flux residuals enter only through their weighted mean), so chi2
        differences between such models agree with the full data's to second order in the bin
        width; the chi2 itself is lower by the data's scatter within the bins, the same for
        every model. Use it to find optima, and :meth:`chi2` of the full likelihood to report
        them.

        Parameters
        ----------
        stride : int
            Epochs per bin.
        threshold : float
            Departure [sigma] of a bin's mean flux from its neighbours' line that marks
            structure.
        pad : int
            Bins kept whole on each side of a marked one.

        Returns
        -------
        Likelihood
            ``self`` when nothing would be binned. A dataset shorter than ``50 * stride``
            epochs (follow-up of the peak) is kept whole.
        """
        if int(stride) < 1 or int(pad) < 0 or not threshold > 0:
            raise ConfigurationError(
                f"compressed: need stride >= 1, pad >= 0, threshold > 0; got {stride}, {pad}, "
                f"{threshold}."
            )
        stride = int(stride)
        binned = [
            lc if lc.n_points < 50 * stride else _bin_smooth(lc, stride, float(threshold), int(pad))
            for lc in self.lightcurves
        ]
        if sum(lc.n_points for lc in binned) == self.n_points:
            return self
        return Likelihood(binned, tolerance=self.tolerance, pool=self.pool)


def _bin_smooth(lc: LightCurve, stride: int, threshold: float, pad: int) -> LightCurve:
    """``lc`` with the runs of epochs where it is straight on the scale of ``stride`` binned.

    See :meth:`Likelihood.compressed`.
    """
    n = lc.n_points
    weight = 1.0 / lc.flux_err**2
    group = np.arange(n) // stride
    n_groups = int(group[-1]) + 1
    w_sum = np.bincount(group, weight, n_groups)
    mean_flux = np.bincount(group, weight * lc.flux, n_groups) / w_sum
    mean_time = np.bincount(group, weight * lc.time, n_groups) / w_sum
    bends = np.ones(n_groups, dtype=bool)  # the first and last bin have one neighbour: kept
    if n_groups >= 3:
        # departure of each bin's mean from the line through its neighbours', and its sigma
        a = (mean_time[2:] - mean_time[1:-1]) / (mean_time[2:] - mean_time[:-2])
        departure = mean_flux[1:-1] - (a * mean_flux[:-2] + (1.0 - a) * mean_flux[2:])
        var = 1.0 / w_sum
        sigma = np.sqrt(var[1:-1] + a**2 * var[:-2] + (1.0 - a) ** 2 * var[2:])
        bends[1:-1] = np.abs(departure) > threshold * sigma
    bends = np.convolve(bends, np.ones(2 * pad + 1), mode="same") > 0
    keep = bends[group]
    spacing = np.diff(lc.time)
    gap = np.concatenate([[True], spacing > 3.0 * np.median(spacing)])
    # runs start at every kept epoch (each its own bin), after one, and after a gap
    out = _run_bins(keep | np.concatenate([[True], keep[:-1]]) | gap, stride)
    w_out = np.bincount(out, weight)
    return LightCurve(
        np.bincount(out, weight * lc.time) / w_out,
        np.bincount(out, weight * lc.flux) / w_out,
        1.0 / np.sqrt(w_out),
        lc.band,
        lc.meta,
    )


def _run_bins(run_start: np.ndarray, size: int | np.ndarray) -> np.ndarray:
    """Bin index of each epoch: a new bin at every run start, then every ``size`` epochs.

    Parameters
    ----------
    run_start : numpy.ndarray of bool
        True where a run of consecutive epochs begins (the first epoch must be True).
    size : int or numpy.ndarray
        Epochs per bin within a run (an array gives each epoch's own).

    Returns
    -------
    numpy.ndarray
        Non-decreasing bin indices from 0, for :func:`numpy.bincount`.
    """
    first = np.flatnonzero(run_start)
    in_run = np.arange(run_start.size) - first[np.cumsum(run_start) - 1]
    return np.cumsum(in_run % size == 0) - 1


def _linear_fit(
    magnification: np.ndarray, flux: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least-squares source and blend flux, and chi2 from the residuals.

    The same fit as :func:`mulens_npe.singlelens.linear_fluxes`, written about the weighted
    means and with chi2 summed from residuals: a trial model whose magnification is almost
    flat (the source far from the lens) makes the raw normal equations cancel, and their
    closed-form chi2 can then come out as 0, which would pull the optimiser to such models.
    """
    w_sum = weight.sum()
    a_mean = (magnification @ weight) / w_sum
    f_mean = (weight @ flux) / w_sum
    centred = magnification - a_mean[:, None]
    s_aa = (centred * centred) @ weight
    s_af = centred @ (weight * (flux - f_mean))
    source = np.where(s_aa > 0, s_af / np.where(s_aa > 0, s_aa, 1.0), 0.0)
    blend = f_mean - source * a_mean
    residual = flux - source[:, None] * magnification - blend[:, None]
    return source, blend, (residual * residual) @ weight


def single_lens_fit(likelihood: Likelihood, start: Mapping[str, float]) -> dict[str, float]:
    """Best point-source point-lens model of the event (the reference of delta chi2).

    Parameters
    ----------
    likelihood : Likelihood
        The data.
    start : mapping
        ``t_0``, ``u_0``, ``t_E`` to start from (e.g. the preprocessing's estimate).

    Returns
    -------
    dict
        ``t_0``, ``u_0``, ``t_E`` and ``chi2`` of the best PSPL model (fluxes solved
        linearly per dataset).
    """
    times = [lc.time for lc in likelihood.lightcurves]

    def chi2_of(z: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                _pspl_residuals(z, t, likelihood._flux[k], likelihood._weight[k])
                for k, t in enumerate(times)
            ]
        )

    z0 = np.array(
        [float(start["t_0"]), abs(float(start["u_0"])) + 1e-4, np.log(float(start["t_E"]))]
    )
    scale = np.array([max(float(start["t_E"]), 1e-3) * 1e-2, 1e-2, 1e-2])
    fit = least_squares(chi2_of, z0, method="lm", x_scale=scale, max_nfev=400)
    best = fit.x if 2 * fit.cost <= np.sum(chi2_of(z0) ** 2) else z0
    return {
        "t_0": float(best[0]),
        "u_0": float(abs(best[1])),
        "t_E": float(np.exp(best[2])),
        "chi2": float(np.sum(chi2_of(best) ** 2)),
    }


def _pspl_residuals(z: np.ndarray, time_: np.ndarray, flux: np.ndarray, weight: np.ndarray):
    # least_squares' Levenberg-Marquardt steps may try absurd ln t_E: keep exp finite
    t_e = np.exp(np.clip(z[2], -30.0, 30.0))
    magnification = pspl_magnification((time_ - z[0]) / t_e, z[1])
    source, blend, _ = _linear_fit(magnification[None], flux, weight)
    return (flux - source[0] * magnification - blend[0]) * np.sqrt(weight)
