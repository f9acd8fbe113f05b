"""The local optimiser that polishes posterior draws with the true likelihood.

The likelihood is :class:`mulens_npe.likelihood.Likelihood` (chi2 on every epoch of every
dataset, finite-source VBMicrolensing magnification, source and blend fluxes solved linearly),
re-exported here with :func:`~mulens_npe.likelihood.single_lens_fit`.

:func:`polish` runs a bounded trust-region least-squares fit (scipy's ``trf``) from each of
several starting points, in coordinates where the likelihood is close to quadratic:
``t_0`` in units of ``t_E``, ``u_0``, ``ln t_E``, ``ln rho``, ``ln s``, ``ln q`` and ``alpha``
in radians. The minimum of a caustic-crossing event is narrow (a start off by 0.01 dex in
``s`` or 2 degrees in ``alpha`` returns to it only rarely), so the proposal polishes several
posterior draws per mode rather than one point (:func:`polish_modes`). Every evaluation is
recorded, so a time budget that runs out still returns the best model seen so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from .crossings import crossing_coordinates, trajectory_crossings
from .errors import ConfigurationError
from .likelihood import Likelihood, parameter_columns, single_lens_fit
from .parameters import PARAMETER_NAMES, canonicalize
from .prior import Prior

__all__ = [
    "Likelihood",
    "PolishResult",
    "anneal",
    "CrossingPolishResult",
    "crossing_polish",
    "crossing_round",
    "polish",
    "polish_modes",
    "single_lens_fit",
    "twin_starts",
    "to_internal",
    "from_internal",
]

_DIFF_STEPS = np.array([1e-6, 1e-6, 1e-6, 1e-5, 1e-6, 1e-5, 1e-6])
"""Forward-difference steps in the internal coordinates; the chi2 surface of a caustic
crossing curves on scales of 1e-5 in ln s. Near a strong caustic crossing VBMicrolensing's
adaptive integration at the likelihood's tolerance (1e-3) moves a curve by more than such steps
resolve, so the Jacobian there is partly noise (on a strong simulated binary the gradient lay at
cosine 0.08-0.14 to an accurate one); differencing curves computed at 1e-4 cured that but cost
2.5-3x per curve and found fewer events in the same time budget (docs/benchmarks.md)."""

_WIDE_BOUNDS = {
    "u_0": (0.0, 3.0),
    "t_E": (0.1, 3000.0),
    "rho": (1e-6, 0.5),
    "s": (0.05, 20.0),
    "q": (1e-8, 1.0),
}
"""Bounds of the optimiser when no prior is given."""


REFINE_SHARE = 0.2
"""Share of a two-stage polish's time budget kept for polishing the best optima on all epochs."""

ANNEAL_RHO = (0.05, 0.02, 0.008, 0.003)
"""Source radii [theta_E] held fixed in turn by :func:`anneal` (those above the start's).

A large source smooths the caustics, so the chi2 surface of a caustic-crossing event loses
the narrow ridges that stop a local optimiser short of the crossing times; shrinking it in
steps follows the minimum back to a sharp caustic."""

MAX_RESTARTS = 8
"""Restarts of the best optimum in a two-stage polish with ``extend`` (each must improve)."""

MAX_CROSSING_ROUNDS = 8
"""Rounds of :func:`crossing_round` on the best optimum in a two-stage polish with ``extend``
(each must lower the chi2 by at least 1)."""

CROSSING_ANCHORS = 6
"""Caustic crossings (the first ones in time) each tried as the anchor of a crossing round."""

RHO_STEPS = (0.3, 0.1, 3.0)
"""Factors of the source radius the best optimum is polished from, in turn, in the last
steps of a two-stage polish with ``extend`` (a radius several times too large or too small
is a local minimum of its own: the caustic crossings of a strong binary fit with the wrong
limb and width)."""

FIRST_RESTARTS = MAX_RESTARTS
"""Restarts of the best optimum (while each improves) before the :data:`FINAL_STEPS`; the
rest of :data:`MAX_RESTARTS` come after them. Session 35 tried 1 with the steps
``("crossing", "rho", "anneal")``: 13 of the 25 strong simulated binaries of the benchmark
against 11 with these defaults (in session 30 and again in session 35), short of the 14 set
beforehand (docs/benchmarks.md)."""

STEP_NAMES = ("anneal", "crossing", "rho")
"""The steps :data:`FINAL_STEPS` may list."""

FINAL_STEPS = ("anneal", "crossing")
"""Steps tried in turn on the best optimum once its restarts stop improving
(:func:`_restart_best`): ``"anneal"``, ``"crossing"`` and ``"rho"`` (:data:`RHO_STEPS`)."""


_WALL = 1e3
"""Residual of every epoch for a trial outside the box (crossing coordinates): a wall the
optimiser backs off from."""


class _OutOfTime(Exception):
    """The polish deadline passed during an evaluation."""


@dataclass
class CrossingPolishResult:
    """The best model a crossing polish saw: MulensModel parameters (canonical) and chi2."""

    parameters: dict[str, float]
    chi2: float
    start_chi2: float
    n_evaluations: int


def to_internal(params: Mapping[str, Any], t_ref: float, t_scale: float) -> np.ndarray:
    """MulensModel parameters to the optimiser's coordinates, shape (..., 7).

    Coordinates: ``(t_0 - t_ref) / t_scale``, ``u_0``, ``ln t_E``, ``ln rho``, ``ln s``,
    ``ln q``, ``alpha`` [rad].
    """
    c = {name: np.asarray(params[name], dtype=float) for name in PARAMETER_NAMES}
    return np.stack(
        np.broadcast_arrays(
            (c["t_0"] - t_ref) / t_scale,
            c["u_0"],
            np.log(c["t_E"]),
            np.log(c["rho"]),
            np.log(c["s"]),
            np.log(c["q"]),
            np.deg2rad(c["alpha"]),
        ),
        axis=-1,
    )


def from_internal(z: np.ndarray, t_ref: float, t_scale: float) -> dict[str, np.ndarray]:
    """Inverse of :func:`to_internal` (alpha not wrapped)."""
    z = np.asarray(z, dtype=float)
    return {
        "t_0": t_ref + t_scale * z[..., 0],
        "u_0": z[..., 1],
        "t_E": np.exp(z[..., 2]),
        "rho": np.exp(z[..., 3]),
        "s": np.exp(z[..., 4]),
        "q": np.exp(z[..., 5]),
        "alpha": np.rad2deg(z[..., 6]),
    }


def internal_jacobian(params: Mapping[str, float], t_scale: float) -> np.ndarray:
    """d(physical)/d(internal) at ``params``: the diagonal matrix that maps covariances."""
    return np.diag(
        [
            t_scale,
            1.0,
            float(params["t_E"]),
            float(params["rho"]),
            float(params["s"]),
            float(params["q"]),
            float(np.rad2deg(1.0)),
        ]
    )


@dataclass
class PolishResult:
    """One polished start.

    Attributes
    ----------
    parameters : dict
        Best MulensModel parameters found (u_0 >= 0, alpha in [0, 360)).
    chi2 : float
        chi2 of ``parameters`` on the likelihood's data.
    fluxes : numpy.ndarray
        Shape (n_datasets, 2): source and blend flux per dataset (zero point 22).
    covariance : numpy.ndarray or None
        7x7 covariance of the MulensModel parameters (order of
        :data:`~mulens_npe.parameters.PARAMETER_NAMES`) from the Gauss-Newton Hessian at the
        optimum; None when it could not be computed.
    start_chi2 : float
        chi2 at the starting point.
    n_evaluations : int
        Magnification curves computed.
    converged : bool
        The optimiser met its tolerance (not stopped by evaluations or time).
    optimised : bool
        The optimiser ran (False: the start was only evaluated).
    """

    parameters: dict[str, float]
    chi2: float
    fluxes: np.ndarray
    covariance: np.ndarray | None
    start_chi2: float
    n_evaluations: int
    converged: bool
    optimised: bool = False


def _bounds(prior: Prior | None, t_range: tuple[float, float]) -> dict[str, tuple[float, float]]:
    bounds = dict(_WIDE_BOUNDS) if prior is None else dict(prior.bounds)
    if prior is None:
        span = t_range[1] - t_range[0]
        bounds["t_0"] = (t_range[0] - span, t_range[1] + span)
    return bounds


def _clip_to_box(
    columns: Mapping[str, np.ndarray], bounds: Mapping[str, tuple[float, float]]
) -> dict[str, np.ndarray]:
    """Parameters clipped into ``bounds`` as :func:`polish` clips its starts (u_0 by |u_0|)."""
    out = {name: np.asarray(columns[name], dtype=float) for name in PARAMETER_NAMES}
    for name in ("t_0", "t_E", "rho", "s", "q"):
        out[name] = np.clip(out[name], *bounds[name])
    u_max = max(abs(bounds["u_0"][0]), abs(bounds["u_0"][1]))
    out["u_0"] = np.clip(out["u_0"], -u_max, u_max)
    return out


def _internal_bounds(
    bounds: Mapping[str, tuple[float, float]], t_ref: float, t_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    u_max = max(abs(bounds["u_0"][0]), abs(bounds["u_0"][1]))
    low = [
        (bounds["t_0"][0] - t_ref) / t_scale,
        -u_max,
        np.log(bounds["t_E"][0]),
        np.log(bounds["rho"][0]),
        np.log(bounds["s"][0]),
        np.log(bounds["q"][0]),
        -np.inf,
    ]
    high = [
        (bounds["t_0"][1] - t_ref) / t_scale,
        u_max,
        np.log(bounds["t_E"][1]),
        np.log(bounds["rho"][1]),
        np.log(bounds["s"][1]),
        np.log(bounds["q"][1]),
        np.inf,
    ]
    return np.array(low), np.array(high)


class _Objective:
    """Residuals and a batched forward-difference Jacobian, with a record of the best point."""

    def __init__(self, likelihood: Likelihood, t_ref: float, t_scale: float, deadline: float):
        self.likelihood = likelihood
        self.t_ref, self.t_scale = t_ref, t_scale
        self.deadline = deadline
        self.n_evaluations = 0
        self.best_chi2 = np.inf
        self.best_z: np.ndarray | None = None
        self._cache: tuple[bytes, np.ndarray] | None = None

    def _models(self, z: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """MulensModel parameters of the rows of ``z`` and which are valid (None: all)."""
        return from_internal(z, self.t_ref, self.t_scale), None

    def _residuals(self, z: np.ndarray) -> np.ndarray:
        if time.perf_counter() > self.deadline:
            raise _OutOfTime
        params, valid = self._models(z)
        if valid is None:
            return self._evaluate(params, z)
        out = np.full((z.shape[0], self.likelihood.n_points), _WALL)
        if valid.any():
            out[valid] = self._evaluate({k: v[valid] for k, v in params.items()}, z[valid])
        return out

    def _evaluate(self, params: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
        magnification = self.likelihood.magnification(params)
        self.n_evaluations += z.shape[0]
        residuals = self.likelihood.residuals_from_magnification(magnification)
        chi2 = np.sum(residuals**2, axis=1)
        best = int(np.argmin(chi2))
        if chi2[best] < self.best_chi2:
            self.best_chi2, self.best_z = float(chi2[best]), z[best].copy()
        return residuals

    def fun(self, z: np.ndarray) -> np.ndarray:
        key = z.tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        residuals = self._residuals(z[None])[0]
        self._cache = (key, residuals)
        return residuals

    def jac(self, z: np.ndarray, n_free: int = 7) -> np.ndarray:
        """Forward differences in the first ``n_free`` coordinates (the others held)."""
        base = self.fun(z)
        steps = _DIFF_STEPS[:n_free] * np.where(
            np.arange(n_free) == 1, np.maximum(abs(z[1]), 1e-3), 1.0
        )
        shifted = self._residuals(z[None] + np.eye(z.size)[:n_free] * steps[:, None])
        return ((shifted - base[None]) / steps[:, None]).T


class _CrossingObjective(_Objective):
    """The same in caustic-crossing coordinates (:func:`mulens_npe.crossings.crossing_coordinates`).

    A trial whose ``t_E`` or ``u_0`` leaves the box, or that is not finite (two crossings at
    one point), gets residuals of :data:`_WALL` instead of a light curve.
    """

    def __init__(
        self,
        likelihood: Likelihood,
        to_params: Callable[[np.ndarray], dict[str, float]],
        steps: np.ndarray,
        bounds: Mapping[str, tuple[float, float]],
        deadline: float,
    ):
        super().__init__(likelihood, 0.0, 1.0, deadline)
        self.to_params, self.steps = to_params, steps
        self.t_e_bounds = bounds["t_E"]
        self.u_max = max(abs(bounds["u_0"][0]), abs(bounds["u_0"][1]))

    def _models(self, z: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):  # two crossings at one point
            rows = [self.to_params(x) for x in z]
        params = {name: np.array([row[name] for row in rows]) for name in PARAMETER_NAMES}
        finite = np.all([np.isfinite(v) for v in params.values()], axis=0)
        with np.errstate(invalid="ignore"):
            inside = (
                (params["t_E"] >= self.t_e_bounds[0])
                & (params["t_E"] <= self.t_e_bounds[1])
                & (np.abs(params["u_0"]) <= self.u_max)
            )
        return params, finite & inside

    def jac(self, z: np.ndarray, n_free: int = 7) -> np.ndarray:
        """Forward differences in every coordinate, with the coordinates' own steps."""
        base = self.fun(z)
        shifted = self._residuals(z[None] + np.diag(self.steps))
        return ((shifted - base[None]) / self.steps[:, None]).T


def polish(
    likelihood: Likelihood,
    starts: Mapping[str, Any],
    *,
    prior: Prior | None = None,
    max_evaluations: int = 200,
    deadline: float | None = None,
    covariance: bool = True,
) -> list[PolishResult]:
    """Minimise chi2 from each starting point with a bounded trust-region least-squares fit.

    Parameters
    ----------
    likelihood : Likelihood
        The data.
    starts : mapping
        MulensModel parameters of ``n`` starting points (arrays of length ``n``, or scalars).
    prior : Prior, optional
        Box the optimiser stays in (``u_0`` may take either sign: the mirror solution is
        mapped back to ``u_0 >= 0``). Default: wide physical bounds, ``t_0`` within the data
        span widened by its length on each side.
    max_evaluations : int
        Magnification curves per start (a Jacobian costs 7).
    deadline : float, optional
        ``time.perf_counter()`` value after which no evaluation starts; starts not reached
        return their starting point, an interrupted one the best point it saw.
    covariance : bool
        Compute the Gauss-Newton covariance at each optimum (one Jacobian, 7 curves).

    Returns
    -------
    list of PolishResult
        One per start, in order.
    """
    columns = parameter_columns(starts)
    n = columns["t_0"].size
    if int(max_evaluations) < 1:
        raise ConfigurationError(f"polish: max_evaluations must be >= 1, got {max_evaluations}.")
    deadline = np.inf if deadline is None else float(deadline)
    bounds = _bounds(prior, likelihood.time_range)
    results = []
    for i in range(n):
        start = {name: float(columns[name][i]) for name in PARAMETER_NAMES}
        results.append(
            _polish_one(likelihood, start, bounds, int(max_evaluations), deadline, covariance)
        )
    return results


def anneal(
    likelihood: Likelihood,
    start: Mapping[str, float],
    *,
    prior: Prior | None = None,
    max_evaluations: int = 200,
    deadline: float | None = None,
) -> PolishResult:
    """Polish with the source radius held at each of :data:`ANNEAL_RHO` in turn, then free.

    Only the radii larger than the start's are used: each stage starts from the previous
    one's optimum, and the last frees ``rho`` again. Where a polish from ``start`` stops on a
    ridge of a caustic crossing (the crossing times a little off), the smoother surfaces of a
    larger source lead it on; where it does not help the result is worse than a plain
    polish, so compare the two.

    Parameters
    ----------
    likelihood, prior, max_evaluations, deadline
        As in :func:`polish` (``max_evaluations`` per stage).
    start : mapping
        MulensModel parameters of one starting point.

    Returns
    -------
    PolishResult
        The free stage's result (with its covariance); ``n_evaluations`` counts every stage,
        ``start_chi2`` is the chi2 at ``start``.
    """
    if int(max_evaluations) < 1:
        raise ConfigurationError(f"anneal: max_evaluations must be >= 1, got {max_evaluations}.")
    start_chi2, n_evaluations = float(likelihood.chi2(start)[0]), 1  # also checks ``start``
    deadline = np.inf if deadline is None else float(deadline)
    bounds = _bounds(prior, likelihood.time_range)
    point = {name: float(start[name]) for name in PARAMETER_NAMES}
    for rho in [r for r in ANNEAL_RHO if r > point["rho"]] + [None]:
        stage_bounds = dict(bounds)
        if rho is not None:
            rho = float(np.clip(rho, *bounds["rho"]))
            # least_squares needs low < high: a box 1e-9 wide in ln rho holds it fixed
            stage_bounds["rho"] = (rho, rho * (1.0 + 1e-9))
            point = dict(point, rho=rho * (1.0 + 5e-10))
        covariance = rho is None  # the free stage's optimum is the result
        result = _polish_one(likelihood, point, stage_bounds, max_evaluations, deadline, covariance)
        n_evaluations += result.n_evaluations
        point = result.parameters
    result.start_chi2, result.n_evaluations = start_chi2, n_evaluations
    return result


def crossing_polish(
    likelihood: Likelihood,
    start: Mapping[str, float],
    *,
    prior: Prior | None = None,
    max_evaluations: int = 400,
    deadline: float | None = None,
    anchor: tuple[int, ...] = (0, -1),
) -> CrossingPolishResult | None:
    """Polish a caustic-crossing model with its trajectory anchored on caustic crossings.

    Parameters
    ----------
    likelihood : Likelihood
        The data.
    start : mapping
        MulensModel parameters of one model.
    prior : Prior, optional
        Bounds of ``s``, ``q``, ``rho`` and (checked on each trial) ``t_E`` and ``u_0``: a
        trial outside them gets large residuals, so the optimiser backs off. Default: the
        wide bounds of :func:`polish`.
    max_evaluations : int
        Magnification curves (a Jacobian costs 7).
    deadline : float, optional
        ``time.perf_counter()`` value after which no evaluation starts.
    anchor : tuple of int
        Indices (in time order) of the start's crossings held: two (Cassan's coordinates:
        both crossing times and places, ``t_E`` and ``alpha`` follow) or one (its time and
        place, with ``t_E`` and ``alpha`` free); :mod:`mulens_npe.crossings`.

    Returns
    -------
    CrossingPolishResult or None
        None when the start's trajectory has no such crossings, or the deadline passed
        before anything was evaluated.
    """
    coordinates = crossing_coordinates(start, tuple(anchor))
    if coordinates is None:
        return None
    x0, to_params, steps = coordinates
    deadline = np.inf if deadline is None else float(deadline)
    bounds = _bounds(prior, likelihood.time_range)
    low = np.array([-np.inf] * 4 + [np.log(bounds[k][0]) for k in ("s", "q", "rho")])
    high = np.array([np.inf] * 4 + [np.log(bounds[k][1]) for k in ("s", "q", "rho")])
    x0[4:] = np.clip(x0[4:], low[4:] + 1e-9, high[4:] - 1e-9)  # strictly inside the box
    objective = _CrossingObjective(likelihood, to_params, steps, bounds, deadline)
    start_chi2 = np.inf
    try:
        start_chi2 = float(np.sum(objective.fun(x0) ** 2))
        least_squares(
            objective.fun,
            x0,
            jac=objective.jac,
            bounds=(low, high),
            method="trf",
            x_scale="jac",
            max_nfev=max(1, int(max_evaluations) // 8),
            xtol=1e-9,
            ftol=1e-7,
            gtol=1e-9,
        )
    except _OutOfTime:
        pass
    if objective.best_z is None:
        return None
    params = canonicalize(to_params(objective.best_z))
    return CrossingPolishResult(
        parameters={k: float(params[k]) for k in PARAMETER_NAMES},
        chi2=objective.best_chi2,
        start_chi2=start_chi2,
        n_evaluations=objective.n_evaluations,
    )


def crossing_round(
    likelihood: Likelihood,
    start: Mapping[str, float],
    *,
    prior: Prior | None = None,
    max_evaluations: int = 200,
    deadline: float | None = None,
) -> PolishResult | None:
    """One round of polishing anchored on the caustic crossings of ``start``, then a polish.

    Each of the start's first :data:`CROSSING_ANCHORS` crossings in turn, then its first and
    last together, is held in place while the rest of the model moves
    (:func:`crossing_polish`); the best of those models is polished
    again in the usual coordinates (which also gives its covariance). Where a polish stops
    near a strong caustic crossing because a change of ``s`` or ``q`` moves the model's
    crossing times off the data's, these coordinates keep the crossings where they are.

    Parameters
    ----------
    likelihood, prior, max_evaluations, deadline
        As in :func:`polish` (``max_evaluations`` per anchoring and for the last polish).
    start : mapping
        MulensModel parameters of one model.

    Returns
    -------
    PolishResult or None
        None when the start's trajectory does not cross its caustics. Otherwise never worse
        than the start unless the deadline passed before anything was evaluated (then its
        chi2 is inf); ``start_chi2`` is the chi2 at ``start``.
    """
    n_crossings = len(trajectory_crossings(start))
    if n_crossings == 0:
        return None
    deadline = np.inf if deadline is None else float(deadline)
    anchors: list[tuple[int, ...]] = [(i,) for i in range(min(n_crossings, CROSSING_ANCHORS))]
    if n_crossings >= 2:
        anchors.append((0, -1))
    best, start_chi2, n_evaluations = dict(start), np.inf, 0
    best_chi2 = np.inf
    for anchor in anchors:
        if time.perf_counter() >= deadline:
            break
        found = crossing_polish(
            likelihood,
            start,
            prior=prior,
            max_evaluations=max_evaluations,
            deadline=deadline,
            anchor=anchor,
        )
        if found is None:
            continue
        n_evaluations += found.n_evaluations
        start_chi2 = found.start_chi2 if np.isfinite(found.start_chi2) else start_chi2
        if found.chi2 < best_chi2:
            best, best_chi2 = found.parameters, found.chi2
    [result] = polish(
        likelihood, best, prior=prior, max_evaluations=max_evaluations, deadline=deadline
    )
    result.n_evaluations += n_evaluations
    if np.isfinite(start_chi2):
        result.start_chi2 = start_chi2
    return result


def _polish_one(
    likelihood: Likelihood,
    start: dict[str, float],
    bounds: Mapping[str, tuple[float, float]],
    max_evaluations: int,
    deadline: float,
    covariance: bool,
) -> PolishResult:
    t_ref, t_scale = start["t_0"], start["t_E"]
    objective = _Objective(likelihood, t_ref, t_scale, deadline)
    low, high = _internal_bounds(bounds, t_ref, t_scale)
    z0 = np.clip(to_internal(start, t_ref, t_scale), low, high)
    converged = False
    try:
        start_chi2 = float(np.sum(objective.fun(z0) ** 2))
    except _OutOfTime:
        start_chi2 = np.inf
    optimised = bool(max_evaluations > 1 and np.isfinite(start_chi2))
    if optimised:
        try:
            fit = least_squares(
                objective.fun,
                z0,
                jac=objective.jac,
                bounds=(low, high),
                method="trf",
                x_scale="jac",
                max_nfev=max(1, max_evaluations // 8),
                xtol=1e-8,
                ftol=1e-6,
                gtol=1e-8,
            )
            converged = bool(fit.status > 0)
        except _OutOfTime:
            pass
    if objective.best_z is None:  # not even the start was evaluated
        return PolishResult(
            parameters=canonicalize_floats(from_internal(z0, t_ref, t_scale)),
            chi2=np.inf,
            fluxes=np.full((likelihood.n_datasets, 2), np.nan),
            covariance=None,
            start_chi2=np.inf,
            n_evaluations=objective.n_evaluations,
            converged=False,
        )
    z_best = objective.best_z
    params = canonicalize_floats(from_internal(z_best, t_ref, t_scale))
    cov = None
    if covariance and optimised:
        cov = _covariance(objective, z_best, params, t_scale)
    chi2, fluxes = likelihood.fit(params)
    return PolishResult(
        parameters=params,
        chi2=float(chi2[0]),
        fluxes=fluxes[0],
        covariance=cov,
        start_chi2=start_chi2,
        n_evaluations=objective.n_evaluations + 1,
        converged=converged,
        optimised=optimised,
    )


def canonicalize_floats(params: Mapping[str, Any]) -> dict[str, float]:
    """One parameter set as floats, u_0 >= 0 and alpha in [0, 360)."""
    params = canonicalize(params)
    return {name: float(params[name]) for name in PARAMETER_NAMES}


def _covariance(
    objective: _Objective, z: np.ndarray, params: Mapping[str, float], t_scale: float
) -> np.ndarray | None:
    """Covariance of the MulensModel parameters, (J^T J)^-1 mapped from internal coordinates."""
    try:
        jacobian = objective.jac(z)
    except _OutOfTime:
        return None
    hessian = jacobian.T @ jacobian
    try:
        cov_internal = np.linalg.pinv(hessian, rcond=1e-12, hermitian=True)
    except np.linalg.LinAlgError:
        return None
    # The mirror (u_0 < 0) maps to u_0 >= 0 with alpha -> -alpha: flip those rows' signs.
    if z[1] < 0:
        flip = np.diag([1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0])
        cov_internal = flip @ cov_internal @ flip
    d = internal_jacobian(params, t_scale)
    cov = d @ cov_internal @ d
    return cov if np.all(np.isfinite(cov)) else None


def polish_modes(
    likelihood: Likelihood,
    candidates: Sequence[Mapping[str, np.ndarray]],
    *,
    n_starts: int = 3,
    screen_points: int = 2000,
    prior: Prior | None = None,
    max_evaluations: int = 200,
    time_budget: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    fast: Likelihood | None = None,
    n_refine: int = 5,
    extend: bool = False,
    refine_share: float = REFINE_SHARE,
    twins: bool = False,
) -> list[list[PolishResult]]:
    """Screen the draws of each mode with a cheap chi2, then polish the best few of each.

    Parameters
    ----------
    likelihood : Likelihood
        The data.
    candidates : sequence of mappings
        For each mode, MulensModel parameters of its posterior draws (arrays).
    n_starts : int
        Draws polished per mode (the lowest screening chi2 first).
    screen_points : int
        Epochs used to rank the draws (:meth:`Likelihood.subset`).
    prior, max_evaluations
        As in :func:`polish`.
    time_budget : float, optional
        Seconds for screening and polishing together. Modes screened after the budget ran
        out keep their draws in the order given. Starts are polished round-robin over the
        modes (the best draw of every mode, then the second of every mode, ...), so a short
        budget still gives every mode its best start.
    fast : Likelihood, optional
        A cheaper likelihood of the same data (:meth:`Likelihood.compressed`) to polish the
        starts on. Each optimum is then evaluated on ``likelihood`` and the ``n_refine``
        best distinct ones are polished again on it (with a time budget, ``refine_share``
        of it is kept for this), so every returned chi2 is the full data's.
    n_refine : int
        Optima polished again on ``likelihood`` when ``fast`` is given.
    extend : bool
        With a time budget, keep polishing further screened draws of every mode (round-robin,
        in screening order) after the first ``n_starts`` until the polishing share of the
        budget is spent; and with ``fast``, once the ``n_refine`` best are refined, restart
        the polish of the best optimum while it improves (at most :data:`MAX_RESTARTS`
        times), then try :func:`anneal` from it, until the budget is spent.
    refine_share : float
        Share of the time budget kept for the refinement on ``likelihood`` when ``fast`` is
        given (default :data:`REFINE_SHARE`).
    twins : bool
        Also polish, on ``likelihood``, the close/wide twins of the best optimum
        (:func:`twin_starts`) whose geometry no optimum has yet, after the refinement and
        before the restarts of ``extend``; they are returned as one more list.

    Returns
    -------
    list of list of PolishResult
        For each mode, its polished starts (possibly fewer than ``n_starts`` when time ran
        out; at least one when the budget allowed any evaluation); with ``twins``, one more
        list (possibly empty) with the polished twins.
    """
    if int(n_starts) < 1:
        raise ConfigurationError(f"polish_modes: n_starts must be >= 1, got {n_starts}.")
    if int(n_refine) < 0:
        raise ConfigurationError(f"polish_modes: n_refine must be >= 0, got {n_refine}.")
    if not 0.0 <= float(refine_share) < 1.0:
        raise ConfigurationError(
            f"polish_modes: refine_share must be in [0, 1), got {refine_share}."
        )
    begin = clock()
    deadline = np.inf if time_budget is None else begin + float(time_budget)
    two_stage = fast is not None and fast is not likelihood
    # the first stage stops early enough to leave the refinement its share of the budget
    first_deadline = deadline
    if two_stage and time_budget is not None:
        first_deadline = begin + (1.0 - float(refine_share)) * float(time_budget)
    extend = bool(extend) and time_budget is not None
    screen = likelihood.subset(screen_points)
    box = _bounds(prior, likelihood.time_range)
    ranked = []
    for draws in candidates:
        # rank the draws as they will be polished: clipped into the optimiser's box
        columns = _clip_to_box(parameter_columns(draws), box)
        keep = columns["t_0"].size if extend else int(n_starts)
        if columns["t_0"].size > 1 and clock() < deadline:
            order = np.argsort(screen.chi2(columns), kind="stable")[:keep]
        else:  # out of time: the mode's first draw (its centre, in propose) is its start
            order = np.arange(min(int(n_starts), columns["t_0"].size))
        ranked.append({name: columns[name][order] for name in PARAMETER_NAMES})
    stage = fast if two_stage else likelihood
    results: list[list[PolishResult]] = [[] for _ in candidates]
    starts: list[list[dict[str, float]]] = [[] for _ in candidates]
    n_ranks = max((d["t_0"].size for d in ranked), default=0)
    for rank in range(n_ranks if extend else int(n_starts)):
        if rank >= int(n_starts) and clock() >= first_deadline:
            break
        for mode, draws in enumerate(ranked):
            if rank >= draws["t_0"].size:
                continue
            start = {name: draws[name][rank] for name in PARAMETER_NAMES}
            if clock() < first_deadline:
                polished = polish(
                    stage,
                    start,
                    prior=prior,
                    max_evaluations=max_evaluations,
                    deadline=first_deadline,
                )
            elif rank == 0:
                # Out of time: every mode still gets its best draw evaluated on the full data.
                polished = polish(likelihood, start, prior=prior, max_evaluations=1)
            else:
                continue
            results[mode].extend(polished)
            starts[mode].append(start)
    if two_stage:
        results = _refine(
            likelihood, results, starts, int(n_refine), prior, max_evaluations, deadline, clock
        )
    if twins:
        results.append(_polish_twins(likelihood, results, prior, max_evaluations, deadline, clock))
    if two_stage and extend:
        _restart_best(likelihood, results, prior, max_evaluations, deadline, clock)
    return results


def _refine(
    likelihood: Likelihood,
    results: list[list[PolishResult]],
    starts: list[list[dict[str, float]]],
    n_refine: int,
    prior: Prior | None,
    max_evaluations: int,
    deadline: float,
    clock: Callable[[], float],
) -> list[list[PolishResult]]:
    """Optima of the fast likelihood on the full data; the best distinct ones polished again.

    Every optimum and its start are evaluated on ``likelihood`` (one batched call, whatever
    the time) and the better of the two is kept, so a result is never worse than its start on
    the full data. Then the ``n_refine`` best whose (ln s, ln q, alpha) differ from every one
    already refined are polished from there until ``deadline``; a refined result keeps the
    better of the two. Covariances of results not refined are the fast likelihood's.
    """
    flat = [(m, k) for m, rs in enumerate(results) for k, r in enumerate(rs) if r.optimised]
    if not flat:
        return results
    points = [results[m][k].parameters for m, k in flat]
    points += [canonicalize_floats(starts[m][k]) for m, k in flat]
    both = {name: np.array([p[name] for p in points]) for name in PARAMETER_NAMES}
    chi2_both, fluxes_both = likelihood.fit(both)
    n = len(flat)
    pick = np.where(chi2_both[n:] < chi2_both[:n], np.arange(n, 2 * n), np.arange(n))
    chi2, fluxes = chi2_both[pick], fluxes_both[pick]
    out = [list(rs) for rs in results]
    for j, (m, k) in enumerate(flat):
        r = results[m][k]
        out[m][k] = PolishResult(
            parameters=points[pick[j]],
            chi2=float(chi2[j]),
            fluxes=fluxes[j],
            covariance=r.covariance,
            start_chi2=r.start_chi2,
            n_evaluations=r.n_evaluations + 1,
            converged=False,
            optimised=True,
        )
    done: list[np.ndarray] = []
    for j in np.argsort(chi2, kind="stable"):
        if len(done) >= n_refine or clock() >= deadline:
            break
        m, k = flat[j]
        key = _geometry_key(out[m][k].parameters)
        if any(_same_geometry(key, other) for other in done):
            continue
        done.append(key)
        [again] = polish(
            likelihood,
            out[m][k].parameters,
            prior=prior,
            max_evaluations=max_evaluations,
            deadline=deadline,
        )
        if again.chi2 <= out[m][k].chi2:
            again.n_evaluations += out[m][k].n_evaluations
            out[m][k] = again
    return out


def checked_steps(steps: Sequence[str]) -> tuple[str, ...]:
    """``steps`` (names of :data:`STEP_NAMES`) as a tuple; ConfigurationError naming any
    other."""
    unknown = sorted(set(steps) - set(STEP_NAMES))
    if unknown:
        raise ConfigurationError(f"unknown steps {unknown} (choose from {STEP_NAMES}).")
    return tuple(steps)


def _restart_best(
    likelihood: Likelihood,
    results: list[list[PolishResult]],
    prior: Prior | None,
    max_evaluations: int,
    deadline: float,
    clock: Callable[[], float],
    steps: Sequence[str] | None = None,
    first_restarts: int | None = None,
) -> None:
    """Polish the best result again while time lasts, replacing it in ``results`` when better.

    A trust-region fit that stops on the ridge of a caustic crossing often moves on when
    restarted (its trust region starts wide again): restart while each restart improves the
    chi2, at most ``first_restarts`` times; when one does not, take the ``steps`` in turn
    (default :data:`FINAL_STEPS`, and :data:`FIRST_RESTARTS` restarts, as they are at the
    call): ``"crossing"``, a round of :func:`crossing_round` (where the best
    model crosses its caustics), repeated while each lowers the chi2 by at least 1;
    ``"rho"``, a polish from the best with its source radius scaled by each of
    :data:`RHO_STEPS`; ``"anneal"``, :func:`anneal` once. A step that improves earns two more
    restarts, and a source radius or annealing that improves another crossing round, before
    the next step (crossing rounds at most :data:`MAX_CROSSING_ROUNDS` in all). Once the
    steps are done, restarts again while each improves, up to :data:`MAX_RESTARTS` in all.
    """
    flat = [(m, k) for m, rs in enumerate(results) for k, r in enumerate(rs) if r.optimised]
    if not flat:
        return
    steps = checked_steps(FINAL_STEPS if steps is None else steps)
    first_restarts = FIRST_RESTARTS if first_restarts is None else first_restarts
    m, k = min(flat, key=lambda mk: results[mk[0]][mk[1]].chi2)
    queue: list[tuple[str, float | None]] = []
    for step in steps:
        if step == "rho":
            queue += [("rho", factor) for factor in RHO_STEPS]
        else:
            queue.append((step, None))
    restarts_left, crossing_rounds = int(first_restarts), 0
    tail_restarts = max(MAX_RESTARTS - int(first_restarts), 0)
    while clock() < deadline:
        best = results[m][k]
        kwargs = dict(prior=prior, max_evaluations=max_evaluations, deadline=deadline)
        step, factor = "restart", None
        if restarts_left > 0:
            restarts_left -= 1
            [again] = polish(likelihood, best.parameters, **kwargs)
        elif queue:
            step, factor = queue.pop(0)
            if step == "anneal":
                again = anneal(likelihood, best.parameters, **kwargs)
            elif step == "rho":
                start = dict(best.parameters, rho=best.parameters["rho"] * float(factor))
                [again] = polish(likelihood, start, **kwargs)
            else:
                crossing_rounds += 1
                found = crossing_round(likelihood, best.parameters, **kwargs)
                if found is None:  # the model does not cross its caustics
                    continue
                again = found
        elif tail_restarts > 0:  # the steps are done: the rest of the restarts
            restarts_left, tail_restarts = tail_restarts, 0
            continue
        else:
            return
        gain = best.chi2 - again.chi2
        if gain > 1e-3:
            again.n_evaluations += best.n_evaluations
            again.start_chi2 = best.start_chi2
            if again.covariance is None:
                again.covariance = best.covariance
            results[m][k] = again
            if step != "restart":
                restarts_left = 2  # an improvement here earns two more restarts
        else:
            restarts_left = 0  # no gain: the next step, or stop after the last
        # another crossing round next: after one that gained at least 1, or after a source
        # radius or an annealing that moved the model (its crossings may now line up)
        again_crossing = gain >= 1.0 if step == "crossing" else step != "restart" and gain > 1e-3
        queued = bool(queue) and queue[0][0] == "crossing"
        if again_crossing and not queued and "crossing" in steps:
            if crossing_rounds < MAX_CROSSING_ROUNDS:
                queue.insert(0, ("crossing", None))


def twin_starts(params: Mapping[str, float]) -> list[dict[str, float]]:
    """Starts in the close/wide twin of a 2L1S model: ``s -> 1/s``, ``alpha`` and ``alpha + 180``.

    A close binary's central caustic resembles that of the wide binary at ``1/s`` (Griest &
    Safizadeh 1998; Dominik 1999), so a light curve fitted by one is often fitted as well by
    the other, yet the two lie far apart for a local optimiser. In MulensModel's frame (origin
    at the centre of mass) the twin's trajectory may run either way along the binary axis,
    hence both angles; ``t_0``, ``u_0``, ``t_E``, ``rho`` and ``q`` are kept.
    """
    point = {name: float(params[name]) for name in PARAMETER_NAMES}
    twin = dict(point, s=1.0 / point["s"])
    return [twin, dict(twin, alpha=(point["alpha"] + 180.0) % 360.0)]


def _polish_twins(
    likelihood: Likelihood,
    results: list[list[PolishResult]],
    prior: Prior | None,
    max_evaluations: int,
    deadline: float,
    clock: Callable[[], float],
) -> list[PolishResult]:
    """The twins of the best optimum (:func:`twin_starts`), each polished on ``likelihood``.

    A twin whose (ln s, ln q, alpha) is already that of an optimum is skipped (that basin was
    searched); each polish may use at most half of the time left when it starts, so the
    restarts that follow keep some.
    """
    flat = [r for rs in results for r in rs if r.optimised]
    if not flat:
        return []
    best = min(flat, key=lambda r: r.chi2)
    lo, hi = _bounds(prior, likelihood.time_range)["s"]
    known = [_geometry_key(r.parameters) for r in flat]
    out = []
    for start in twin_starts(best.parameters):
        now = clock()
        if now >= deadline:
            break
        key = _geometry_key(start)
        if not lo <= start["s"] <= hi or any(_same_geometry(key, k) for k in known):
            continue
        [twin] = polish(
            likelihood,
            start,
            prior=prior,
            max_evaluations=max_evaluations,
            deadline=now + 0.5 * (deadline - now),
        )
        if twin.optimised:
            out.append(twin)
    return out


def _geometry_key(params: Mapping[str, float]) -> np.ndarray:
    """(ln s, ln q, alpha [rad]) of a model, as :func:`_same_geometry` compares them."""
    return np.array([np.log(params["s"]), np.log(params["q"]), np.deg2rad(params["alpha"])])


def _same_geometry(a: np.ndarray, b: np.ndarray) -> bool:
    """(ln s, ln q, alpha [rad]) close enough to be one minimum before refinement."""
    d_alpha = np.angle(np.exp(1j * (a[2] - b[2])))
    return bool(abs(a[0] - b[0]) < 1e-3 and abs(a[1] - b[1]) < 1e-2 and abs(d_alpha) < 1e-2)
