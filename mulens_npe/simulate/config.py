"""What a simulation run produces: the recorded, JSON-able recipe of a training set.

A :class:`SimulationConfig` fixes everything a dataset depends on (size, seed, chunking, time
grid, prior, proposal, magnification tolerance, storage precision), so that the same config
always gives the same curves, and a dataset on disk can say exactly how it was made.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import ConfigurationError
from ..prior import Prior

__all__ = ["TimeGrid", "SimulationConfig", "STORAGE_DTYPES"]

STORAGE_DTYPES: tuple[str, ...] = ("float32", "float64")
"""Precisions the magnification may be stored in."""

_GRID_KINDS = ("roman", "dc2026")
_DC2026_SEASONS = range(1, 7)


def _check_keys(spec: Mapping[str, Any], allowed: set[str], what: str) -> None:
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"{what}: expected a JSON object, got {type(spec).__name__}.")
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigurationError(f"{what}: unknown key(s) {unknown}; known are {sorted(allowed)}.")


def _integer(value: Any, name: str, minimum: int) -> int:
    # JSON readers turn 3e5 into a float: accept floats that are whole numbers.
    whole_float = isinstance(value, (float, np.floating)) and float(value).is_integer()
    if isinstance(value, (bool, np.bool_)) or not (
        isinstance(value, (int, np.integer)) or whole_float
    ):
        raise ConfigurationError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def _positive_float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number, got {value!r}.") from None
    if not (np.isfinite(number) and number > 0):
        raise ConfigurationError(f"{name} must be finite and > 0, got {value!r}.")
    return number


@dataclass(frozen=True)
class TimeGrid:
    """The epochs every simulated light curve is computed on.

    Arguments:
        kind: ``"roman"`` for a regular Roman-like grid (one season of ``duration`` days with
            one epoch every ``cadence_min`` minutes, from
            :func:`mulens_npe.simulate.roman.roman_epochs`), or ``"dc2026"`` for the epoch
            list of the 2026 Roman data challenge season ``season`` (1-6) shipped with
            MulensModel.
        season: Data-challenge season (``"dc2026"`` only).
        season_start: First epoch (full BJD) of a ``"roman"`` grid; ``None`` takes
            ``roman_epochs``'s default.
        duration: Length of a ``"roman"`` season in days.
        cadence_min: Time between ``"roman"`` epochs in minutes (15.16 in the 2018 design).

    Example:
        >>> TimeGrid.parse("dc2026:3").describe()
        'Roman data challenge 2026, season 3 (MulensModel RMDC26_ephemeris_season_3.dat)'
        >>> TimeGrid.from_dict(TimeGrid(duration=3.0).to_dict()) == TimeGrid(duration=3.0)
        True
    """

    kind: str = "roman"
    season: int | None = None
    season_start: float | None = None
    duration: float | None = 72.0
    cadence_min: float | None = 15.16

    def __post_init__(self) -> None:
        if self.kind not in _GRID_KINDS:
            raise ConfigurationError(
                f"time grid: unknown kind {self.kind!r}; use one of {list(_GRID_KINDS)}."
            )
        if self.kind == "dc2026":
            if self.season is None or self.season not in _DC2026_SEASONS:
                raise ConfigurationError(
                    f"time grid 'dc2026' needs a season 1-6, got {self.season!r} "
                    "(on the command line: --grid dc2026:K)."
                )
            object.__setattr__(self, "season", int(self.season))
            object.__setattr__(self, "season_start", None)
            object.__setattr__(self, "duration", None)
            object.__setattr__(self, "cadence_min", None)
            return
        if self.season is not None:
            raise ConfigurationError("time grid 'roman' takes no season; use kind 'dc2026'.")
        object.__setattr__(self, "duration", _positive_float(self.duration, "time grid duration"))
        object.__setattr__(
            self, "cadence_min", _positive_float(self.cadence_min, "time grid cadence_min")
        )
        if self.season_start is not None:
            start = float(self.season_start)
            if not np.isfinite(start):
                raise ConfigurationError(f"time grid season_start must be finite, got {start}.")
            object.__setattr__(self, "season_start", start)

    @classmethod
    def parse(cls, text: str) -> TimeGrid:
        """Read the command-line form: ``roman`` or ``dc2026:K``."""
        kind, _, season = text.strip().partition(":")
        if kind == "roman" and not season:
            return cls()
        if kind == "dc2026" and season.strip().isdigit():
            return cls(kind="dc2026", season=int(season))
        raise ConfigurationError(
            f"time grid {text!r} not understood; use 'roman' or 'dc2026:K' with K in 1-6."
        )

    def epochs(self) -> np.ndarray:
        """The epochs (full BJD, days), increasing."""
        from . import roman

        if self.kind == "dc2026":
            times = roman.roman_dc2026_epochs(self.season)
        else:
            kwargs: dict[str, Any] = {"duration": self.duration, "cadence_min": self.cadence_min}
            if self.season_start is not None:
                kwargs["season_start"] = self.season_start
            times = roman.roman_epochs(**kwargs)
        return np.ascontiguousarray(times, dtype=np.float64)

    def describe(self) -> str:
        """One line for manifests and logs."""
        if self.kind == "dc2026":
            return (
                f"Roman data challenge 2026, season {self.season} "
                f"(MulensModel RMDC26_ephemeris_season_{self.season}.dat)"
            )
        start = "default start" if self.season_start is None else f"from {self.season_start}"
        return f"regular Roman grid, {self.duration} d {start}, every {self.cadence_min} min"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description; only the keys that matter for this kind."""
        if self.kind == "dc2026":
            return {"kind": "dc2026", "season": self.season}
        return {
            "kind": "roman",
            "season_start": self.season_start,
            "duration": self.duration,
            "cadence_min": self.cadence_min,
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> TimeGrid:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigurationError`."""
        _check_keys(spec, {f.name for f in fields(cls)}, "time grid")
        return cls(**spec)


@dataclass(frozen=True)
class SimulationConfig:
    """Everything a simulated training set depends on.

    Arguments:
        n: Number of light curves.
        seed: Non-negative integer; chunk ``k`` draws from
            ``numpy.random.SeedSequence(seed, spawn_key=(k,))``, so every chunk is
            reproducible on its own.
        chunk_size: Light curves per chunk file (the unit of work, of resume and of
            parallelism).
        grid: The :class:`TimeGrid` (default one 72-day Roman season every 15.16 min).
        prior: Prior specification in :meth:`mulens_npe.prior.Prior.to_dict` form; ``t_0``
            may be left out and then spans the time grid. ``{}`` is the default prior.
        proposal: Keyword arguments of
            :class:`mulens_npe.simulate.sampling.ProposalSampler` (e.g. ``caustic_fraction``).
        tolerance: Accuracy goal passed to the magnification routine (VBMicrolensing).
        dtype: Storage precision of the magnification, ``"float32"`` or ``"float64"``.

    Example:
        >>> config = SimulationConfig(n=100, seed=1, chunk_size=50)
        >>> config.n_chunks, SimulationConfig.from_json(config.to_json()) == config
        (2, True)
    """

    n: int
    seed: int
    chunk_size: int = 1000
    grid: TimeGrid = field(default_factory=TimeGrid)
    prior: Mapping[str, Any] = field(default_factory=dict)
    proposal: Mapping[str, Any] = field(default_factory=lambda: {"caustic_fraction": 0.5})
    tolerance: float = 1e-3
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _integer(self.n, "n (number of light curves)", 1))
        object.__setattr__(self, "seed", _integer(self.seed, "seed", 0))
        object.__setattr__(self, "chunk_size", _integer(self.chunk_size, "chunk_size", 1))
        if isinstance(self.grid, Mapping):
            object.__setattr__(self, "grid", TimeGrid.from_dict(self.grid))
        elif not isinstance(self.grid, TimeGrid):
            raise ConfigurationError(f"grid must be a TimeGrid or a mapping, got {self.grid!r}.")
        _check_keys(self.prior, {"t_0", "bounds", "log_uniform"}, "prior")
        # Build a throw-away Prior now so that a bad range or parameter name fails here, not
        # in a worker an hour into the run.
        Prior.from_dict({"t_0": (0.0, 1.0), **self.prior})
        if not isinstance(self.proposal, Mapping):
            raise ConfigurationError(
                f"proposal must be a mapping of options, got {self.proposal!r}."
            )
        # frozen copies; ``default=dict`` reads a config's own (already frozen) mappings, so
        # that ``dataclasses.replace`` works on a config
        for name in ("prior", "proposal"):
            frozen = json.loads(json.dumps(getattr(self, name), default=dict))
            object.__setattr__(self, name, MappingProxyType(frozen))
        object.__setattr__(self, "tolerance", _positive_float(self.tolerance, "tolerance"))
        if self.dtype not in STORAGE_DTYPES:
            raise ConfigurationError(
                f"dtype must be one of {list(STORAGE_DTYPES)}, got {self.dtype!r}."
            )

    def __reduce__(self):
        # MappingProxyType fields do not pickle; worker processes get the JSON form.
        return (SimulationConfig.from_dict, (self.to_dict(),))

    @property
    def n_chunks(self) -> int:
        """Number of chunk files."""
        return -(-self.n // self.chunk_size)

    def chunk_rows(self, index: int) -> tuple[int, int]:
        """The (start, stop) rows of chunk ``index`` in the whole dataset."""
        if not 0 <= index < self.n_chunks:
            raise IndexError(f"chunk {index} out of range 0..{self.n_chunks - 1}")
        start = index * self.chunk_size
        return start, min(self.n, start + self.chunk_size)

    def seed_sequence(self, index: int) -> np.random.SeedSequence:
        """The seed sequence of chunk ``index``: the same whichever worker computes it."""
        return np.random.SeedSequence(self.seed, spawn_key=(int(index),))

    def build_prior(self, times: np.ndarray) -> Prior:
        """The :class:`~mulens_npe.prior.Prior`, with ``t_0`` spanning ``times`` if not given."""
        spec = dict(self.prior)
        spec.setdefault("t_0", (float(times[0]), float(times[-1])))
        return Prior.from_dict(spec)

    def build_sampler(self, prior: Prior):
        """The :class:`~mulens_npe.simulate.sampling.ProposalSampler` drawing the parameters."""
        from .sampling import ProposalSampler

        try:
            return ProposalSampler(prior, **self.proposal)
        except TypeError as exc:
            raise ConfigurationError(
                f"proposal {dict(self.proposal)} not accepted: {exc}"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_dict` reads it back."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.loads(json.dumps(out | {"grid": self.grid.to_dict()}, default=dict))

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> SimulationConfig:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise :class:`ConfigurationError`."""
        _check_keys(spec, {f.name for f in fields(cls)}, "simulation config")
        missing = sorted({"n", "seed"} - set(spec))
        if missing:
            raise ConfigurationError(f"simulation config: missing required key(s) {missing}.")
        return cls(**spec)

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> SimulationConfig:
        """Read the text written by :meth:`to_json`."""
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"simulation config is not valid JSON: {exc}") from None
        return cls.from_dict(spec)
