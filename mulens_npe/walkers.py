"""Starting positions for emcee around a solution of a :class:`~mulens_npe.solutions.Proposal`.

The walkers start where the posterior is: a Gaussian with the solution's Gauss-Newton
covariance (the width of the likelihood peak), capped at the width of the posterior mode, drawn
in (t_0, u_0, ln t_E, ln rho, ln s, ln q, alpha) and kept inside the prior.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigurationError, OutOfPriorWarning
from .parameters import PARAMETER_NAMES, canonicalize
from .polish import from_internal, internal_jacobian, to_internal
from .prior import LOG_UNIFORM, Prior

if TYPE_CHECKING:
    from .solutions import Proposal, Solution

__all__ = ["emcee_walkers", "posterior_spread", "internal_covariance"]


def emcee_walkers(
    proposal: Proposal,
    n_walkers: int = 32,
    seed: int | np.random.Generator = 0,
    solution: int | Solution | None = None,
    parameters: Sequence[str] | None = None,
    scale: float = 1.0,
) -> np.ndarray:
    """:meth:`Proposal.emcee_walkers <mulens_npe.solutions.Proposal.emcee_walkers>` (see there).

    ``proposal`` gives the posterior samples of the solution's mode and the prior; the other
    arguments and the returned ``(n_walkers, len(parameters))`` array are documented on the
    method.
    """
    names = tuple(PARAMETER_NAMES if parameters is None else parameters)
    unknown = [name for name in names if name not in PARAMETER_NAMES]
    if unknown or len(set(names)) != len(names) or not names:
        raise ConfigurationError(
            f"emcee_walkers: parameters must be distinct names among {PARAMETER_NAMES}; "
            f"got {list(names)}."
        )
    if isinstance(n_walkers, bool) or int(n_walkers) != n_walkers or n_walkers < 1:
        raise ConfigurationError(f"emcee_walkers: n_walkers must be >= 1, got {n_walkers!r}.")
    if not scale > 0:
        raise ConfigurationError(f"emcee_walkers: scale must be > 0, got {scale!r}.")
    rng = np.random.default_rng(seed)
    chosen = proposal._solution(solution)
    centre_params = chosen.parameters
    t_scale = centre_params["t_E"]
    centre = to_internal(centre_params, centre_params["t_0"], t_scale)
    posterior = posterior_spread(proposal, chosen, t_scale)
    cov = internal_covariance(chosen, t_scale)
    if cov is None:
        cov = np.diag(np.where(np.isfinite(posterior), 0.1 * posterior, 1e-3) ** 2)
    sigma = np.sqrt(np.clip(np.diag(cov), 0, None))
    shrink = np.where(
        (sigma > posterior) & np.isfinite(posterior) & (posterior > 0), posterior / sigma, 1.0
    )
    cov = cov * np.outer(shrink, shrink) * scale**2
    prior = proposal.prior
    n = int(n_walkers)
    walkers = np.empty((n, 7))
    missing = np.arange(n)
    for _ in range(100):
        z = rng.multivariate_normal(centre, cov, size=missing.size, method="eigh")
        walkers[missing] = z
        if prior is None:
            break
        inside = _inside(prior, from_internal(walkers[missing], centre_params["t_0"], t_scale))
        missing = missing[~inside]
        if missing.size == 0:
            break
    params = from_internal(walkers, centre_params["t_0"], t_scale)
    if prior is not None and missing.size:
        if not _inside(prior, {k: np.atleast_1d(v) for k, v in centre_params.items()})[0]:
            warnings.warn(
                "emcee_walkers: the solution lies outside the model's prior; walkers were "
                "clipped to its edges.",
                OutOfPriorWarning,
                stacklevel=2,
            )
        params = _clip(prior, params, missing)
    return np.column_stack([np.asarray(params[name], float) for name in names])


def posterior_spread(proposal: Proposal, solution: Solution, t_scale: float) -> np.ndarray:
    """Standard deviation of the samples of the solution's mode in internal coordinates."""
    rows = (
        proposal.modes[solution.mode].indices
        if solution.mode is not None and solution.mode < len(proposal.modes)
        else np.arange(len(proposal.samples))
    )
    if rows.size < 2:
        return np.full(7, np.inf)
    draws = {name: np.asarray(proposal.samples[name], float)[rows] for name in PARAMETER_NAMES}
    draws["u_0"] = np.sign(solution.parameters["u_0"] or 1.0) * draws["u_0"]
    if solution.parameters["u_0"] < 0:
        draws["alpha"] = -draws["alpha"]
    z = to_internal(draws, solution.parameters["t_0"], t_scale)
    centre = to_internal(solution.parameters, solution.parameters["t_0"], t_scale)
    offset = z - centre
    offset[:, 6] = (offset[:, 6] + np.pi) % (2 * np.pi) - np.pi
    return np.sqrt(np.mean(offset**2, axis=0))


def internal_covariance(solution: Solution, t_scale: float) -> np.ndarray | None:
    """The solution's covariance in :func:`mulens_npe.polish.to_internal` coordinates.

    With ``t_scale`` as the time unit (``t_ref`` = the solution's t_0). None when the
    solution has no covariance or it is not usable (wrong shape, non-finite, not positive).
    """
    if solution.covariance is None:
        return None
    cov = np.asarray(solution.covariance, dtype=float)
    if cov.shape != (7, 7) or not np.all(np.isfinite(cov)):
        return None
    d_inv = np.linalg.inv(internal_jacobian(solution.parameters, t_scale))
    cov = d_inv @ cov @ d_inv
    cov = 0.5 * (cov + cov.T)
    if np.any(np.diag(cov) <= 0):
        return None
    return cov


def _inside(prior: Prior, params: Mapping[str, np.ndarray]) -> np.ndarray:
    """Prior membership of parameter sets of either u_0 sign."""
    return prior.contains(canonicalize(params))


def _clip(prior: Prior, params: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    out = {name: np.array(values, dtype=float) for name, values in params.items()}
    for name in PARAMETER_NAMES:
        if name == "alpha":
            continue
        low, high = prior.bounds[name]
        if name == "u_0":
            sign = np.where(out[name][rows] < 0, -1.0, 1.0)
            out[name][rows] = sign * np.clip(np.abs(out[name][rows]), low, high)
            continue
        if name in LOG_UNIFORM:
            low, high = low * (1 + 1e-9), high * (1 - 1e-9)
        out[name][rows] = np.clip(out[name][rows], low, high)
    return out
