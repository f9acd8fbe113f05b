"""Posterior sampling latency and batched throughput on this CPU.

Prints, for the model given (a folder; default the shipped model, else an untrained network
of the shipped architecture, which has the same cost):

* preprocessing time of one Roman season light curve (the shipped example event);
* time to draw 10,000 posterior samples, preprocessing included (budget: < 1 s);
* batched throughput in events per second, 1,000 samples each (budget: > 20 events/s),
  against the one-at-a-time rate measured in the same process;
* the flow's share of the batch with this package's flow and with zuko's stock transforms
  (:func:`mulens_npe.network.stock_zuko_copy`: same weights, same map) in the same process.

For a model trained on the simulation proposal's posterior every figure includes the
importance resampling to the prior (:mod:`mulens_npe.reweighting`).

Usage: python benchmarks/bench_sample.py [MODEL_FOLDER] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mulens_npe import as_lightcurves
from mulens_npe.artifact import TrainedModel, load_model
from mulens_npe.features import FeatureMap
from mulens_npe.initializer import NPEInitializer, available_models
from mulens_npe.network import NetworkConfig, PosteriorNetwork, stock_zuko_copy
from mulens_npe.preprocess import PreprocessSpec, preprocess
from mulens_npe.prior import Prior

ROOT = Path(__file__).resolve().parents[1]
EVENT = ROOT / "examples" / "data" / "roman_planet_example.dat"
CONFIG = ROOT / "configs" / "roman-2l1s.train.json"


def _model(folder: str | None) -> tuple[TrainedModel, str]:
    if folder:
        return load_model(folder), folder
    if "roman-2l1s" in available_models():
        return NPEInitializer.pretrained().model, "shipped roman-2l1s"
    spec = json.loads(CONFIG.read_text())
    prior = Prior(t_0=(2461447.75, 2461519.75))
    network = PosteriorNetwork(NetworkConfig.from_dict(spec["network"])).eval()
    model = TrainedModel(
        network, PreprocessSpec.from_dict(spec["preprocess"]), FeatureMap.from_prior(prior), prior
    )
    return model, "untrained network of the shipped architecture"


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, what = _model(args.model)
    init = NPEInitializer(model)
    curves = as_lightcurves(EVENT, phot_fmt="mag")
    print(
        f"model: {what}; torch threads: {args.threads}; event: {EVENT.name} ({curves[0].n_points} epochs)"
    )

    t_pre = _best(lambda: preprocess(curves, model.preprocess))
    t_10k = _best(lambda: init.sample(curves, n=10_000, seed=0))
    t_1k = _best(lambda: init.sample(curves, n=1_000, seed=0))
    print(f"preprocess one season:               {t_pre * 1e3:8.1f} ms")
    print(f"sample 10,000 (preprocessing incl.):  {t_10k:8.3f} s   (budget < 1 s)")
    print(f"sample  1,000 (preprocessing incl.):  {t_1k:8.3f} s")

    batch = 32
    inputs = [preprocess(curves, model.preprocess) for _ in range(batch)]
    x = torch.from_numpy(np.stack([i.values for i in inputs]))

    reweighting = model.reweighting

    def batched():
        with torch.no_grad():
            z = model.network(x).sample((1000,)).numpy().astype(float)
        if reweighting is not None:  # a proposal-trained model: resample every event's draws
            for k, net_input in enumerate(inputs):
                params = model.features.from_torus(z[:, k], net_input.t_ref, net_input.t_scale)
                reweighting.resample(params, net_input.span, 1000, np.random.default_rng(k))

    t_batch = _best(batched, repeat=3) + batch * t_pre
    rate_batched = batch / t_batch
    rate_single = 1.0 / t_1k
    print(f"batched throughput, 1,000 samples:    {rate_batched:8.1f} events/s  (budget > 20)")
    print(
        f"one at a time,      1,000 samples:    {rate_single:8.1f} events/s  (ratio {rate_batched / rate_single:.2f}x)"
    )

    stock = stock_zuko_copy(model.network)

    def flow(network):
        with torch.no_grad():
            network(x).sample((1000,))

    t_flow, t_stock = (
        _best(lambda: flow(model.network), repeat=3),
        _best(lambda: flow(stock), repeat=3),
    )
    print(
        f"flow, 32 events x 1,000 samples:      {t_flow:8.3f} s   (zuko's stock transforms "
        f"{t_stock:.3f} s, {t_stock / t_flow:.2f}x)"
    )


if __name__ == "__main__":
    main()
