"""The tiny simulated dataset and training recipe shared by the tests (trains in seconds)."""

from __future__ import annotations

from pathlib import Path

from mulens_npe.network import NetworkConfig
from mulens_npe.preprocess import PreprocessSpec
from mulens_npe.simulate.config import SimulationConfig, TimeGrid
from mulens_npe.training import TrainingConfig

TINY_SIMULATION = SimulationConfig(
    n=48,
    seed=11,
    chunk_size=24,
    grid=TimeGrid(duration=12.0, cadence_min=30.0),
    prior={"bounds": {"t_E": [1.0, 4.0]}},
)
"""48 short events (12 days at 30-minute cadence, t_E 1-4 d)."""

TINY_TRAINING = TrainingConfig(
    network=NetworkConfig(widths=(8, 8), context=16, transforms=1, hidden=(16,)),
    preprocess=PreprocessSpec(n_bins=32),
    batch_size=16,
    max_steps=2,
    validate_every=2,
    validation_fraction=0.25,
    workers=0,
    seed=3,
)
"""A network of a few thousand parameters trained for two steps."""


def simulate_tiny(out: Path, config: SimulationConfig = TINY_SIMULATION) -> Path:
    """Write the tiny dataset to ``out`` and return it."""
    from mulens_npe.simulate.runner import simulate

    simulate(config, out, workers=1, progress=False)
    return out
