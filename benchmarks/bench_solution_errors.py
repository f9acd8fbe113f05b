"""How far the best polished solution of ``propose`` lies from the truth in s and q.

Issue #4's accuracy targets (median |d log10 s| < 0.05, |d log10 q| < 0.3 on events with
delta chi2 > 100) are measured by ``mulens-npe evaluate`` on the network's posterior median.
This script measures the same errors on a different estimator, the top-1 polished solution
of :meth:`NPEInitializer.propose` (about 100 s per event instead of 0.2 s), from the JSON
that ``bench_propose.py --simulate N --json OUT`` writes (its per-event ``truth``, ``best``,
``delta_chi2`` and ``reference_chi2``). Nothing is re-run: give one or several JSON files
(their events are pooled; an index seen twice is counted once, the first file wins).

The close/wide twin counts as one answer for s (the smaller of |log10 s - log10 s_true| and
|log10 s + log10 s_true|), as in ``evaluate``. Printed: median errors over all events, over
the recovered ones (chi2 within max(25, 0.2%) of the truth-started polish) and the missed
ones, by delta chi2, and the events whose top-1 solution is recovered in chi2 yet more than
0.3 dex from the true q (the data do not separate those q).

Usage::

    python benchmarks/bench_solution_errors.py runs/s23/b50-c1.json runs/s23/b50-c2.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_propose import recovered  # noqa: E402


def load_events(paths: list[str]) -> list[dict]:
    """Per-event records (index, truth, best, delta_chi2, chi2, reference_chi2), deduplicated."""
    events: dict[int, dict] = {}
    for path in paths:
        for e in json.loads(Path(path).read_text())["events"]:
            best = e["propose"].get("best")
            if e["index"] in events or not isinstance(best, dict):
                continue
            events[e["index"]] = {
                "index": e["index"],
                "truth": e["truth"],
                "best": best,
                "delta_chi2": float(e["delta_chi2"]),
                "chi2": float(e["propose"]["chi2"][0]),
                "reference_chi2": e["reference_chi2"],
            }
    return [events[i] for i in sorted(events)]


def errors(event: dict) -> tuple[float, float]:
    """|d log10 s| (close/wide twin folded) and |d log10 q| of the top-1 solution."""
    log_s_t, log_s = np.log10(event["truth"]["s"]), np.log10(event["best"]["s"])
    ds = min(abs(log_s - log_s_t), abs(log_s + log_s_t))
    dq = abs(np.log10(event["best"]["q"] / event["truth"]["q"]))
    return float(ds), float(dq)


def _line(label: str, rows: list[tuple[float, float]]) -> str:
    if not rows:
        return f"{label:34s} n=  0"
    ds, dq = np.array(rows).T
    return (
        f"{label:34s} n={len(rows):3d}  median |d log10 s| {np.median(ds):.3f}  "
        f"|d log10 q| {np.median(dq):.3f}  (q within 0.3 dex: {np.mean(dq < 0.3):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", help="bench_propose.py --json outputs")
    parser.add_argument("--min-delta-chi2", type=float, default=100.0)
    args = parser.parse_args()
    events = [e for e in load_events(args.json) if e["delta_chi2"] > args.min_delta_chi2]
    if not events:
        raise SystemExit(f"no event with delta chi2 > {args.min_delta_chi2:g} in {args.json}")
    found = [recovered(e["chi2"], e["reference_chi2"]) for e in events]
    rows = [errors(e) for e in events]
    print(
        f"top-1 polished solution against the truth, {len(events)} events with delta chi2 > "
        f"{args.min_delta_chi2:g} from {', '.join(args.json)}"
    )
    print(_line("all", rows))
    print(_line("recovered (top-1)", [r for r, f in zip(rows, found, strict=True) if f]))
    print(_line("missed", [r for r, f in zip(rows, found, strict=True) if not f]))
    bins = [(100, 1e3), (1e3, 1e4), (1e4, 1e5), (1e5, np.inf)]
    for lo, hi in bins:
        part = [r for r, e in zip(rows, events, strict=True) if lo < e["delta_chi2"] <= hi]
        print(_line(f"delta chi2 ({lo:.0e}, {hi:.0e}]", part))
    twins = [
        (e["index"], e["delta_chi2"], e["chi2"] - e["reference_chi2"], dq)
        for e, (_, dq), f in zip(events, rows, found, strict=True)
        if f and dq > 0.3
    ]
    print(f"recovered in chi2 but q more than 0.3 dex off: {len(twins)}")
    for index, delta, over, dq in twins:
        print(
            f"  event {index}: delta chi2 {delta:,.0f}, chi2 - reference {over:+.1f}, "
            f"|d log10 q| {dq:.2f}"
        )


if __name__ == "__main__":
    main()
