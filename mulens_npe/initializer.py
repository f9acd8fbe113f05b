"""NPEInitializer: from a light curve to posterior samples over the 2L1S parameters.

This is the object users meet first::

    init = NPEInitializer.pretrained()
    samples = init.sample(data, n=10_000, seed=0)   # astropy Table, MulensModel names
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from astropy.table import Table

from .adapters import as_lightcurves
from .artifact import TrainedModel, load_model
from .errors import ConfigurationError, ModelCardError
from .parameters import PARAMETER_NAMES
from .preprocess import NetworkInput, preprocess

__all__ = ["NPEInitializer", "DEFAULT_MODEL", "available_models"]

DEFAULT_MODEL = "roman-2l1s"
"""Name of the model shipped inside the package."""

_UNITS = {"t_0": "d", "t_E": "d", "alpha": "deg"}


def available_models() -> list[str]:
    """Names of the models shipped inside the package."""
    root = resources.files("mulens_npe") / "models"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "card.json").is_file())


class NPEInitializer:
    """Amortized posterior estimation for 2L1S events.

    Arguments:
        model: A trained model (see :func:`mulens_npe.artifact.load_model`).

    Example:
        >>> init = NPEInitializer.pretrained()                     # doctest: +SKIP
        >>> init.sample("event.dat", n=1000, phot_fmt="mag")       # doctest: +SKIP
    """

    def __init__(self, model: TrainedModel) -> None:
        self.model = model

    @classmethod
    def pretrained(cls, name: str = DEFAULT_MODEL) -> NPEInitializer:
        """Load a model shipped inside the package (no download)."""
        names = available_models()
        if name not in names:
            raise ModelCardError(
                f"no shipped model named {name!r}; shipped models: {names or 'none'}. "
                "Use NPEInitializer.load(folder) for a model you trained."
            )
        with resources.as_file(resources.files("mulens_npe") / "models" / name) as folder:
            return cls(load_model(folder))

    @classmethod
    def load(cls, folder: str | Path) -> NPEInitializer:
        """Load a model folder written by ``mulens-npe train``."""
        return cls(load_model(folder))

    @property
    def card(self) -> dict[str, Any]:
        """The model card (training data, hardware, validation metrics)."""
        return self.model.card

    def network_input(self, data: Any, **options: Any) -> NetworkInput:
        """The preprocessed network input for ``data`` (anything :func:`as_lightcurves` takes)."""
        return preprocess(as_lightcurves(data, **options), self.model.preprocess)

    def sample(self, data: Any, n: int = 10_000, seed: int = 0, **options: Any) -> Table:
        """Draw posterior samples for one event.

        Parameters
        ----------
        data : object
            A file, MulensModel/pyLIMA object, astropy Table, arrays or LightCurve(s): anything
            :func:`mulens_npe.as_lightcurves` accepts.
        n : int
            Number of samples.
        seed : int
            Seed of the draw; the same seed gives the same samples.
        **options
            Passed to :func:`mulens_npe.as_lightcurves` (e.g. ``phot_fmt``).

        Returns
        -------
        astropy.table.Table
            Columns t_0 [d, full BJD/HJD], u_0, t_E [d], rho, s, q, alpha [deg]
            (MulensModel 3.x conventions, u_0 >= 0; the mirror solution has
            (-u_0, -alpha)). ``meta`` holds the reference frame and the model name.
        """
        if int(n) != n or n < 1:
            raise ConfigurationError(f"sample: n must be a positive integer, got {n!r}.")
        net_input = self.network_input(data, **options)
        z = self._sample_torus(net_input, int(n), seed)
        params = self.model.features.from_torus(z, net_input.t_ref, net_input.t_scale)
        table = Table({name: params[name] for name in PARAMETER_NAMES})
        for name, unit in _UNITS.items():
            table[name].unit = unit
        table.meta.update(
            {
                "model": self.model.card.get("name", "unnamed"),
                "t_ref": net_input.t_ref,
                "t_scale": net_input.t_scale,
                "seed": seed,
                "conventions": "MulensModel 3.x; alpha in degrees; u_0 >= 0 (mirror: -u_0, -alpha)",
            }
        )
        return table

    @torch.no_grad()
    def _sample_torus(self, net_input: NetworkInput, n: int, seed: int) -> np.ndarray:
        x = torch.from_numpy(net_input.values)[None]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            z = self.model.network(x).sample((n,))[:, 0, :]
        return z.numpy().astype(float)
