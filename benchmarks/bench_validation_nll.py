"""Held-out NLL of a model on both training objectives (prior-weighted and proposal).

Rebuilds the validation split of a training config (``split_seed``, ``validation_fraction``)
with that config's validation augmentation (seed + 1) and prints the mean NLL with importance
weights (``target = "prior"``) and without (``target = "proposal"``), so models trained with
either target compare on the same curves and noise.

Usage: python benchmarks/bench_validation_nll.py MODEL --data DATASET
    [--config configs/roman-2l1s.proposal.json]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from mulens_npe.artifact import load_model
from mulens_npe.simulate.dataset import SimulationDataset
from mulens_npe.training import TrainingConfig, TrainingExamples, _loader, _split, _validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", default="configs/roman-2l1s.proposal.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model)
    config = TrainingConfig.from_file(args.config)
    data = SimulationDataset(args.data)
    split_seed = config.seed if config.split_seed is None else config.split_seed
    _, rows = _split(len(data), config.validation_fraction, split_seed)
    examples = TrainingExamples(
        data, rows, config.preprocess, model.features, config.seed + 1, config.augment
    )
    examples.epoch = 0
    loader = _loader(examples, 128, False, config.seed, 0)
    for target in ("prior", "proposal"):
        nll = _validate(model.network, loader, "cpu", replace(config, target=target))
        print(f"{args.model}: {len(rows)} validation curves, {target} objective NLL {nll:.3f}")


if __name__ == "__main__":
    main()
