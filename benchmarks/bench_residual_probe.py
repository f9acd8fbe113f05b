"""Does the residual input channel carry s and q? A from-scratch regressor with and without it.

Caches ``--passes`` augmented passes of the training curves preprocessed with the residual
channel (``PreprocessSpec(residual=True)``; augmentation seed ``--augment-seed``) and
``mulens-npe evaluate``'s events (seed 12345; their first four channels are those of the
shipped model's inputs), then trains the shipped embedding's architecture from scratch, with a
linear head, to predict |log10 s| and log10 q (L1 loss, AdamW, cosine over ``--minutes``, one
core) on the first ``--channels`` channels, and prints the median errors on the clear binaries
(delta chi2 > 100) and on all events every 1,500 steps. Run it twice side by side, with
``--channels 4`` and ``--channels 5``: the inputs, seeds and steps are the same, so the
difference is the channel's (docs/model.md, session 17: 0.961 against 0.521 dex in q on the
clear binaries after 17 min).

Usage: python benchmarks/bench_residual_probe.py --data runs/sim-roman-2l1s --channels 5
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from mulens_npe.artifact import load_model
from mulens_npe.evaluate import model_epochs, simulated_events
from mulens_npe.network import NetworkConfig, ResidualEmbedding
from mulens_npe.simulate.dataset import SimulationDataset
from mulens_npe.training import TrainingConfig, TrainingExamples, _cache_passes, _config_split


def _targets(s: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.stack([np.abs(np.log10(s)), np.log10(q)], 1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the shipped model's training set")
    parser.add_argument("--config", default="configs/roman-2l1s.proposal.json", help="its split")
    parser.add_argument("--channels", type=int, choices=(4, 5), default=5)
    parser.add_argument("--passes", type=int, default=2, help="augmented passes to cache")
    parser.add_argument("--augment-seed", type=int, default=202)
    parser.add_argument("--minutes", type=float, default=17.0, help="training budget")
    parser.add_argument("--n", type=int, default=2000, help="evaluation events (seed 12345)")
    parser.add_argument("--max-rows", type=int, default=None, help="fewer training curves")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = load_model("mulens_npe/models/roman-2l1s")
    config = TrainingConfig.from_file(args.config)
    spec = replace(config.preprocess, residual=True)
    cached = replace(
        config,
        preprocess=spec,
        network=replace(config.network, in_channels=len(spec.channels)),
        cached_passes=args.passes,
        batch_size=256,
        workers=0,
    )
    data = SimulationDataset(args.data)
    rows, _ = _config_split(len(data), config)
    rows = rows[: args.max_rows]
    examples = TrainingExamples(data, rows, spec, model.features, args.augment_seed, config.augment)
    started = time.perf_counter()
    # the passes as `train` caches them (pass k is the augmentation of epoch k)
    x, z, _ = _cache_passes(examples, model.network, cached, torch.device("cpu"), False)
    x = x[:, : args.channels]
    params = model.features.from_torus(z.numpy().astype(float), 0.0, 1.0)
    y = torch.from_numpy(_targets(params["s"], params["q"]))
    print(f"{len(x)} training inputs in {time.perf_counter() - started:.0f} s", flush=True)

    with_residual = replace(model, preprocess=spec)
    events = [
        e
        for e in simulated_events(with_residual, model_epochs(model), args.n, 12345)
        if "net_input" in e
    ]
    clear = np.array([e["delta_chi2"] > 100 for e in events])
    x_eval = torch.from_numpy(np.stack([e["net_input"].values[: args.channels] for e in events]))
    truth = _targets(
        np.array([e["truth"]["s"] for e in events]), np.array([e["truth"]["q"] for e in events])
    )

    network = NetworkConfig(**{**model.network.config.to_dict(), "in_channels": args.channels})
    regressor = torch.nn.Sequential(
        ResidualEmbedding(network), torch.nn.GELU(), torch.nn.Linear(network.context, 2)
    )
    optimizer = torch.optim.AdamW(regressor.parameters(), 1e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(1)

    def report(step: int) -> None:
        regressor.eval()
        with torch.no_grad():
            out = torch.cat([regressor(x_eval[i : i + 512]) for i in range(0, len(x_eval), 512)])
        regressor.train()
        error = np.abs(out.numpy() - truth)
        print(
            f"{args.channels} channels, step {step}: clear binaries (n={clear.sum()}) median "
            f"|d log10 s| {np.median(error[clear, 0]):.3f}, |d log10 q| "
            f"{np.median(error[clear, 1]):.3f}; all (n={len(events)}) "
            f"{np.median(error[:, 0]):.3f}, {np.median(error[:, 1]):.3f}",
            flush=True,
        )

    budget, step, t0 = args.minutes * 60.0, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < budget:
        fraction = elapsed / budget
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * min(1.0, fraction / 0.03) * 0.5 * (1 + np.cos(np.pi * fraction))
        batch = torch.randint(len(x), (256,), generator=generator)
        loss = (regressor(x[batch].float()) - y[batch]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        if step % 1500 == 0:
            report(step)
    report(step)


if __name__ == "__main__":
    main()
