"""The prior over 2L1S parameters that the shipped model covers (DESIGN.md).

============  ===================  ===============================
parameter     default range        distribution
============  ===================  ===============================
t_0           the observed season  uniform
u_0           0 - 2                uniform
t_E           1 - 300 d            log-uniform
rho           1e-4 - 3e-2          log-uniform
s             0.2 - 5              log-uniform
q             1e-6 - 1             log-uniform
alpha         0 - 360 deg          uniform (circular)
============  ===================  ===============================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigurationError
from .parameters import PARAMETER_NAMES

__all__ = ["Prior", "DEFAULT_BOUNDS", "LOG_UNIFORM"]

DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    "u_0": (0.0, 2.0),
    "t_E": (1.0, 300.0),
    "rho": (1e-4, 3e-2),
    "s": (0.2, 5.0),
    "q": (1e-6, 1.0),
    "alpha": (0.0, 360.0),
}
"""Ranges of every parameter but t_0 (which depends on the observations)."""

LOG_UNIFORM: frozenset[str] = frozenset({"t_E", "rho", "s", "q"})
"""Parameters whose prior is uniform in their logarithm."""


@dataclass(frozen=True)
class Prior:
    """Independent uniform / log-uniform prior over (t_0, u_0, t_E, rho, s, q, alpha).

    Arguments:
        t_0: (first, last) epoch in full BJD/HJD days that t_0 may take.
        bounds: Ranges of the other parameters (MulensModel names); unspecified ones take
            :data:`DEFAULT_BOUNDS`.

    Example:
        >>> import numpy as np
        >>> prior = Prior(t_0=(2460000.0, 2460072.0))
        >>> draws = prior.sample(3, np.random.default_rng(0))
        >>> sorted(draws) == sorted(PARAMETER_NAMES), bool(prior.contains(draws).all())
        (True, True)
    """

    t_0: tuple[float, float]
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.bounds) - set(DEFAULT_BOUNDS))
        if unknown:
            raise ConfigurationError(
                f"Prior: unknown parameter(s) {unknown}; known are {sorted(DEFAULT_BOUNDS)} "
                "(t_0 is given separately)."
            )
        merged = {**DEFAULT_BOUNDS, **{k: tuple(map(float, v)) for k, v in self.bounds.items()}}
        merged["t_0"] = tuple(map(float, self.t_0))
        for name, (low, high) in merged.items():
            if not (np.isfinite(low) and np.isfinite(high) and low < high):
                raise ConfigurationError(f"Prior: range of {name!r} must be finite with low < high, got {(low, high)}.")
            if name in LOG_UNIFORM and low <= 0:
                raise ConfigurationError(f"Prior: {name!r} is log-uniform; its lower bound must be > 0, got {low}.")
        if merged["u_0"][0] < 0:
            raise ConfigurationError("Prior: u_0 is canonicalised to u_0 >= 0; its lower bound must be >= 0.")
        object.__setattr__(self, "bounds", {name: merged[name] for name in PARAMETER_NAMES})
        object.__setattr__(self, "t_0", merged["t_0"])

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Draw ``n`` parameter sets; returns a dict of arrays in MulensModel names."""
        if int(n) != n or n < 0:
            raise ConfigurationError(f"Prior.sample: n must be a non-negative integer, got {n!r}.")
        out = {}
        for name in PARAMETER_NAMES:
            low, high = self.bounds[name]
            if name in LOG_UNIFORM:
                out[name] = np.exp(rng.uniform(np.log(low), np.log(high), int(n)))
            else:
                out[name] = rng.uniform(low, high, int(n))
        return out

    def contains(self, params: Mapping[str, Any]) -> np.ndarray:
        """Whether each parameter set lies inside the prior (alpha is taken modulo 360)."""
        inside = np.ones(np.broadcast(*(np.asarray(params[n]) for n in PARAMETER_NAMES)).shape, bool)
        for name in PARAMETER_NAMES:
            value = np.asarray(params[name], dtype=float)
            if name == "alpha":
                value = np.mod(value, 360.0)
            low, high = self.bounds[name]
            inside &= (value >= low) & (value <= high)
        return inside

    def log_prob(self, params: Mapping[str, Any]) -> np.ndarray:
        """Log density in the MulensModel parameters (per day, per degree); -inf outside."""
        total = 0.0
        for name in PARAMETER_NAMES:
            value = np.asarray(params[name], dtype=float)
            low, high = self.bounds[name]
            if name in LOG_UNIFORM:
                with np.errstate(divide="ignore", invalid="ignore"):
                    total = total - np.log(value) - np.log(np.log(high / low))
            else:
                total = total - np.log(high - low)
        return np.where(self.contains(params), total, -np.inf)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (for model cards and dataset files)."""
        return {
            "t_0": list(self.t_0),
            "bounds": {k: list(v) for k, v in self.bounds.items() if k != "t_0"},
            "log_uniform": sorted(LOG_UNIFORM),
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Prior:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigurationError`."""
        unknown = sorted(set(spec) - {"t_0", "bounds", "log_uniform"})
        if unknown:
            raise ConfigurationError(f"Prior: unknown key(s) {unknown} in prior specification.")
        if "t_0" not in spec:
            raise ConfigurationError("Prior: the specification needs a 't_0' range.")
        return cls(t_0=tuple(spec["t_0"]), bounds=dict(spec.get("bounds", {})))
