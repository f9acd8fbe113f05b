"""Why strong binaries are missed: the posterior in the estimated and the true frame, and polishes
started from the draws that land near the true (s, q).

For the chosen events of the ``bench_propose.py --simulate`` pool (seed ``--seed``, indices as
that script prints them), prints:

1. the preprocessing frame (``t_ref``, ``t_scale``) against the true t_0, t_E;
2. for ``--samples`` posterior draws, once in the frame the network is given (a quick
   single-lens fit) and once in the true frame (the single-lens estimate's t_0 and t_E replaced
   by the simulation's): the fraction of draws within 0.05 dex of the true |log10 s| (the
   close/wide twin folded) and 0.3 dex of the true log10 q, and the median errors;
3. with ``--polish K``: K of those near draws (in the estimated frame) polished on all epochs
   (:func:`mulens_npe.polish.polish`, 200 curves per start), their chi2 against the
   truth-started polish's (recovered as ``bench_propose.py`` counts it).

Usage: python benchmarks/bench_strong_binaries.py --events 45,56,101 [--polish 8] [MODEL]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_propose import add_pool_arguments, pool_events, recovered, truth_polish  # noqa: E402

import mulens_npe.preprocess as preprocess_module  # noqa: E402
from mulens_npe.initializer import NPEInitializer  # noqa: E402
from mulens_npe.likelihood import Likelihood  # noqa: E402
from mulens_npe.parameters import PARAMETER_NAMES  # noqa: E402
from mulens_npe.polish import polish  # noqa: E402


def near_truth(samples, truth) -> tuple[np.ndarray, float, float]:
    """Mask of draws near the true (s, q), and the median |d log10 s|, |d log10 q|."""
    s = np.asarray(samples["s"], float)
    q = np.asarray(samples["q"], float)
    ds = np.abs(np.abs(np.log10(s)) - abs(np.log10(truth["s"])))
    dq = np.abs(np.log10(q) - np.log10(truth["q"]))
    return (ds < 0.05) & (dq < 0.3), float(np.median(ds)), float(np.median(dq))


def sample_in_true_frame(init: NPEInitializer, lightcurve, truth, n: int, seed: int):
    """Posterior draws with the single-lens estimate's t_0, t_E replaced by the truth's."""
    original = preprocess_module.estimate_single_lens

    def true_frame(*args, **kwargs):
        return dataclasses.replace(original(*args, **kwargs), t_0=truth["t_0"], t_E=truth["t_E"])

    with mock.patch.object(preprocess_module, "estimate_single_lens", true_frame):
        return init.sample(lightcurve, n, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="model folder (default: shipped)")
    add_pool_arguments(parser)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--polish", type=int, default=0, help="near draws polished per event")
    args = parser.parse_args()
    init = NPEInitializer.pretrained() if args.model is None else NPEInitializer.load(args.model)
    rng = np.random.default_rng(1)
    for event in pool_events(init, args):
        lc, truth = event["lightcurve"], event["truth"]
        net_input = init.network_input(lc)
        print(
            f"[{event['index']}] delta chi2 {event['delta_chi2']:.0f}; truth s {truth['s']:.3f} "
            f"q {truth['q']:.1e} alpha {truth['alpha']:.0f} t_E {truth['t_E']:.1f}; frame "
            f"t_scale {net_input.t_scale:.1f} d, t_ref - t_0 {net_input.t_ref - truth['t_0']:+.1f} d"
        )
        estimated = init.sample(lc, args.samples, seed=0)
        true = sample_in_true_frame(init, lc, truth, args.samples, seed=0)
        for label, samples in (("estimated frame", estimated), ("true frame", true)):
            near, ds, dq = near_truth(samples, truth)
            print(
                f"    {label:15s}: near (s, q) {near.mean():.3f}, median |d log10 s| {ds:.3f}, "
                f"|d log10 q| {dq:.2f}, median t_E {np.median(samples['t_E']):.1f} d"
            )
        if args.polish:
            near, _, _ = near_truth(estimated, truth)
            index = np.flatnonzero(near)
            if index.size == 0:
                print("    no near draw to polish")
                continue
            pick = rng.choice(index, min(args.polish, index.size), replace=False)
            likelihood = Likelihood(lc)
            reference = truth_polish(likelihood, truth, None, 200).chi2
            starts = {n: np.asarray(estimated[n], float)[pick] for n in PARAMETER_NAMES}
            mark = time.perf_counter()
            results = polish(likelihood, starts, covariance=False)
            hits = sum(recovered(r.chi2, reference) for r in results)
            print(
                f"    {pick.size} near draws polished in {time.perf_counter() - mark:.0f} s: "
                f"chi2 - truth polish ({reference:.0f}) "
                f"{sorted(round(r.chi2 - reference) for r in results)}; in the basin: {hits}"
            )
            print(
                f"    their starts: alpha {np.min(starts['alpha']):.0f}-{np.max(starts['alpha']):.0f} "
                f"deg, t_E {np.min(starts['t_E']):.1f}-{np.max(starts['t_E']):.1f} d"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
