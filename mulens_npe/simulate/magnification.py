"""Noise-free magnification curves: the physics core of the simulator.

Binary-lens (2L1S) curves come from VBMicrolensing's ``BinaryLightCurve`` (Bozza 2010,
MNRAS 408, 2188; contour integration with finite source, uniform brightness), one C++ call
per curve over all epochs, so no Python loop runs per epoch. Parameters are MulensModel 3.x
(origin at the centre of mass, alpha in degrees); :func:`mulens_npe.parameters.vbm_vector`
is the one conversion.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import VBMicrolensing
from numpy.typing import ArrayLike

from ..errors import ConfigurationError
from ..parameters import PARAMETER_NAMES, vbm_vector

__all__ = [
    "CurvePool",
    "binary_magnification",
    "single_lens_magnification",
    "source_trajectory",
]


def _as_columns(params: Mapping[str, ArrayLike], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    missing = [name for name in names if name not in params]
    if missing:
        raise ConfigurationError(
            f"magnification: parameters {missing} are missing; got {sorted(params)}."
        )
    try:
        columns = np.broadcast_arrays(
            *(np.atleast_1d(np.asarray(params[n], dtype=float)) for n in names)
        )
    except ValueError:
        shapes = {n: np.shape(params[n]) for n in names}
        raise ConfigurationError(
            f"magnification: parameter shapes do not broadcast: {shapes}."
        ) from None
    if columns[0].ndim != 1:
        raise ConfigurationError(
            f"magnification: parameters must be scalars or 1-D arrays, got shape {columns[0].shape}."
        )
    return dict(zip(names, columns, strict=True))


def _as_times(times: ArrayLike) -> np.ndarray:
    times = np.ascontiguousarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
        raise ConfigurationError(
            "magnification: times must be a non-empty 1-D array of finite values."
        )
    return times


def _curves(vectors: Sequence[list[float]], times: np.ndarray, tolerance: float) -> np.ndarray:
    """VBMicrolensing curves of parameter vectors (:func:`vbm_vector`), one row each."""
    out = np.empty((len(vectors), times.size))
    for row, vector in zip(out, vectors, strict=True):
        # One fresh instance per curve (~30 us): an instance keeps state from one curve to
        # the next, which moves later curves by up to ~1e-10; fresh, a curve does not depend
        # on the batch it came in (VBMicrolensing itself still varies by ~1e-12 run to run).
        vbm = VBMicrolensing.VBMicrolensing()
        vbm.Tol = tolerance
        vbm.RelTol = tolerance
        row[:] = vbm.BinaryLightCurve(vector, times)[0]
    return out


class CurvePool:
    """Worker processes that compute the curves of a batch side by side.

    A batch of ``n >= 2`` curves (the 7 of a Jacobian, the draws of a screening) is dealt
    into ``workers`` interleaved parts: worker process ``k`` computes rows ``k, k + workers,
    ...`` while this process waits (a part computed here would hold the GIL through each
    VBMicrolensing call and keep the other parts from being handed out: on 2 cores that cut
    a Jacobian's gain from 1.75x to 1.12x). Single curves are computed here. The dealing is
    fixed, so each process sees the same sequence of curves from run to run
    (VBMicrolensing's results move by up to ~1e-14 with what a process computed before).
    Curves agree with the one-process ones to that level, not bit for bit. The workers live
    until :meth:`close` or the end of a ``with`` block. On Linux they are forked (they run
    only VBMicrolensing, never torch, so torch's threads in this process do not matter);
    elsewhere they are spawned, which re-imports the main script: there a script must start
    them under ``if __name__ == "__main__":``.

    Arguments:
        workers: Worker processes (``>= 1``; 1: none is started and every curve is computed
            in this process).

    Example:
        >>> import numpy as np
        >>> p = dict(t_0=0.0, u_0=0.1, t_E=10.0, rho=1e-3, s=1.1, q=1e-3, alpha=30.0)
        >>> with CurvePool(1) as pool:
        ...     binary_magnification(p, np.array([-10.0, 0.0, 10.0]), pool=pool).round(2)
        array([[1.34, 9.95, 1.34]])
    """

    def __init__(self, workers: int) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
            raise ConfigurationError(
                f"CurvePool: workers must be an integer >= 1, got {workers!r}."
            )
        self.workers = int(workers)
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        context = multiprocessing.get_context(method)
        self._executors = [
            ProcessPoolExecutor(1, mp_context=context)
            for _ in range(self.workers if self.workers > 1 else 0)
        ]

    def curves(
        self, vectors: Sequence[list[float]], times: np.ndarray, tolerance: float
    ) -> np.ndarray:
        """Curves of ``vectors`` (rows in order), computed by every process of the pool."""
        if self.workers == 1 or len(vectors) < 2:
            return _curves(vectors, times, tolerance)
        parts = [list(vectors[k :: self.workers]) for k in range(self.workers)]
        # every part to a worker, this process only waits: computing a part here would hold
        # the GIL through each VBMicrolensing call and delay the threads that hand the
        # other parts to their processes
        futures = [
            executor.submit(_curves, part, times, tolerance)
            for executor, part in zip(self._executors, parts, strict=True)
            if part
        ]
        out = np.empty((len(vectors), times.size))
        for k, future in enumerate(futures):
            out[k :: self.workers] = future.result()
        return out

    def close(self) -> None:
        """Stop the worker processes."""
        for executor in self._executors:
            executor.shutdown(wait=True, cancel_futures=True)
        self._executors = []
        self.workers = 1

    def __enter__(self) -> CurvePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def binary_magnification(
    params: Mapping[str, ArrayLike],
    times: ArrayLike,
    *,
    tolerance: float = 1e-3,
    pool: CurvePool | None = None,
) -> np.ndarray:
    """Finite-source binary-lens magnification of ``n`` parameter sets at ``m`` epochs.

    Arguments:
        params: MulensModel 3.x parameters ``t_0, u_0, t_E, rho, s, q, alpha`` (alpha in
            degrees), each a scalar or an array of length ``n``.
        times: Epochs, full BJD/HJD days, shape ``(m,)``.
        tolerance: Requested accuracy of each magnification. It sets both VBMicrolensing
            ``Tol`` (absolute) and ``RelTol`` (relative); as magnifications are about 1
            or more, the relative error stays below about ``tolerance``. 1e-3 gave at most 4.5e-4 through caustic
            crossings, 1.4x faster than an absolute-only 1e-3 (docs/simulation.md).
        pool: Processes to share the curves among (:class:`CurvePool`); default this one.

    Returns:
        Magnifications, float64 array of shape ``(n, m)`` (``n = 1`` for scalar parameters).

    Example:
        >>> import numpy as np
        >>> p = dict(t_0=0.0, u_0=0.1, t_E=10.0, rho=1e-3, s=1.1, q=1e-3, alpha=30.0)
        >>> binary_magnification(p, np.array([-10.0, 0.0, 10.0])).round(2)
        array([[1.34, 9.95, 1.34]])
    """
    if not 0.0 < tolerance < 1.0:
        raise ConfigurationError(
            f"binary_magnification: tolerance must be in (0, 1), got {tolerance}."
        )
    columns = _as_columns(params, PARAMETER_NAMES)
    times = _as_times(times)
    finite = all(np.all(np.isfinite(column)) for column in columns.values())
    if not finite or any(np.any(columns[n] <= 0) for n in ("t_E", "rho", "s", "q")):
        raise ConfigurationError(
            "binary_magnification: parameters must be finite, with t_E, rho, s and q > 0."
        )
    vectors = [
        vbm_vector(dict(zip(PARAMETER_NAMES, values, strict=True)))
        for values in zip(*(columns[n].tolist() for n in PARAMETER_NAMES), strict=True)
    ]
    if pool is None:
        return _curves(vectors, times, tolerance)
    return pool.curves(vectors, times, tolerance)


def single_lens_magnification(
    t_0: ArrayLike, u_0: ArrayLike, t_E: ArrayLike, times: ArrayLike
) -> np.ndarray:
    """Point-source point-lens (PSPL, Paczynski 1986) magnification.

    Arguments:
        t_0: Time of closest approach, full BJD/HJD; scalar or shape ``(n,)``.
        u_0: Impact parameter in Einstein radii; scalar or shape ``(n,)``.
        t_E: Einstein timescale in days; scalar or shape ``(n,)``.
        times: Epochs, shape ``(m,)``.

    Returns:
        ``A(u) = (u^2 + 2) / (u sqrt(u^2 + 4))``, array of shape ``(n, m)``.

    Example:
        >>> single_lens_magnification(0.0, 1.0, 10.0, np.array([0.0])).round(4)
        array([[1.3416]])
    """
    columns = _as_columns({"t_0": t_0, "u_0": u_0, "t_E": t_E}, ("t_0", "u_0", "t_E"))
    times = _as_times(times)
    tau = (times[None, :] - columns["t_0"][:, None]) / columns["t_E"][:, None]
    u2 = tau * tau + columns["u_0"][:, None] ** 2
    with np.errstate(divide="ignore"):
        return (u2 + 2.0) / np.sqrt(u2 * (u2 + 4.0))


def source_trajectory(
    params: Mapping[str, ArrayLike], times: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Source position in the lens plane, MulensModel 3.x frame, for plots and geometry.

    The origin is the centre of mass, the primary on the -x axis and the secondary on +x
    (the frame of ``VBMicrolensing.Caustics``). With ``tau = (t - t_0) / t_E`` the source
    is at ``-(tau (cos alpha, sin alpha) + u_0 (-sin alpha, cos alpha))``.

    Arguments:
        params: ``t_0, u_0, t_E, alpha`` (degrees), scalars or arrays of length ``n``.
        times: Epochs, shape ``(m,)``.

    Returns:
        ``(x, y)`` in Einstein radii, each of shape ``(n, m)``.
    """
    columns = _as_columns(params, ("t_0", "u_0", "t_E", "alpha"))
    times = _as_times(times)
    tau = (times[None, :] - columns["t_0"][:, None]) / columns["t_E"][:, None]
    alpha = np.deg2rad(columns["alpha"])[:, None]
    u_0 = columns["u_0"][:, None]
    return -(tau * np.cos(alpha) - u_0 * np.sin(alpha)), -(
        tau * np.sin(alpha) + u_0 * np.cos(alpha)
    )
