"""Does the embedding's context hold more about s and q than the flow reads from it?

Trains a small perceptron (L1 loss) to predict |log10 s| and log10 q from a model's frozen
context vectors of augmented training curves, then compares its median errors with the flow's
posterior medians on the clear binaries (delta chi2 > 100) of ``mulens-npe evaluate``'s events.
If the probe does no better than the flow, the context (the embedding) limits s and q.

Usage: python benchmarks/bench_context_probe.py [MODEL] --data DATASET [--passes 1] [--n 2000]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from mulens_npe.artifact import load_model
from mulens_npe.evaluate import evaluate_model, model_epochs, simulated_events
from mulens_npe.simulate.dataset import SimulationDataset
from mulens_npe.training import TrainingConfig, TrainingExamples, _cache_passes, _config_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="mulens_npe/models/roman-2l1s")
    parser.add_argument("--data", required=True, help="the model's training set")
    parser.add_argument("--config", default="configs/roman-2l1s.proposal.json", help="its split")
    parser.add_argument("--passes", type=int, default=1, help="augmented passes of contexts")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--n", type=int, default=2000, help="evaluation events (seed 12345)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = load_model(args.model)
    model.network.eval()
    config = TrainingConfig.from_file(args.config)
    data = SimulationDataset(args.data)
    rows, _ = _config_split(len(data), config)
    started = time.perf_counter()
    examples = TrainingExamples(data, rows, config.preprocess, model.features, 101, config.augment)
    # the contexts as `train` caches them with freeze_embedding (embedding in eval mode)
    cached = replace(config, cached_passes=args.passes, freeze_embedding=True)
    context, z, _ = _cache_passes(examples, model.network, cached, torch.device("cpu"), False)
    params = model.features.from_torus(
        z.numpy().astype(float), 0.0, 1.0
    )  # s and q do not depend on the frame
    y = torch.tensor(
        np.stack([np.abs(np.log10(params["s"])), np.log10(params["q"])], 1), dtype=torch.float32
    )
    print(f"{len(context)} training contexts in {time.perf_counter() - started:.0f} s")

    times = model_epochs(model)
    events = [e for e in simulated_events(model, times, args.n, 12345) if "net_input" in e]
    clear = np.array([e["delta_chi2"] > 100 for e in events])
    with torch.no_grad():
        x = torch.from_numpy(np.stack([e["net_input"].values for e in events]))
        eval_context = torch.cat(
            [model.network.embedding(x[i : i + 256]) for i in range(0, len(x), 256)]
        )
    truth = np.array([[abs(np.log10(e["truth"]["s"])), np.log10(e["truth"]["q"])] for e in events])

    probe = torch.nn.Sequential(
        torch.nn.Linear(context.shape[1], 256),
        torch.nn.GELU(),
        torch.nn.Linear(256, 256),
        torch.nn.GELU(),
        torch.nn.Linear(256, 2),
    )
    optimizer = torch.optim.AdamW(probe.parameters(), 1e-3)
    generator = torch.Generator().manual_seed(1)
    for step in range(1, args.steps + 1):
        batch = torch.randint(len(context), (512,), generator=generator)
        loss = (probe(context[batch]) - y[batch]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 2000 == 0 or step == args.steps:
            with torch.no_grad():
                error = np.abs(probe(eval_context).numpy() - truth)
            print(
                f"probe step {step}: clear binaries (n={clear.sum()}) median |d log10 s| "
                f"{np.median(error[clear, 0]):.3f}, |d log10 q| {np.median(error[clear, 1]):.3f}; "
                f"all (n={len(events)}) {np.median(error[:, 0]):.3f}, {np.median(error[:, 1]):.3f}"
            )
    result = evaluate_model(model, times, n=args.n, seed=12345, progress=False)
    for group, errors in result.errors.items():
        print(
            f"flow posterior median, {group} (n={errors['n']}): median |d log10 s| "
            f"{errors['log10_s']:.3f}, |d log10 q| {errors['log10_q']:.3f}"
        )


if __name__ == "__main__":
    main()
