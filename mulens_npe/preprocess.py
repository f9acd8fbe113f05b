"""The one preprocessing shared by training and inference: light curves to network input.

Steps (each choice is recorded in :class:`PreprocessSpec`, which goes into the model card):

1. Locate the event with a quick single-lens estimate (:mod:`mulens_npe.singlelens`) on the
   dataset with most epochs: ``t_ref`` (its t_0) and ``t_scale`` (its t_E).
2. Normalise every dataset with its own source and blend flux from that single-lens shape, so
   the values are magnification-like, ``A_obs = (F - F_blend) / F_source``, free of the
   blending nuisance; errors scale the same way.
3. Window: ``t_ref +- window * t_scale``, cut to the observed span. Bins of equal width in
   ``tau = (t - t_ref) / t_scale``; each bin holds the inverse-variance mean of the epochs in it.
4. Channels: ``asinh(A_obs - 1)`` (linear near the baseline, logarithmic at high
   magnification), the log of its uncertainty, a mask (1 where the bin has data, so gaps and
   irregular cadence are explicit), and the bin's ``tau / window`` (where the bin lies relative
   to the event, since the window is cut at the edges of the data).
5. Optionally (``PreprocessSpec.residual``) a fifth channel, ``residual``: how far each bin
   departs from a least-squares single-lens fit (:func:`~mulens_npe.singlelens.refine_single_lens`,
   fluxes solved per dataset), in units of its own noise: ``asinh(sum(r_i) / sqrt(n))`` over
   the bin's epochs, ``r_i`` the normalised residuals. A binary's signal that is a small
   fraction of the magnification (a small central caustic, Roman's precise photometry) is
   then as plain to the network as it is to a chi2.

The network then predicts t_0 and t_E relative to ``t_ref`` and ``t_scale``: it is amortised
over where the event sits in time and over its timescale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import ConfigurationError, InputDataError
from .lightcurve import LightCurve
from .singlelens import (
    SingleLensEstimate,
    estimate_single_lens,
    linear_fluxes,
    pspl_magnification,
    refine_single_lens,
)

__all__ = ["PreprocessSpec", "NetworkInput", "preprocess", "CHANNELS", "RESIDUAL"]

CHANNELS: tuple[str, ...] = ("asinh_excess", "log10_err", "mask", "tau")
"""The channels of every model; ``PreprocessSpec(residual=True)`` appends :data:`RESIDUAL`."""
RESIDUAL = "residual"


@dataclass(frozen=True)
class PreprocessSpec:
    """How light curves are put on the network's grid.

    Arguments:
        n_bins: Length of the network input.
        window: Half-width of the window in units of the single-lens t_E estimate.
        min_points: Fewest epochs inside the window.
        max_log10_err: Bin errors (asinh units) are clipped to ``10 ** max_log10_err``.
        residual: Append the ``residual`` channel (departure from a single-lens fit, in
            units of the noise); models trained without it keep four channels.
    """

    n_bins: int = 512
    window: float = 3.0
    min_points: int = 10
    max_log10_err: float = 1.0
    residual: bool = False

    def __post_init__(self) -> None:
        if int(self.n_bins) != self.n_bins or self.n_bins < 16:
            raise ConfigurationError(
                f"PreprocessSpec: n_bins must be an integer >= 16, got {self.n_bins}."
            )
        if not self.window > 0:
            raise ConfigurationError(f"PreprocessSpec: window must be > 0, got {self.window}.")
        if not isinstance(self.residual, bool):
            raise ConfigurationError(
                f"PreprocessSpec: residual must be true or false, got {self.residual!r}."
            )

    @property
    def channels(self) -> tuple[str, ...]:
        """Names of the input channels, in order."""
        return (*CHANNELS, RESIDUAL) if self.residual else CHANNELS

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, with the channel names (cards of four-channel models omit ``residual``)."""
        spec = asdict(self)
        if not self.residual:
            del spec["residual"]
        return {**spec, "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> PreprocessSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigurationError`."""
        known = set(cls.__dataclass_fields__)
        spec = dict(spec)
        channels = spec.pop("channels", None)
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigurationError(f"PreprocessSpec: unknown key(s) {unknown}.")
        result = cls(**spec)
        if channels is not None and list(channels) != list(result.channels):
            raise ConfigurationError(
                f"PreprocessSpec: channels {list(channels)} differ from this version's "
                f"{list(result.channels)} for residual={result.residual}."
            )
        return result


@dataclass(frozen=True)
class NetworkInput:
    """Network input for one event and the reference frame needed to read its output.

    Attributes
    ----------
    values : numpy.ndarray
        float32 array of shape (len(spec.channels), n_bins).
    t_ref : float
        Reference time (full BJD/HJD days): t_0 of the single-lens estimate.
    t_scale : float
        Time unit (days): t_E of the single-lens estimate.
    single_lens : SingleLensEstimate
        The estimate itself.
    span : tuple of float
        First and last epoch of all datasets (full BJD/HJD days): the event's "season".
    """

    values: np.ndarray
    t_ref: float
    t_scale: float
    single_lens: SingleLensEstimate
    span: tuple[float, float]


def preprocess(
    lightcurves: LightCurve | Sequence[LightCurve], spec: PreprocessSpec
) -> NetworkInput:
    """Put one event (one or several datasets) on the network's input grid.

    Parameters
    ----------
    lightcurves : LightCurve or sequence of LightCurve
        The datasets of one event (see :func:`mulens_npe.as_lightcurves`).
    spec : PreprocessSpec
        Grid and window.

    Returns
    -------
    NetworkInput
    """
    if isinstance(lightcurves, LightCurve):
        lightcurves = [lightcurves]
    if not lightcurves:
        raise InputDataError("preprocess: no light curves given.")
    main = max(lightcurves, key=lambda lc: lc.n_points)
    estimate = estimate_single_lens(main.time, main.flux, main.flux_err)
    t_ref, t_scale = estimate.t_0, estimate.t_E

    taus, values, weights = [], [], []
    for lc in lightcurves:
        tau = (lc.time - t_ref) / t_scale
        weight = 1.0 / lc.flux_err**2
        model = pspl_magnification(tau, estimate.u_0)
        source, blend, _ = linear_fluxes(model, lc.flux, weight)
        if not source > 0:
            source, blend = estimate.source_flux, estimate.blend_flux
        a_obs = (lc.flux - blend) / source
        a_err = lc.flux_err / abs(source)
        value = np.arcsinh(a_obs - 1.0)
        value_err = a_err / np.sqrt(1.0 + (a_obs - 1.0) ** 2)
        taus.append(tau)
        values.append(value)
        weights.append(1.0 / value_err**2)
    tau = np.concatenate(taus)
    value = np.concatenate(values)
    weight = np.concatenate(weights)

    low = max(-spec.window, tau.min())
    high = min(spec.window, tau.max())
    inside = (tau >= low) & (tau <= high)
    if inside.sum() < spec.min_points or not high > low:
        raise InputDataError(
            f"preprocess: only {int(inside.sum())} epoch(s) within {spec.window} t_E "
            f"(t_E ~ {t_scale:.3g} d) of the event at t_0 ~ {t_ref:.4f}; at least "
            f"{spec.min_points} are needed."
        )
    edges = np.linspace(-spec.window, spec.window, spec.n_bins + 1)
    index = np.clip(np.searchsorted(edges, tau[inside], side="right") - 1, 0, spec.n_bins - 1)
    w_sum = np.bincount(index, weight[inside], spec.n_bins)
    wv_sum = np.bincount(index, weight[inside] * value[inside], spec.n_bins)
    filled = w_sum > 0
    mean = np.where(filled, wv_sum / np.where(filled, w_sum, 1.0), 0.0)
    log_err = np.where(
        filled,
        np.minimum(-0.5 * np.log10(np.where(filled, w_sum, 1.0)), spec.max_log10_err),
        spec.max_log10_err,
    )
    centres = 0.5 * (edges[1:] + edges[:-1]) / spec.window
    channels = [mean, log_err, filled.astype(float), centres]
    if spec.residual:
        fit = refine_single_lens(main.time, main.flux, main.flux_err, estimate)
        normalised = np.concatenate([_residuals(lc, fit) for lc in lightcurves])[inside]
        n_in = np.bincount(index, minlength=spec.n_bins)
        r_sum = np.bincount(index, normalised, spec.n_bins)
        channels.append(np.arcsinh(np.where(filled, r_sum / np.sqrt(np.maximum(n_in, 1)), 0.0)))
    out = np.stack(channels).astype(np.float32)
    span = (
        float(min(lc.time.min() for lc in lightcurves)),
        float(max(lc.time.max() for lc in lightcurves)),
    )
    return NetworkInput(values=out, t_ref=t_ref, t_scale=t_scale, single_lens=estimate, span=span)


def _residuals(lc: LightCurve, fit: SingleLensEstimate) -> np.ndarray:
    """Residuals of ``lc`` from the single-lens ``fit`` (its own fluxes), in units of the errors."""
    magnification = pspl_magnification((lc.time - fit.t_0) / fit.t_E, fit.u_0)
    source, blend, _ = linear_fluxes(magnification, lc.flux, 1.0 / lc.flux_err**2)
    return (lc.flux - source * magnification - blend) / lc.flux_err
