"""From a stored noise-free magnification curve to an observed light curve.

Training stores only magnifications; everything that depends on the star and the telescope is
drawn afresh each time a curve is served, so one stored curve yields many light curves:
source magnitude and blending (:class:`~mulens_npe.simulate.roman.FluxPrior`), Gaussian
photometric noise (:class:`~mulens_npe.simulate.roman.W149NoiseModel`), a few contiguous
gaps, random cadence dropouts and the loss of saturated points.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigurationError, DataWarning, InputDataError
from ..lightcurve import LightCurve
from ..parameters import PARAMETER_NAMES
from ..photometry import ZERO_POINT, flux_to_mag
from .roman import FluxPrior, W149NoiseModel

__all__ = ["cadence_mask", "augment", "simulated_lightcurve", "write_lightcurve"]


def _check_range(
    name: str, value: tuple[float, float], low: float, high: float | None = None
) -> None:
    if not (len(value) == 2 and low <= value[0] <= value[1] and (high is None or value[1] <= high)):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ConfigurationError(
            f"augment: {name} must be an increasing (low, high) pair in {bound}, got {value}."
        )


def _build(cls: type, spec: Any) -> Any:
    if spec is None:
        return cls()
    if isinstance(spec, Mapping):
        return cls.from_dict(spec)
    if not isinstance(spec, cls):
        raise ConfigurationError(f"augment: expected a {cls.__name__} or a mapping, got {spec!r}.")
    return spec


def cadence_mask(
    times: ArrayLike,
    rng: np.random.Generator,
    *,
    n_gaps: tuple[int, int] = (0, 3),
    gap_days: tuple[float, float] = (0.5, 5.0),
    dropout: tuple[float, float] = (0.0, 0.3),
) -> tuple[np.ndarray, dict[str, Any]]:
    """Random gaps and cadence dropouts over a set of epochs.

    Arguments:
        times: Epochs (days), shape ``(m,)``.
        rng: Random generator.
        n_gaps: Range of the number of contiguous gaps (integers, inclusive).
        gap_days: Range of the length of each gap in days (uniform); gaps start at a
            uniform time within the epochs and may overlap or run past the end.
        dropout: Range of the fraction of epochs lost one by one (the fraction is uniform in
            the range, then each epoch is dropped independently with that probability).

    Returns:
        ``(keep, info)``: a boolean mask of shape ``(m,)`` and a dict with ``gaps`` (list of
        ``(start, end)`` in days) and ``dropout`` (the fraction drawn).
    """
    times = np.asarray(times, dtype=float)
    _check_range("n_gaps", n_gaps, 0)
    _check_range("gap_days", gap_days, 0.0)
    _check_range("dropout", dropout, 0.0, 1.0)
    count = int(rng.integers(n_gaps[0], n_gaps[1] + 1))
    starts = rng.uniform(times.min(), times.max(), count)
    ends = starts + rng.uniform(gap_days[0], gap_days[1], count)
    fraction = float(rng.uniform(*dropout))
    keep = rng.uniform(size=times.shape) >= fraction
    for start, end in zip(starts, ends, strict=True):
        keep &= (times < start) | (times > end)
    gaps = [(float(a), float(b)) for a, b in zip(starts, ends, strict=True)]
    return keep, {"gaps": gaps, "dropout": fraction}


def augment(
    magnification: ArrayLike,
    times: ArrayLike,
    rng: np.random.Generator,
    *,
    noise: W149NoiseModel | Mapping[str, Any] | None = None,
    flux_prior: FluxPrior | Mapping[str, Any] | None = None,
    source_mag: float | None = None,
    f_s: float | None = None,
    n_gaps: tuple[int, int] = (0, 3),
    gap_days: tuple[float, float] = (0.5, 5.0),
    dropout: tuple[float, float] = (0.0, 0.3),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Turn one noise-free magnification curve into observed fluxes.

    The flux at zero point 22 is ``F_s A + F_b`` with ``F_s`` from the source magnitude and
    ``F_b = F_s (1 - f_s) / f_s``. Each point gets Gaussian noise in flux with the
    uncertainty the noise model gives for its *true* magnitude, and that same uncertainty is
    reported, so the data follow their error bars exactly. Points whose true total magnitude
    is brighter than saturation are removed, then those in gaps and dropouts.

    The random stream is used in a fixed order (fluxes, noise for every epoch, gaps,
    dropouts), so the same generator state gives the same light curve, and a fixed
    ``source_mag``/``f_s`` does not change the noise realisation.

    Arguments:
        magnification: Noise-free magnification, shape ``(m,)``.
        times: Epochs, full BJD (days), shape ``(m,)``.
        rng: Random generator.
        noise: Photometric noise model (default :class:`W149NoiseModel`), or its
            ``to_dict`` form.
        flux_prior: Where source magnitude and f_s are drawn (default :class:`FluxPrior`),
            or its ``to_dict`` form.
        source_mag, f_s: Fix the source W149 magnitude and/or the source flux fraction
            instead of drawing them.
        n_gaps, gap_days, dropout: Gaps and dropouts, see :func:`cadence_mask`.

    Returns:
        ``(time, flux, flux_err, info)``: the kept epochs, their noisy fluxes and
        uncertainties (zero point 22), and a dict with ``source_mag``, ``f_s``,
        ``flux_source``, ``flux_blend``, ``keep`` (mask over the input epochs),
        ``n_saturated``, ``gaps`` and ``dropout``.

    Example:
        >>> import numpy as np
        >>> times = 2460000.0 + np.arange(100) / 24
        >>> time, flux, flux_err, info = augment(np.full(100, 2.0), times, np.random.default_rng(0))
        >>> bool(time.size == info["keep"].sum()), sorted(info)[:3]
        (True, ['dropout', 'f_s', 'flux_blend'])
    """
    magnification = np.asarray(magnification, dtype=float)
    times = np.asarray(times, dtype=float)
    if magnification.ndim != 1 or magnification.shape != times.shape:
        raise ConfigurationError(
            f"augment: magnification {magnification.shape} and times {times.shape} must be 1-D "
            "and of the same length."
        )
    noise = _build(W149NoiseModel, noise)
    flux_prior = _build(FluxPrior, flux_prior)
    drawn = flux_prior.sample(1, rng)
    source_mag = float(drawn["source_mag"][0]) if source_mag is None else float(source_mag)
    f_s = float(drawn["f_s"][0]) if f_s is None else float(f_s)
    if not 0.0 < f_s <= 1.0:
        raise ConfigurationError(f"augment: f_s must be in (0, 1], got {f_s}.")
    flux_source, flux_blend = (float(v) for v in FluxPrior.fluxes(source_mag, f_s))
    true_flux = flux_source * magnification + flux_blend
    flux, flux_err = noise.observe(true_flux, rng)
    saturated = noise.saturated(flux_to_mag(true_flux)[0])
    keep, cadence = cadence_mask(times, rng, n_gaps=n_gaps, gap_days=gap_days, dropout=dropout)
    keep &= ~saturated
    info = {
        "source_mag": source_mag,
        "f_s": f_s,
        "flux_source": flux_source,
        "flux_blend": flux_blend,
        "keep": keep,
        "n_saturated": int(saturated.sum()),
        **cadence,
    }
    return times[keep], flux[keep], flux_err[keep], info


def simulated_lightcurve(
    magnification: ArrayLike,
    times: ArrayLike,
    rng: np.random.Generator,
    *,
    band: str = "W149",
    meta: Mapping[str, Any] | None = None,
    **options: Any,
) -> LightCurve:
    """A simulated observation as a :class:`~mulens_npe.LightCurve`.

    Runs :func:`augment` (``options`` are its keyword arguments) and records in ``meta``
    the source magnitude, f_s, fluxes, gaps and dropout, plus whatever ``meta`` is given
    (e.g. the true parameters, which :func:`write_lightcurve` writes in the file header).

    Example:
        >>> import numpy as np
        >>> from mulens_npe.simulate import binary_magnification, roman_epochs
        >>> p = dict(t_0=2461480.0, u_0=0.1, t_E=20.0, rho=1e-3, s=1.1, q=1e-3, alpha=60.0)
        >>> times = roman_epochs()
        >>> lc = simulated_lightcurve(binary_magnification(p, times)[0], times,
        ...                           np.random.default_rng(1), meta=p)
        >>> lc.band, lc.meta["s"], lc.n_points > 4000
        ('W149', 1.1, True)
    """
    time, flux, flux_err, info = augment(magnification, times, rng, **options)
    if time.size == 0:
        raise InputDataError(
            "simulated_lightcurve: every epoch was lost to saturation, gaps or dropouts; "
            "use a fainter source or fewer gaps."
        )
    record = {k: v for k, v in info.items() if k != "keep"}
    record.update({"simulated": True, "zero_point": ZERO_POINT})
    record.update(meta or {})
    return LightCurve(time, flux, flux_err, band=band, meta=record)


def _header_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def write_lightcurve(
    lc: LightCurve, path: str | os.PathLike, *, params: Mapping[str, Any] | None = None
) -> None:
    """Write a light curve as a 3-column text file: BJD, W149 magnitude, magnitude error.

    The file reads back with ``MulensModel.MulensData(file_name=path)`` (magnitudes at zero
    point 22, MulensModel's). Comment lines (``#``) hold the band and, as one JSON object,
    the true parameters (``params``, or the 2L1S parameters, source magnitude and f_s found
    in ``lc.meta``). Points with non-positive flux have no magnitude and are left out with
    a :class:`~mulens_npe.DataWarning`.
    """
    truth_keys = (*PARAMETER_NAMES, "source_mag", "f_s", "flux_source", "flux_blend")
    truth = (
        dict(params) if params is not None else {k: lc.meta[k] for k in truth_keys if k in lc.meta}
    )
    positive = lc.flux > 0
    if not positive.all():
        warnings.warn(
            f"write_lightcurve: {int((~positive).sum())} point(s) with flux <= 0 have no "
            "magnitude and were left out.",
            DataWarning,
            stacklevel=2,
        )
    mag, mag_err = flux_to_mag(lc.flux[positive], lc.flux_err[positive])
    header = "\n".join(
        [
            f"mulens_npe simulated light curve, band {lc.band}, magnitudes at zero point {ZERO_POINT:g}",
            "columns: BJD  mag  mag_err",
            "truth: " + json.dumps({k: _header_value(v) for k, v in truth.items()}),
        ]
    )
    data = np.column_stack([lc.time[positive], mag, mag_err])
    np.savetxt(path, data, fmt=("%.6f", "%.5f", "%.5f"), header=header, comments="# ")
