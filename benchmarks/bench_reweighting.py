"""The importance weights of the training proposal: how small they are, and what they cost.

Prints
* with ``--data DATASET``: the share of training curves whose weight (prior / proposal) is
  below 0.05 and 0.2 (first ``--chunks`` chunks), i.e. how little they count when the loss is
  weighted (``TrainingConfig.target = "prior"``);
* exact (VBMicrolensing) against table (``CausticTable``, ``--table PATH`` or the shipped one)
  log weights on ``--n`` draws of the caustic component: time of each, the share within 0.05 of
  each other, and how many draws the table left to VBMicrolensing (near a change of topology).

Usage: python benchmarks/bench_reweighting.py [--data runs/sim-roman-2l1s] [--chunks 10] [--n 4000]
    [--table PATH]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mulens_npe.prior import Prior
from mulens_npe.reweighting import CausticTable, PriorReweighting
from mulens_npe.simulate.sampling import ProposalSampler

SEASON = (2460000.0, 2460072.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="a dataset from `mulens-npe simulate`")
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--table", default=None, help="caustic table (default: the shipped one)")
    args = parser.parse_args()
    if args.data:
        from mulens_npe.simulate.dataset import SimulationDataset

        with SimulationDataset(args.data) as data:
            chunks = range(min(args.chunks, data.n_chunks))
            w = np.exp(np.concatenate([data.chunk(k).log_weight for k in chunks]))
        print(
            f"{w.size} training curves: weight < 0.05 {np.mean(w < 0.05):.3f}, "
            f"< 0.2 {np.mean(w < 0.2):.3f}, median {np.median(w):.3f}"
        )
    prior = Prior(t_0=SEASON)
    params, _ = ProposalSampler(prior, caustic_fraction=0.999).sample(
        args.n, np.random.default_rng(1)
    )
    proposal = {"caustic_fraction": 0.5}
    timed = {}
    caustics = CausticTable(args.table)
    # the draws the table hands to VBMicrolensing (near a change of topology)
    n_exact = int(np.sum(~caustics.interpolate(params["s"], params["q"])[1]))
    table = PriorReweighting(prior, proposal, targets=caustics)
    mark = time.perf_counter()
    timed["table"] = table.log_weights(params, SEASON), time.perf_counter() - mark
    exact = PriorReweighting(prior, proposal)
    mark = time.perf_counter()
    timed["exact"] = exact.log_weights(params, SEASON), time.perf_counter() - mark
    difference = np.abs(timed["table"][0] - timed["exact"][0])
    print(
        f"{args.n} caustic-aimed draws: exact {timed['exact'][1]:.2f} s, table "
        f"{1e3 * timed['table'][1]:.0f} ms ({timed['exact'][1] / timed['table'][1]:.0f}x); "
        f"log weights within 0.05: {np.mean(difference < 0.05):.4f}, within 0.5: "
        f"{np.mean(difference < 0.5):.4f}; caustics the table computed exactly: {n_exact}"
    )


if __name__ == "__main__":
    main()
