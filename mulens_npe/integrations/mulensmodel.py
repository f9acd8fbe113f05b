"""MulensModel hooks: an ``Event`` from a proposal, emcee refinement, ulens_model_fit starts.

The usual MulensModel script (its example_08: a PSPL fit, a grid over (s, q, alpha) with an
inner optimiser, then emcee) becomes::

    result = NPEInitializer.pretrained().propose(data)
    chain = refine(data, result, n_steps=2000)      # emcee from walkers at the best solution

and :func:`event` gives the ``MulensModel.Event`` of any solution for plots and fits of one's
own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.table import Table

from ..adapters import as_lightcurves
from ..errors import ConfigurationError
from ..lightcurve import LightCurve
from ..parameters import PARAMETER_NAMES, canonicalize
from ..polish import Likelihood
from ..prior import Prior

if TYPE_CHECKING:
    import MulensModel

    from ..solutions import Proposal, Solution

__all__ = ["mulens_data", "event", "refine", "write_starting_file"]

_LIKELIHOODS = ("mulensmodel", "vbm")


def mulens_data(lightcurves: LightCurve | Sequence[LightCurve]) -> list[MulensModel.MulensData]:
    """``MulensModel.MulensData`` objects (flux at zero point 22) for LightCurves."""
    import MulensModel

    if isinstance(lightcurves, LightCurve):
        lightcurves = [lightcurves]
    return [
        MulensModel.MulensData(
            data_list=[np.array(lc.time), np.array(lc.flux), np.array(lc.flux_err)],
            phot_fmt="flux",
            plot_properties={"label": lc.band},
        )
        for lc in lightcurves
    ]


def _lightcurves(result: Proposal, data: Any) -> list[LightCurve]:
    if data is not None:
        return as_lightcurves(data)
    if not result.lightcurves:
        raise ConfigurationError("this proposal carries no data; pass data=... explicitly.")
    return list(result.lightcurves)


def event(
    result: Proposal | Solution, data: Any = None, solution: int | Solution | None = None
) -> MulensModel.Event:
    """A ``MulensModel.Event``: the data and the model of one solution.

    Parameters
    ----------
    result : Proposal or Solution
        What :meth:`NPEInitializer.propose` returned, or one of its solutions.
    data : object, optional
        Anything :func:`mulens_npe.as_lightcurves` reads (a MulensData is used as read);
        default: the data the proposal was made from.
    solution : int or Solution, optional
        Which solution of a Proposal (default: the best).

    Returns
    -------
    MulensModel.Event
        ``event.get_chi2()`` equals the solution's chi2 (same data, same fluxes).
    """
    import MulensModel

    from ..solutions import Solution

    if isinstance(result, Solution):
        chosen = result
        if data is None:
            raise ConfigurationError("event: give the data with a Solution (data=...).")
        lcs = as_lightcurves(data)
    else:
        chosen = result._solution(solution)
        lcs = _lightcurves(result, data)
    return MulensModel.Event(datasets=mulens_data(lcs), model=chosen.to_mulensmodel())


def refine(
    data: Any,
    proposal: Proposal | Solution,
    n_steps: int = 1000,
    n_walkers: int = 32,
    seed: int = 0,
    progress: bool = False,
    *,
    solution: int | Solution | None = None,
    likelihood: str = "mulensmodel",
) -> Table:
    """Run emcee from NPE walkers around a solution; return the chain as a Table.

    The posterior is chi2 with the best linear fluxes per dataset (as MulensModel's
    ``Event.get_chi2``) times the model's prior (uniform / log-uniform, t_0 over the data;
    mirror solutions with u_0 < 0 are allowed). Walkers start at the width of the likelihood
    peak, so the chain needs little burn-in.

    Parameters
    ----------
    data : object or None
        The photometry: anything :func:`mulens_npe.as_lightcurves` reads (MulensData or
        Event, pyLIMA objects, tables, files, arrays, LightCurves, lists of these). None: the
        data the proposal was made from.
    proposal : Proposal or Solution
        What :meth:`NPEInitializer.propose` returned, or one of its solutions. A Proposal
        gives :meth:`Proposal.emcee_walkers`: the solution's Gauss-Newton covariance, capped
        per parameter at the width of its posterior mode, inside the model's prior. A
        Solution does not know its Proposal, so its walkers come from its Gauss-Newton
        covariance alone (not capped: a parameter the data barely constrain, such as rho
        without a caustic crossing, starts wide) and the chain samples a broad default
        prior (t_0 within 100 days of the data) instead of the model's; it needs ``data``
        and a covariance (a polished solution). For the model's prior and capped walkers
        pass the Proposal and ``solution=`` the Solution.
    n_steps, n_walkers : int
        Length of the chain and number of walkers (at least 14).
    seed : int
        Seeds the walkers and emcee's moves: the same seed gives the same chain.
    progress : bool
        Show emcee's progress bar.
    solution : int or Solution, optional
        With a Proposal: start around this solution (default: the best).
    likelihood : {"mulensmodel", "vbm"}
        ``"mulensmodel"``: ``MulensModel.Event.get_chi2`` with the solution's model (VBBL
        around the caustics); ``"vbm"``: :class:`mulens_npe.polish.Likelihood`, the same
        chi2 vectorised over the walkers (several times faster).

    Returns
    -------
    astropy.table.Table
        One row per step and walker: ``step``, ``walker``, the seven parameters (units),
        ``chi2`` and ``log_prob``. ``meta`` has ``acceptance_fraction`` (mean),
        ``autocorr_time`` (per parameter, NaN when the chain is too short to estimate it),
        ``burn_in`` (twice the largest finite autocorrelation time, or None),
        ``best`` (parameters of the highest log_prob) and the settings.

    Raises
    ------
    ConfigurationError
        A bad option, or a Solution that cannot start walkers (no data, no covariance);
        the message names the argument.

    Example:
        >>> result = init.propose("event.dat")                            # doctest: +SKIP
        >>> chain = mulens_npe.refine("event.dat", result, n_steps=2000)  # doctest: +SKIP
        >>> chain.meta["acceptance_fraction"], chain.meta["burn_in"]      # doctest: +SKIP
    """
    import emcee

    if likelihood not in _LIKELIHOODS:
        raise ConfigurationError(
            f"refine: likelihood must be one of {_LIKELIHOODS}, got {likelihood!r}."
        )
    for name, value, low in (
        ("n_steps", n_steps, 1),
        ("n_walkers", n_walkers, 2 * len(PARAMETER_NAMES)),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ConfigurationError(f"refine: {name} must be an integer >= {low}, got {value!r}.")
    start, chosen, lcs = _starting_point(data, proposal, solution)
    prior = start.prior or _default_prior(lcs)
    if start.prior is None:
        start = replace(start, prior=prior)  # walkers are drawn inside the prior they sample
    walkers = start.emcee_walkers(int(n_walkers), seed=seed, solution=chosen)
    log_prob = (
        _mulensmodel_log_prob(chosen, lcs, prior)
        if likelihood == "mulensmodel"
        else _vbm_log_prob(lcs, prior)
    )
    sampler = emcee.EnsembleSampler(
        int(n_walkers),
        len(PARAMETER_NAMES),
        log_prob,
        vectorize=likelihood == "vbm",
    )
    sampler.random_state = np.random.RandomState(seed).get_state()
    sampler.run_mcmc(walkers, int(n_steps), progress=progress)
    return _chain_table(sampler, int(n_steps), int(n_walkers), seed, likelihood)


def _starting_point(
    data: Any, proposal: Any, solution: int | Solution | None
) -> tuple[Proposal, Solution, list[LightCurve]]:
    """The Proposal whose walkers start the chain, the solution they surround, the data."""
    from ..solutions import Proposal, Solution
    from ..walkers import internal_covariance

    if isinstance(data, Proposal | Solution):
        raise ConfigurationError(
            f"refine: got a {type(data).__name__} as data; the arguments are "
            "refine(data, proposal, ...), with data=None for the proposal's own data."
        )
    if isinstance(proposal, Proposal):
        return proposal, proposal._solution(solution), _lightcurves(proposal, data)
    if not isinstance(proposal, Solution):
        raise ConfigurationError(
            "refine: proposal must be a Proposal (what NPEInitializer.propose returned) or one "
            f"of its Solutions, got {type(proposal).__name__}."
        )
    if solution is not None:
        raise ConfigurationError(
            "refine: solution= picks one of a Proposal's solutions; with a Solution as "
            "proposal leave it out, or pass refine(data, proposal, solution=that_solution)."
        )
    if data is None:
        raise ConfigurationError(
            "refine: a Solution carries no data; pass the data (refine(data, solution)) or "
            "the Proposal it came from."
        )
    if internal_covariance(proposal, proposal.parameters["t_E"]) is None:
        raise ConfigurationError(
            "refine: this Solution has no usable covariance (it was not polished), so nothing "
            "sets the width of the walkers; pass the Proposal it came from: "
            "refine(data, proposal, solution=that_solution)."
        )
    alone = Proposal(solutions=[replace(proposal, mode=None)], samples=Table())
    return alone, alone.solutions[0], as_lightcurves(data)


def _default_prior(lcs: list[LightCurve]) -> Prior:
    """A broad prior for a chain with no model prior: t_0 within 100 days of the data."""
    return Prior(
        t_0=(min(lc.time[0] for lc in lcs) - 100.0, max(lc.time[-1] for lc in lcs) + 100.0),
        bounds={
            "t_E": (0.1, 3000.0),
            "rho": (1e-6, 0.5),
            "s": (0.05, 20.0),
            "q": (1e-8, 1.0),
            "u_0": (0.0, 3.0),
        },
    )


def _log_prior(prior: Prior, theta: np.ndarray) -> np.ndarray:
    params = dict(zip(PARAMETER_NAMES, np.atleast_2d(theta).T, strict=True))
    return prior.log_prob(canonicalize(params))


def _mulensmodel_log_prob(chosen: Solution, lcs: list[LightCurve], prior: Prior):
    import MulensModel

    model = chosen.to_mulensmodel()
    mm_event = MulensModel.Event(datasets=mulens_data(lcs), model=model)

    def log_prob(theta: np.ndarray) -> tuple[float, float]:
        log_prior = float(_log_prior(prior, theta)[0])
        if not np.isfinite(log_prior):
            return -np.inf, np.nan
        for name, value in zip(PARAMETER_NAMES, theta, strict=True):
            setattr(mm_event.model.parameters, name, float(value))
        chi2 = float(mm_event.get_chi2())
        return -0.5 * chi2 + log_prior, chi2

    return log_prob


def _vbm_log_prob(lcs: list[LightCurve], prior: Prior):
    chi2_of = Likelihood(lcs).chi2

    def log_prob(thetas: np.ndarray) -> list[tuple[float, float]]:
        log_prior = _log_prior(prior, thetas)
        inside = np.isfinite(log_prior)
        chi2 = np.full(thetas.shape[0], np.nan)
        if inside.any():
            chi2[inside] = chi2_of(dict(zip(PARAMETER_NAMES, thetas[inside].T, strict=True)))
        log_post = np.where(inside, -0.5 * chi2 + log_prior, -np.inf)
        # emcee reads blobs from a list of (log_prob, blob) pairs, vectorised or not.
        return list(zip(log_post.tolist(), chi2.tolist(), strict=True))

    return log_prob


def _chain_table(sampler: Any, n_steps: int, n_walkers: int, seed: int, likelihood: str) -> Table:
    chain = sampler.get_chain()  # (n_steps, n_walkers, 7)
    log_prob = sampler.get_log_prob()
    chi2 = sampler.get_blobs()
    step, walker = np.meshgrid(np.arange(n_steps), np.arange(n_walkers), indexing="ij")
    columns: dict[str, np.ndarray] = {"step": step.ravel(), "walker": walker.ravel()}
    for k, name in enumerate(PARAMETER_NAMES):
        columns[name] = chain[:, :, k].ravel()
    columns["chi2"] = np.asarray(chi2, float).ravel()
    columns["log_prob"] = log_prob.ravel()
    table = Table(columns)
    for name, unit in (("t_0", "d"), ("t_E", "d"), ("alpha", "deg")):
        table[name].unit = unit
    with np.errstate(invalid="ignore", divide="ignore"):  # a walker that never moved
        tau = np.asarray(sampler.get_autocorr_time(quiet=True), float)
    finite = tau[np.isfinite(tau)]
    best = np.unravel_index(int(np.argmax(log_prob)), log_prob.shape)
    table.meta.update(
        {
            "acceptance_fraction": float(np.mean(sampler.acceptance_fraction)),
            "autocorr_time": {name: float(t) for name, t in zip(PARAMETER_NAMES, tau, strict=True)},
            "burn_in": int(np.ceil(2 * finite.max())) if finite.size else None,
            "best": {name: float(chain[best][k]) for k, name in enumerate(PARAMETER_NAMES)},
            "best_chi2": float(np.asarray(chi2, float)[best]),
            "n_steps": n_steps,
            "n_walkers": n_walkers,
            "seed": seed,
            "likelihood": likelihood,
        }
    )
    return table


def write_starting_file(
    result: Proposal,
    path: str | Path,
    n_walkers: int = 32,
    seed: int = 0,
    solution: int | Solution | None = None,
    parameters: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write NPE walkers as a starting file for MulensModel's ``ulens_model_fit.py``.

    One line per walker, columns in ``parameters`` order (default all seven). The returned
    dict is the YAML block to put in the fit's configuration (MulensModel example 16)::

        starting_parameters:
            file: <path>
            parameters: t_0 u_0 t_E rho s q alpha

    Returns
    -------
    dict
        ``{"starting_parameters": {"file": str(path), "parameters": "t_0 u_0 ..."}}``.
    """
    names = tuple(parameters or PARAMETER_NAMES)
    walkers = result.emcee_walkers(n_walkers, seed=seed, solution=solution, parameters=names)
    header = "NPE starting walkers from mulens_npe; columns: " + " ".join(names)
    np.savetxt(path, walkers, fmt="%.10g", header=header)
    return {"starting_parameters": {"file": str(path), "parameters": " ".join(names)}}
