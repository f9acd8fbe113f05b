"""What the compressed likelihood of the polish saves, and how closely it follows the full one.

On fresh simulated Roman events (as ``mulens-npe evaluate`` draws them, seed ``--seed``, only
those with delta chi2 > ``--min-delta-chi2``), for each event: the epochs kept by
:meth:`mulens_npe.likelihood.Likelihood.compressed` (those where the light curve bends; the
straight runs binned ``--stride`` to one), the wall time of ``--draws`` posterior draws' chi2 on all epochs and on the
compressed set (same draws, same process, one after the other), and how well the compressed
chi2 *differences* between those draws and the truth follow the full ones (median relative
difference of chi2(draw) - chi2(truth)).

Usage: python benchmarks/bench_compressed.py [MODEL_FOLDER] [--n 10] [--seed 777]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from mulens_npe.errors import OutOfPriorWarning
from mulens_npe.likelihood import Likelihood
from mulens_npe.parameters import PARAMETER_NAMES


def main() -> None:
    from bench_propose import load_initializer, simulate_events

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="model folder (default: shipped)")
    parser.add_argument("--n", type=int, default=10, help="events measured")
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--draws", type=int, default=20, help="posterior draws per event")
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument("--min-delta-chi2", type=float, default=100.0)
    args = parser.parse_args()
    init = load_initializer(args.model, threads=1)
    if init is None:
        raise SystemExit(2)
    print(
        f"compressed likelihood, stride {args.stride}: {args.n} events (seed {args.seed}, delta "
        f"chi2 > {args.min_delta_chi2:g}), {args.draws} posterior draws each, 1 thread"
    )
    ratios, agreements = [], []
    for event in simulate_events(init, 10 * args.n, args.seed):
        if len(ratios) >= args.n:
            break
        if "skipped" in event or event["delta_chi2"] <= args.min_delta_chi2:
            continue
        lc, truth = event["lightcurve"], event["truth"]
        full = Likelihood(lc)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OutOfPriorWarning)
            samples = init.sample(lc, args.draws, seed=0)
        fast = full.compressed(args.stride)
        draws = {name: np.asarray(samples[name], float) for name in PARAMETER_NAMES}
        chi2 = {}
        seconds = {}
        for name, likelihood in (("full", full), ("compressed", fast)):
            mark = time.perf_counter()
            chi2[name] = likelihood.chi2(draws)
            seconds[name] = time.perf_counter() - mark
            chi2[name] = chi2[name] - likelihood.chi2(truth)[0]
        agreement = np.median(np.abs(chi2["compressed"] / chi2["full"] - 1.0))
        ratios.append(seconds["full"] / seconds["compressed"])
        agreements.append(agreement)
        print(
            f"[{event['index']:3d}] delta chi2 {event['delta_chi2']:10.0f}: epochs "
            f"{full.n_points} -> {fast.n_points}; {args.draws} curves {seconds['full']:.2f} s "
            f"-> {seconds['compressed']:.2f} s ({ratios[-1]:.1f}x); chi2(draw) - chi2(truth) "
            f"agrees to {agreement:.2%} (median)"
        )
    print(
        f"median speed-up {np.median(ratios):.1f}x (range {min(ratios):.1f}-{max(ratios):.1f}); "
        f"median disagreement of chi2 differences {np.median(agreements):.2%}"
    )


if __name__ == "__main__":
    main()
