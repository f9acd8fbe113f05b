"""What a training step costs on this machine: serving curves, the whole network, the flow alone.

Times, in one process and on one torch thread: the augmentation + preprocessing of a batch of
training curves (what ``cached_passes`` does once instead of every step), a forward/backward/
Adam step of the whole network, and one of the flow alone on context vectors (what
``freeze_embedding`` with ``cached_passes`` runs).

Usage: python benchmarks/bench_training_step.py --data DATASET [MODEL] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mulens_npe.artifact import load_model
from mulens_npe.simulate.dataset import SimulationDataset
from mulens_npe.training import TrainingConfig, TrainingExamples, _config_split


def median_time(repeats: int, run) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="mulens_npe/models/roman-2l1s")
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", default="configs/roman-2l1s.proposal.json")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = load_model(args.model)
    config = TrainingConfig.from_file(args.config)
    data = SimulationDataset(args.data)
    rows, _ = _config_split(len(data), config)
    examples = TrainingExamples(data, rows, config.preprocess, model.features, 5, config.augment)
    batches = iter(range(0, len(examples) - 256, 256))  # fresh curves at every call

    def serve():
        start = next(batches)
        return examples[list(range(start, start + 256))]

    serving = median_time(args.repeats, serve)
    x, target, _ = serve()
    network = model.network.train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-6)

    def whole_step():
        loss = -network.log_prob(target, x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    whole = median_time(args.repeats, whole_step)
    network.eval()
    with torch.no_grad():
        context = network.embedding(x)
    context, target2 = torch.cat([context, context]), torch.cat([target, target])
    flow_optimizer = torch.optim.AdamW(network.flow.parameters(), lr=1e-6)

    def flow_step():
        loss = -network.flow(context).log_prob(target2).mean()
        flow_optimizer.zero_grad()
        loss.backward()
        flow_optimizer.step()

    flow = median_time(args.repeats, flow_step)
    print(f"{args.model}, one torch thread, median of {args.repeats}:")
    print(
        f"  serving 256 augmented, preprocessed curves: {serving:.3f} s ({serving / 256 * 1e3:.2f} ms a curve)"
    )
    print(f"  whole-network step, 256 curves:           {whole:.3f} s")
    print(f"  flow-only step, 512 contexts:             {flow:.3f} s")
    print(
        f"  curves per second: streamed (serve + step) {256 / (serving + whole):.0f}, "
        f"cached inputs {256 / whole:.0f} ({(serving + whole) / whole:.1f}x), "
        f"cached contexts, flow alone {512 / flow:.0f} ({512 / flow / (256 / (serving + whole)):.0f}x)"
    )


if __name__ == "__main__":
    main()
