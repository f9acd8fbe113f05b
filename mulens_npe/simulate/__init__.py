"""The simulator: prior draws, noise-free binary-lens magnifications, the Roman observing model
and the augmentation that turns a stored magnification into an observed light curve.

See ``docs/simulation.md`` for the physics, the numbers and their sources.
"""

from __future__ import annotations

from .augment import augment, cadence_mask, simulated_lightcurve, write_lightcurve
from .config import SimulationConfig, TimeGrid
from .dataset import SimulationDataset
from .magnification import (
    CurvePool,
    binary_magnification,
    single_lens_magnification,
    source_trajectory,
)
from .roman import (
    ROMAN_CADENCE_MIN,
    ROMAN_SEASON_DAYS,
    ROMAN_SEASON_START,
    FluxPrior,
    W149NoiseModel,
    roman_dc2026_epochs,
    roman_epochs,
)
from .runner import simulate
from .sampling import ProposalSampler, caustic_targets

__all__ = [
    "simulate",
    "CurvePool",
    "SimulationConfig",
    "TimeGrid",
    "SimulationDataset",
    "binary_magnification",
    "single_lens_magnification",
    "source_trajectory",
    "roman_epochs",
    "roman_dc2026_epochs",
    "ROMAN_SEASON_START",
    "ROMAN_SEASON_DAYS",
    "ROMAN_CADENCE_MIN",
    "W149NoiseModel",
    "FluxPrior",
    "ProposalSampler",
    "caustic_targets",
    "augment",
    "cadence_mask",
    "simulated_lightcurve",
    "write_lightcurve",
]
