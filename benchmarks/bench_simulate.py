"""Throughput and disk use of the whole simulate() path against VBMicrolensing itself.

Budget (DESIGN.md): simulation within 1.5x of calling VBMicrolensing's own light-curve routine
directly (a throughput ratio >= 0.67), scaling linearly with cores.

- "simulate, 1 worker": ``simulate(config, dir, workers=1)`` end to end: proposal draws
  (caustics included), magnifications, float32 conversion, compression, atomic chunk writes.
- "simulate, 2 workers": the same through the process pool (a fresh directory).
- "direct VBM": one ``VBMicrolensing`` instance (Tol = RelTol = the config's tolerance) looping
  ``BinaryLightCurve`` over the very parameter sets the first run stored, vectors precomputed,
  in this process.

Each single-process figure is the best of ``--repeat`` runs, alternating the two sides so that
load from other programs hits both alike; CPU seconds (not wall) are printed next to wall-clock
rates for the same reason. Disk is the whole directory (chunks, grid, manifest) per curve.

    python benchmarks/bench_simulate.py                  # 96 curves, default Roman season grid
    python benchmarks/bench_simulate.py --n 400 --chunk-size 50 --repeat 3
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import VBMicrolensing

from mulens_npe.parameters import PARAMETER_NAMES, vbm_vector
from mulens_npe.simulate.config import SimulationConfig
from mulens_npe.simulate.dataset import SimulationDataset
from mulens_npe.simulate.runner import simulate

TARGET_CURVES = 300_000


def timed(function) -> tuple[float, float, float]:
    """(wall, own CPU, children's CPU) seconds of one call."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, cpu, (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)


def direct(vectors: list[list[float]], times: np.ndarray, tolerance: float) -> None:
    vbm = VBMicrolensing.VBMicrolensing()
    vbm.Tol = tolerance
    vbm.RelTol = tolerance
    for vector in vectors:
        vbm.BinaryLightCurve(vector, times)


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=96, help="curves per run")
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2, help="single-process repeats (best kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    config = SimulationConfig(n=args.n, seed=args.seed, chunk_size=args.chunk_size)
    with tempfile.TemporaryDirectory(prefix="bench_simulate_") as tmp:
        root = Path(tmp)
        first = root / "one_0"
        sims = [timed(lambda: simulate(config, first, workers=1, progress=False))]
        data = SimulationDataset(first)
        times = data.times
        curves = data.batch(np.arange(len(data)))
        stored = curves.magnification
        vectors = [
            vbm_vector(dict(zip(PARAMETER_NAMES, row, strict=True))) for row in curves.params
        ]
        disk = directory_bytes(first)
        run_direct = partial(direct, vectors, times, config.tolerance)
        directs = [timed(run_direct)]
        for k in range(1, args.repeat):
            out = root / f"one_{k}"
            sims.append(timed(lambda o=out: simulate(config, o, workers=1, progress=False)))
            directs.append(timed(run_direct))
        pool_out = root / "two"
        pool = timed(lambda: simulate(config, pool_out, workers=2, progress=False))
        two = simulate(config, pool_out, workers=1, progress=False)
        identical = np.array_equal(two.batch(np.arange(args.n)).magnification, stored)

    sim_wall, sim_cpu, _ = min(sims)
    direct_wall, direct_cpu, _ = min(directs)
    pool_wall, _, pool_cpu = pool
    n, m = args.n, times.size
    per_curve = disk / n
    print(
        f"{n} curves x {m} epochs (default Roman season grid), proposal "
        f"{dict(config.proposal)}, tolerance {config.tolerance:g}, chunks of {args.chunk_size}"
    )
    print(f"{'':24}{'curves/s (wall)':>16}{'CPU s/curve':>13}{'ratio to direct':>17}")
    rows = [
        ("direct VBM, 1 process", n / direct_wall, direct_cpu / n, 1.0, 1.0),
        (
            "simulate, 1 worker",
            n / sim_wall,
            sim_cpu / n,
            direct_wall / sim_wall,
            direct_cpu / sim_cpu,
        ),
        ("simulate, 2 workers", n / pool_wall, pool_cpu / n, direct_wall / pool_wall, None),
    ]
    for name, rate, cpu, wall_ratio, cpu_ratio in rows:
        cpu_text = "" if cpu_ratio is None else f" (CPU {cpu_ratio:.2f})"
        print(f"{name:<24}{rate:>16.1f}{cpu:>13.4f}{wall_ratio:>8.2f}{cpu_text}")
    print(f"speed-up 2 workers / 1 worker (wall): {sim_wall / pool_wall:.2f}x")
    print(f"2-worker dataset identical to the 1-worker one: {identical}")
    print(
        f"disk: {per_curve / 1e3:.1f} kB per curve ({per_curve / (4 * m):.0%} of raw float32 "
        f"magnification, {4 * m / 1e3:.1f} kB)"
    )
    hours = TARGET_CURVES / 3600
    print(
        f"{TARGET_CURVES:,} curves: {hours / (n / sim_wall):.2f} h on 1 worker, "
        f"{hours / (n / pool_wall):.2f} h on 2 workers, {hours * sim_cpu / n:.2f} CPU-hours; "
        f"{per_curve * TARGET_CURVES / 1e9:.1f} GB on disk"
    )


if __name__ == "__main__":
    main()
