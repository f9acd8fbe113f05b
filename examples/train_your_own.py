"""Train your own model: simulate -> train -> evaluate, then use it like the shipped one.

The shipped model was made the same way at full size (``configs/roman-2l1s.*.json``, see
docs/model.md). The defaults here take about a minute on a laptop CPU and give a model good
for trying the pipeline, not for science; raise ``--n`` and ``--steps`` (and drop ``--small``)
for a real one.

    python examples/train_your_own.py [--out DIR] [--n N] [--steps K] [--small]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mulens_npe.evaluate import evaluate_model, write_report
from mulens_npe.initializer import NPEInitializer
from mulens_npe.network import NetworkConfig
from mulens_npe.preprocess import PreprocessSpec
from mulens_npe.simulate.config import SimulationConfig, TimeGrid
from mulens_npe.simulate.runner import simulate
from mulens_npe.training import TrainingConfig, train

EXAMPLE = Path(__file__).resolve().parent / "data" / "roman_planet_example.dat"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="my-npe", help="folder for the dataset and the model")
    parser.add_argument("--n", type=int, default=2000, help="simulated light curves")
    parser.add_argument("--steps", type=int, default=200, help="training steps")
    parser.add_argument("--days", type=float, default=72.0, help="length of the season [d]")
    parser.add_argument("--small", action="store_true", help="a tiny network (seconds)")
    parser.add_argument("--n-eval", type=int, default=200, help="events for the evaluation")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    out = Path(args.out)

    # 1. simulate: noise-free magnifications on a Roman grid, written in HDF5 chunks
    grid = TimeGrid(duration=args.days)
    config = SimulationConfig(n=args.n, seed=args.seed, chunk_size=500, grid=grid)
    simulate(config, out / "sim", workers=1, progress=False)
    print(f"simulated {args.n} light curves in {out / 'sim'}")

    # 2. train: fresh noise, gaps and blending on every served curve
    training = TrainingConfig(max_steps=args.steps, validate_every=max(args.steps // 4, 1))
    if args.small:
        training = TrainingConfig(
            network=NetworkConfig(widths=(8, 16), context=16, transforms=1, hidden=(32,)),
            preprocess=PreprocessSpec(n_bins=64),
            batch_size=32,
            max_steps=args.steps,
            validate_every=max(args.steps // 4, 1),
            workers=0,
        )
    model = train(out / "sim", out / "model", training, progress=False)
    print(f"trained: validation NLL {model.card['metrics']['validation_nll']:.3f}")

    # 3. evaluate: calibration on fresh events with another seed
    result = evaluate_model(model, grid.epochs(), n=args.n_eval, seed=args.seed + 1000,
                            n_samples=200, progress=False)  # fmt: skip
    report = write_report(result, model, out / "evaluation", args.seed + 1000)
    print(f"calibration report: {report / 'evaluation.md'}")

    # 4. use it: exactly as the shipped model, or `mulens-npe fit FILE --model OUT/model`
    init = NPEInitializer.load(out / "model")
    samples = init.sample(str(EXAMPLE), n=1000, seed=0)
    print(f"posterior median s = {float(sorted(samples['s'])[500]):.3f} for {EXAMPLE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
