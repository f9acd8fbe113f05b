"""The Roman Galactic Bulge Time Domain Survey observing model (Penny et al. 2019, ApJS 241, 3).

Three pieces, each a small object with a seedable ``sample``:

- epochs: the 2018-design grid (W149 every 15.16 min over a 72-day season) and the real
  epoch lists of the 2026 data challenge shipped with MulensModel;
- :class:`W149NoiseModel`: photometric uncertainty against magnitude, anchored at 0.01 mag
  for W149 = 21.15, photon noise from the star plus a background, a 1 mmag floor and
  saturation at W149 = 14.8;
- :class:`FluxPrior`: source magnitude and blending of the simulated events.

All fluxes are at zero point 22 (MulensModel's), magnitudes are W149 (Vega-like, as in the
data challenge files).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigurationError
from ..photometry import mag_to_flux

__all__ = [
    "ROMAN_SEASON_START",
    "ROMAN_SEASON_DAYS",
    "ROMAN_CADENCE_MIN",
    "roman_epochs",
    "roman_dc2026_epochs",
    "W149NoiseModel",
    "FluxPrior",
]

ROMAN_SEASON_START: float = 2461447.75721
"""First epoch (BJD) of season 1 of the 2026 Roman data challenge; default season start."""

ROMAN_SEASON_DAYS: float = 72.0
"""Length of one bulge season in days (Penny et al. 2019)."""

ROMAN_CADENCE_MIN: float = 15.16
"""W149 cadence of the 2018 design in minutes (Penny et al. 2019)."""

_LN10_OVER_2P5 = np.log(10.0) / 2.5


def roman_epochs(
    season_start: float = ROMAN_SEASON_START,
    duration: float = ROMAN_SEASON_DAYS,
    cadence_min: float = ROMAN_CADENCE_MIN,
) -> np.ndarray:
    """Evenly spaced W149 epochs of one season (the 2018 design).

    Arguments:
        season_start: First epoch, full BJD (days). The default is the first epoch of
            season 1 of the 2026 data challenge.
        duration: Season length in days.
        cadence_min: Minutes between epochs.

    Returns:
        Epochs from ``season_start`` to ``season_start + duration`` inclusive, shape ``(m,)``.

    Example:
        >>> t = roman_epochs()
        >>> t.size, round(float(t[1] - t[0]) * 1440, 2)
        (6840, 15.16)
    """
    if duration <= 0 or cadence_min <= 0:
        raise ConfigurationError(
            f"roman_epochs: duration and cadence must be > 0, got {duration} d, {cadence_min} min."
        )
    step = cadence_min / 1440.0
    n = int(np.floor(duration / step * (1 + 1e-12))) + 1
    return season_start + step * np.arange(n)


def roman_dc2026_epochs(season: int) -> np.ndarray:
    """The W149 epochs (BJD) of one season of the 2026 Roman data challenge.

    Reads the first column of ``MulensModel.DATA_PATH/Roman_DC_2026/
    RMDC26_ephemeris_season_{season}.dat`` (~8,180 epochs, 12.14 min apart, with the
    gaps of the real schedule).

    Arguments:
        season: Season number, 1 to 6.

    Example:
        >>> t = roman_dc2026_epochs(1)
        >>> t.size, float(t[0])
        (8181, 2461447.75721)
    """
    import MulensModel

    if season not in range(1, 7):
        raise ConfigurationError(f"roman_dc2026_epochs: season must be 1 to 6, got {season!r}.")
    path = os.path.join(
        MulensModel.DATA_PATH, "Roman_DC_2026", f"RMDC26_ephemeris_season_{season}.dat"
    )
    if not os.path.exists(path):
        raise ConfigurationError(
            f"roman_dc2026_epochs: {path} not found; it ships with MulensModel >= 3.10 "
            "(pip install -U MulensModel)."
        )
    return np.loadtxt(path, usecols=0, ndmin=1)


@dataclass(frozen=True)
class W149NoiseModel:
    """Roman W149 photometric precision against magnitude (Penny et al. 2019).

    ``sigma(m)^2 = k^2 (f + b) / f^2 + floor^2`` in magnitudes, where ``f`` is the flux of
    the star in units of a ``ref_mag`` star and ``b`` the background in the same units
    (``b = 10^(-0.4 (background_mag - ref_mag))``). The first term is photon noise from the
    star and from everything else in the aperture (sky, unresolved crowded-field stars,
    detector noise); ``k`` is set so that ``sigma(ref_mag) = ref_err`` exactly.

    Arguments:
        ref_mag: W149 magnitude at which the precision is ``ref_err`` (21.15).
        ref_err: Uncertainty at ``ref_mag`` in mag (0.01).
        floor: Systematic floor added in quadrature, mag (0.001).
        background_mag: Magnitude of a star as bright as the background in the aperture.
            21.85 leaves the star's own photon noise at ~0.008 mag at ``ref_mag`` (about
            1.8e4 photo-electrons per exposure), the rest being background.
        saturation_mag: Points brighter than this (W149 magnitude) are saturated (14.8).

    Example:
        >>> noise = W149NoiseModel()
        >>> noise.mag_err(np.array([15.0, 21.15, 25.0])).round(4)
        array([0.0011, 0.01  , 0.2079])
    """

    ref_mag: float = 21.15
    ref_err: float = 0.01
    floor: float = 0.001
    background_mag: float = 21.85
    saturation_mag: float = 14.8

    def __post_init__(self) -> None:
        if not 0 <= self.floor < self.ref_err:
            raise ConfigurationError(
                f"W149NoiseModel: need 0 <= floor < ref_err, got floor={self.floor}, "
                f"ref_err={self.ref_err}."
            )

    @property
    def background(self) -> float:
        """Background flux in units of the flux of a ``ref_mag`` star."""
        return float(10.0 ** (-0.4 * (self.background_mag - self.ref_mag)))

    def mag_err(self, mag: ArrayLike) -> np.ndarray:
        """One-sigma uncertainty (mag) of a measurement of total W149 magnitude ``mag``."""
        b = self.background
        k2 = (self.ref_err**2 - self.floor**2) / (1.0 + b)
        f = 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - self.ref_mag))
        return np.sqrt(k2 * (f + b) / f**2 + self.floor**2)

    def flux_err(self, flux: ArrayLike) -> np.ndarray:
        """One-sigma uncertainty of a flux at zero point 22 (same units), flux > 0."""
        flux = np.asarray(flux, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = 22.0 - 2.5 * np.log10(flux)
        return flux * _LN10_OVER_2P5 * self.mag_err(mag)

    def saturated(self, mag: ArrayLike) -> np.ndarray:
        """True where a point of total magnitude ``mag`` is brighter than saturation."""
        return np.asarray(mag, dtype=float) < self.saturation_mag

    def observe(self, flux: ArrayLike, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Noisy fluxes and their uncertainties from true fluxes (zero point 22).

        The uncertainty is that of the true flux, and the noise is Gaussian in flux with
        that sigma, so the reported errors are exactly the ones the data were drawn with.
        """
        flux = np.asarray(flux, dtype=float)
        sigma = self.flux_err(flux)
        return flux + sigma * rng.standard_normal(flux.shape), sigma

    def to_dict(self) -> dict[str, float]:
        """A JSON-able description."""
        return asdict(self)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> W149NoiseModel:
        """Inverse of :meth:`to_dict`."""
        return cls(**_known(cls, spec))


@dataclass(frozen=True)
class FluxPrior:
    """Source magnitude and blending of simulated events.

    ``source_mag`` is drawn with density ``p(m) ~ 10^(mag_slope m)`` on its range
    (``mag_slope = 0``: uniform, the default, so bright and faint sources are both well
    covered; a positive slope mimics the rising luminosity function of bulge sources);
    ``f_s = F_s / (F_s + F_b)`` is uniform.

    Arguments:
        source_mag: (bright, faint) range of the source W149 magnitude.
        f_s: Range of the source flux fraction at baseline.
        mag_slope: Slope of the source luminosity function, dex per magnitude.

    Example:
        >>> draws = FluxPrior().sample(2, np.random.default_rng(0))
        >>> sorted(draws)
        ['f_s', 'flux_blend', 'flux_source', 'source_mag']
    """

    source_mag: tuple[float, float] = (18.0, 25.0)
    f_s: tuple[float, float] = (0.05, 1.0)
    mag_slope: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_mag", tuple(map(float, self.source_mag)))
        object.__setattr__(self, "f_s", tuple(map(float, self.f_s)))
        low, high = self.source_mag
        if not low < high:
            raise ConfigurationError(
                f"FluxPrior: source_mag range must be increasing, got {self.source_mag}."
            )
        if not 0 < self.f_s[0] < self.f_s[1] <= 1:
            raise ConfigurationError(f"FluxPrior: need 0 < f_s low < high <= 1, got {self.f_s}.")

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Draw ``n`` (source_mag, f_s) pairs with the implied source and blend fluxes (ZP 22)."""
        low, high = self.source_mag
        u = rng.uniform(0.0, 1.0, int(n))
        if self.mag_slope == 0:
            mag = low + (high - low) * u
        else:
            # inverse CDF of p(m) ~ exp(c m) truncated to [low, high]
            c = self.mag_slope * np.log(10.0)
            mag = low + np.log1p(u * np.expm1(c * (high - low))) / c
        f_s = rng.uniform(*self.f_s, int(n))
        flux_source, flux_blend = self.fluxes(mag, f_s)
        return {"source_mag": mag, "f_s": f_s, "flux_source": flux_source, "flux_blend": flux_blend}

    @staticmethod
    def fluxes(source_mag: ArrayLike, f_s: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Source and blend fluxes at zero point 22 from source magnitude and ``f_s``."""
        flux_source = mag_to_flux(source_mag)[0]
        f_s = np.asarray(f_s, dtype=float)
        return flux_source, flux_source * (1.0 - f_s) / f_s

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "source_mag": list(self.source_mag),
            "f_s": list(self.f_s),
            "mag_slope": self.mag_slope,
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> FluxPrior:
        """Inverse of :meth:`to_dict`."""
        spec = _known(cls, spec)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})


def _known(cls: type, spec: Mapping[str, Any]) -> dict[str, Any]:
    names = set(cls.__dataclass_fields__)
    unknown = sorted(set(spec) - names)
    if unknown:
        raise ConfigurationError(
            f"{cls.__name__}: unknown key(s) {unknown}; known are {sorted(names)}."
        )
    return dict(spec)
