"""emcee burn-in from the NPE proposal's walkers against a ball around the grid's best node.

For K fresh simulated events (drawn from the model's prior on its own Roman epochs with its
augmentation, exactly as ``mulens-npe evaluate`` and ``bench_propose.py --simulate`` draw
them: a pool of ``--pool`` events with the seed given, the first K used, or the first K
with delta chi2 above ``--min-delta-chi2``), two emcee chains (``emcee.EnsembleSampler``, stretch move, ``--walkers``
walkers, ``--n-steps`` steps) sample the same posterior: chi2 from
:class:`mulens_npe.polish.Likelihood` (linear fluxes) plus the model's prior box (the
proposal's prior: the model's ranges, t_0 over the data span widened by half of it;
uniform / log-uniform densities; u_0 of either sign, its mirror being the same light curve).
The chains start

(a) NPE: from ``proposal.emcee_walkers(n)`` of ``NPEInitializer.propose`` (a Gaussian with the
    best solution's Gauss-Newton covariance, capped at the posterior mode's width);
(b) grid: from a small Gaussian ball around the grid baseline's best node after the same
    polish (``bench_propose.grid_search``: 15 x 15 x 12 grid in log s, log q, alpha, the
    3 best nodes polished with the same optimiser); ``--grid-start node`` uses the best grid
    node itself, unpolished. The ball is what grid users write: widths 1e-4 relative for
    u_0, t_E, rho, s, q, 1e-4 t_E for t_0 and 1e-4 rad for alpha (walkers outside the prior
    are drawn again).

Burn-in: with m(t) the median over walkers of chi2 at step t and M the median chi2 of all
walkers over the last 20% of the chain, the burn-in is the first step b such that
|m(t) - M| <= n_dim (= 7) for every t >= b. When that holds only inside the last 20%, or
not at the last step, the chain is not stationary within ``--n-steps`` and the burn-in is
reported as "> n_steps". Also printed: the mean acceptance fraction, emcee's integrated
autocorrelation time after the burn-in (max over parameters; flagged when the chain is
shorter than 50 of them, emcee's own reliability rule), and how far the chain's final
median chi2 sits above the chi2 of the truth-started polish (on the chain's epochs): a
chain can be stationary in the wrong minimum. The ratio grid / NPE of the burn-ins closes
each event.

Each step costs ``walkers`` magnification curves; a Roman season (~5,000-7,000 epochs) costs
~10-20 ms per curve, so ``--max-points`` runs the chains on
``Likelihood.subset(max_points)`` (every k-th epoch; stated in the output). The proposal,
the grid and the polish always use all epochs.

Usage::

    python benchmarks/bench_burnin.py [MODEL_FOLDER] [--events 3] [--seed 778]
        [--walkers 32] [--n-steps 2000] [--max-points 1000] [--grid-nodes N]
        [--grid-start polished|node] [--min-delta-chi2 100] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_propose import (  # noqa: E402
    _jsonable,
    add_common_arguments,
    grid_search,
    load_initializer,
    simulate_events,
    timed_propose,
    truth_polish,
)

from mulens_npe.parameters import PARAMETER_NAMES, canonicalize  # noqa: E402
from mulens_npe.polish import Likelihood  # noqa: E402
from mulens_npe.prior import Prior  # noqa: E402

N_DIM = len(PARAMETER_NAMES)
TAIL = 0.2
"""Fraction of the chain whose median chi2 is the stationary reference."""


# --------------------------------------------------------------------------- helpers


def burn_in(chi2: np.ndarray, n_dim: int = N_DIM, tail: float = TAIL) -> tuple[int | None, float]:
    """Burn-in of a chain from its chi2 values, shape ``(n_steps, n_walkers)``.

    Returns ``(b, M)``: M is the median chi2 over the last ``tail`` of the steps (all
    walkers), b the first step from which the median over walkers stays within ``n_dim``
    of M to the end. b is None when that never happens before the last ``tail`` of the
    chain (not stationary within the chain's length).
    """
    chi2 = np.asarray(chi2, dtype=float)
    if chi2.ndim != 2 or chi2.shape[0] < 2:
        raise ValueError(
            f"burn_in: chi2 must have shape (n_steps >= 2, n_walkers), got {chi2.shape}"
        )
    n = chi2.shape[0]
    n_tail = max(1, int(np.ceil(tail * n)))
    reference = float(np.median(chi2[n - n_tail :]))
    medians = np.median(chi2, axis=1)
    outside = ~(np.abs(medians - reference) <= n_dim)  # nan counts as outside
    if not outside.any():
        return 0, reference
    step = int(np.flatnonzero(outside)[-1]) + 1
    if step > n - n_tail:
        return None, reference
    return step, reference


def gaussian_ball(
    centre: Mapping[str, float],
    n_walkers: int,
    rng: np.random.Generator,
    prior: Prior | None = None,
    width: float = 1e-4,
) -> np.ndarray:
    """Walkers ``(n_walkers, 7)`` in a small ball around ``centre`` (columns PARAMETER_NAMES).

    Widths: ``width`` relative for u_0, t_E, rho, s, q; ``width * t_E`` for t_0; ``width``
    radians for alpha. Walkers outside ``prior`` (either u_0 sign allowed) are drawn again.
    """
    c = np.array([float(centre[name]) for name in PARAMETER_NAMES])
    sigma = width * np.abs(c)
    sigma[0] = width * abs(float(centre["t_E"]))
    sigma[6] = np.rad2deg(width)
    walkers = np.empty((int(n_walkers), N_DIM))
    missing = np.arange(int(n_walkers))
    for _ in range(100):
        walkers[missing] = c + sigma * rng.standard_normal((missing.size, N_DIM))
        if prior is None:
            break
        inside = prior.contains(canonicalize(_columns(walkers[missing])))
        missing = missing[~inside]
        if missing.size == 0:
            break
    return walkers


def _columns(x: np.ndarray) -> dict[str, np.ndarray]:
    return {name: x[:, j] for j, name in enumerate(PARAMETER_NAMES)}


class LogPosterior:
    """Vectorised log posterior for emcee: -chi2 / 2 plus the log prior (u_0 of either sign)."""

    def __init__(self, likelihood: Likelihood, prior: Prior) -> None:
        self.likelihood = likelihood
        self.prior = prior
        self.n_curves = 0

    def log_prior(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.prior.log_prob(canonicalize(_columns(np.atleast_2d(x))))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        lp = self.log_prior(x)
        out = np.full(x.shape[0], -np.inf)
        ok = np.isfinite(lp)
        if ok.any():
            chi2 = self.likelihood.chi2(_columns(x[ok]))
            self.n_curves += int(ok.sum())
            out[ok] = lp[ok] - 0.5 * chi2
        return out


def run_chain(
    log_posterior: LogPosterior,
    start: np.ndarray,
    n_steps: int,
    seed: int,
    label: str = "",
    progress_every: int = 0,
) -> dict[str, Any]:
    """Run emcee from ``start`` and measure its burn-in, acceptance and autocorrelation."""
    import emcee

    n_walkers = start.shape[0]
    sampler = emcee.EnsembleSampler(n_walkers, N_DIM, log_posterior, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()
    began = time.perf_counter()
    for step, _ in enumerate(
        sampler.sample(start, iterations=n_steps, skip_initial_state_check=True), start=1
    ):
        if progress_every and step % progress_every == 0:
            lp = sampler.get_log_prob()[step - 1]
            chi2 = -2.0 * (lp - log_posterior.log_prior(sampler.get_chain()[step - 1]))
            print(
                f"    {label} step {step}/{n_steps}: median chi2 {np.median(chi2):.1f}, "
                f"{time.perf_counter() - began:.0f} s",
                flush=True,
            )
    seconds = time.perf_counter() - began
    chain = sampler.get_chain()  # (n_steps, n_walkers, 7)
    log_prob = sampler.get_log_prob()
    log_prior = log_posterior.log_prior(chain.reshape(-1, N_DIM)).reshape(log_prob.shape)
    chi2 = -2.0 * (log_prob - log_prior)
    steps, stationary = burn_in(chi2)
    tau = None
    tau_reliable = False
    discard = steps if steps is not None else n_steps // 2
    if n_steps - discard >= 10:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                taus = sampler.get_autocorr_time(discard=discard, tol=0, quiet=True)
                tau = float(np.nanmax(taus)) if np.all(np.isfinite(taus)) else None
            except Exception:  # emcee cannot estimate it on this chain
                tau = None
        tau_reliable = tau is not None and (n_steps - discard) >= 50 * tau
    return {
        "burn_in": steps,
        "stationary_chi2": stationary,
        "final_median_chi2": float(np.median(chi2[-1])),
        "start_median_chi2": float(np.median(chi2[0])),
        "acceptance": float(np.mean(sampler.acceptance_fraction)),
        "tau": tau,
        "tau_reliable": bool(tau_reliable),
        "seconds": seconds,
        "seconds_per_step": seconds / n_steps,
        "median_chi2_trace": np.median(chi2, axis=1).tolist(),
    }


def _burn_text(steps: int | None, n_steps: int) -> str:
    return f"> {n_steps}" if steps is None else str(steps)


def burn_ratio(grid: int | None, npe: int | None, n_steps: int) -> str:
    """grid / NPE burn-in as text (a bound when one is not stationary)."""
    if npe is None and grid is None:
        return "- (neither stationary)"
    if npe is None:
        return f"< {max(grid, 1) / n_steps:.2g}x (NPE not stationary)"
    if grid is None:
        return f"> {n_steps / max(npe, 1):.1f}x (grid not stationary)"
    return f"{max(grid, 1) / max(npe, 1):.3g}x" + (
        " (both <= 1 step)" if max(grid, npe) <= 1 else ""
    )


# --------------------------------------------------------------------------- run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(
        p, seed=778, time_budget=30.0, budget_help="seconds per propose call (0: none)"
    )
    p.add_argument("--events", type=int, default=3, help="simulated events")
    p.add_argument("--chain-seed", type=int, default=1, help="seed of walkers and emcee moves")
    p.add_argument("--walkers", type=int, default=32)
    p.add_argument("--n-steps", type=int, default=2000)
    p.add_argument("--max-points", type=int, default=None, help="chains on a subset of epochs")
    p.add_argument("--grid-start", choices=("polished", "node"), default="polished")
    p.add_argument(
        "--pool",
        type=int,
        default=None,
        help="events drawn (as evaluate does; default --events, max(20x, 50) with --min-delta-chi2)",
    )
    p.add_argument("--progress", type=int, default=0, help="print every N steps")
    p.add_argument("--json", type=Path, default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    init = load_initializer(args.model, args.threads)
    if init is None:
        return 2
    if args.walkers < 2 * N_DIM:
        print(f"error: emcee needs --walkers >= {2 * N_DIM}", file=sys.stderr)
        return 2
    if args.time_budget <= 0:
        args.time_budget = None
    shape = tuple(args.grid)
    print(
        f"model: {init.card.get('name', args.model)}; {args.events} events, seed {args.seed}; "
        f"emcee {args.walkers} walkers x {args.n_steps} steps, chain seed {args.chain_seed}; "
        f"grid {shape[0]}x{shape[1]}x{shape[2]}"
        + (f" on {args.grid_nodes} random nodes" if args.grid_nodes else "")
        + f", start: ball around the best {'polished node' if args.grid_start == 'polished' else 'node (unpolished)'}"
    )
    print(
        f"burn-in: first step after which the median chi2 over walkers stays within {N_DIM} of "
        f"the median chi2 over the last {TAIL:.0%} of the chain"
    )
    pool = args.pool or (
        max(20 * args.events, 50) if args.min_delta_chi2 is not None else args.events
    )
    records = []
    for event in simulate_events(init, pool, args.seed):
        if len(records) >= args.events:
            break
        if "skipped" in event:
            continue
        if args.min_delta_chi2 is not None and event["delta_chi2"] <= args.min_delta_chi2:
            print(
                f"[{event['index']:3d}] delta chi2 {event['delta_chi2']:.1f}: skipped", flush=True
            )
            continue
        records.append(_one_event(init, event, args, shape))
        if args.json:
            _write(args, records)
    if len(records) < args.events:
        print(f"\nonly {len(records)} of {args.events} events in a pool of {pool}: enlarge --pool")
    _summary(records, args)
    if args.json:
        print(f"records: {_write(args, records)}")
    return 0


def _one_event(init, event, args, shape) -> dict[str, Any]:
    lc = event["lightcurve"]
    i = event["index"]
    proposal, npe_time = timed_propose(init, lc, args)
    likelihood = Likelihood(lc)
    chain_likelihood = likelihood if args.max_points is None else likelihood.subset(args.max_points)
    reference = truth_polish(likelihood, event["truth"], proposal.prior, args.max_evaluations)
    start = time.perf_counter()
    g = grid_search(
        likelihood,
        proposal.prior,
        proposal.single_lens,
        shape,
        args.grid_nodes,
        args.grid_polish,
        args.max_evaluations,
        seed=0,
    )
    grid_time = time.perf_counter() - start
    centre = g["polished"][0].parameters if args.grid_start == "polished" else g["best_node"]
    centre_chi2 = g["polished"][0].chi2 if args.grid_start == "polished" else g["best_node_chi2"]
    ref_chain = float(chain_likelihood.chi2(reference.parameters)[0])
    print(
        f"\n[{i:3d}] {likelihood.n_points} epochs (chains on {chain_likelihood.n_points}"
        f"{'' if args.max_points is None else f', Likelihood.subset({args.max_points})'}), "
        f"delta chi2 {event['delta_chi2']:.1f}; truth-started polish chi2 {reference.chi2:.1f} "
        f"({ref_chain:.1f} on the chain's epochs)"
    )
    print(
        f"  propose {npe_time:.1f} s, best chi2 {proposal.best.chi2:.1f}; grid "
        f"{grid_time:.1f} s ({g['nodes']} nodes), start chi2 {centre_chi2:.1f}"
    )
    rng = np.random.default_rng([args.chain_seed, i])
    starts = {
        "NPE": proposal.emcee_walkers(args.walkers, seed=rng),
        "grid": gaussian_ball(centre, args.walkers, rng, proposal.prior),
    }
    record: dict[str, Any] = {
        "index": i,
        "truth": event["truth"],
        "delta_chi2": event["delta_chi2"],
        "n_points": likelihood.n_points,
        "chain_points": chain_likelihood.n_points,
        "reference_chi2": reference.chi2,
        "reference_chi2_chain": ref_chain,
        "propose_time": npe_time,
        "grid_time": grid_time,
        "grid_start_chi2": centre_chi2,
        "chains": {},
    }
    for label, walkers in starts.items():
        log_posterior = LogPosterior(chain_likelihood, proposal.prior)
        out = run_chain(
            log_posterior,
            walkers,
            args.n_steps,
            seed=args.chain_seed + 1000 * i + (0 if label == "NPE" else 1),
            label=label,
            progress_every=args.progress,
        )
        record["chains"][label] = out
        tau = "-" if out["tau"] is None else f"{out['tau']:.0f}"
        if out["tau"] is not None and not out["tau_reliable"]:
            tau += " (unreliable: chain < 50 tau)"
        print(
            f"  {label:4}: burn-in {_burn_text(out['burn_in'], args.n_steps):>7} steps, "
            f"median chi2 {out['start_median_chi2']:.1f} -> {out['final_median_chi2']:.1f} "
            f"(stationary {out['stationary_chi2']:.1f}, {out['final_median_chi2'] - ref_chain:+.1f} "
            f"vs truth polish), acceptance {out['acceptance']:.2f}, tau {tau}, "
            f"{out['seconds_per_step'] * 1e3:.0f} ms/step",
            flush=True,
        )
    b_npe = record["chains"]["NPE"]["burn_in"]
    b_grid = record["chains"]["grid"]["burn_in"]
    record["ratio"] = burn_ratio(b_grid, b_npe, args.n_steps)
    print(f"  burn-in grid / NPE: {record['ratio']}")
    return record


def _summary(records: list[dict[str, Any]], args) -> None:
    print(f"\n=== summary: {len(records)} events, {args.walkers} walkers x {args.n_steps} steps")
    for label in ("NPE", "grid"):
        values = [r["chains"][label]["burn_in"] for r in records]
        text = ", ".join(_burn_text(v, args.n_steps) for v in values)
        known = [v for v in values if v is not None]
        median = f"{np.median(known):.0f}" if len(known) == len(values) and known else "-"
        print(f"  {label:4} burn-in per event: {text}; median {median}")
    print("  ratio grid / NPE per event: " + "; ".join(r["ratio"] for r in records))


def _write(args, records) -> Path:
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}
    settings["json"] = str(args.json)
    document = {
        "settings": settings,
        "definition": (
            f"burn-in: first step after which the median over walkers of chi2 stays within "
            f"{N_DIM} of the median chi2 over the last {TAIL:.0%} of the chain; null: not "
            "stationary within n_steps"
        ),
        "events": records,
    }
    path.write_text(json.dumps(_jsonable(document), indent=1, allow_nan=False))
    return path


if __name__ == "__main__":
    sys.exit(main())
