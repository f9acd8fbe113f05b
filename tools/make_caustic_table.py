"""Tabulate the caustic targets (centre, radius) of binary lenses over the default prior.

Writes ``mulens_npe/data/caustic_targets.npz``: ``log10_s`` and ``log10_q`` node vectors and
``targets`` of shape (n_s, n_q, 3, 3) from
:func:`mulens_npe.simulate.sampling.caustic_targets` (VBMicrolensing, 200 points per critical
curve). :class:`mulens_npe.reweighting.CausticTable` interpolates it so that the importance
weights of 10,000 posterior draws cost milliseconds instead of seconds.

Usage: python tools/make_caustic_table.py [--step 0.01] [--out PATH]
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        log10_s=log_s,
        log10_q=log_q,
        targets=targets.astype(np.float32),
    )
    print(
        f"{s.size} lenses ({log_s.size} x {log_q.size}, {args.step} dex) in "
        f"{time.perf_counter() - mark:.0f} s -> {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main()
