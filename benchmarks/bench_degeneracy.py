"""How precisely does the likelihood itself pin (s, q)? Read from `bench_propose.py` JSON runs.

For every event of one or more ``bench_propose.py --json`` outputs (the same events run with
different seeds or settings), the best-known fit is the lowest chi2 among the polish started at
the truth and every run's best ``propose`` solution. Printed:

* the median |d log10 s| (close/wide twin folded) and |d log10 q| of the best-known fit
  against the truth: what a maximum-likelihood answer scores on the accuracy targets of
  issue #4 (< 0.05 and < 0.3 dex);
* the events where a solution as good as the truth-started polish (within the benchmark's
  tolerance, or better) lies outside that box: rival minima that the data do not rule out,
  so that even an exact posterior splits its mass there.

Usage: python benchmarks/bench_degeneracy.py RUN.json [RUN.json ...]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

S_TARGET, Q_TARGET = 0.05, 0.3


def _errors(params: dict[str, float], truth: dict[str, float]) -> tuple[float, float]:
    d_s = abs(abs(np.log10(params["s"])) - abs(np.log10(truth["s"])))
    d_q = abs(np.log10(params["q"] / truth["q"]))
    return float(d_s), float(d_q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="JSON files written by bench_propose.py --json")
    args = parser.parse_args()
    events: dict[int, dict] = {}
    for path in args.runs:
        for e in json.load(open(path))["events"]:
            entry = events.setdefault(
                e["index"],
                {
                    "truth": e["truth"],
                    "delta_chi2": e["delta_chi2"],
                    "reference": e["reference_chi2"],
                    "tolerance": e["tolerance"],
                    "fits": [(e["reference_chi2"], e["reference_parameters"], "truth-started")],
                },
            )
            if e.get("propose") and e["propose"].get("best"):
                entry["fits"].append((e["propose"]["chi2"][0], e["propose"]["best"], path))
    best_errors, rivals = [], []
    for index, entry in sorted(events.items()):
        chi2, params, _ = min(entry["fits"], key=lambda f: f[0])
        best_errors.append(_errors(params, entry["truth"]))
        for chi2, params, _ in entry["fits"][1:]:
            d_s, d_q = _errors(params, entry["truth"])
            if chi2 <= entry["reference"] + entry["tolerance"] and (
                d_s > S_TARGET or d_q > Q_TARGET
            ):
                rivals.append((index, entry["delta_chi2"], chi2 - entry["reference"], d_s, d_q))
                break
    best_errors = np.array(best_errors)
    print(f"{len(events)} events from {len(args.runs)} run file(s)")
    print(
        f"best-known fit against the truth: median |d log10 s| {np.median(best_errors[:, 0]):.3f}, "
        f"|d log10 q| {np.median(best_errors[:, 1]):.3f}; outside |d log10 s| < {S_TARGET} and "
        f"|d log10 q| < {Q_TARGET}: {int(np.sum((best_errors[:, 0] > S_TARGET) | (best_errors[:, 1] > Q_TARGET)))}"
    )
    print(
        f"events with a solution as good as the truth-started polish outside that box: "
        f"{len(rivals)}"
    )
    for index, delta_chi2, d_chi2, d_s, d_q in rivals:
        print(
            f"  event {index}: delta chi2 over single lens {delta_chi2:,.0f}; chi2 {d_chi2:+.1f} "
            f"against the truth-started polish; |d log10 s| {d_s:.3f}, |d log10 q| {d_q:.2f}"
        )


if __name__ == "__main__":
    main()
