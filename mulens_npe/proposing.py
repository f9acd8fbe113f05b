"""From posterior samples to a ranked :class:`~mulens_npe.solutions.Proposal`.

The steps after the network: find the posterior's modes, screen and polish draws of each mode
with the true likelihood, rank, and attach the reasons (if any) to distrust the result. Used
by :meth:`mulens_npe.initializer.NPEInitializer.propose` and ``propose_many``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from astropy.table import Table

from .anomaly import anomaly_candidates_ladder
from .artifact import TrainedModel
from .errors import ConfigurationError, OutOfPriorWarning
from .lightcurve import LightCurve
from .mapsearch import map_candidates, map_targets
from .modes import Mode, find_modes
from .parameters import PARAMETER_NAMES
from .polish import REFINE_SHARE, Likelihood, polish_modes, single_lens_fit
from .preprocess import NetworkInput
from .prior import LOG_UNIFORM, Prior, span_prior
from .simulate.magnification import CurvePool
from .solutions import Proposal, Solution, rank_solutions

#: single-lens chi2 per degree of freedom above which the trajectory is searched on maps (at
#: 2.0 it missed binaries with delta chi2 of 850-3,200 over ~5,000 epochs; at 1.15 it found
#: one of those three and lost none of the nine others it now runs on: docs/benchmarks.md)
MAP_SEARCH_CHI2_DOF = 1.15
#: distinct (s, q) of the posterior given a quick map search each, densest first
MAP_TARGETS = 40
#: the map searches also descend from the trajectories of the posterior draws near each map
#: (``map_candidates(posterior)``): off, since on the 25 strong binaries of the benchmark it
#: found 12 against 11 without (inside the run-to-run spread), although it put the posterior
#: target nearest the truth among the maps searched in full on 12 of them against 7
#: (docs/benchmarks.md, session 34)
MAP_POSTERIOR_SEEDS = False
#: share of the polishing budget kept for the final full-data polish where the map search ran
#: (a strong binary: a narrow minimum, slow full-data polishes); there the best optimum is
#: restarted and annealed until the budget is spent (``polish_modes(extend=True)``)
STRONG_REFINE_SHARE = 0.4
#: optima polished again on all epochs there before the best one is restarted and annealed
#: (elsewhere ``max(5, n_solutions)``): each such polish takes 10-50 s on a strong binary
STRONG_N_REFINE = 1

__all__ = ["build_proposal", "propose_settings", "event_prior", "mode_draws", "honesty_warnings"]


def event_prior(prior: Prior, lightcurves: LightCurve | Sequence[LightCurve]) -> Prior:
    """``prior`` with t_0 anywhere from half a data span before the data to half after."""
    if isinstance(lightcurves, LightCurve):
        lightcurves = [lightcurves]
    first = min(float(lc.time[0]) for lc in lightcurves)
    last = max(float(lc.time[-1]) for lc in lightcurves)
    return span_prior(prior, first, last)


def build_proposal(
    model: TrainedModel,
    lightcurves: list[LightCurve],
    net_input: NetworkInput,
    samples: Table,
    seed: int,
    settings: dict[str, Any],
    timings: dict[str, float],
    start: float,
    pool: CurvePool | None = None,
) -> Proposal:
    """Modes, polish and ranking of one event's posterior samples.

    Parameters
    ----------
    model : TrainedModel
        The model that drew ``samples`` (its prior and name go into the proposal).
    lightcurves : list of LightCurve
        The event's data.
    net_input : NetworkInput
        Its preprocessed form (for the single-lens starting point).
    samples : astropy.table.Table
        Posterior samples in MulensModel names.
    seed : int
        Seed of the draw (recorded).
    settings : dict
        Checked settings from :func:`propose_settings`.
    timings : dict
        Seconds spent so far (preprocess, sampling); completed here.
    start : float
        ``time.perf_counter()`` at the start of the event, for ``time_budget``.
    pool : CurvePool, optional
        Processes that share the magnification curves of the polish and the screenings.

    Returns
    -------
    Proposal
    """
    clock = time.perf_counter
    n_solutions, polish = settings["n_solutions"], settings["polish"]
    n_draws, n_starts = settings["n_draws"], settings["n_starts"]
    time_budget = settings["time_budget"]
    mark = clock()
    modes = find_modes(samples, max_modes=n_solutions)
    timings["modes"] = clock() - mark
    mark = clock()
    prior = event_prior(model.prior, lightcurves)
    likelihood = Likelihood(lightcurves, pool=pool)
    single = single_lens_fit(likelihood, vars(net_input.single_lens))
    candidates = [mode_draws(samples, mode, n_draws) for mode in modes]
    origins = [("posterior", index) for index in range(len(modes))]

    def third_of_what_is_left(now: float) -> float | None:
        """Deadline for a search of starts: a third of the time budget still unspent."""
        if time_budget is None:
            return None
        return now + max(float(time_budget) - (now - start), 0.0) / 3.0

    if polish and settings["anomaly_starts"]:
        # polished first: where the data show a sharp anomaly, its geometry is the best lead;
        # its screening may take at most a third of what is left of the time budget
        deadline = third_of_what_is_left(mark)
        found = anomaly_candidates_ladder(
            likelihood,
            single,
            # two digits: the same start whatever the float rounding of the network; the
            # ladder screens 0.5, 1 and 2 times it, since the ranking can turn on that digit
            rho=float(f"{np.median(samples['rho']):.2g}"),
            n_keep=n_starts,
            s_bounds=prior.bounds["s"],
            q_bounds=prior.bounds["q"],
            deadline=deadline,
        )
        if found["t_0"].size:
            candidates.insert(0, found)
            origins.insert(0, ("anomaly", None))
    timings["anomaly"] = clock() - mark
    mark = clock()
    if polish and settings["map_starts"] and single["chi2"] > MAP_SEARCH_CHI2_DOF * likelihood.dof:
        # a strong binary: caustic crossings the posterior draws rarely place; search the
        # trajectory on magnification maps of the posterior's densest (s, q), in at most a
        # third of what is left of the budget
        deadline = third_of_what_is_left(mark)
        found = map_candidates(
            likelihood,
            map_targets(samples["s"], samples["q"], MAP_TARGETS),
            t_e_bounds=prior.bounds["t_E"],
            posterior=(
                {name: np.asarray(samples[name], float) for name in PARAMETER_NAMES}
                if MAP_POSTERIOR_SEEDS
                else None
            ),
            seed=seed,
            deadline=deadline,
        )
        if found["t_0"].size:
            candidates.insert(0, {name: found[name] for name in PARAMETER_NAMES})
            origins.insert(0, ("map", None))
    strong = "map" in (origin for origin, _ in origins)
    timings["map"] = clock() - mark
    mark = clock()
    budget = None if time_budget is None else max(float(time_budget) - (mark - start), 1e-3)
    per_mode = polish_modes(
        likelihood,
        candidates,
        n_starts=n_starts if polish else 1,
        prior=prior,
        max_evaluations=settings["max_evaluations"] if polish else 1,
        time_budget=budget,
        fast=likelihood.compressed() if polish and settings["compress"] else None,
        n_refine=STRONG_N_REFINE if strong else max(5, n_solutions),
        extend=polish and settings["extend"],
        refine_share=STRONG_REFINE_SHARE if strong else REFINE_SHARE,
        twins=polish,
    )
    if polish:  # the close/wide twins of the best optimum come last
        origins.append(("twin", None))
    bands = [lc.band for lc in lightcurves]
    solutions = [
        Solution(
            parameters=result.parameters,
            chi2=result.chi2,
            dof=likelihood.dof,
            delta_chi2=single["chi2"] - result.chi2,
            fluxes=tuple(
                {"band": band, "source_flux": float(f[0]), "blend_flux": float(f[1])}
                for band, f in zip(bands, result.fluxes, strict=True)
            ),
            label=modes[mode].label if mode is not None else _label(result.parameters["s"]),
            weight=modes[mode].weight if mode is not None else 0.0,
            covariance=result.covariance,
            polished=result.optimised,
            mode=mode,
            origin=origin,
        )
        for (origin, mode), results in zip(origins, per_mode, strict=True)
        for result in results
    ]
    ranked = rank_solutions(solutions)[:n_solutions]
    timings["polish"] = clock() - mark
    timings["total"] = clock() - start
    n_polished = sum(r.optimised for results in per_mode for r in results)
    n_planned = sum(min(n_starts, len(c["t_0"])) for c in candidates) if polish else 0
    result = Proposal(
        solutions=ranked,
        samples=samples,
        modes=modes,
        prior=prior,
        single_lens=single,
        lightcurves=tuple(lightcurves),
        timings=timings,
        meta={
            "model": model.card.get("name", "unnamed"),
            "seed": seed,
            "n_samples": len(samples),
            "polish": bool(polish),
            "n_draws": n_draws,
            "n_starts": n_starts,
            "time_budget": time_budget,
            "workers": 1 if pool is None else pool.workers,
            "complete": n_polished >= n_planned,
            "n_evaluations": int(sum(r.n_evaluations for rs in per_mode for r in rs)),
            "anomaly_starts": bool(polish and settings["anomaly_starts"]),
            "map_starts": bool(polish and settings["map_starts"]),
            "compress": bool(polish and settings["compress"]),
            "extend": bool(polish and settings["extend"] and time_budget is not None),
        },
    )
    result.warnings.extend(honesty_warnings(samples, model.prior, ranked))
    for message in result.warnings:
        warnings.warn(message, OutOfPriorWarning, stacklevel=3)  # the caller of propose
    return result


def _label(s: float) -> str:
    """Topology label of a single solution: close (s < 1) or wide."""
    return "close" if s < 1.0 else "wide"


def propose_settings(
    n_samples: Any,
    n_solutions: Any,
    polish: bool,
    time_budget: Any,
    n_draws: Any,
    n_starts: Any,
    max_evaluations: Any,
    anomaly_starts: bool = True,
    compress: bool = True,
    extend: bool = True,
    map_starts: bool = True,
    workers: Any = 1,
) -> dict[str, Any]:
    """The checked settings of :meth:`NPEInitializer.propose`."""
    settings = {
        "n_samples": n_samples,
        "n_solutions": n_solutions,
        "n_draws": n_draws,
        "n_starts": n_starts,
        "max_evaluations": max_evaluations,
        "workers": workers,
    }
    for name, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigurationError(f"propose: {name} must be an integer >= 1, got {value!r}.")
    if time_budget is not None and not (
        isinstance(time_budget, int | float)
        and not isinstance(time_budget, bool)
        and time_budget > 0
    ):
        raise ConfigurationError(
            f"propose: time_budget must be None or > 0 s, got {time_budget!r}."
        )
    settings = {name: int(value) for name, value in settings.items()}
    settings.update(
        polish=bool(polish),
        time_budget=time_budget,
        anomaly_starts=bool(anomaly_starts),
        compress=bool(compress),
        extend=bool(extend),
        map_starts=bool(map_starts),
    )
    return settings


def mode_draws(samples: Table, mode: Mode, n_draws: int) -> dict[str, np.ndarray]:
    """The mode's centre followed by its first draws (the samples are independent)."""
    rows = mode.indices[: max(n_draws - 1, 1)]
    return {
        name: np.concatenate([[mode.center[name]], np.asarray(samples[name], float)[rows]])
        for name in PARAMETER_NAMES
    }


def honesty_warnings(samples: Table, prior: Prior, solutions: list[Solution]) -> list[str]:
    """Reasons to distrust the proposal: a poor best fit, a posterior against the prior's edges."""
    messages = []
    if solutions and solutions[0].chi2_per_dof > 2.0:
        messages.append(
            f"the best solution fits poorly (chi2/dof = {solutions[0].chi2_per_dof:.2f}): the "
            "event may lie outside the model's prior (parallax, orbital motion, a second source "
            "or a third body) or the error bars are underestimated; check the residuals."
        )
    if solutions and solutions[0].delta_chi2 < 0:
        messages.append(
            f"the best binary-lens solution fits worse than a single lens (delta chi2 = "
            f"{solutions[0].delta_chi2:.1f}): the posterior missed this event; do not start a "
            "fit from these solutions."
        )
    for name in ("s", "q", "t_E", "u_0"):
        values = np.asarray(samples[name], float)
        low, high = prior.bounds[name]
        if name in LOG_UNIFORM:
            values, low, high = np.log(values), np.log(low), np.log(high)
        margin = 0.02 * (high - low)
        edges = [("upper", np.mean(values > high - margin), prior.bounds[name][1])]
        if name != "u_0":  # u_0 ~ 0 is an ordinary high-magnification event
            edges.append(("lower", np.mean(values < low + margin), prior.bounds[name][0]))
        for edge, fraction, bound in edges:
            if fraction > 0.25:
                messages.append(
                    f"{fraction:.0%} of the posterior samples of {name} lie at the {edge} edge "
                    f"of the training prior ({name} = {bound:g}): the event may be outside the "
                    "range the model was trained on."
                )
    return messages
