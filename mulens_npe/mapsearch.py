"""Starting points from magnification maps: trajectories searched across a precomputed map.

For a strong binary (caustic crossings, delta chi2 of 10^4 to 10^7 over a single lens) the
posterior draws rarely put (t_0, u_0, t_E, alpha) where the data's basin of chi2 is, and each
binary-lens light curve costs too much to search the four trajectory parameters curve by curve.
The classical remedy is a magnification map (Dong et al. 2006; Kains et al. 2009): for one
(s, q) the point-source magnification is computed once on a grid around the caustics, and any
straight source trajectory's light curve is then read off the map by interpolation, about a
thousand times cheaper than solving the lens equation at each epoch.

:func:`map_candidates` does that for a few candidate (s, q) (from the posterior): on each
map, smoothed to a few hundredths of an Einstein radius so that the chi2 landscape has wide
basins, it scores tens of thousands of random trajectories against a binned copy of the data
(source and blend fluxes solved linearly), then refines the best by shrinking random
perturbations while the smoothing is taken down. The best distinct trajectories are starting
points for the same polish as the posterior draws, never solutions by themselves.

Frame: MulensModel 3.x / ``VBMicrolensing.Caustics``: origin at the centre of mass, primary at
``x = -s q / (1 + q)``, secondary at ``x = s / (1 + q)``; the source at
``-(tau cos alpha - u_0 sin alpha, tau sin alpha + u_0 cos alpha)``
(:func:`mulens_npe.simulate.source_trajectory`).
"""

from __future__ import annotations

import time as clock
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import VBMicrolensing
from scipy.ndimage import distance_transform_edt, gaussian_filter, map_coordinates

from .errors import ConfigurationError
from .likelihood import Likelihood, _linear_fit, _run_bins
from .parameters import PARAMETER_NAMES

__all__ = [
    "MagnificationMap",
    "magnification_map",
    "caustic_band",
    "binned_data",
    "magnified_window",
    "sharp_times",
    "caustic_points",
    "crossing_trajectories",
    "score",
    "map_targets",
    "quick_map",
    "trajectory_seeds",
    "posterior_descent",
    "map_candidates",
]


@dataclass(frozen=True)
class MagnificationMap:
    """Point-source binary-lens magnification on a square grid (Einstein radii).

    Attributes
    ----------
    s, q : float
        Separation (Einstein radii) and mass ratio.
    x0, y0 : float
        Lower-left grid node.
    step : float
        Grid spacing.
    values : numpy.ndarray
        Magnification, shape ``(ny, nx)``, row ``j`` at ``y0 + j step``.
    outer : MagnificationMap, optional
        The coarser map used off this one.
    band : bool
        This map is a caustic band (:func:`caustic_band`): exact only near the caustics,
        ``outer`` interpolated elsewhere.
    """

    s: float
    q: float
    x0: float
    y0: float
    step: float
    values: np.ndarray
    outer: MagnificationMap | None = None
    band: bool = False

    def smoothed(self, sigma: float) -> MagnificationMap:
        """The map blurred by a Gaussian of ``sigma`` Einstein radii (none below a pixel/3).

        A caustic band (``band``, :func:`caustic_band`) blurs the map it refines as well, and
        gives way to it where the blur is wider than that map's step: there the band adds
        nothing a blurred coarse map does not show.
        """
        if self.band and self.outer is not None:
            base = self.outer.smoothed(sigma)
            if float(sigma) >= self.outer.step:
                return base
        else:
            base = self.outer
        pixels = float(sigma) / self.step
        if pixels < 1.0 / 3.0:
            return self if base is self.outer else replace(self, outer=base)
        blurred = gaussian_filter(self.values, pixels, mode="nearest")
        return replace(self, values=blurred, outer=base)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Magnification at source positions (any shape).

        Bilinear on the map; off it, on the coarser ``outer`` map if there is one, and beyond
        that :func:`far_field`.
        """
        ny, nx = self.values.shape
        fx = (x - self.x0) / self.step
        fy = (y - self.y0) / self.step
        inside = (fx >= 0) & (fx <= nx - 1) & (fy >= 0) & (fy <= ny - 1)
        out = np.empty(np.shape(x))
        if inside.any():
            out[inside] = map_coordinates(
                self.values, [fy[inside], fx[inside]], order=1, mode="nearest"
            )
        if (~inside).any():
            if self.outer is not None:
                out[~inside] = self.outer(x[~inside], y[~inside])
            else:
                out[~inside] = far_field(self.s, self.q, x[~inside], y[~inside])
        return out


def _point_lens(u2: np.ndarray) -> np.ndarray:
    return (u2 + 2.0) / np.sqrt(u2 * (u2 + 4.0))


def far_field(s: float, q: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Approximate magnification away from the caustics.

    A wide pair (s >= 2) acts as two single lenses of Einstein radii ``sqrt(m_i)``
    (magnifications added, minus one); a closer pair as one lens of the total mass at the
    centre of mass. Good to a few per cent outside the maps' margin, which is enough to rank
    trajectories.
    """
    if s < 2.0:
        return _point_lens(np.maximum(x * x + y * y, 1e-12))
    m1, m2 = 1.0 / (1.0 + q), q / (1.0 + q)
    x1, x2 = -s * m2, s * m1
    u1 = ((x - x1) ** 2 + y * y) / m1
    u2 = ((x - x2) ** 2 + y * y) / m2
    return _point_lens(np.maximum(u1, 1e-12)) + _point_lens(np.maximum(u2, 1e-12)) - 1.0


def _grid(
    vbm: VBMicrolensing.VBMicrolensing,
    s: float,
    q: float,
    box: tuple[float, float, float, float],
    step: float,
    max_nodes: int,
    finite_nodes: bool = False,
) -> MagnificationMap:
    x_lo, x_hi, y_lo, y_hi = box
    step = max(float(step), (x_hi - x_lo) / (max_nodes - 1), (y_hi - y_lo) / (max_nodes - 1))
    nx = int(np.ceil((x_hi - x_lo) / step)) + 1
    ny = int(np.ceil((y_hi - y_lo) / step)) + 1
    gx, gy = np.meshgrid(x_lo + step * np.arange(nx), y_lo + step * np.arange(ny))
    values = _node_values(vbm, s, q, gx.ravel(), gy.ravel(), step, finite_nodes).reshape(ny, nx)
    return MagnificationMap(float(s), float(q), float(x_lo), float(y_lo), float(step), values)


def _node_values(
    vbm: VBMicrolensing.VBMicrolensing,
    s: float,
    q: float,
    x: np.ndarray,
    y: np.ndarray,
    step: float,
    finite_nodes: bool,
) -> np.ndarray:
    """Magnification at map nodes ``(x, y)``: of a point source, or with ``finite_nodes`` of
    a uniform source one ``step`` in radius (an average over about a pixel, which
    interpolates smoothly across a caustic where point samples of its 1/sqrt(distance)
    divergence do not; to 1%, enough for a map)."""
    if finite_nodes:
        vbm.Tol, vbm.RelTol = 1e-2, 1e-2
        return np.array([vbm.BinaryMag2(s, q, a, b, step) for a, b in zip(x, y, strict=True)])
    magnification = vbm.BinaryMag0
    return np.array([magnification(s, q, a, b) for a, b in zip(x, y, strict=True)])


#: nodes of a caustic band's dense array above which its step is coarsened
BAND_MAX_NODES = 2_000_000


def caustic_band(
    coarse: MagnificationMap,
    *,
    refine: int = 5,
    width: float = 2.5,
    finite_nodes: bool = False,
) -> MagnificationMap:
    """A finer map of the band around the caustics of ``coarse``, which it falls back on.

    A map's nodes sample the magnification only every ``step``: a small caustic (the
    planetary caustic of a q ~ 0.01 lens is a few hundredths of an Einstein radius across) or
    a cusp lies between nodes and a trajectory through it reads a smooth, wrong curve (on two
    strong simulated binaries the true trajectory's chi2 on a 0.02 map was 43 and 134 times
    its finite-source chi2 on the same bins: docs/benchmarks.md, session 34).
    The band has nodes ``refine`` times closer, computed exactly only within ``width`` coarse
    steps of a caustic (a few per cent of the caustics' bounding box) and interpolated from
    ``coarse`` elsewhere.

    Parameters
    ----------
    coarse : MagnificationMap
        The map to refine (its ``s``, ``q`` and step).
    refine : int
        Ratio of the coarse step to the band's.
    width : float
        Half-width of the band around the caustic curves, in coarse steps.
    finite_nodes : bool
        Band nodes are uniform sources one band step in radius (as in
        :func:`magnification_map`).

    Returns
    -------
    MagnificationMap
        With ``band=True`` and ``outer=coarse``.
    """
    if refine < 1 or width <= 0:
        raise ConfigurationError(
            f"caustic_band: need refine >= 1 and width > 0; got {refine}, {width}."
        )
    vbm = VBMicrolensing.VBMicrolensing()
    step = coarse.step / int(refine)
    half = float(width) * coarse.step
    points = []
    for cx, cy in vbm.Caustics(coarse.s, coarse.q):
        curve = np.column_stack([cx, cy])
        # points no more than a band step apart along each caustic curve
        gaps = np.hypot(*np.diff(curve, axis=0).T)
        for k, n in enumerate(np.ceil(gaps / step).astype(int)):
            fractions = np.arange(max(n, 1))[:, None] / max(n, 1)
            points.append(curve[k] + fractions * (curve[k + 1] - curve[k]))
        points.append(curve[-1:])
    points = np.concatenate(points)
    lo = points.min(axis=0) - half - step
    hi = points.max(axis=0) + half + step
    step = max(step, float(np.sqrt(np.prod(hi - lo) / BAND_MAX_NODES)))
    nx, ny = (np.ceil((hi - lo) / step).astype(int) + 1).tolist()
    gx = lo[0] + step * np.arange(nx)
    gy = lo[1] + step * np.arange(ny)
    mark = np.ones((ny, nx), bool)
    ix = np.clip(np.rint((points[:, 0] - lo[0]) / step).astype(int), 0, nx - 1)
    iy = np.clip(np.rint((points[:, 1] - lo[1]) / step).astype(int), 0, ny - 1)
    mark[iy, ix] = False
    near = distance_transform_edt(mark) * step <= half
    values = coarse(*np.meshgrid(gx, gy))
    rows, cols = np.nonzero(near)
    values[rows, cols] = _node_values(
        vbm, coarse.s, coarse.q, gx[cols], gy[rows], step, finite_nodes
    )
    return MagnificationMap(
        coarse.s, coarse.q, float(lo[0]), float(lo[1]), step, values, outer=coarse, band=True
    )


def magnification_map(
    s: float,
    q: float,
    *,
    margin: float = 0.5,
    step: float = 0.01,
    max_nodes: int = 500,
    outer_margin: float = 4.0,
    outer_step: float = 0.05,
    finite_nodes: bool = False,
) -> MagnificationMap:
    """Point-source magnification around the caustics of (s, q), and a coarser one beyond.

    Parameters
    ----------
    s, q : float
        Separation (Einstein radii of the total mass) and mass ratio.
    margin : float
        Einstein radii added around the caustics' bounding box (and the lenses').
    step : float
        Wanted grid spacing (Einstein radii); coarsened so that neither side exceeds
        ``max_nodes`` nodes.
    max_nodes : int
        Largest number of nodes per side (cost: about 1.7 us per node on one core).
    outer_margin, outer_step : float
        The ``outer`` map: that much wider on each side, at that spacing (beyond it the
        magnification is within ~0.1% of one, and :func:`far_field` takes over).
    finite_nodes : bool
        Each node of the inner map is the magnification of a uniform source whose radius is
        the grid step (``VBMicrolensing.BinaryMag2``), not of a point: interpolation between
        nodes then follows a caustic crossing instead of sampling its divergence at random
        distances. Two to eight times the cost of point nodes (``bench_mapscore.py``: 0.2-0.4
        s against 0.1-0.2 s for a 0.01 map, 0.4-2.4 s against 0.1-0.5 s for a 0.002 fine map).

    Returns
    -------
    MagnificationMap
    """
    if not (s > 0 and q > 0 and margin >= 0 and step > 0 and max_nodes >= 8):
        raise ConfigurationError(
            f"magnification_map: need s, q, step > 0, margin >= 0 and max_nodes >= 8; got s={s}, "
            f"q={q}, margin={margin}, step={step}, max_nodes={max_nodes}."
        )
    vbm = VBMicrolensing.VBMicrolensing()
    xs, ys = [-s * q / (1 + q), s / (1 + q)], [0.0, 0.0]
    for cx, cy in vbm.Caustics(float(s), float(q)):
        xs.extend(cx)
        ys.extend(cy)
    x_lo, x_hi, y_lo, y_hi = min(xs), max(xs), min(ys), max(ys)
    inner = _grid(
        vbm,
        s,
        q,
        (x_lo - margin, x_hi + margin, y_lo - margin, y_hi + margin),
        step,
        max_nodes,
        finite_nodes,
    )
    wide = margin + outer_margin
    outer = _grid(
        vbm, s, q, (x_lo - wide, x_hi + wide, y_lo - wide, y_hi + wide), outer_step, max_nodes
    )
    return replace(inner, outer=outer)


def fine_map(
    coarse: MagnificationMap,
    *,
    margin: float = 0.1,
    step: float = 0.002,
    max_nodes: int = 600,
    finite_nodes: bool = False,
) -> MagnificationMap:
    """A finer map of the caustics' surroundings, falling back on ``coarse`` beyond them.

    At 0.002 Einstein radii a node is about the size of a typical source (rho ~ 1e-3), so
    blurring it by the source stands in for the finite-source magnification of caustic
    crossings. ``finite_nodes`` as in :func:`magnification_map`.
    """
    vbm = VBMicrolensing.VBMicrolensing()
    xs, ys = [], []
    for cx, cy in vbm.Caustics(coarse.s, coarse.q):
        xs.extend(cx)
        ys.extend(cy)
    box = (min(xs) - margin, max(xs) + margin, min(ys) - margin, max(ys) + margin)
    fine = _grid(vbm, coarse.s, coarse.q, box, step, max_nodes, finite_nodes)
    return replace(fine, outer=coarse)


@dataclass(frozen=True)
class BinnedData:
    """Consecutive epochs of each dataset averaged into bins (weights add up)."""

    time: np.ndarray
    flux: list[np.ndarray]
    weight: list[np.ndarray]
    slices: list[slice]


def binned_data(
    likelihood: Likelihood,
    max_points: int = 500,
    floor: float = 0.03,
    window: tuple[float, float] | None = None,
    window_share: float = 0.75,
) -> BinnedData:
    """The data in about ``max_points`` bins of consecutive epochs, for scoring on a map.

    Bins are inverse-variance weighted means, so a short caustic crossing still shows where
    decimation could drop it. Each epoch's error is first widened by ``floor`` times its flux
    (added in quadrature): the map is a point-source, interpolated approximation, and without
    the floor the chi2 of every trial trajectory would be ruled by a few epochs of a caustic
    crossing that no map reproduces exactly, leaving no basin to descend.

    With ``window`` (first and last day of the magnified part, e.g. :func:`magnified_window`),
    about ``window_share`` of the bins go to the epochs inside it and the rest to the
    baseline: a short event in a long season is then binned finely enough to show its
    caustic crossings (a bin of 14 epochs of Roman's 15-min cadence is 0.1 t_E at
    t_E = 1.4 days).
    """
    n_bins = max(int(max_points), 1)
    masks = [
        np.zeros(lc.n_points, bool)
        if window is None
        else (lc.time >= window[0]) & (lc.time <= window[1])
        for lc in likelihood.lightcurves
    ]
    n_inside = sum(int(np.count_nonzero(inside)) for inside in masks)
    share = float(window_share)
    n_outside = likelihood.n_points - n_inside
    if n_inside == 0 or n_outside == 0:
        group_in = group_out = max(1, int(np.ceil(likelihood.n_points / n_bins)))
    else:
        group_in = max(1, int(np.ceil(n_inside / max(share * n_bins, 1.0))))
        group_out = max(1, int(np.ceil(n_outside / max((1.0 - share) * n_bins, 1.0))))
    times, fluxes, weights, slices = [], [], [], []
    start = 0
    for lc, inside in zip(likelihood.lightcurves, masks, strict=True):
        w = 1.0 / (lc.flux_err**2 + (floor * lc.flux) ** 2)
        # runs of consecutive epochs inside or outside the window; a new bin at the start
        # of each run and then every group_in (inside) or group_out (outside) epochs
        run_start = np.concatenate([[True], inside[1:] != inside[:-1]])
        index = _run_bins(run_start, np.where(inside, group_in, group_out))
        w_sum = np.bincount(index, w)
        times.append(np.bincount(index, w * lc.time) / w_sum)
        fluxes.append(np.bincount(index, w * lc.flux) / w_sum)
        weights.append(w_sum)
        slices.append(slice(start, start + w_sum.size))
        start += w_sum.size
    return BinnedData(np.concatenate(times), fluxes, weights, slices)


def magnified_window(data: BinnedData, threshold: float = 5.0) -> tuple[float, float]:
    """First and last bin brighter than the baseline by ``threshold`` sigma (days).

    The baseline of each dataset is its 10th percentile of flux; with no such bin, the time
    of the brightest bin (plus and minus a day).
    """
    found = []
    for part, flux, weight in zip(data.slices, data.flux, data.weight, strict=True):
        excess = (flux - np.percentile(flux, 10.0)) * np.sqrt(weight)
        found.append(data.time[part][excess > threshold])
    times = np.concatenate(found)
    if times.size == 0:
        brightest = []
        for part, flux, weight in zip(data.slices, data.flux, data.weight, strict=True):
            k = int(np.argmax((flux - np.median(flux)) * np.sqrt(weight)))
            brightest.append(data.time[part][k])
        return float(np.min(brightest)) - 1.0, float(np.max(brightest)) + 1.0
    return float(times.min()), float(max(times.max(), times.min() + 0.5))


def sharp_times(
    data: BinnedData, n: int = 6, min_gap: float = 0.2, significance: float = 10.0
) -> np.ndarray:
    """Times of the sharpest flux changes: candidate caustic crossings (days, sharpest first).

    Between consecutive bins of each dataset (no gap over half a day), the change of flux
    must exceed ``significance`` sigma; these are ranked by their rate relative to the flux
    above the dataset's 10th percentile (a caustic entry or exit changes the flux by a large
    factor in hours; a smooth peak by a small one per day). At most ``n`` times, at least
    ``min_gap`` days apart.
    """
    times, rates = [], []
    for part, flux, weight in zip(data.slices, data.flux, data.weight, strict=True):
        t = data.time[part]
        if t.size < 2:
            continue
        excess = np.maximum(flux - np.percentile(flux, 10.0), 0.0)
        d_flux = np.abs(np.diff(flux))
        d_time = np.diff(t)
        sigma = np.sqrt(1.0 / weight[1:] + 1.0 / weight[:-1])
        level = np.maximum(np.minimum(excess[1:], excess[:-1]), 3.0 * sigma)
        ok = (d_flux > significance * sigma) & (d_time > 0) & (d_time < 0.5)
        times.append(0.5 * (t[1:] + t[:-1])[ok])
        rates.append(d_flux[ok] / (d_time[ok] * level[ok]))
    if not times:
        return np.zeros(0)
    times_all, rates_all = np.concatenate(times), np.concatenate(rates)
    chosen: list[float] = []
    for k in np.argsort(-rates_all, kind="stable"):
        if len(chosen) >= n:
            break
        if all(abs(times_all[k] - c) >= min_gap for c in chosen):
            chosen.append(float(times_all[k]))
    return np.array(chosen)


def caustic_points(s: float, q: float, n: int) -> np.ndarray:
    """About ``n`` points spread evenly along the caustics of (s, q), shape ``(m, 2)``."""
    curves = [
        np.column_stack([cx, cy]) for cx, cy in VBMicrolensing.VBMicrolensing().Caustics(s, q)
    ]
    arcs = [np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(c, axis=0).T))]) for c in curves]
    total = sum(float(arc[-1]) for arc in arcs)
    points = []
    for curve, arc in zip(curves, arcs, strict=True):
        k = max(2, int(round(n * arc[-1] / total))) if total > 0 else 2
        at = np.linspace(0.0, arc[-1], k, endpoint=False)
        points.append(
            np.column_stack([np.interp(at, arc, curve[:, 0]), np.interp(at, arc, curve[:, 1])])
        )
    return np.concatenate(points)


def crossing_trajectories(
    points: np.ndarray, times: np.ndarray, t_e_bounds: tuple[float, float]
) -> dict[str, np.ndarray]:
    """Straight trajectories through two caustic points at two candidate crossing times.

    For each pair of times ``t_a < t_b`` and each ordered pair of points ``(p, p')``, the
    source is at ``p`` at ``t_a`` and at ``p'`` at ``t_b``: ``t_E = (t_b - t_a) / |p' - p|``
    (days; pairs outside ``t_e_bounds`` dropped), alpha from the direction of motion
    (source at ``-(tau cos alpha - u_0 sin alpha, tau sin alpha + u_0 cos alpha)``). A
    negative u_0 is mirrored in the lens axis (``u_0, alpha -> -u_0, -alpha``: the same
    light curve).
    """
    empty = {name: np.zeros(0) for name in ("t_0", "u_0", "t_E", "alpha")}
    times = np.sort(np.asarray(times, float))
    if times.size < 2 or len(points) < 2:
        return empty
    a, b = np.triu_indices(times.size, k=1)
    i, j = np.nonzero(~np.eye(len(points), dtype=bool))
    step = points[j] - points[i]  # (m, 2)
    length = np.hypot(step[:, 0], step[:, 1])
    direction = step / length[:, None]  # = -(cos alpha, sin alpha)
    alpha = np.arctan2(-direction[:, 1], -direction[:, 0])
    u_0 = points[i, 0] * np.sin(alpha) - points[i, 1] * np.cos(alpha)
    tau_a = np.sum(points[i] * direction, axis=1)
    d_t = (times[b] - times[a])[:, None]
    t_e = d_t / length[None, :]
    t_0 = times[a][:, None] - tau_a[None, :] * t_e
    keep = (t_e >= t_e_bounds[0]) & (t_e <= t_e_bounds[1])
    u = np.broadcast_to(u_0, t_e.shape)[keep]
    alpha_deg = np.rad2deg(np.broadcast_to(alpha, t_e.shape)[keep])
    return {
        "t_0": t_0[keep],
        "u_0": np.abs(u),
        "t_E": t_e[keep],
        "alpha": np.where(u < 0, -alpha_deg, alpha_deg) % 360.0,
    }


def score(
    sky: MagnificationMap, data: BinnedData, trajectories: Mapping[str, np.ndarray]
) -> np.ndarray:
    """chi2 of ``n`` trajectories (``t_0``, ``u_0``, ``t_E``, ``alpha`` in degrees) on a map.

    Fluxes are solved linearly per dataset; a trajectory that needs a negative source flux
    scores ``inf``.
    """
    t_0 = np.asarray(trajectories["t_0"], float)[:, None]
    u_0 = np.asarray(trajectories["u_0"], float)[:, None]
    t_e = np.asarray(trajectories["t_E"], float)[:, None]
    alpha = np.deg2rad(np.asarray(trajectories["alpha"], float))[:, None]
    tau = (data.time[None, :] - t_0) / t_e
    cos, sin = np.cos(alpha), np.sin(alpha)
    magnification = sky(-(tau * cos - u_0 * sin), -(tau * sin + u_0 * cos))
    chi2 = np.zeros(t_0.shape[0])
    for part, flux, weight in zip(data.slices, data.flux, data.weight, strict=True):
        source, _, chi2_k = _linear_fit(magnification[:, part], flux, weight)
        chi2 += np.where(source > 0, chi2_k, np.inf)
    return chi2


def _perturbed(
    rep: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    scale: tuple[float, float, float, float],
    log_t_e_bounds: tuple[float, float],
) -> dict[str, np.ndarray]:
    """Gaussian steps of each trajectory: t_0 by ``scale[0]`` t_E, u_0 by ``scale[1]``
    (reflected at 0), ln t_E by ``scale[2]`` (clipped), alpha by ``scale[3]`` degrees."""
    m = rep["t_0"].size
    return {
        "t_0": rep["t_0"] + rng.normal(0, scale[0], m) * rep["t_E"],
        "u_0": np.abs(rep["u_0"] + rng.normal(0, scale[1], m)),
        "t_E": np.exp(np.clip(np.log(rep["t_E"]) + rng.normal(0, scale[2], m), *log_t_e_bounds)),
        "alpha": (rep["alpha"] + rng.normal(0, scale[3], m)) % 360.0,
    }


def _search_one(
    sky: MagnificationMap,
    data: BinnedData,
    window: tuple[float, float],
    rng: np.random.Generator,
    n_random: int,
    n_elite: int,
    n_rounds: int,
    t_e_bounds: tuple[float, float],
    deadline: float | None = None,
    wide_share: float = 0.0,
    sharp_elites: float = 0.0,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Random trajectories on one map, then shrinking perturbations of the best (rounds stop
    at ``deadline``).

    t_0 is drawn within half the window's width of it and t_E from a twentieth to twice
    that width; a share ``wide_share`` of the trajectories from two widths around it and up
    to ten widths (a peak lost in a season gap leaves a window much shorter than t_E).
    ``sharp_elites`` as in :func:`_descend`.
    """
    t_lo, t_hi = window
    width = t_hi - t_lo
    corners = np.array(
        [
            [sky.x0, sky.y0],
            [sky.x0 + sky.step * sky.values.shape[1], sky.y0 + sky.step * sky.values.shape[0]],
        ]
    )
    radius = float(np.max(np.abs(corners)))
    lo_te, hi_te = np.log(t_e_bounds[0]), np.log(t_e_bounds[1])
    n_wide = int(round(float(wide_share) * n_random))
    # (margin around the window in widths, largest t_E in widths) of each part
    parts = [(0.5, 2.0, n_random - n_wide), (2.0, 10.0, n_wide)]
    log_te = np.concatenate(
        [
            rng.uniform(
                np.clip(np.log(width / 20.0), lo_te, hi_te),
                np.clip(np.log(longest * width), lo_te, hi_te),
                n,
            )
            for _, longest, n in parts
        ]
    )
    pop = {
        "t_0": np.concatenate(
            [rng.uniform(t_lo - m * width, t_hi + m * width, n) for m, _, n in parts]
        ),
        "u_0": rng.uniform(0.0, radius, n_random),
        "t_E": np.exp(log_te),
        "alpha": rng.uniform(0.0, 360.0, n_random),
    }
    return _descend(
        sky,
        data,
        pop,
        rng,
        n_elite,
        n_rounds,
        n_random,
        t_e_bounds,
        SEARCH_BLUR,
        deadline,
        sharp_elites=sharp_elites,
    )


def _descend(
    sky: MagnificationMap,
    data: BinnedData,
    pop: dict[str, np.ndarray],
    rng: np.random.Generator,
    n_elite: int,
    n_rounds: int,
    n_trials: int,
    t_e_bounds: tuple[float, float],
    blur: float,
    deadline: float | None = None,
    scale: float = 1.0,
    sharp_elites: float = 0.0,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Rounds of shrinking perturbations of the ``n_elite`` best trajectories (``n_trials``
    children a round) on the map blurred by ``blur`` Einstein radii, less each round.

    With ``sharp_elites`` > 0 that share of the first round's elites are the best on the map
    blurred by only ``blur / 4`` (among those not already chosen): a heavy blur can rank a
    trajectory that skirts the caustics above ones near the true crossings.
    """
    lo_te, hi_te = np.log(t_e_bounds[0]), np.log(t_e_bounds[1])
    chi2 = score(sky.smoothed(blur), data, pop)
    first = np.argsort(chi2)[:n_elite]
    n_sharp = int(round(float(sharp_elites) * n_elite))
    if n_sharp > 0:
        by_blur = first[: n_elite - n_sharp]
        rest = np.setdiff1d(np.arange(chi2.size), by_blur)
        sharp_chi2 = score(sky.smoothed(0.25 * blur), data, {k: v[rest] for k, v in pop.items()})
        first = np.concatenate([by_blur, rest[np.argsort(sharp_chi2)[:n_sharp]]])
    for round_ in range(n_rounds):
        if deadline is not None and clock.perf_counter() > deadline:
            break
        keep = first if round_ == 0 else np.argsort(chi2)[:n_elite]
        elite = {k: v[keep] for k, v in pop.items()}
        shrink = scale * 0.6**round_
        n_child = max(1, n_trials // n_elite)
        rep = {k: np.repeat(v, n_child) for k, v in elite.items()}
        steps = (0.05 * shrink, 0.05 * shrink, 0.1 * shrink, 5.0 * shrink)
        child = _perturbed(rep, rng, steps, (lo_te, hi_te))
        pop = {k: np.concatenate([elite[k], child[k]]) for k in elite}
        chi2 = score(sky.smoothed(blur * 0.6 ** (round_ + 1)), data, pop)
    return pop, chi2


def _refine_fine(
    fine: MagnificationMap,
    data: BinnedData,
    elite: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    rho_ladder: np.ndarray,
    n_children: int,
    n_rounds: int,
    t_e_bounds: tuple[float, float],
    deadline: float | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Shrinking perturbations of the coarse search's best on a fine map, rho included.

    Each trajectory carries an index into ``rho_ladder``; it is scored on the fine map
    blurred by a Gaussian of sigma = rho / 2 (the spread of a uniform disc of radius rho).
    """
    skies = [fine.smoothed(0.5 * rho) for rho in rho_ladder]

    def scored(population: Mapping[str, np.ndarray]) -> np.ndarray:
        chi2 = np.empty(population["t_0"].size)
        for k, blurred in enumerate(skies):
            at = population["rho_index"] == k
            if at.any():
                chi2[at] = score(blurred, data, {n: v[at] for n, v in population.items()})
        return chi2

    lo_te, hi_te = np.log(t_e_bounds[0]), np.log(t_e_bounds[1])
    n = elite["t_0"].size
    pop = {name: np.tile(elite[name], rho_ladder.size) for name in ("t_0", "u_0", "t_E", "alpha")}
    pop["rho_index"] = np.repeat(np.arange(rho_ladder.size), n)
    chi2 = scored(pop)
    n_keep = max(1, n)
    for round_ in range(n_rounds):
        if deadline is not None and clock.perf_counter() > deadline:
            break
        keep = np.argsort(chi2)[:n_keep]
        best = {k: v[keep] for k, v in pop.items()}
        shrink = 0.6**round_
        rep = {k: np.repeat(v, n_children) for k, v in best.items()}
        m = rep["t_0"].size
        jump = rng.random(m) < 0.2
        scale = (0.01 * shrink, 0.01 * shrink, 0.02 * shrink, 1.0 * shrink)
        child = _perturbed(rep, rng, scale, (lo_te, hi_te))
        child["rho_index"] = np.clip(
            rep["rho_index"] + jump * rng.choice([-1, 1], m), 0, rho_ladder.size - 1
        )
        pop = {k: np.concatenate([best[k], child[k]]) for k in best}
        chi2 = scored(pop)
    return pop, chi2


def map_targets(
    s: np.ndarray, q: np.ndarray, n: int, max_draws: int = 2000
) -> list[tuple[float, float]]:
    """The ``n`` densest distinct (s, q) of posterior draws: where to compute maps.

    Greedy: the draw with the most neighbours (within 0.1 dex in s and 0.3 dex in q, among
    the first ``max_draws``) first, then the densest draw outside its neighbourhood, and so on.
    """
    log_s = np.log10(np.asarray(s, float)[:max_draws])
    log_q = np.log10(np.asarray(q, float)[:max_draws])
    near = (np.abs(log_s[:, None] - log_s[None, :]) < 0.1) & (
        np.abs(log_q[:, None] - log_q[None, :]) < 0.3
    )
    count = near.sum(axis=1).astype(float)
    chosen: list[tuple[float, float]] = []
    while len(chosen) < n and np.any(count > 0):
        k = int(np.argmax(count))
        chosen.append((float(10 ** log_s[k]), float(10 ** log_q[k])))
        count[near[k]] = 0.0
    return chosen


RHO_LADDER = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2)

#: starting blur (Einstein radii) of the descent from random trajectories
SEARCH_BLUR = 0.04

#: share of the random trajectories drawn from wider ranges of t_0 and t_E (``_search_one``)
WIDE_SHARE = 0.25

#: share of the first elites chosen on a map four times less blurred (``_descend``)
SHARP_ELITES = 0.5

#: maps refined near their caustics (``map_candidates(caustic_bands)``): off, since on the 25
#: strong binaries of the benchmark it found 12 against 11 without (docs/benchmarks.md,
#: session 34), inside the run-to-run spread
CAUSTIC_BANDS = False

#: posterior draws near a map's (s, q) whose trajectories its search descends from as well
#: (``map_candidates(posterior)``, :func:`trajectory_seeds`)
POSTERIOR_SEEDS = 200

#: starting blur (Einstein radii) and step scale of the descent from crossing trajectories
CROSSING_BLUR, CROSSING_STEP = 0.01, 0.3


def trajectory_seeds(
    posterior: Mapping[str, np.ndarray],
    s: float,
    q: float,
    n: int = POSTERIOR_SEEDS,
) -> dict[str, np.ndarray]:
    """The trajectories (``t_0, u_0, t_E, alpha``) of the first ``n`` posterior draws near
    (s, q): within 0.1 dex in s and 0.3 dex in q (a :func:`map_targets` neighbourhood).

    The network's draws carry a trajectory as well as (s, q); on the map of a target, those
    of the draws around it are where the posterior puts the source, a start the random
    trajectories reach only by chance.
    """
    log_s = np.log10(np.asarray(posterior["s"], float))
    log_q = np.log10(np.asarray(posterior["q"], float))
    near = np.flatnonzero(
        (np.abs(log_s - np.log10(s)) < 0.1) & (np.abs(log_q - np.log10(q)) < 0.3)
    )[: int(n)]
    return {k: np.asarray(posterior[k], float)[near] for k in ("t_0", "u_0", "t_E", "alpha")}


def posterior_descent(
    sky: MagnificationMap,
    data: BinnedData,
    posterior: Mapping[str, np.ndarray],
    searched: tuple[dict[str, np.ndarray], np.ndarray],
    rng: np.random.Generator,
    n_elite: int,
    n_rounds: int,
    n_trials: int,
    t_e_bounds: tuple[float, float],
    deadline: float | None = None,
    sharp_elites: float = 0.0,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The random search's result ``searched`` joined by a descent from the trajectories of
    the posterior draws near the map (:func:`trajectory_seeds`), on the same schedule of
    blur (so the chi2 of both compare); ``searched`` itself where no draw is near."""
    pop, chi2 = searched
    seeds = trajectory_seeds(posterior, sky.s, sky.q)
    if seeds["t_0"].size == 0:
        return pop, chi2
    found, found_chi2 = _descend(
        sky,
        data,
        seeds,
        rng,
        min(n_elite, seeds["t_0"].size),
        n_rounds,
        n_trials,
        t_e_bounds,
        SEARCH_BLUR,
        deadline,
        sharp_elites=sharp_elites,
    )
    merged = {k: np.concatenate([pop[k], found[k]]) for k in pop}
    return merged, np.concatenate([chi2, found_chi2])


def quick_map(s: float, q: float, caustic_bands: bool = CAUSTIC_BANDS) -> MagnificationMap:
    """The map of a quick search (``map_candidates`` with more (s, q) than ``n_maps``):
    point-source nodes 0.02 Einstein radii apart (at most 250 a side), with a caustic band
    if ``caustic_bands``."""
    sky = magnification_map(s, q, step=0.02, max_nodes=250)
    return caustic_band(sky) if caustic_bands else sky


def map_candidates(
    likelihood: Likelihood,
    s_q: Sequence[tuple[float, float]],
    *,
    n_keep: int = 2,
    n_random: int = 20000,
    n_elite: int = 200,
    n_rounds: int = 5,
    t_e_bounds: tuple[float, float] = (1.0, 300.0),
    rho_ladder: Sequence[float] = RHO_LADDER,
    refine: bool = True,
    n_fine: int = 20,
    n_maps: int = 4,
    crossing_seeds: bool = False,
    window_bins: bool = True,
    finite_nodes: bool = True,
    wide_share: float = WIDE_SHARE,
    sharp_elites: float = SHARP_ELITES,
    caustic_bands: bool = CAUSTIC_BANDS,
    posterior: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
    deadline: float | None = None,
) -> dict[str, np.ndarray]:
    """Starting points from a trajectory search on the magnification map of each (s, q).

    Parameters
    ----------
    likelihood : Likelihood
        The data.
    s_q : sequence of (float, float)
        Separations and mass ratios to search (e.g. :func:`map_targets` of the posterior).
    n_keep : int
        Distinct trajectories kept per map.
    n_random, n_elite, n_rounds : int
        Random trajectories scored first; best kept each round; rounds of perturbations.
    t_e_bounds : (float, float)
        Range of t_E (days).
    rho_ladder : sequence of float
        Source sizes: searched on the fine map (``refine``), then tried for each kept
        trajectory with the exact finite-source chi2 (on at most 1,500 epochs); the best is
        the start's rho.
    refine : bool
        Refine the ``n_fine`` best trajectories of each map on a finer map of the caustics
        (0.002 Einstein radii) against sharper data (2,000 bins, 0.3% error floor), with the
        source size as a fifth parameter.
    n_fine : int
        Trajectories of the coarse search refined.
    n_maps : int
        With more (s, q) than this, each gets a quick search first (a tenth of the
        trajectories on a coarser map and 250 bins, in at most half of the time to
        ``deadline``) and only the ``n_maps`` best are searched in full.
    crossing_seeds : bool
        Also descend, on each map, from the trajectories that cross its caustics at two of
        the data's sharpest flux changes (:func:`sharp_times`, :func:`crossing_trajectories`;
        the classical way into the basin of a caustic-crossing binary). Off by default: on
        the true (s, q) of 18 strong simulated binaries it found the true basin for 9 against
        8 without, and took 1.48 times as long (``benchmarks/bench_mapsearch.py --truth
        --crossing both``).
    window_bins : bool
        Bin the data finer inside the magnified window than on the baseline (three quarters
        of the bins inside; :func:`binned_data` with ``window``).
    finite_nodes : bool
        Maps searched in full, and the fine maps, with finite-source nodes
        (:func:`magnification_map`); the quick maps stay point-source.
    wide_share : float
        Share of the random trajectories drawn from wider ranges of t_0 and t_E (two
        window widths around the magnified window, t_E up to ten widths) than the rest.
    sharp_elites : float
        Share of the first round's elites chosen on a map four times less blurred.
    caustic_bands : bool
        Every map (quick and full) refined five times finer near its caustics
        (:func:`caustic_band`), so that small caustics and cusps between the nodes are seen
        once the blur is below the map's step. Off by default: it lowered the true
        trajectory's map score on 9 of 25 strong binaries (3 higher), and found 12 of those
        25 in ``propose`` against 11 without (``CAUSTIC_BANDS``).
    posterior : mapping of numpy.ndarray, optional
        Posterior draws (MulensModel columns, at least ``t_0, u_0, t_E, alpha, s, q``): on
        each map the trajectories of the draws near its (s, q) (:func:`trajectory_seeds`)
        are descended from as well, with the random search's schedule, and ranked with it.
    seed : int
        Seed of the random trajectories.
    deadline : float, optional
        ``time.perf_counter()`` after which no new map is started and no search round
        begins (a map under way is finished with what it has).

    Returns
    -------
    dict of numpy.ndarray
        MulensModel parameter columns, lowest exact chi2 first, plus ``"screen_chi2"`` (the
        map score).
    """
    rng = np.random.default_rng(seed)
    data = binned_data(likelihood)
    window = magnified_window(data)
    focus = window if window_bins else None
    if focus is not None:
        data = binned_data(likelihood, window=focus)
    sharp = binned_data(likelihood, max_points=2000, floor=0.003, window=focus)
    exact = likelihood.subset(1500)
    ladder = np.asarray(rho_ladder, float)
    crossings = sharp_times(sharp) if crossing_seeds else np.zeros(0)
    # its own stream: with or without crossing seeds the random search draws the same
    cross_rng = np.random.default_rng([seed, 1])

    def search(
        sky: MagnificationMap,
        binned: BinnedData,
        n_trials: int,
        n_best: int,
        rounds: int,
        n_points: int,
        until: float | None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Random search, and descents from the posterior's and the crossing trajectories;
        chi2 on one blur."""
        pop, chi2 = _search_one(
            sky,
            binned,
            window,
            rng,
            n_trials,
            n_best,
            rounds,
            t_e_bounds,
            until,
            wide_share,
            sharp_elites,
        )
        if posterior is not None:
            pop, chi2 = posterior_descent(
                sky,
                binned,
                posterior,
                (pop, chi2),
                rng,
                n_best,
                rounds,
                n_trials,
                t_e_bounds,
                until,
                sharp_elites,
            )
        if crossings.size < 2:
            return pop, chi2
        seeds = crossing_trajectories(caustic_points(sky.s, sky.q, n_points), crossings, t_e_bounds)
        if seeds["t_0"].size == 0:
            return pop, chi2
        if seeds["t_0"].size > n_trials:
            pick = cross_rng.choice(seeds["t_0"].size, n_trials, replace=False)
            seeds = {k: v[pick] for k, v in seeds.items()}
        # the seeds already sit on the caustics: less blur and smaller steps than at random
        found, _ = _descend(
            sky,
            binned,
            seeds,
            cross_rng,
            n_best,
            rounds,
            n_trials,
            t_e_bounds,
            CROSSING_BLUR,
            until,
            CROSSING_STEP,
        )
        merged = {k: np.concatenate([pop[k], found[k]]) for k in pop}
        # both ranked on the blur the random search ends on
        return merged, score(sky.smoothed(SEARCH_BLUR * 0.6**rounds), binned, merged)

    s_q = list(s_q)
    if len(s_q) > n_maps:
        # a quick search on every map (a tenth of the trajectories, 250 bins), in at most
        # half of the time; the n_maps best are searched in full
        begin = clock.perf_counter()
        quick_deadline = None if deadline is None else begin + 0.5 * (deadline - begin)
        coarse = binned_data(likelihood, max_points=250, window=focus)
        quick = []
        for s, q in s_q:
            if quick_deadline is not None and clock.perf_counter() > quick_deadline:
                break
            _, chi2 = search(
                quick_map(s, q, caustic_bands),
                coarse,
                max(n_random // 10, n_elite),
                n_elite // 4,
                3,
                30,
                quick_deadline,
            )
            quick.append(float(np.min(chi2)))
        s_q = [s_q[k] for k in np.argsort(quick)[:n_maps]]
    rows: list[dict[str, float]] = []
    for s, q in s_q:
        if deadline is not None and clock.perf_counter() > deadline:
            break
        sky = magnification_map(s, q, finite_nodes=finite_nodes)
        if caustic_bands:
            sky = caustic_band(sky, finite_nodes=finite_nodes)
        pop, chi2 = search(sky, data, n_random, n_elite, n_rounds, 80, deadline)
        if refine:
            elite = np.argsort(chi2)[:n_fine]
            pop, chi2 = _refine_fine(
                fine_map(sky, finite_nodes=finite_nodes),
                sharp,
                {k: v[elite] for k, v in pop.items()},
                rng,
                ladder,
                max(1, n_random // (4 * n_fine * ladder.size)),
                n_rounds,
                t_e_bounds,
                deadline,
            )
            pop["rho"] = ladder[pop.pop("rho_index")]
        order = np.argsort(chi2)
        kept: list[int] = []
        for i in order:
            if not np.isfinite(chi2[i]) or len(kept) >= n_keep:
                break
            if all(not _same(pop, i, j) for j in kept):
                kept.append(int(i))
        for i in kept:
            trial = {name: np.full(ladder.size, pop[name][i]) for name in pop}
            trial.update(s=np.full(ladder.size, s), q=np.full(ladder.size, q))
            trial["rho"] = ladder
            on_ladder = exact.chi2(trial)
            best = int(np.argmin(on_ladder))
            row = {name: float(trial[name][best]) for name in PARAMETER_NAMES}
            rows.append({**row, "screen_chi2": float(chi2[i]), "chi2": float(on_ladder[best])})
    rows.sort(key=lambda r: r["chi2"])
    names = (*PARAMETER_NAMES, "screen_chi2")
    return {n: np.array([r[n] for r in rows], float) for n in names}


def _same(pop: Mapping[str, np.ndarray], i: int, j: int) -> bool:
    d_alpha = abs((pop["alpha"][i] - pop["alpha"][j] + 180.0) % 360.0 - 180.0)
    return (
        d_alpha < 10.0
        and abs(pop["u_0"][i] - pop["u_0"][j]) < 0.05
        and abs(np.log(pop["t_E"][i] / pop["t_E"][j])) < 0.1
    )
