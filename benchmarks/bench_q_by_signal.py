"""Posterior-median errors in q and s by binary signal strength and by true q.

Evaluates ``--n`` fresh events (``mulens_npe.evaluate.evaluate_model``, seed ``--seed``, 500
samples each) and prints the median |d log10 q| and |d log10 s| (close/wide twin folded) in
bins of delta chi2 (binary minus single lens), and, for events with delta chi2 > 100, the
median error and the median predicted log10 q in bins of true log10 q.

Usage: python benchmarks/bench_q_by_signal.py [MODEL_FOLDER] [--n 800] [--seed 4242]
"""

from __future__ import annotations

import argparse

import numpy as np

from mulens_npe.artifact import load_model
from mulens_npe.evaluate import evaluate_model, model_epochs
from mulens_npe.initializer import NPEInitializer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="model folder (default: shipped)")
    parser.add_argument("--n", type=int, default=800)
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()
    model = NPEInitializer.pretrained().model if args.model is None else load_model(args.model)
    r = evaluate_model(model, model_epochs(model), n=args.n, seed=args.seed, n_samples=500)
    truth, median, d = r.truths, r.medians, r.delta_chi2
    dq = np.abs(np.log10(median["q"]) - np.log10(truth["q"]))
    ds = np.abs(np.abs(np.log10(median["s"])) - np.abs(np.log10(truth["s"])))
    for lo, hi in [(0, 100), (100, 1e3), (1e3, 1e4), (1e4, 1e5), (1e5, np.inf)]:
        k = (d >= lo) & (d < hi)
        if k.any():
            print(
                f"delta chi2 [{lo:.0e}, {hi:.0e}) n={k.sum():4d}: median |d log10 q| "
                f"{np.median(dq[k]):.2f}, |d log10 s| {np.median(ds[k]):.3f}, "
                f"fraction |d log10 q| < 0.3: {np.mean(dq[k] < 0.3):.2f}"
            )
    log_q, clear = np.log10(truth["q"]), d > 100
    for lo in range(-6, 0):
        k = clear & (log_q >= lo) & (log_q < lo + 1)
        if k.any():
            print(
                f"delta chi2 > 100, true log10 q in [{lo}, {lo + 1}) n={k.sum():3d}: median "
                f"|d log10 q| {np.median(dq[k]):.2f}, median predicted log10 q "
                f"{np.median(np.log10(median['q'][k])):.2f}"
            )


if __name__ == "__main__":
    main()
