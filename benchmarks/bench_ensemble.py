"""Calibration and errors of an equal-weight mixture of trained models (an ensemble).

Each event's posterior is the mixture of the members' flows: half the draws (for two members)
from each network, the density the mean of the members' densities, then the same importance
resampling to the prior and the same report figures as ``mulens-npe evaluate`` (same events
for the same ``--seed``), so the mixture compares directly with each member's own report.
The members must share the preprocessing and feature map (e.g. stages of one lineage).

Usage: python benchmarks/bench_ensemble.py MODEL [MODEL ...] [--n 2000] [--seed 12345]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import torch

from mulens_npe.artifact import load_model
from mulens_npe.evaluate import evaluate_model, model_epochs


class Mixture:
    """Equal-weight mixture of conditional distributions (``sample``, ``log_prob``)."""

    def __init__(self, members: list[torch.distributions.Distribution]) -> None:
        self.members = members

    def sample(self, shape: tuple[int, ...]) -> torch.Tensor:
        n, k = shape[0], len(self.members)
        sizes = [n // k + (i < n % k) for i in range(k)]
        return torch.cat([d.sample((m,)) for d, m in zip(self.members, sizes, strict=True)], 0)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        log_p = torch.stack([d.log_prob(z) for d in self.members], 0)
        return torch.logsumexp(log_p, 0) - np.log(len(self.members))


class Ensemble(torch.nn.Module):
    """Networks whose posteriors are mixed with equal weights."""

    def __init__(self, networks: list[torch.nn.Module]) -> None:
        super().__init__()
        self.networks = torch.nn.ModuleList(networks)

    def forward(self, x: torch.Tensor) -> Mixture:
        return Mixture([network(x) for network in self.networks])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model directories (the members)")
    parser.add_argument("--n", type=int, default=2000, help="events (default 2000)")
    parser.add_argument("--seed", type=int, default=12345, help="events' seed (as evaluate)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = [load_model(path) for path in args.models]
    for other in models[1:]:
        if other.card["features"] != models[0].card["features"] or (
            other.card["preprocess"] != models[0].card["preprocess"]
        ):
            raise SystemExit("error: the members differ in preprocessing or feature map.")
    mixed = replace(models[0], network=Ensemble([m.network for m in models]).eval())
    result = evaluate_model(
        mixed, model_epochs(models[0]), n=args.n, seed=args.seed, progress=False
    )
    print(f"mixture of {', '.join(args.models)} on {args.n} events (seed {args.seed})")
    for title, coverage in (("all", result.coverage), ("clear binaries", result.clear_coverage)):
        cells = ", ".join(f"{k} {v['68%']:.3f}/{v['95%']:.3f}" for k, v in coverage.items())
        print(f"coverage 68%/95%, {title}: {cells}")
    for group, errors in result.errors.items():
        print(f"median errors, {group}: {json.dumps({k: round(v, 3) for k, v in errors.items()})}")


if __name__ == "__main__":
    main()
