"""Held-out NLL of a model on both training objectives (prior-weighted and proposal).

Rebuilds the validation split of a training config (``split_seed``, ``validation_fraction``)
with that config's validation augmentation (seed + 1) and prints the mean NLL with importance
weights (``target = "prior"``) and without (``target = "proposal"``), so models trained with
either target compare on the same curves and noise; both without the config's
``signal_weight``, and, when it has one, the proposal objective with it too.

Those NLLs are of the flow's coordinates, which differ between models with different maps
(``FeatureMap.squash``). The last lines compare any two models: the proposal objective's NLL in
the unmapped coordinates (``FeatureMap.log_abs_det``) over the curves whose true t_0 and t_E lie
inside the linear map's range, and how many do not (a linear map has no density for those).

Usage: python benchmarks/bench_validation_nll.py MODEL --data DATASET
    [--config configs/roman-2l1s.proposal.json]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from mulens_npe.artifact import load_model
from mulens_npe.simulate.dataset import SimulationDataset
from mulens_npe.training import (
    TrainingConfig,
    _config_split,
    _loader,
    _validate,
    _validation_examples,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", default="configs/roman-2l1s.proposal.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model)
    # the config's curves, split and noise; the model's own input channels
    config = replace(
        TrainingConfig.from_file(args.config),
        preprocess=model.preprocess,
        network=model.network.config,
    )
    data = SimulationDataset(args.data)
    _, rows = _config_split(len(data), config)
    examples = _validation_examples(data, rows, config, model.features)
    loader = _loader(examples, 128, False, config.seed, 0)
    for target in ("prior", "proposal"):
        plain = replace(config, target=target, signal_weight=None)
        nll = _validate(model.network, loader, "cpu", plain)
        print(f"{args.model}: {len(rows)} validation curves, {target} objective NLL {nll:.3f}")
    if config.signal_weight is not None:
        nll = _validate(model.network, loader, "cpu", replace(config, target="proposal"))
        print(f"{args.model}: proposal objective with the config's signal_weight, NLL {nll:.3f}")
    raw_nll, inside = [], []
    with torch.no_grad():
        for batch in loader:
            if batch is None:
                continue
            x, target, _ = batch
            nll = -model.network.log_prob(target, x).numpy()
            z = target.numpy().astype(float)
            raw_nll.append(nll - model.features.log_abs_det(z))
            inside.append(model.features.inside_linear_range(z))
    raw_nll, inside = np.concatenate(raw_nll), np.concatenate(inside)
    if model.features.squash and not inside.all():
        outside = f"their NLL {raw_nll[~inside].mean():.3f} (squashed: {model.features.squash})"
    else:
        outside = "no density there: the map clips them"
    print(
        f"{args.model}: unmapped-coordinate NLL (proposal objective) {raw_nll[inside].mean():.3f} "
        f"on the {inside.sum()} curves inside the linear range; {np.sum(~inside)} outside it, "
        + outside
    )


if __name__ == "__main__":
    main()
