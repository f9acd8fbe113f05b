"""Posterior mode (highest-density draw) against posterior median as the point estimate.

For ``--n`` fresh events (``mulens_npe.evaluate.evaluate_model``, seed ``--seed``), on the
events with a clear binary signal (delta chi2 > 100) it prints the quantiles of log10 q of
the truths, of the modes and of the posterior medians, the mean fraction of posterior draws
at log10 q < ``--edge`` (the low edge of the prior), and the median |d log10 q| and
|d log10 s| (close/wide twin folded) of both estimates.

Usage: python benchmarks/bench_point_estimates.py [MODEL_FOLDER] [--n 400] [--seed 12345]
"""

from __future__ import annotations

import argparse

import numpy as np

from mulens_npe.artifact import load_model
from mulens_npe.evaluate import SIGNAL_THRESHOLD, evaluate_model, model_epochs
from mulens_npe.initializer import NPEInitializer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="model folder (default: shipped)")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--edge", type=float, default=-5.5, help="log10 q counted as the edge")
    args = parser.parse_args()
    model = NPEInitializer.pretrained().model if args.model is None else load_model(args.model)
    result = evaluate_model(
        model, model_epochs(model), n=args.n, seed=args.seed, keep_samples=args.n, progress=False
    )
    clear = result.delta_chi2 > SIGNAL_THRESHOLD
    quantiles = [10, 25, 50, 75, 90]
    print(
        f"model {model.card.get('name')}: {clear.sum()} of {clear.size} events with a clear signal"
    )
    for label, values in (
        ("truth", result.truths["q"]),
        ("mode", result.modes["q"]),
        ("posterior median", result.medians["q"]),
    ):
        q = np.percentile(np.log10(values[clear]), quantiles).round(2)
        print(f"  log10 q of the {label:16s} {dict(zip(quantiles, q.tolist(), strict=True))}")
    at_edge = [
        np.mean(np.log10(kept["samples"]["q"]) < args.edge)
        for kept in result.samples
        if kept["delta_chi2"] > SIGNAL_THRESHOLD
    ]
    print(f"  mean fraction of draws at log10 q < {args.edge}: {np.mean(at_edge):.3f}")
    for label, errors in (("mode", result.mode_errors), ("posterior median", result.errors)):
        e = errors[f"delta_chi2 > {SIGNAL_THRESHOLD:g}"]
        print(
            f"  {label:16s} median |d log10 s| {e['log10_s']:.3f}, |d log10 q| {e['log10_q']:.3f}"
        )


if __name__ == "__main__":
    main()
