"""Distinct modes of a 2L1S posterior: close/wide, inner/outer and other degenerate solutions.

The degeneracies of binary-lens events separate solutions in (log s, log q, alpha) (Zhang,
Gaudi & Bloom 2022: the offset degeneracy that unifies close/wide and inner/outer; Gaudi 2012),
the same three parameters a grid search scans. :func:`find_modes` finds the separated peaks of
the posterior samples' density there:

1. a 3-D histogram over the range the samples cover (alpha on the circle when the samples go
   all around it, on an arc otherwise), smoothed with a Gaussian kernel of ~1 bin;
2. every cell climbs to its highest neighbour; the cells that climb to the same local maximum
   form its basin (a watershed, vectorised with numpy);
3. basins merge when the density along their common border (the saddle) is above
   ``saddle_ratio`` times the lower peak: the lower peak is then noise or a shoulder, not a
   separate solution (the persistence criterion of ToMATo, Chazal et al. 2013,
   https://doi.org/10.1145/2535927);
4. each mode is searched again on its own, zoomed range (``depth``), so that near-by modes
   such as inner/outer pairs separate even when a far mode (e.g. the close/wide twin) set
   the first histogram's range.

Samples are in the canonical form u_0 >= 0 (see :func:`mulens_npe.parameters.canonicalize`);
every mode also has a mirror, (-u_0, -alpha), with the same static light curve, reported by
:meth:`Mode.mirror`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from .errors import ConfigurationError
from .parameters import PARAMETER_NAMES, canonicalize, flip_u0, wrap_alpha

__all__ = ["Mode", "find_modes", "circular_mean"]

_MIN_SPAN = {"log_s": 0.01, "log_q": 0.05, "alpha": 2.0}
"""Smallest histogram range (dex, dex, degrees): below it the samples form one mode."""


def circular_mean(alpha_deg: np.ndarray) -> float:
    """Circular mean of angles in degrees, in [0, 360)."""
    radians = np.deg2rad(np.asarray(alpha_deg, dtype=float))
    return float(wrap_alpha(np.rad2deg(np.arctan2(np.sin(radians).mean(), np.cos(radians).mean()))))


@dataclass(frozen=True)
class Mode:
    """One separated peak of the posterior.

    Attributes
    ----------
    indices : numpy.ndarray
        Rows of the samples that belong to this mode.
    weight : float
        Fraction of all samples in this mode (its posterior mass).
    center : dict
        Median of each parameter over the mode (circular mean for alpha), MulensModel names,
        u_0 >= 0.
    spread : dict
        Half-width of the central 68% of log10 s, log10 q (dex) and alpha (degrees).
    label : str
        ``"close"`` (s < 1), ``"wide"`` (s > 1) or ``"resonant"`` (the mode's central 68%
        of s contains 1).
    """

    indices: np.ndarray
    weight: float
    center: dict[str, float]
    spread: dict[str, float]
    label: str

    def mirror(self) -> dict[str, float]:
        """The mirror of :attr:`center`, (u_0, alpha) -> (-u_0, -alpha): same light curve."""
        return flip_u0(self.center)

    def __repr__(self) -> str:
        c = self.center
        return (
            f"Mode({self.label}, weight={self.weight:.3f}, s={c['s']:.4g}, q={c['q']:.3g}, "
            f"alpha={c['alpha']:.1f}, n={self.indices.size})"
        )


def _columns(samples: Any) -> dict[str, np.ndarray]:
    names = getattr(samples, "colnames", None) or list(samples)
    missing = [name for name in PARAMETER_NAMES if name not in names]
    if missing:
        raise ConfigurationError(
            f"find_modes: samples lack {missing}; give a Table or dict with {list(PARAMETER_NAMES)}."
        )
    columns = {name: np.asarray(samples[name], dtype=float).ravel() for name in PARAMETER_NAMES}
    sizes = {column.size for column in columns.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise ConfigurationError("find_modes: sample columns must be non-empty and equally long.")
    if not all(np.all(np.isfinite(column)) for column in columns.values()):
        raise ConfigurationError("find_modes: samples contain non-finite values.")
    if np.any(columns["s"] <= 0) or np.any(columns["q"] <= 0):
        raise ConfigurationError("find_modes: s and q must be > 0.")
    return canonicalize(columns)


def _linear_axis(values: np.ndarray, bins: int, min_span: float) -> tuple[np.ndarray, float, float]:
    low, high = np.quantile(values, [0.001, 0.999])
    pad = max(0.05 * (high - low), 0.5 * min_span)
    low, high = low - pad, high + pad
    width = (high - low) / bins
    return np.clip(((values - low) / width).astype(int), 0, bins - 1), low, width


def _alpha_axis(alpha: np.ndarray, bins: int) -> tuple[np.ndarray, bool]:
    """Bin indices of alpha, and whether the axis wraps around the circle."""
    coarse = np.bincount((alpha // 5.0).astype(int) % 72, minlength=72)
    empty = coarse <= 0.001 * alpha.size
    # Longest circular run of (nearly) empty 5-degree bins.
    doubled = np.concatenate([empty, empty])
    best_len, best_end, run = 0, 0, 0
    for i, is_empty in enumerate(doubled):
        run = run + 1 if is_empty else 0
        if run > best_len and run <= 72:
            best_len, best_end = run, i
    if best_len < 36:
        return np.clip((alpha / (360.0 / bins)).astype(int), 0, bins - 1), True
    start = ((best_end + 1) % 72) * 5.0  # the arc begins where the empty run ends
    unwrapped = np.mod(alpha - start, 360.0)
    index, _, _ = _linear_axis(unwrapped, bins, _MIN_SPAN["alpha"])
    return index, False


def _neighbour_offsets(half: bool) -> list[tuple[int, int, int]]:
    offsets = [o for o in itertools.product((-1, 0, 1), repeat=3) if o != (0, 0, 0)]
    if half:
        offsets = [o for o in offsets if o > (0, 0, 0)]
    return offsets


def _shifted(density: np.ndarray, offset: tuple[int, int, int], wrap_alpha: bool) -> np.ndarray:
    """density[i + offset] at every cell i; -inf beyond the non-circular edges."""
    padded = np.pad(density, [(1, 1), (1, 1), (0, 0)], constant_values=-np.inf)
    if wrap_alpha:
        padded = np.concatenate([padded[..., -1:], padded, padded[..., :1]], axis=2)
    else:
        padded = np.pad(padded, [(0, 0), (0, 0), (1, 1)], constant_values=-np.inf)
    n0, n1, n2 = density.shape
    a, b, c = (1 + o for o in offset)
    return padded[a : a + n0, b : b + n1, c : c + n2]


def _watershed(
    density: np.ndarray, wrap_alpha: bool, saddle_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Basin label of every cell (-1 where the density is zero) and each label's peak height."""
    shape = density.shape
    flat_index = np.arange(density.size).reshape(shape)
    # A tiny ramp breaks ties between equal neighbours, so that climbing never cycles.
    density = density + (density > 0) * np.max(density) * 1e-12 * flat_index / density.size
    best = density.copy()
    parent = flat_index.copy()
    for offset in _neighbour_offsets(half=False):
        neighbour = _shifted(density, offset, wrap_alpha)
        neighbour_index = np.roll(flat_index, [-o for o in offset], axis=(0, 1, 2))
        higher = neighbour > best
        best = np.where(higher, neighbour, best)
        parent = np.where(higher, neighbour_index, parent)
    parent = parent.ravel()
    while True:
        jumped = parent[parent]
        if np.array_equal(jumped, parent):
            break
        parent = jumped
    positive = density.ravel() > 0
    roots = np.unique(parent[positive])
    label_of_root = -np.ones(density.size, dtype=int)
    label_of_root[roots] = np.arange(roots.size)
    labels = np.where(positive, label_of_root[parent], -1)
    peaks = density.ravel()[roots]

    # Saddles: the highest border between two basins, min of the two cells' densities.
    saddle = np.zeros((roots.size, roots.size))
    label_grid = labels.reshape(shape)
    for offset in _neighbour_offsets(half=True):
        neighbour = _shifted(density, offset, wrap_alpha)
        neighbour_label = np.roll(label_grid, [-o for o in offset], axis=(0, 1, 2))
        valid = np.isfinite(neighbour) & (label_grid >= 0) & (neighbour_label >= 0)
        valid &= label_grid != neighbour_label
        a, b = label_grid[valid], neighbour_label[valid]
        value = np.minimum(density[valid], neighbour[valid])
        np.maximum.at(saddle, (a, b), value)
        np.maximum.at(saddle, (b, a), value)

    # Persistence merging: the highest saddles first; a lower peak that does not stand out
    # above its saddle joins the higher one.
    component = np.arange(roots.size)
    height = peaks.copy()

    def find(i: int) -> int:
        while component[i] != i:
            component[i] = component[component[i]]
            i = component[i]
        return i

    rows, cols = np.triu_indices(roots.size, 1)
    order = np.argsort(-saddle[rows, cols], kind="stable")
    for k in order:
        value = saddle[rows[k], cols[k]]
        if value <= 0:
            break
        a, b = find(rows[k]), find(cols[k])
        if a == b:
            continue
        if value >= saddle_ratio * min(height[a], height[b]):
            high, low = (a, b) if height[a] >= height[b] else (b, a)
            component[low] = high
    merged = np.array([find(i) for i in range(roots.size)])
    cell_labels = np.where(labels >= 0, merged[np.maximum(labels, 0)], -1)
    return cell_labels, height


def _split(
    columns: dict[str, np.ndarray],
    rows: np.ndarray,
    bins: int,
    smoothing: float,
    saddle_ratio: float,
    min_count: int,
    depth: int,
) -> list[np.ndarray]:
    """Groups of sample rows, one per mode, found by the watershed (recursively zoomed)."""
    if rows.size < max(2 * min_count, 20):
        return [rows]
    log_s = np.log10(columns["s"][rows])
    log_q = np.log10(columns["q"][rows])
    i, _, _ = _linear_axis(log_s, bins, _MIN_SPAN["log_s"])
    j, _, _ = _linear_axis(log_q, bins, _MIN_SPAN["log_q"])
    k, wrap = _alpha_axis(columns["alpha"][rows], bins)
    counts = np.zeros((bins, bins, bins))
    np.add.at(counts, (i, j, k), 1.0)
    mode = ["constant", "constant", "wrap" if wrap else "constant"]
    density = gaussian_filter(counts, sigma=smoothing, mode=mode, truncate=3.0)
    cell_labels, _ = _watershed(density, wrap, saddle_ratio)
    sample_labels = cell_labels.reshape(counts.shape)[i, j, k]
    groups = [
        rows[sample_labels == label] for label in np.unique(sample_labels[sample_labels >= 0])
    ]
    groups = [g for g in groups if g.size >= min_count] or [rows]
    if depth <= 0 or len(groups) == 1:
        # One mode: its histogram already spans its own range, so zooming shows nothing new.
        return groups
    out: list[np.ndarray] = []
    for group in groups:
        out.extend(_split(columns, group, bins, smoothing, saddle_ratio, min_count, depth - 1))
    return out


def _describe(columns: dict[str, np.ndarray], rows: np.ndarray, n_total: int) -> Mode:
    center = {}
    for name in PARAMETER_NAMES:
        values = columns[name][rows]
        if name == "alpha":
            center[name] = circular_mean(values)
        elif name in ("t_E", "rho", "s", "q"):
            center[name] = float(10.0 ** np.median(np.log10(values)))
        else:
            center[name] = float(np.median(values))
    alpha_offset = (columns["alpha"][rows] - center["alpha"] + 180.0) % 360.0 - 180.0
    spread = {
        "log10_s": float(np.diff(np.quantile(np.log10(columns["s"][rows]), [0.16, 0.84]))[0] / 2),
        "log10_q": float(np.diff(np.quantile(np.log10(columns["q"][rows]), [0.16, 0.84]))[0] / 2),
        "alpha": float(np.diff(np.quantile(alpha_offset, [0.16, 0.84]))[0] / 2),
    }
    s_low, s_high = np.quantile(columns["s"][rows], [0.16, 0.84])
    label = "resonant" if s_low < 1.0 < s_high else ("close" if center["s"] < 1.0 else "wide")
    return Mode(
        indices=np.sort(rows),
        weight=rows.size / n_total,
        center=center,
        spread=spread,
        label=label,
    )


def find_modes(
    samples: Mapping[str, Any] | Any,
    *,
    max_modes: int = 10,
    min_weight: float = 0.01,
    bins: int = 32,
    smoothing: float = 1.0,
    saddle_ratio: float = 0.5,
    depth: int = 1,
) -> list[Mode]:
    """Separate posterior samples into distinct modes in (log s, log q, alpha).

    Parameters
    ----------
    samples : astropy.table.Table or mapping
        Posterior samples with columns t_0, u_0, t_E, rho, s, q, alpha (MulensModel names,
        alpha in degrees). u_0 < 0 rows are mapped to their mirror first.
    max_modes : int
        Most modes returned (the heaviest).
    min_weight : float
        Modes holding less than this fraction of the samples are dropped.
    bins : int
        Histogram cells per axis.
    smoothing : float
        Width of the Gaussian smoothing kernel, in cells.
    saddle_ratio : float
        Two peaks are one mode when the density on their border is at least this fraction
        of the lower peak (0 < ratio < 1; lower splits less).
    depth : int
        Times each mode is searched again on its own range.

    Returns
    -------
    list of Mode
        Heaviest first.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> s = np.concatenate([rng.normal(0.8, 0.01, 500), rng.normal(1.25, 0.01, 500)])
        >>> samples = dict(t_0=np.zeros(1000), u_0=np.full(1000, 0.1), t_E=np.full(1000, 20.0),
        ...                rho=np.full(1000, 1e-3), s=s, q=10 ** rng.normal(-3, 0.05, 1000),
        ...                alpha=rng.normal(60, 1, 1000))
        >>> sorted(mode.label for mode in find_modes(samples))
        ['close', 'wide']
    """
    if int(max_modes) < 1 or int(bins) < 4 or not 0 < saddle_ratio < 1 or smoothing < 0:
        raise ConfigurationError(
            "find_modes: need max_modes >= 1, bins >= 4, 0 < saddle_ratio < 1, smoothing >= 0; "
            f"got {max_modes}, {bins}, {saddle_ratio}, {smoothing}."
        )
    if not 0 <= min_weight < 1:
        raise ConfigurationError(f"find_modes: min_weight must be in [0, 1), got {min_weight}.")
    columns = _columns(samples)
    n = columns["s"].size
    min_count = max(int(np.ceil(min_weight * n)), 1)
    groups = _split(
        columns,
        np.arange(n),
        int(bins),
        float(smoothing),
        float(saddle_ratio),
        min_count,
        int(depth),
    )
    groups = sorted((g for g in groups if g.size >= min_count), key=lambda g: -g.size)
    return [_describe(columns, g, n) for g in groups[: int(max_modes)]]
