"""Tabulate the caustic targets (centre, radius) of binary lenses over the default prior.

Writes ``mulens_npe/data/caustic_targets.npz``: ``log10_s`` and ``log10_q`` node vectors and
``targets`` of shape (n_s, n_q, 3, 3) from
:func:`mulens_npe.simulate.sampling.caustic_targets` (VBMicrolensing, 200 points per critical
curve), and ``fine_cells`` / ``fine_targets``: inside each cell whose four corners disagree on
the number of caustics (a change of topology runs through it), a grid ``--refine`` times finer,
shape (n_cells, refine + 1, refine + 1, 3, 3). :class:`mulens_npe.reweighting.CausticTable`
interpolates it so that the importance weights of 10,000 posterior draws cost milliseconds
instead of seconds.

Usage: python tools/make_caustic_table.py [--step 0.01] [--refine 10] [--out PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mulens_npe.prior import DEFAULT_BOUNDS
from mulens_npe.simulate.sampling import caustic_targets

OUT = Path(__file__).resolve().parents[1] / "mulens_npe" / "data" / "caustic_targets.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=float, default=0.01, help="node spacing in dex")
    parser.add_argument(
        "--refine", type=int, default=10, help="fine grid per topology-change cell (0: none)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    (s_lo, s_hi), (q_lo, q_hi) = DEFAULT_BOUNDS["s"], DEFAULT_BOUNDS["q"]
    # one node beyond each edge, so every draw inside the prior has four neighbours
    log_s = np.arange(np.log10(s_lo) - args.step, np.log10(s_hi) + 2 * args.step, args.step)
    log_q = np.arange(np.log10(q_lo) - args.step, np.log10(q_hi) + args.step / 2, args.step)
    log_q = np.minimum(log_q, 0.0)  # q <= 1 (the secondary is the lighter body)
    s, q = np.meshgrid(10**log_s, 10**log_q, indexing="ij")
    mark = time.perf_counter()
    targets = caustic_targets(s.ravel(), q.ravel()).reshape(*s.shape, 3, 3)
    counts = np.sum(np.isfinite(targets[..., 0]), axis=-1)
    corner = counts[:-1, :-1]
    mixed = (corner != counts[1:, :-1]) | (corner != counts[:-1, 1:]) | (corner != counts[1:, 1:])
    cells = np.argwhere(mixed) if args.refine > 0 else np.zeros((0, 2), int)
    fraction = np.linspace(0.0, 1.0, args.refine + 1)
    fine_s = (
        log_s[cells[:, 0], None] + fraction * (log_s[cells[:, 0] + 1] - log_s[cells[:, 0]])[:, None]
    )
    fine_q = (
        log_q[cells[:, 1], None] + fraction * (log_q[cells[:, 1] + 1] - log_q[cells[:, 1]])[:, None]
    )
    fs = np.broadcast_to(fine_s[:, :, None], (len(cells), fraction.size, fraction.size))
    fq = np.broadcast_to(fine_q[:, None, :], fs.shape)
    fine = caustic_targets(10 ** fs.ravel(), 10 ** fq.ravel()).reshape(*fs.shape, 3, 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        log10_s=log_s,
        log10_q=log_q,
        targets=targets.astype(np.float32),
        fine_cells=cells.astype(np.int32),
        fine_targets=fine.astype(np.float32),
    )
    print(
        f"{s.size} lenses ({log_s.size} x {log_q.size}, {args.step} dex) and {fs.size} in "
        f"{len(cells)} topology-change cells ({args.refine} x finer) in "
        f"{time.perf_counter() - mark:.0f} s -> {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main()
