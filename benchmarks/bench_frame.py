"""How well the preprocessing frame (the quick single-lens estimate) matches the true event.

The network sees every light curve in the frame ``tau = (t - t_ref) / t_scale`` with
``t_ref``, ``t_scale`` the t_0 and t_E of :func:`mulens_npe.singlelens.estimate_single_lens`,
and a window of +-``window`` t_scale. This script draws fresh events as ``mulens-npe
evaluate`` does (seed ``--seed``) and prints, for all events and for those with a clear
binary signal (delta chi2 > 100), the distribution of |log10(t_scale / t_E)| and of
|t_ref - t_0| / t_E, and how many estimates sit on the edge of the u_0 grid (u_0 = 2, where
a free blend lets a point lens mimic a caustic spike as a tiny bump on a huge source).

Usage: python benchmarks/bench_frame.py [MODEL_FOLDER] [--n 400] [--seed 777]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mulens_npe.artifact import load_model
from mulens_npe.evaluate import model_epochs, simulated_events
from mulens_npe.initializer import NPEInitializer
from mulens_npe.singlelens import estimate_single_lens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="model folder (default: shipped)")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--seed", type=int, default=777)
    args = parser.parse_args()
    model = NPEInitializer.pretrained().model if args.model is None else load_model(args.model)
    scale, shift, edge, strong, seconds = [], [], [], [], []
    for event in simulated_events(model, model_epochs(model), args.n, args.seed):
        if "skipped" in event:
            continue
        lc, truth = event["lightcurve"], event["truth"]
        mark = time.perf_counter()
        est = estimate_single_lens(lc.time, lc.flux, lc.flux_err)
        seconds.append(time.perf_counter() - mark)
        scale.append(abs(np.log10(est.t_E / truth["t_E"])))
        shift.append(abs(est.t_0 - truth["t_0"]) / truth["t_E"])
        edge.append(est.u_0 >= 1.999)
        strong.append(event["delta_chi2"] > 100)
    scale, shift, edge, strong = map(np.asarray, (scale, shift, edge, strong))
    print(
        f"{scale.size} events (seed {args.seed}); estimate {1e3 * np.median(seconds):.1f} ms "
        "median per event"
    )
    for name, keep in (("all events", np.ones_like(strong)), ("delta chi2 > 100", strong)):
        s, d = scale[keep], shift[keep]
        print(
            f"{name} (n={keep.sum()}): |log10 t_scale/t_E| median {np.median(s):.3f}, "
            f"> 0.5 dex {np.mean(s > 0.5):.3f}, > 1 dex {np.mean(s > 1):.3f}; "
            f"|t_ref - t_0|/t_E median {np.median(d):.3f}, > 0.5 {np.mean(d > 0.5):.3f}; "
            f"u_0 at the grid edge (2) {np.mean(edge[keep]):.3f}"
        )


if __name__ == "__main__":
    main()
