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
from .parameters import PARAMETER_NAMES, wrap_alpha

__all__ = ["Prior", "DEFAULT_BOUNDS", "LOG_UNIFORM", "span_prior"]

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


def _pair(name: str, value: Any) -> tuple[float, float]:
    try:
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2:
        raise ConfigurationError(
            f"Prior: the range of {name!r} must be two numbers (low, high), got {value!r}."
        )
    return pair


def _require(params: Mapping[str, Any]) -> None:
    missing = [name for name in PARAMETER_NAMES if name not in params]
    if missing:
        raise ConfigurationError(f"Prior: parameters {missing} are missing; got {sorted(params)}.")


@dataclass(frozen=True)
class Prior:
    """Independent uniform / log-uniform prior over (t_0, u_0, t_E, rho, s, q, alpha).

    Arguments:
        t_0: (first, last) epoch in full BJD/HJD days that t_0 may take.
        bounds: Ranges of the other parameters (MulensModel names, ``t_E`` in days, ``alpha``
            in degrees); unspecified ones take :data:`DEFAULT_BOUNDS`. ``alpha`` is circular:
            its range may wrap (e.g. ``(-30, 30)``) and is at most 360 degrees wide. A ``t_0``
            entry is ignored (the ``t_0`` argument wins), so that
            ``Prior(t_0=..., bounds=other.bounds)`` and ``dataclasses.replace`` work. After
            construction ``bounds`` holds all seven ranges as float pairs.

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
        if not isinstance(self.bounds, Mapping):
            raise ConfigurationError(
                f"Prior: bounds must be a mapping name -> (low, high), got {self.bounds!r}."
            )
        given = {name: value for name, value in self.bounds.items() if name != "t_0"}
        unknown = sorted(set(given) - set(DEFAULT_BOUNDS))
        if unknown:
            raise ConfigurationError(
                f"Prior: unknown parameter(s) {unknown}; known are {sorted(DEFAULT_BOUNDS)} "
                "(t_0 is given separately)."
            )
        merged = {**DEFAULT_BOUNDS, **{name: _pair(name, v) for name, v in given.items()}}
        merged["t_0"] = _pair("t_0", self.t_0)
        for name, (low, high) in merged.items():
            if not (np.isfinite(low) and np.isfinite(high) and low < high):
                raise ConfigurationError(
                    f"Prior: range of {name!r} must be finite with low < high, got {(low, high)}."
                )
            if name in LOG_UNIFORM and low <= 0:
                raise ConfigurationError(
                    f"Prior: {name!r} is log-uniform; its lower bound must be > 0, got {low}."
                )
        if merged["u_0"][0] < 0:
            raise ConfigurationError(
                "Prior: u_0 is canonicalised to u_0 >= 0; its lower bound must be >= 0 "
                "(mulens_npe.parameters.canonicalize maps u_0 < 0 to the same light curve)."
            )
        if merged["alpha"][1] - merged["alpha"][0] > 360.0:
            raise ConfigurationError(
                f"Prior: alpha is an angle in degrees; its range may be at most 360 wide, "
                f"got {merged['alpha']}."
            )
        object.__setattr__(self, "bounds", {name: merged[name] for name in PARAMETER_NAMES})
        object.__setattr__(self, "t_0", merged["t_0"])

    def __hash__(self) -> int:
        return hash(tuple(self.bounds.items()))

    def sample(self, n: int, rng: np.random.Generator | int) -> dict[str, np.ndarray]:
        """Draw ``n`` parameter sets.

        Arguments:
            n: Number of draws.
            rng: A numpy ``Generator`` or an integer seed; the same seed gives the same draws.

        Returns:
            A dict of arrays of shape ``(n,)`` in MulensModel names; ``alpha`` in [0, 360).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ConfigurationError(f"Prior.sample: n must be a non-negative integer, got {n!r}.")
        if rng is None:
            raise ConfigurationError("Prior.sample: give a seed or a numpy Generator.")
        rng = np.random.default_rng(rng)
        out = {}
        for name in PARAMETER_NAMES:
            low, high = self.bounds[name]
            if name in LOG_UNIFORM:
                out[name] = np.exp(rng.uniform(np.log(low), np.log(high), int(n)))
            else:
                out[name] = rng.uniform(low, high, int(n))
        out["alpha"] = np.asarray(wrap_alpha(out["alpha"]), dtype=float)
        return out

    def contains(self, params: Mapping[str, Any]) -> np.ndarray:
        """Whether each parameter set lies inside the prior (alpha is taken modulo 360).

        Non-finite values are outside. Returns a boolean array of the broadcast shape.
        """
        _require(params)
        values = np.broadcast_arrays(*(np.asarray(params[n], dtype=float) for n in PARAMETER_NAMES))
        inside = np.ones(values[0].shape, dtype=bool)
        for name, value in zip(PARAMETER_NAMES, values, strict=True):
            low, high = self.bounds[name]
            if name == "alpha":
                with np.errstate(invalid="ignore"):  # inf and nan fall outside
                    inside &= np.mod(value - low, 360.0) <= high - low
            else:
                inside &= (value >= low) & (value <= high)
        return inside

    def log_prob(self, params: Mapping[str, Any]) -> np.ndarray:
        """Log density in the MulensModel parameters (per day, per degree); -inf outside.

        The density is with respect to ``d t_0 d u_0 d t_E d rho d s d q d alpha`` (not the
        logarithms), so a log-uniform ``x`` contributes ``-ln x - ln ln(high / low)``.
        """
        inside = self.contains(params)
        total = np.zeros(inside.shape)
        for name in PARAMETER_NAMES:
            low, high = self.bounds[name]
            if name in LOG_UNIFORM:
                with np.errstate(divide="ignore", invalid="ignore"):
                    value = np.asarray(params[name], dtype=float)
                    total = total - np.log(value) - np.log(np.log(high / low))
            else:
                total = total - np.log(high - low)
        return np.where(inside, total, -np.inf)

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
        if not isinstance(spec, Mapping):
            raise ConfigurationError(f"Prior: the specification must be a mapping, got {spec!r}.")
        unknown = sorted(set(spec) - {"t_0", "bounds", "log_uniform"})
        if unknown:
            raise ConfigurationError(f"Prior: unknown key(s) {unknown} in prior specification.")
        if "t_0" not in spec:
            raise ConfigurationError("Prior: the specification needs a 't_0' range.")
        if "log_uniform" in spec and sorted(spec["log_uniform"]) != sorted(LOG_UNIFORM):
            raise ConfigurationError(
                f"Prior: log_uniform must be {sorted(LOG_UNIFORM)} (the distributions are "
                f"fixed), got {spec['log_uniform']!r}."
            )
        bounds = spec.get("bounds", {})
        if not isinstance(bounds, Mapping):
            raise ConfigurationError(f"Prior: 'bounds' must be a mapping, got {bounds!r}.")
        return cls(t_0=_pair("t_0", spec["t_0"]), bounds=dict(bounds))


def span_prior(prior: Prior, first: float, last: float) -> Prior:
    """``prior`` with t_0 anywhere from half a data span before ``first`` to half after
    ``last`` (days; the span counted as at least one day)."""
    half = 0.5 * max(float(last) - float(first), 1.0)
    return Prior(t_0=(float(first) - half, float(last) + half), bounds=prior.bounds)
