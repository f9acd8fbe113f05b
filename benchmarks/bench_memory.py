"""Peak resident memory of inference (DESIGN.md budget: < 1 GB).

Runs, in one fresh process, the steps of ``mulens-npe propose`` on the shipped example event
and prints the process's peak resident set size (``resource.getrusage``, the high-water mark)
after each step, against the interpreter with numpy, torch and the package imported (the
baseline of the same process):

1. load the shipped model;
2. draw 10,000 posterior samples (preprocessing and importance resampling included);
3. ``propose`` with the default settings and a ``--time-budget`` (default 20 s) polish;
4. ``propose_many`` of ``--events`` copies of the event (one batched embedding), and the
   resident size (not the peak) while its proposals are still held.

Usage: python benchmarks/bench_memory.py [--time-budget 20] [--events 8]
"""

from __future__ import annotations

import argparse
import resource
import sys
import warnings
from pathlib import Path

import numpy as np  # noqa: F401  (part of the baseline)
import torch  # noqa: F401

import mulens_npe
from mulens_npe.errors import OutOfPriorWarning
from mulens_npe.initializer import NPEInitializer

EVENT = Path(__file__).resolve().parents[1] / "examples" / "data" / "roman_planet_example.dat"


def peak_mib() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss: KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def current_mib() -> float | None:
    """Resident set size now, MiB (Linux /proc only; None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**10
    except OSError:
        pass
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-budget", type=float, default=20.0)
    parser.add_argument("--events", type=int, default=8)
    args = parser.parse_args()
    warnings.simplefilter("ignore", OutOfPriorWarning)
    baseline = peak_mib()
    print(f"mulens_npe {mulens_npe.__version__}; event {EVENT.name}")
    print(f"baseline (python + numpy + torch + mulens_npe imported): {baseline:7.0f} MiB")

    init = NPEInitializer.pretrained()
    print(f"after loading the shipped model:                      {peak_mib():7.0f} MiB")
    init.sample(EVENT, n=10_000, seed=0, phot_fmt="mag")
    print(f"after 10,000 posterior samples:                       {peak_mib():7.0f} MiB")
    init.propose(EVENT, seed=0, time_budget=args.time_budget, phot_fmt="mag")
    print(
        f"after propose ({args.time_budget:g} s polish budget):              {peak_mib():7.0f} MiB"
    )
    results = init.propose_many(
        [EVENT] * args.events, seed=0, time_budget=2.0, n_samples=10_000, phot_fmt="mag"
    )
    peak = peak_mib()
    print(f"after propose_many of {args.events} events (2 s budget each):  {peak:7.0f} MiB")
    now = current_mib()
    if now is not None:
        print(f"resident now, the {len(results)} proposals still held:            {now:7.0f} MiB")
    print(f"peak {peak:.0f} MiB = baseline + {peak - baseline:.0f} MiB (budget < 1024 MiB in all)")


if __name__ == "__main__":
    main()
