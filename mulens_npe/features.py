"""The flow's coordinates: physical parameters <-> points of the torus [-pi, pi)^7.

The flow is a neural circular spline flow, so every coordinate lives on [-pi, pi). alpha is
truly circular; every other parameter has a bounded range (from the prior, or for t_0 and t_E
relative to the single-lens estimate) that is mapped linearly onto [-pi, pi). Values beyond a
range are clipped just inside it.

For t_0 and t_E that clipping is not rare: where the single-lens estimate of a faint event
(u_0 > 1, a long t_E) is far off, ~4% of prior events have a true t_0 more than 3 t_scale from
t_ref, or a t_E more than e^3.5 times t_scale, and a linear map cannot put posterior mass
there. A *squashed* coordinate (``FeatureMap.squash``) maps the whole real line instead:
``z = 2 atan(pi x / 2)`` with ``x = (raw - mid) / half`` (``mid``, ``half``: the centre and
half-width of the bounds), which has the linear map's slope at the centre, reaches 2.0 rad at the
old edge and tends to +-pi far beyond it.
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
_MAX_SQUASHED = 100.0


@dataclass(frozen=True)
class FeatureMap:
    """Bounds of each flow coordinate before it is mapped onto [-pi, pi).

    Coordinates, in :data:`~mulens_npe.parameters.PARAMETER_NAMES` order:
    ``(t_0 - t_ref) / t_scale``, ``ln(t_E / t_scale)``, ``log10 u_0``, ``log10 rho``,
    ``log10 s``, ``log10 q``, ``alpha`` (radians, circular).
    """

    bounds: Mapping[str, tuple[float, float]]
    squash: tuple[str, ...] = ()
    """Coordinates mapped by ``2 atan(pi x / 2)`` (the whole real line) instead of linearly."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.squash) - {"t_0", "t_E"})
        if unknown:
            raise ConfigurationError(
                f"FeatureMap: only t_0 and t_E can be squashed, got {unknown}."
            )
        object.__setattr__(self, "squash", tuple(sorted(set(self.squash))))

    @classmethod
    def from_prior(
        cls,
        prior: Prior,
        t_0_range: float = 3.0,
        log_t_E_range: float = 3.5,
        log10_u_0_min: float = -4.0,
        squash: tuple[str, ...] = (),
    ) -> FeatureMap:
        """Bounds that cover ``prior`` (t_0 and t_E relative to the single-lens estimate)."""
        b = prior.bounds
        return cls(
            squash=tuple(squash),
            bounds={
                "t_0": (-t_0_range, t_0_range),
                "t_E": (-log_t_E_range, log_t_E_range),
                "u_0": (log10_u_0_min, float(np.log10(b["u_0"][1]))),
                "rho": tuple(float(v) for v in np.log10(b["rho"])),
                "s": tuple(float(v) for v in np.log10(b["s"])),
                "q": tuple(float(v) for v in np.log10(b["q"])),
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the model card (``squash`` only when some coordinate is)."""
        out: dict[str, Any] = {"bounds": {k: list(v) for k, v in self.bounds.items()}}
        if self.squash:
            out["squash"] = list(self.squash)
        return out

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> FeatureMap:
        """Inverse of :meth:`to_dict`."""
        bounds = dict(spec.get("bounds", {}))
        expected = set(PARAMETER_NAMES) - {"alpha"}
        if set(bounds) != expected:
            raise ConfigurationError(
                f"FeatureMap: bounds must name {sorted(expected)}, got {sorted(bounds)}."
            )
        squash = spec.get("squash", [])
        if isinstance(squash, str) or not all(isinstance(v, str) for v in squash):
            raise ConfigurationError(
                f"FeatureMap: squash must be a list of parameter names, got {squash!r}."
            )
        return cls(
            bounds={k: (float(v[0]), float(v[1])) for k, v in bounds.items()},
            squash=tuple(squash),
        )

    def _raw(self, params: Mapping[str, Any], t_ref, t_scale) -> dict[str, np.ndarray]:
        return {
            "t_0": (np.asarray(params["t_0"], float) - t_ref) / t_scale,
            "t_E": np.log(np.asarray(params["t_E"], float) / t_scale),
            "u_0": np.log10(np.maximum(np.abs(np.asarray(params["u_0"], float)), 1e-300)),
            "rho": np.log10(np.asarray(params["rho"], float)),
            "s": np.log10(np.asarray(params["s"], float)),
            "q": np.log10(np.asarray(params["q"], float)),
        }

    def _scaled(self, name: str, raw: np.ndarray) -> np.ndarray:
        """``(raw - mid) / half`` of coordinate ``name``: -1 and 1 at its bounds."""
        low, high = self.bounds[name]
        return (raw - 0.5 * (low + high)) / (0.5 * (high - low))

    @staticmethod
    def _unsquashed(z: np.ndarray) -> np.ndarray:
        """Inverse of ``z = 2 atan(pi x / 2)``: the scaled value ``x`` of a squashed coordinate."""
        return np.tan(0.5 * z) * 2 / np.pi

    def log_abs_det(self, z: np.ndarray) -> np.ndarray:
        """``log |dz / d raw|`` at flow coordinates ``z`` (..., 7), summed over coordinates.

        ``raw`` is ``((t_0 - t_ref) / t_scale, ln(t_E / t_scale), log10 u_0, log10 rho,
        log10 s, log10 q, alpha [rad])``, the same for every map: the flow's negative log
        density of a truth minus this is its NLL in ``raw``, which compares models with
        different maps (on values inside the linear range: a clipped value has no density
        in ``raw``).
        """
        z = np.asarray(z, dtype=float)
        total = np.zeros(z.shape[:-1])
        for i, name in enumerate(PARAMETER_NAMES):
            if name == "alpha":
                continue
            low, high = self.bounds[name]
            total = total + np.log(2 * np.pi / (high - low))
            if name in self.squash:
                # dz/dx = pi / (1 + (pi x / 2)^2) = pi cos^2(z / 2)
                total = total + 2 * np.log(np.cos(0.5 * z[..., i]))
        return total

    def inside_linear_range(self, z: np.ndarray) -> np.ndarray:
        """Whether each point's t_0 and t_E lie inside the bounds (where no map clips)."""
        z = np.asarray(z, dtype=float)
        inside = np.ones(z.shape[:-1], bool)
        for name in ("t_0", "t_E"):
            zi = z[..., PARAMETER_NAMES.index(name)]
            if name in self.squash:
                inside &= np.abs(self._unsquashed(zi)) < 1.0
            else:
                inside &= np.abs(zi) < np.pi - 2 * _EPS
        return inside

    def to_torus(self, params: Mapping[str, Any], t_ref: Any, t_scale: Any) -> np.ndarray:
        """Physical parameters (u_0 >= 0) to flow coordinates, shape (..., 7)."""
        raw = self._raw(params, t_ref, t_scale)
        columns = []
        for name in PARAMETER_NAMES:
            if name == "alpha":
                angle = np.deg2rad(np.asarray(params["alpha"], float))
                columns.append(np.mod(angle + np.pi, 2 * np.pi) - np.pi)
                continue
            x = self._scaled(name, raw[name])
            z = 2 * np.arctan(0.5 * np.pi * x) if name in self.squash else np.pi * x
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
            if name in self.squash:
                # tan diverges at +-pi: keep draws within 100 half-widths (finite t_E)
                x = np.clip(self._unsquashed(z[..., i]), -_MAX_SQUASHED, _MAX_SQUASHED)
            else:
                x = z[..., i] / np.pi
            raw = 0.5 * (low + high) + 0.5 * (high - low) * x
            if name == "t_0":
                out[name] = np.asarray(t_ref) + raw * np.asarray(t_scale)
            elif name == "t_E":
                out[name] = np.asarray(t_scale) * np.exp(raw)
            else:
                out[name] = 10.0**raw
        return out
