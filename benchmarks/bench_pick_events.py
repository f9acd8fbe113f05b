"""The events of a ``bench_propose.py --simulate`` run, split in two lists to run side by side.

``bench_propose.py --simulate N --seed S --pool P --min-delta-chi2 D`` runs the first N events
of the pool with delta chi2 > D. On this 2-core machine that run takes ~50 min for 50 events,
so it is run as two processes with ``--only LIST``; this script prints the two lists: the
events sorted by delta chi2 and dealt alternately, so both halves get as many strong (slow)
binaries. It simulates the pool only (a few seconds per 100 events), nothing is polished.

Usage::

    python benchmarks/bench_pick_events.py --n 50 --seed 781
    # C1="..."  C2="..."  then, one per core:
    python benchmarks/bench_propose.py --simulate 50 --seed 781 --pool 500 \\
        --min-delta-chi2 100 --grid-events 0 --n-starts 10 --time-budget 120 \\
        --only $C1 --json runs/f50-c1.json
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_propose import simulate_events  # noqa: E402

from mulens_npe.errors import OutOfPriorWarning  # noqa: E402
from mulens_npe.initializer import NPEInitializer  # noqa: E402


def split_by_strength(events: Sequence[tuple[int, float]], n_lists: int = 2) -> list[list[int]]:
    """Indices dealt round-robin in decreasing delta chi2, each list sorted by index.

    Parameters
    ----------
    events : sequence of (int, float)
        Pool index and delta chi2 (single lens minus truth) of each event.
    n_lists : int
        Lists to deal into (one per core).
    """
    ranked = sorted(events, key=lambda event: -event[1])
    return [sorted(index for index, _ in ranked[k::n_lists]) for k in range(n_lists)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="events wanted (bench_propose's N)")
    parser.add_argument("--seed", type=int, default=781, help="pool seed")
    parser.add_argument("--pool", type=int, default=500, help="events simulated")
    parser.add_argument("--min-delta-chi2", type=float, default=100.0)
    parser.add_argument("--lists", type=int, default=2, help="lists to split into")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", OutOfPriorWarning)
    init = NPEInitializer.pretrained()
    chosen: list[tuple[int, float]] = []
    for event in simulate_events(init, args.pool, args.seed):
        if "skipped" not in event and event["delta_chi2"] > args.min_delta_chi2:
            chosen.append((event["index"], float(event["delta_chi2"])))
        if len(chosen) >= args.n:
            break
    strong = sum(delta > 5000.0 for _, delta in chosen)
    print(
        f"{len(chosen)} events with delta chi2 > {args.min_delta_chi2:g} (seed {args.seed}, "
        f"pool {args.pool}); {strong} with delta chi2 > 5,000"
    )
    for k, indices in enumerate(split_by_strength(chosen, args.lists), start=1):
        print(f'C{k}="{" ".join(map(str, indices))}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
