"""The flow's coordinates: physical parameters <-> points of the torus [-pi, pi)^7.

The flow is a neural circular spline flow, so every coordinate lives on [-pi, pi). alpha is
truly circular; every other parameter has a bounded range (from the prior, or for t_0 and t_E
relative to the single-lens estimate) that is mapped linearly onto [-pi, pi). Values beyond a
range are clipped just inside it: this only happens for rare training events whose
single-lens estimate is far off, and is recorded in the model card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigurationError
from .parameters import PARAMETER_NAMES
from .prior import Prior

__all__ = ["FeatureMap"]

_EPS = 1e-6


@dataclass(frozen=True)
class FeatureMap:
    """Bounds of each flow coordinate before it is mapped onto [-pi, pi).

    Coordinates, in :data:`~mulens_npe.parameters.PARAMETER_NAMES` order:
    ``(t_0 - t_ref) / t_scale``, ``ln(t_E / t_scale)``, ``log10 u_0``, ``log10 rho``,
    ``log10 s``, ``log10 q``, ``alpha`` (radians, circular).
    """

    bounds: Mapping[str, tuple[float, float]]

    @classmethod
    def from_prior(
        cls,
        prior: Prior,
        t_0_range: float = 3.0,
        log_t_E_range: float = 3.5,
        log10_u_0_min: float = -4.0,
    ) -> FeatureMap:
        """Bounds that cover ``prior`` (t_0 and t_E relative to the single-lens estimate)."""
        b = prior.bounds
        return cls(
            bounds={
                "t_0": (-t_0_range, t_0_range),
                "t_E": (-log_t_E_range, log_t_E_range),
                "u_0": (log10_u_0_min, float(np.log10(b["u_0"][1]))),
                "rho": tuple(float(v) for v in np.log10(b["rho"])),
                "s": tuple(float(v) for v in np.log10(b["s"])),
                "q": tuple(float(v) for v in np.log10(b["q"])),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the model card."""
        return {"bounds": {k: list(v) for k, v in self.bounds.items()}}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> FeatureMap:
        """Inverse of :meth:`to_dict`."""
        bounds = dict(spec.get("bounds", {}))
        expected = set(PARAMETER_NAMES) - {"alpha"}
        if set(bounds) != expected:
            raise ConfigurationError(
                f"FeatureMap: bounds must name {sorted(expected)}, got {sorted(bounds)}."
            )
        return cls(bounds={k: (float(v[0]), float(v[1])) for k, v in bounds.items()})

    def _raw(self, params: Mapping[str, Any], t_ref, t_scale) -> dict[str, np.ndarray]:
        return {
            "t_0": (np.asarray(params["t_0"], float) - t_ref) / t_scale,
            "t_E": np.log(np.asarray(params["t_E"], float) / t_scale),
            "u_0": np.log10(np.maximum(np.abs(np.asarray(params["u_0"], float)), 1e-300)),
            "rho": np.log10(np.asarray(params["rho"], float)),
            "s": np.log10(np.asarray(params["s"], float)),
            "q": np.log10(np.asarray(params["q"], float)),
        }

    def to_torus(self, params: Mapping[str, Any], t_ref: Any, t_scale: Any) -> np.ndarray:
        """Physical parameters (u_0 >= 0) to flow coordinates, shape (..., 7)."""
        raw = self._raw(params, t_ref, t_scale)
        columns = []
        for name in PARAMETER_NAMES:
            if name == "alpha":
                angle = np.deg2rad(np.asarray(params["alpha"], float))
                columns.append(np.mod(angle + np.pi, 2 * np.pi) - np.pi)
                continue
            low, high = self.bounds[name]
            z = -np.pi + 2 * np.pi * (raw[name] - low) / (high - low)
            columns.append(np.clip(z, -np.pi + _EPS, np.pi - _EPS))
        return np.stack(np.broadcast_arrays(*columns), axis=-1)

    def from_torus(self, z: np.ndarray, t_ref: Any, t_scale: Any) -> dict[str, np.ndarray]:
        """Flow coordinates (..., 7) to physical parameters in MulensModel names."""
        z = np.asarray(z, dtype=float)
        out = {}
        for i, name in enumerate(PARAMETER_NAMES):
            if name == "alpha":
                out["alpha"] = np.mod(np.rad2deg(z[..., i]), 360.0)
                continue
            low, high = self.bounds[name]
            raw = low + (high - low) * (z[..., i] + np.pi) / (2 * np.pi)
            if name == "t_0":
                out[name] = np.asarray(t_ref) + raw * np.asarray(t_scale)
            elif name == "t_E":
                out[name] = np.asarray(t_scale) * np.exp(raw)
            else:
                out[name] = 10.0**raw
        return out
