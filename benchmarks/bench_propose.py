"""Time to a polished solution and recovery rate: NPEInitializer.propose against a grid search.

Both methods end with the same local optimiser (:func:`mulens_npe.polish.polish`, same limit
on magnification curves per start), in one process on this CPU (``--threads``, default 1).

* ``propose`` (default 10,000 samples, ``--time-budget`` seconds per event): draw the
  posterior, find its modes, screen draws, polish the best ``--n-starts`` per mode. Its wall
  time is split into preprocessing, sampling, mode finding and polishing.
* The grid baseline of MulensModel's example_08 workflow: a 15 x 15 x 12 grid over
  (log s, log q, alpha) over the model's prior, at the single-lens (t_0, u_0, t_E) (clipped
  to the prior box) and rho = 1e-3, chi2 with linear fluxes on all epochs, then the same optimiser from the best
  ``--grid-polish`` nodes.

Recovery: a solution recovers the event when its chi2 is within max(25, 0.2% of the
reference) of the reference, the chi2 of a polish started at the truth (same optimiser,
same limit). Top-1: the best-ranked solution; top-3: any of the first three distinct
solutions, where a solution and its mirror (u_0, alpha) -> (-u_0, -alpha), which has the
same chi2, count as one.

Two modes:

File mode (default: the shipped examples, ``examples/data/*.dat``): per event the timings,
the ratio grid / propose and, where a ``*.truth.json`` sits next to the event, recovery.

Simulation mode (``--simulate N --seed S``): N fresh events drawn from the model's prior on
the model's own Roman epochs with its augmentation, exactly as ``mulens-npe evaluate`` does
(:func:`mulens_npe.evaluate.evaluate_model`: truths from ``prior.sample(N, rng([S, 0]))``,
event i's noise from ``rng([S, 1, i])``), so truths are known. As in evaluate, the truths
depend on N as well as S: ``--simulate 50 --seed S`` is one reproducible set of events. Per event: delta chi2 (best
single lens minus the truth, as in evaluate), reference chi2, propose wall time and top-1 /
top-3 recovery, grid wall time and recovery; then a summary of recovery (all events and
delta chi2 > 100, with counts) and of wall time per event (median, total, ratio).

The full grid costs ~100 s per event on a Roman season; ``--grid-events K`` runs it only on
the first K events (default: all), and ``--grid-nodes N`` times N random nodes and scales
the time to the full grid (timing only: its recovery is then not reported). About 16% of
the prior's events have delta chi2 > 100; ``--min-delta-chi2 100`` runs N such events,
the first ones of a pool of ``--pool`` (default 10 N) drawn as above. ``--json OUT``
writes every per-event record and the summary (rewritten after each event).

``--final-steps crossing,rho,anneal --first-restarts 1`` runs ``propose`` with another order
of the last steps on the best optimum (``mulens_npe.polish.FINAL_STEPS`` and
``FIRST_RESTARTS``, set for this process; session 35's "early" variant).

Usage::

    python benchmarks/bench_propose.py [MODEL_FOLDER] [--event FILE ...] [--grid-nodes N]
    python benchmarks/bench_propose.py [MODEL_FOLDER] --simulate 50 --seed 777 \\
        [--grid-events K] [--grid-nodes N] [--time-budget 30] [--min-delta-chi2 100]
        [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mulens_npe import as_lightcurves
from mulens_npe.errors import ConfigurationError, MulensNPEError, OutOfPriorWarning
from mulens_npe.initializer import NPEInitializer
from mulens_npe.parameters import PARAMETER_NAMES, canonicalize
from mulens_npe.polish import Likelihood, PolishResult, polish
from mulens_npe.solutions import _distinct

ROOT = Path(__file__).resolve().parents[1]
EVENTS = sorted((ROOT / "examples" / "data").glob("*.dat"))
SIGNAL_THRESHOLD = 100.0
"""delta chi2 (single lens - truth) above which an event has a clear binary signal."""


# --------------------------------------------------------------------------- recovery


def tolerance(reference: float) -> float:
    """How far above the reference chi2 a solution may be and still count as recovered."""
    return max(25.0, 2e-3 * float(reference))


def recovered(chi2: float, reference: float | None) -> bool | None:
    """Whether ``chi2`` is within :func:`tolerance` of the reference (None: no reference)."""
    if reference is None or not np.isfinite(reference):
        return None
    return bool(np.isfinite(chi2) and chi2 <= reference + tolerance(reference))


def distinct_up_to_mirror(
    solutions: Sequence[tuple[dict[str, float], float]],
) -> list[tuple[dict[str, float], float]]:
    """Ranked (parameters, chi2) pairs without repeats, a solution's mirror being a repeat.

    The order is kept; a later entry that is the same minimum as an earlier one, or its
    mirror (u_0, alpha) -> (-u_0, -alpha), is dropped.
    """
    from mulens_npe.solutions import Solution

    kept: list[tuple[dict[str, float], float]] = []
    shadows: list[Solution] = []
    for params, chi2 in solutions:
        canonical = {k: float(v) for k, v in canonicalize(params).items() if k in PARAMETER_NAMES}
        probe = Solution(parameters=canonical, chi2=float(chi2), dof=1)
        if all(_distinct(probe, other) for other in shadows):
            kept.append((params, chi2))
            shadows.append(probe)
    return kept


def top_k_recovered(
    solutions: Sequence[tuple[dict[str, float], float]], reference: float | None, k: int
) -> bool | None:
    """Whether any of the first ``k`` distinct ranked solutions (mirrors merged) recovers."""
    if reference is None or not np.isfinite(reference):
        return None
    top = distinct_up_to_mirror(solutions)[: int(k)]
    return any(recovered(chi2, reference) for _, chi2 in top)


def _fmt(flag: bool | None) -> str:
    return "-" if flag is None else ("yes" if flag else "no")


# --------------------------------------------------------------------------- grid


def _grid(prior, shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    log_s = np.linspace(*np.log10(prior.bounds["s"]), shape[0])
    log_q = np.linspace(*np.log10(prior.bounds["q"]), shape[1])
    alpha = np.linspace(0.0, 360.0, shape[2], endpoint=False)
    s, q, a = np.meshgrid(10**log_s, 10**log_q, alpha, indexing="ij")
    return {"s": s.ravel(), "q": q.ravel(), "alpha": a.ravel()}


def grid_search(
    likelihood: Likelihood,
    prior,
    single_lens: dict[str, float],
    shape: tuple[int, int, int] = (15, 15, 12),
    nodes: int | None = None,
    n_polish: int = 3,
    max_evaluations: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """The grid baseline: chi2 on the grid (or ``nodes`` random nodes), polish the best.

    Returns a dict with ``grid_time`` (scaled to the full grid when ``nodes`` is smaller),
    ``polish_time``, ``extrapolated``, ``nodes``, ``best_node`` (parameters of the best
    node) and ``polished`` (the :class:`PolishResult` of the best ``n_polish`` nodes,
    lowest chi2 first).
    """
    grid = _grid(prior, shape)
    total = grid["s"].size
    # the single-lens fit of a partly covered event can leave the prior (t_E of 1e4 d): a grid
    # user starts from the nearest values inside it
    single = {k: float(np.clip(single_lens[k], *prior.bounds[k])) for k in ("t_0", "u_0", "t_E")}
    nodes = total if nodes is None else min(int(nodes), total)
    rows = np.arange(total)
    if nodes < total:
        rows = np.sort(np.random.default_rng(seed).choice(total, nodes, replace=False))
    params = {
        "t_0": np.full(rows.size, single["t_0"]),
        "u_0": np.full(rows.size, single["u_0"]),
        "t_E": np.full(rows.size, single["t_E"]),
        "rho": np.full(rows.size, 1e-3),
        **{k: v[rows] for k, v in grid.items()},
    }
    start = time.perf_counter()
    chi2 = np.concatenate(
        [
            likelihood.chi2({k: v[i : i + 64] for k, v in params.items()})
            for i in range(0, rows.size, 64)
        ]
    )
    grid_time = (time.perf_counter() - start) * total / rows.size
    best = np.argsort(chi2)[:n_polish]
    start = time.perf_counter()
    polished: list[PolishResult] = polish(
        likelihood,
        {k: v[best] for k, v in params.items()},
        prior=prior,
        max_evaluations=max_evaluations,
    )
    polish_time = time.perf_counter() - start
    return {
        "grid_time": grid_time,
        "polish_time": polish_time,
        "extrapolated": bool(rows.size < total),
        "nodes": int(rows.size),
        "total_nodes": int(total),
        "best_node": {k: float(v[best[0]]) for k, v in params.items()},
        "best_node_chi2": float(chi2[best[0]]),
        "polished": sorted(polished, key=lambda r: r.chi2),
    }


def truth_polish(likelihood: Likelihood, truth: dict[str, float], prior, max_evaluations: int):
    """The reference: the same optimiser started at the truth (best point seen)."""
    [result] = polish(likelihood, truth, prior=prior, max_evaluations=max_evaluations)
    return result


# --------------------------------------------------------------------------- simulation


def simulate_events(init: NPEInitializer, n: int, seed: int) -> Iterator[dict[str, Any]]:
    """Fresh events exactly as ``mulens-npe evaluate`` draws them (:func:`simulated_events`).

    Yields, per event that could be preprocessed, a dict with ``index``, ``lightcurve``,
    ``truth`` (MulensModel parameters), ``truth_chi2`` (linear fluxes),
    ``single_lens_chi2`` and ``delta_chi2`` (single lens minus truth); events lost to
    augmentation yield ``{"index": i, "skipped": reason}``.
    """
    from mulens_npe.evaluate import model_epochs, simulated_events

    fields = ("index", "lightcurve", "truth", "truth_chi2", "single_lens_chi2", "delta_chi2")
    for event in simulated_events(init.model, model_epochs(init.model), n, seed):
        if "skipped" in event:
            yield {"index": event["index"], "skipped": event["skipped"]}
        else:
            yield {k: event[k] for k in fields}


def add_pool_arguments(parser: argparse.ArgumentParser) -> None:
    """``--events`` (pool indices, comma-separated), ``--seed`` and ``--pool``: the events of
    :func:`pool_events` a diagnosis runs on (indices as this script prints them)."""
    parser.add_argument("--events", required=True, help="comma-separated pool indices")
    parser.add_argument("--seed", type=int, default=777, help="pool seed (bench_propose's)")
    parser.add_argument("--pool", type=int, default=500, help="events simulated to find them")


def pool_events(init: NPEInitializer, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The events of :func:`simulate_events` (``args.pool`` of seed ``args.seed``) numbered in
    ``args.events`` (parsed :func:`add_pool_arguments`), skipped ones left out."""
    indices = {int(i) for i in str(args.events).split(",")}
    for event in simulate_events(init, args.pool, args.seed):
        if event["index"] in indices and "skipped" not in event:
            yield event


# --------------------------------------------------------------------------- summary


def _rate(flags: Sequence[bool | None]) -> dict[str, Any]:
    known = [f for f in flags if f is not None]
    return {
        "n": len(known),
        "recovered": int(sum(known)),
        "rate": (sum(known) / len(known)) if known else None,
    }


def _times(values: Sequence[float]) -> dict[str, Any]:
    values = [v for v in values if v is not None]
    if not values:
        return {"n": 0, "median": None, "mean": None, "total": None}
    return {
        "n": len(values),
        "median": float(np.median(values)),
        "mean": float(np.mean(values)),
        "total": float(np.sum(values)),
    }


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Recovery rates (all events, delta chi2 > 100) and wall times of the event records."""
    groups = {
        "all": list(records),
        f"delta_chi2 > {SIGNAL_THRESHOLD:g}": [
            r for r in records if r["delta_chi2"] > SIGNAL_THRESHOLD
        ],
    }
    recovery = {}
    for name, rows in groups.items():
        recovery[name] = {
            "n_events": len(rows),
            "propose_top1": _rate([r["propose"]["top1"] for r in rows]),
            "propose_top3": _rate([r["propose"]["top3"] for r in rows]),
            "grid_top1": _rate([r["grid"]["top1"] for r in rows if r.get("grid")]),
            "grid_top3": _rate([r["grid"]["top3"] for r in rows if r.get("grid")]),
        }
    with_grid = [r for r in records if r.get("grid")]
    propose_all = _times([r["propose"]["time"] for r in records])
    propose_same = _times([r["propose"]["time"] for r in with_grid])
    grid = _times([r["grid"]["time"] for r in with_grid])
    ratio_median = (
        grid["median"] / propose_same["median"] if grid["n"] and propose_same["median"] else None
    )
    ratio_total = (
        grid["total"] / propose_same["total"] if grid["n"] and propose_same["total"] else None
    )
    return {
        "n_events": len(records),
        "recovery": recovery,
        "time_per_event": {
            "propose": propose_all,
            "propose_on_grid_events": propose_same,
            "grid": grid,
            "grid_extrapolated": any(r["grid"]["extrapolated"] for r in with_grid),
            "ratio_grid_over_propose_median": ratio_median,
            "ratio_grid_over_propose_total": ratio_total,
        },
    }


def print_summary(summary: dict[str, Any], seed: int | None = None) -> None:
    print(f"\n=== summary: {summary['n_events']} events" + (f", seed {seed}" if seed else ""))
    for group, rec in summary["recovery"].items():
        parts = []
        for key in ("propose_top1", "propose_top3", "grid_top1", "grid_top3"):
            r = rec[key]
            rate = "-" if r["rate"] is None else f"{100 * r['rate']:.1f}%"
            parts.append(f"{key} {rate} ({r['recovered']}/{r['n']})")
        print(f"  recovery [{group}, n={rec['n_events']}]: " + ", ".join(parts))
    t = summary["time_per_event"]

    def line(name: str, d: dict[str, Any]) -> str:
        if not d["n"]:
            return f"  {name}: not run"
        return (
            f"  {name}: median {d['median']:.2f} s, mean {d['mean']:.2f} s, "
            f"total {d['total']:.1f} s over {d['n']} events"
        )

    print("  wall time per event:")
    print(line("propose (all events)", t["propose"]))
    print(line("propose (grid events)", t["propose_on_grid_events"]))
    print(
        line("grid", t["grid"])
        + (" (grid chi2 extrapolated from a node subset)" if t["grid_extrapolated"] else "")
    )
    if t["ratio_grid_over_propose_median"] is not None:
        print(
            f"  ratio grid / propose on the same events: median {t['ratio_grid_over_propose_median']:.1f}x, "
            f"total {t['ratio_grid_over_propose_total']:.1f}x"
        )


# --------------------------------------------------------------------------- runs


def timed_propose(init, lcs, args) -> tuple[Any, float]:
    """``init.propose`` with the benchmark's settings, and its wall time in seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfPriorWarning)
        start = time.perf_counter()
        result = init.propose(
            lcs,
            n_samples=args.n_samples,
            seed=args.propose_seed,
            n_starts=args.n_starts,
            max_evaluations=args.max_evaluations,
            time_budget=args.time_budget,
            anomaly_starts=not args.no_anomaly_starts,
            compress=not args.no_compress,
            map_starts=not args.no_map_starts,
            workers=args.workers,
        )
        return result, time.perf_counter() - start


def _ranked(solutions) -> list[tuple[dict[str, float], float]]:
    return [(dict(s.parameters), float(s.chi2)) for s in solutions]


def _warm_up(init, lcs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfPriorWarning)
        init.propose(lcs, n_samples=100, seed=0, polish=False)  # torch, caches


def run_simulated(init: NPEInitializer, args) -> int:
    shape = tuple(args.grid)
    n_grid = args.simulate if args.grid_events is None else args.grid_events
    nodes = args.grid_nodes
    print(
        f"model: {init.card.get('name', args.model)}; {args.simulate} simulated events, seed "
        f"{args.seed} (propose seed {args.propose_seed}); propose {args.n_samples} samples, "
        f"{args.n_starts} starts/mode, {args.max_evaluations} curves/start, "
        f"{'no ' if args.no_anomaly_starts else ''}anomaly starts, "
        f"{'no ' if args.no_map_starts else ''}map starts, "
        f"{'full-data' if args.no_compress else 'compressed'} polish, time budget "
        f"{args.time_budget} s; grid {shape[0]}x{shape[1]}x{shape[2]} + polish of "
        f"{args.grid_polish} nodes on the first {min(n_grid, args.simulate)} events"
        + (
            f"; only events with delta chi2 > {args.min_delta_chi2:g} from a pool of {_pool(args)}"
            if args.min_delta_chi2 is not None
            else ""
        )
        + (f" (chi2 timed on {nodes} nodes, extrapolated; no grid recovery)" if nodes else "")
    )
    print(
        "recovered: chi2 within max(25, 0.2%) of the truth-started polish; top-3 over distinct "
        "solutions, mirrors merged\n"
    )
    records: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    weak: list[dict[str, Any]] = []
    warmed = False
    for event in simulate_events(init, _pool(args), args.seed):
        if len(records) >= _wanted(args):
            break
        i = event["index"]
        if "skipped" in event:
            skipped.append(event)
            print(f"[{i:3d}] skipped: {event['skipped']}")
            continue
        if args.min_delta_chi2 is not None and event["delta_chi2"] <= args.min_delta_chi2:
            weak.append({"index": i, "delta_chi2": event["delta_chi2"]})
            continue
        if args.only is not None and i not in args.only:
            continue
        lc = event["lightcurve"]
        if not warmed:
            _warm_up(init, lc)
            warmed = True
        result, npe_time = timed_propose(init, lc, args)
        likelihood = Likelihood(lc)
        mark = time.perf_counter()
        reference = truth_polish(likelihood, event["truth"], result.prior, args.max_evaluations)
        reference_time = time.perf_counter() - mark
        ref = reference.chi2
        ranked = _ranked(result.solutions)
        record: dict[str, Any] = {
            "index": i,
            "truth": event["truth"],
            "n_points": likelihood.n_points,
            "delta_chi2": event["delta_chi2"],
            "single_lens_chi2": event["single_lens_chi2"],
            "truth_chi2": event["truth_chi2"],
            "reference_chi2": ref,
            "reference_parameters": reference.parameters,
            "reference_time": reference_time,
            "tolerance": tolerance(ref),
            "propose": {
                "time": npe_time,
                "timings": dict(result.timings),
                "complete": bool(result.meta["complete"]),
                "n_evaluations": int(result.meta["n_evaluations"]),
                "n_modes": len(result.modes),
                "chi2": [c for _, c in ranked],
                "best": ranked[0][0] if ranked else None,
                "origins": [solution.origin for solution in result.solutions],
                "top1": top_k_recovered(ranked, ref, 1),
                "top3": top_k_recovered(ranked, ref, 3),
            },
            "grid": None,
        }
        grid_text = "grid not run"
        if len(records) < n_grid:
            g = grid_search(
                likelihood,
                result.prior,
                result.single_lens,
                shape,
                nodes,
                args.grid_polish,
                args.max_evaluations,
                seed=0,
            )
            g_ranked = [(r.parameters, r.chi2) for r in g["polished"]]
            full = not g["extrapolated"]
            record["grid"] = {
                "time": g["grid_time"] + g["polish_time"],
                "grid_time": g["grid_time"],
                "polish_time": g["polish_time"],
                "extrapolated": g["extrapolated"],
                "nodes": g["nodes"],
                "chi2": [c for _, c in g_ranked],
                "best": g_ranked[0][0],
                "top1": top_k_recovered(g_ranked, ref, 1) if full else None,
                "top3": top_k_recovered(g_ranked, ref, 3) if full else None,
            }
            gr = record["grid"]
            grid_text = (
                f"grid {gr['time']:7.1f} s{'*' if g['extrapolated'] else ' '} top1 "
                f"{_fmt(gr['top1']):3} top3 {_fmt(gr['top3']):3} (best {gr['chi2'][0]:.1f})"
            )
        records.append(record)
        p = record["propose"]
        best = f"{p['chi2'][0]:.1f}" if p["chi2"] else "-"
        print(
            f"[{i:3d}] {likelihood.n_points} pts dchi2 {event['delta_chi2']:10.1f} ref "
            f"{ref:9.1f} | propose {npe_time:6.2f} s{'' if p['complete'] else '+'} top1 "
            f"{_fmt(p['top1']):3} top3 {_fmt(p['top3']):3} (best {best}) | {grid_text} | "
            f"truth polish {reference_time:.1f} s",
            flush=True,
        )
        if args.json:
            _write_json(args, records, skipped, weak)
    summary = summarise(records)
    print_summary(summary, args.seed)
    if any(r["grid"] and r["grid"]["extrapolated"] for r in records):
        print("  * grid chi2 time extrapolated from a random node subset")
    print("  + propose stopped by its time budget")
    if skipped:
        print(f"  {len(skipped)} events skipped (lost to augmentation)")
    if weak:
        print(
            f"  {len(weak)} events with delta chi2 <= {args.min_delta_chi2:g} left out "
            f"(pool of {_pool(args)})"
        )
    if len(records) < _wanted(args):
        print(f"  only {len(records)} of {_wanted(args)} events: enlarge --pool")
    if args.json:
        path = _write_json(args, records, skipped, weak)
        print(f"  records: {path}")
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _wanted(args) -> int:
    """Events to run: ``--simulate N``, or fewer when ``--only`` names fewer."""
    return args.simulate if args.only is None else min(args.simulate, len(set(args.only)))


def _pool(args) -> int:
    if args.pool is not None:
        return max(args.pool, args.simulate)
    return args.simulate if args.min_delta_chi2 is None else 10 * args.simulate


def _write_json(args, records, skipped, weak=()) -> Path:
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in vars(args).items()
        if k not in ("event", "json")
    }
    document = {
        "settings": settings,
        "model": args.model_name,
        "summary": summarise(records),
        "events": records,
        "skipped": skipped,
        "below_min_delta_chi2": list(weak),
    }
    path.write_text(json.dumps(_jsonable(document), indent=1, allow_nan=False))
    return path


def _truth_from_file(event: Path) -> dict[str, float] | None:
    truth_file = event.with_suffix(".truth.json")
    if not truth_file.is_file():
        return None
    return json.loads(truth_file.read_text())["parameters"]


def run_files(init: NPEInitializer, args) -> int:
    events = args.event or EVENTS
    shape = tuple(args.grid)
    print(f"model: {init.card.get('name', args.model)}; grid {shape[0]}x{shape[1]}x{shape[2]}")
    for event in events:
        lcs = as_lightcurves(event)
        _warm_up(init, lcs)
        result, npe_time = timed_propose(init, lcs, args)
        likelihood = Likelihood(lcs)
        g = grid_search(
            likelihood,
            result.prior,
            result.single_lens,
            shape,
            args.grid_nodes,
            args.grid_polish,
            args.max_evaluations,
            seed=0,
        )
        truth = _truth_from_file(event)
        ref = (
            None
            if truth is None
            else truth_polish(likelihood, truth, result.prior, args.max_evaluations).chi2
        )
        grid_total = g["grid_time"] + g["polish_time"]
        extra = f" (extrapolated from {g['nodes']} nodes)" if g["extrapolated"] else ""
        t = result.timings
        ranked = _ranked(result.solutions)
        g_ranked = [(r.parameters, r.chi2) for r in g["polished"]]
        print(f"\n{event.name}: {likelihood.n_points} epochs, {len(result.modes)} modes")
        print(
            f"  propose  total {npe_time:8.2f} s = preprocess {t['preprocess']:.3f} + sampling "
            f"{t['sampling']:.3f} ({args.n_samples} samples) + modes {t['modes']:.3f} + polish "
            f"{t['polish']:.2f} ({result.meta['n_evaluations']} curves)"
        )
        print(
            f"  grid     total {grid_total:8.2f} s = chi2 grid {g['grid_time']:.2f}"
            f"{extra} + polish "
            f"{g['polish_time']:.2f} ({args.grid_polish} nodes)"
        )
        print(f"  ratio grid / propose: {grid_total / npe_time:.1f}x")
        print(
            f"  best chi2: propose {result.best.chi2:.1f} (top-1 {_fmt(top_k_recovered(ranked, ref, 1))}, "
            f"top-3 {_fmt(top_k_recovered(ranked, ref, 3))}), grid {g_ranked[0][1]:.1f} "
            f"(top-1 {_fmt(top_k_recovered(g_ranked, ref, 1))}), truth-started "
            f"{'-' if ref is None else f'{ref:.1f}'}"
        )
    return 0


def add_common_arguments(
    p: argparse.ArgumentParser, *, seed: int, time_budget: float | None, budget_help: str
) -> None:
    """Options shared with bench_burnin.py: model, event seeds, propose and grid settings."""
    p.add_argument("model", nargs="?", default=None, help="model folder (default: shipped)")
    p.add_argument("--seed", type=int, default=seed, help="seed of the simulated events")
    p.add_argument("--propose-seed", type=int, default=0, help="seed of the posterior draws")
    p.add_argument("--n-samples", type=int, default=10_000)
    p.add_argument("--n-starts", type=int, default=3, help="draws polished per mode")
    p.add_argument("--max-evaluations", type=int, default=200)
    p.add_argument("--no-anomaly-starts", action="store_true", help="polish posterior draws only")
    p.add_argument(
        "--no-map-starts", action="store_true", help="no magnification-map trajectory search"
    )
    p.add_argument("--no-compress", action="store_true", help="polish on all epochs throughout")
    p.add_argument("--time-budget", type=float, default=time_budget, help=budget_help)
    p.add_argument("--grid", type=int, nargs=3, default=(15, 15, 12), metavar=("NS", "NQ", "NA"))
    p.add_argument("--grid-nodes", type=int, default=None, help="time N nodes, extrapolate")
    p.add_argument("--grid-polish", type=int, default=3, help="best grid nodes polished")
    p.add_argument("--min-delta-chi2", type=float, default=None, help="skip weaker events")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument(
        "--workers", type=int, default=1, help="processes computing the curves (propose's, 1)"
    )


def load_initializer(model: str | None, threads: int) -> NPEInitializer | None:
    """The model to benchmark (None after printing the error), with ``threads`` torch threads."""
    import torch

    torch.set_num_threads(threads)
    try:
        return NPEInitializer.load(model) if model else NPEInitializer.pretrained()
    except MulensNPEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(
        p,
        seed=777,
        time_budget=None,
        budget_help="seconds per propose call (default: 30 with --simulate, none for files; 0: none)",
    )
    p.add_argument("--event", action="append", type=Path, help="light-curve file(s)")
    p.add_argument("--simulate", type=int, default=None, metavar="N", help="N fresh events")
    p.add_argument(
        "--grid-events", type=int, default=None, help="run the grid on the first K events only"
    )
    p.add_argument(
        "--pool",
        type=int,
        default=None,
        help="events drawn (as evaluate does; default N, 10 N with --min-delta-chi2)",
    )
    p.add_argument(
        "--only",
        type=int,
        nargs="+",
        default=None,
        metavar="INDEX",
        help="with --simulate: run only these events of the pool (indices as printed)",
    )
    p.add_argument("--json", type=Path, default=None, help="write records and summary here")
    p.add_argument(
        "--final-steps",
        default=None,
        metavar="STEPS",
        help="last steps on the best optimum, comma-separated from anneal, crossing, rho "
        "(sets mulens_npe.polish.FINAL_STEPS for this run; default as propose)",
    )
    p.add_argument(
        "--first-restarts",
        type=int,
        default=None,
        help="restarts of the best optimum before those steps (mulens_npe.polish."
        "FIRST_RESTARTS for this run; default as propose)",
    )
    return p


def set_final_steps(final_steps: str | None, first_restarts: int | None) -> str | None:
    """Set the polish's last steps for this process (``--final-steps``, ``--first-restarts``);
    an error message for a bad value, else None."""
    from mulens_npe import polish

    if final_steps is not None:
        steps = [step.strip() for step in final_steps.split(",") if step.strip()]
        try:
            polish.FINAL_STEPS = polish.checked_steps(steps)
        except ConfigurationError as exc:
            return f"--final-steps: {exc}"
    if first_restarts is not None:
        if not 0 <= first_restarts <= polish.MAX_RESTARTS:
            return f"--first-restarts must be in [0, {polish.MAX_RESTARTS}], got {first_restarts}"
        polish.FIRST_RESTARTS = first_restarts
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    init = load_initializer(args.model, args.threads)
    if init is None:
        return 2
    args.model_name = init.card.get("name", args.model)
    problem = set_final_steps(args.final_steps, args.first_restarts)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.simulate is not None:
        if args.simulate < 1:
            print("error: --simulate N needs N >= 1", file=sys.stderr)
            return 2
        if args.time_budget is None:
            args.time_budget = 30.0
    if args.time_budget is not None and args.time_budget <= 0:
        args.time_budget = None
    if args.simulate is not None:
        return run_simulated(init, args)
    return run_files(init, args)


if __name__ == "__main__":
    sys.exit(main())
