"""Figures of a fitted event: the light curve with the top solutions, and their caustics.

Both functions take what :meth:`NPEInitializer.propose` returned, write a PNG and return its
path. They draw on :class:`matplotlib.figure.Figure` objects, never through pyplot, so they
need no display and can run in threads (Dask workers).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from matplotlib.ticker import MaxNLocator
from scipy.spatial import cKDTree

from .photometry import flux_to_mag
from .simulate.magnification import (
    binary_magnification,
    single_lens_magnification,
    source_trajectory,
)
from .singlelens import linear_fluxes

if TYPE_CHECKING:
    from .solutions import Proposal, Solution

__all__ = ["lightcurve_plot", "caustics_plot", "anomaly_window", "solution_label"]

COLORS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown")
"""Colour of solution k (rank k + 1) in every figure of a fit."""

_DATA_COLORS = ("0.45", "tab:cyan", "tab:olive", "tab:pink", "0.7")


def solution_label(rank: int, solution: Solution) -> str:
    """Legend text of a solution: rank, topology, s, q and chi2."""
    p = solution.parameters
    return (
        f"#{rank} {solution.label or ''}: s = {p['s']:.3f}, q = {p['q']:.2e}, "
        f"$\\chi^2$ = {solution.chi2:.0f}"
    )


def _time_offset(time: np.ndarray) -> float:
    return 10_000.0 * np.floor(float(np.min(time)) / 10_000.0)


def _model_flux(solution: Solution, times: np.ndarray, dataset: int = 0) -> np.ndarray:
    fluxes = solution.fluxes[dataset]
    magnification = binary_magnification(solution.parameters, times)[0]
    return fluxes["source_flux"] * magnification + fluxes["blend_flux"]


def _single_lens(result: Proposal):
    """The single-lens magnification ``A(t)``, or None when the proposal has none."""
    single = result.single_lens
    if not all(k in single for k in ("t_0", "u_0", "t_E")) or not result.lightcurves:
        return None

    def magnification(t: np.ndarray) -> np.ndarray:
        return single_lens_magnification(single["t_0"], single["u_0"], single["t_E"], t)[0]

    return magnification


def _single_lens_flux(result: Proposal, times: np.ndarray, dataset: int = 0) -> np.ndarray | None:
    """The single-lens reference in a dataset's flux (its own best linear fluxes)."""
    magnification = _single_lens(result)
    if magnification is None:
        return None
    lc = result.lightcurves[dataset]
    source, blend, _ = linear_fluxes(magnification(lc.time), lc.flux, lc.flux_err**-2.0)
    return source * magnification(times) + blend


def _grow(values: np.ndarray, peak: int, threshold: float) -> tuple[int, int]:
    """The run of ``values > threshold`` that holds ``peak``."""
    low, high = peak, peak
    while low > 0 and values[low - 1] > threshold:
        low -= 1
    while high < values.size - 1 and values[high + 1] > threshold:
        high += 1
    return low, high


def anomaly_window(result: Proposal) -> tuple[float, float]:
    """Time interval [d] of the anomaly: where the data depart from a single lens.

    The data's chi2 against the best single-lens model, smoothed over 5 epochs, picks the
    largest departure; the interval is the run of epochs around it whose smoothed chi2 stays
    above a twentieth of the peak (and above 9), padded by a quarter of its width. With no
    departure (peak below 25) it is where the best solution departs most from the single
    lens; with neither, the peak +- 0.3 t_E.
    """
    p = result.best.parameters
    fallback = (p["t_0"] - 0.3 * p["t_E"], p["t_0"] + 0.3 * p["t_E"])
    if _single_lens(result) is None:
        return fallback
    time = np.concatenate([lc.time for lc in result.lightcurves])
    chi2 = np.concatenate(
        [
            ((lc.flux - _single_lens_flux(result, lc.time, k)) / lc.flux_err) ** 2
            for k, lc in enumerate(result.lightcurves)
        ]
    )
    order = np.argsort(time, kind="stable")
    time, chi2 = time[order], np.convolve(chi2[order], np.full(5, 0.2), mode="same")
    peak, floor = int(np.argmax(chi2)), 9.0
    if chi2[peak] < 25.0:
        grid = np.linspace(time[0], time[-1], 6000)
        model = flux_to_mag(_model_flux(result.best, grid))[0]
        difference = np.abs(model - flux_to_mag(_single_lens_flux(result, grid))[0])
        time, chi2 = grid, np.where(np.isfinite(difference), difference, 0.0) / 0.001
        peak, floor = int(np.argmax(chi2)), 5.0
        if chi2[peak] < floor:  # the models differ by less than 5 mmag
            return fallback
    low, high = _grow(chi2, peak, max(chi2[peak] / 20.0, floor))
    pad = max(0.25 * (time[high] - time[low]), 0.05)
    return float(time[low] - pad), float(time[high] + pad)


def _aligned(result: Proposal, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dataset k's time, magnitude and error on dataset 0's flux scale (best solution)."""
    lc = result.lightcurves[k]
    own, ref = result.best.fluxes[k], result.best.fluxes[0]
    ratio = ref["source_flux"] / own["source_flux"]
    flux = (lc.flux - own["blend_flux"]) * ratio + ref["blend_flux"]
    mag, err = flux_to_mag(flux, lc.flux_err * abs(ratio))
    keep = np.isfinite(mag)
    return lc.time[keep], mag[keep], err[keep]


def lightcurve_plot(
    result: Proposal, path: str | Path, n_show: int = 3, title: str | None = None
) -> Path:
    """The data with the top ``n_show`` solutions, residuals and a zoom on the anomaly.

    Left: the whole light curve; right: the anomaly (:func:`anomaly_window`, shaded on the
    left). Every dataset is put on the first dataset's magnitude scale with the best
    solution's source and blend fluxes. Bottom: data minus the best model, and each other
    solution minus the best model as a line.
    """
    solutions = result.solutions[: max(int(n_show), 1)]
    zoom = anomaly_window(result)
    time = np.concatenate([lc.time for lc in result.lightcurves])
    offset = _time_offset(time)
    grid = np.unique(
        np.concatenate([np.linspace(time.min(), time.max(), 4000), np.linspace(*zoom, 2500), time])
    )
    models = [flux_to_mag(_model_flux(s, grid))[0] for s in solutions]
    single = _single_lens_flux(result, grid)
    fig = Figure(figsize=(13, 6.5), layout="constrained")
    axes = fig.subplots(
        2, 2, sharex="col", gridspec_kw={"height_ratios": [3, 1], "width_ratios": [1.5, 1]}
    )
    for column, (low, high) in enumerate([(time.min(), time.max()), zoom]):
        ax, res_ax = axes[0, column], axes[1, column]
        shown = (grid >= low) & (grid <= high)
        seen, residuals = [], []
        for k in range(len(result.lightcurves)):
            t, mag, err = _aligned(result, k)
            inside = (t >= low) & (t <= high)
            residual = mag[inside] - flux_to_mag(_model_flux(solutions[0], t[inside]))[0]
            color = _DATA_COLORS[k % len(_DATA_COLORS)]
            style = dict(fmt=".", ms=2.5, lw=0.5, color=color, alpha=0.8, zorder=1)
            label = f"{result.lightcurves[k].band} ({result.lightcurves[k].n_points} epochs)"
            ax.errorbar(t[inside] - offset, mag[inside], err[inside], label=label, **style)
            res_ax.errorbar(t[inside] - offset, residual, err[inside], **style)
            seen.append(mag[inside][err[inside] < 0.3])  # not the noisiest points
            residuals.append(residual)
        if single is not None:
            delta = result.best.delta_chi2
            ax.plot(
                grid[shown] - offset,
                flux_to_mag(single[shown])[0],
                color="k",
                ls="--",
                lw=0.9,
                zorder=2,
                label=f"single lens ($\\Delta\\chi^2$ = {delta:.0f} worse)",
            )
        for rank, (solution, model) in enumerate(zip(solutions, models, strict=True), start=1):
            color = COLORS[(rank - 1) % len(COLORS)]
            width = 1.6 if rank == 1 else 1.1
            ax.plot(
                grid[shown] - offset,
                model[shown],
                color=color,
                lw=width,
                zorder=4 - 0.1 * rank,
                label=solution_label(rank, solution),
            )
            res_ax.plot(
                grid[shown] - offset, model[shown] - models[0][shown], color=color, lw=width
            )
            seen.append(model[shown])
        ax.set_ylim(*_limits(np.concatenate(seen), margin=0.08)[::-1])
        res_ax.set_ylim(*_limits(np.concatenate(residuals), margin=0.15, symmetric=True)[::-1])
        res_ax.axhline(0.0, color="0.3", lw=0.6, zorder=0)
        res_ax.set_xlabel(f"HJD/BJD $-$ {offset:.0f} [d]")
        res_ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.set_xlim(low - offset, high - offset)
    scale = f" ({result.lightcurves[0].band} scale)" if len(result.lightcurves) > 1 else ""
    axes[0, 0].set_ylabel(f"magnitude{scale} [mag]")
    axes[1, 0].set_ylabel("data $-$ best [mag]")
    axes[0, 0].axvspan(zoom[0] - offset, zoom[1] - offset, color="gold", alpha=0.3, lw=0)
    axes[0, 1].set_title("zoom on the anomaly (shaded on the left)", fontsize=10, loc="left")
    axes[0, 0].set_title(title or "light curve and ranked solutions", fontsize=11, loc="left")
    axes[0, 0].legend(fontsize=8, loc="upper left", framealpha=0.9)
    return _save(fig, path)


def _limits(values: np.ndarray, margin: float, symmetric: bool = False) -> tuple[float, float]:
    """Axis limits around ``values`` with a margin; symmetric ones ignore the wildest 0.1%."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (-1.0, 1.0)
    if symmetric:
        half = max(float(np.percentile(np.abs(values), 99.9)), 0.005) * (1 + margin)
        return (-half, half)
    low, high = float(values.min()), float(values.max())
    pad = margin * max(high - low, 0.02)
    return (float(low - pad), float(high + pad))


def _nearest_caustic(solution: Solution, times: np.ndarray) -> tuple[np.ndarray, float, float, int]:
    """The caustic the trajectory passes closest to: centre, radius, distance and epoch."""
    import VBMicrolensing

    p = solution.parameters
    x, y = source_trajectory(p, times)
    best = (np.inf, np.zeros(2), 0.0, 0)
    for cx, cy in VBMicrolensing.VBMicrolensing().Caustics(p["s"], p["q"]):
        curve = np.column_stack([cx, cy])
        distance, _ = cKDTree(curve).query(np.column_stack([x[0], y[0]]))
        epoch = int(np.argmin(distance))
        centre = 0.5 * (curve.max(axis=0) + curve.min(axis=0))
        radius = float(np.max(np.hypot(*(curve - centre).T)))
        if distance[epoch] < best[0]:
            best = (float(distance[epoch]), centre, radius, epoch)
    return best[1], best[2], best[0], best[3]


def caustics_plot(
    result: Proposal, path: str | Path, n_show: int = 6, title: str | None = None
) -> Path:
    """Caustics and source trajectory of each of the top ``n_show`` solutions.

    One panel per solution, centred on the caustic the source passes closest to. The line is
    the source trajectory (arrow: direction of motion), dots mark the observed epochs, the
    circle is the source (radius rho) at its closest approach, crosses are the lenses.
    Coordinates: MulensModel 3.x frame, origin at the centre of mass, in Einstein radii.
    """
    import VBMicrolensing

    solutions = result.solutions[: max(int(n_show), 1)]
    time = np.sort(np.concatenate([lc.time for lc in result.lightcurves]))
    n = len(solutions)
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    fig = Figure(figsize=(4.4 * columns, 4.3 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False).ravel())
    for rank, (ax, solution) in enumerate(zip(axes, solutions, strict=False), start=1):
        p = solution.parameters
        color = COLORS[(rank - 1) % len(COLORS)]
        for cx, cy in VBMicrolensing.VBMicrolensing().Caustics(p["s"], p["q"]):
            ax.plot(cx, cy, color="k", lw=0.9)
        # every caustic lies within |s - 1/s| + 2 Einstein radii of the centre of mass
        extent = abs(p["s"] - 1.0 / p["s"]) + 2.5
        dense = p["t_0"] + p["t_E"] * np.linspace(-extent, extent, 20_000)
        centre, radius, distance, epoch = _nearest_caustic(solution, dense)
        half = max(1.3 * radius, 1.5 * distance + 3 * p["rho"], 0.02)
        x, y = source_trajectory(p, dense)
        ax.plot(x[0], y[0], color=color, lw=1.0, zorder=3, label="source trajectory")
        ox, oy = source_trajectory(p, time)
        ax.plot(
            ox[0],
            oy[0],
            "o",
            color="0.6",
            ms=4,
            alpha=0.3,
            mew=0,
            zorder=2,
            label="observed epochs",
        )
        ax.add_patch(
            Circle(
                (x[0, epoch], y[0, epoch]),
                p["rho"],
                fill=False,
                color=color,
                lw=1.0,
                label=f"source, $\\rho$ = {p['rho']:.1e}",
            )
        )
        # arrow along the motion, (-cos alpha, -sin alpha), past the point nearest the centre
        direction = -np.array([np.cos(np.deg2rad(p["alpha"])), np.sin(np.deg2rad(p["alpha"]))])
        nearest = int(np.argmin(np.hypot(x[0] - centre[0], y[0] - centre[1])))
        middle = np.array([x[0, nearest], y[0, nearest]])
        ax.annotate(
            "",
            xy=middle + 0.6 * half * direction,
            xytext=middle + 0.3 * half * direction,
            arrowprops=dict(arrowstyle="-|>", color=color, lw=1.2, mutation_scale=16),
            zorder=4,
        )
        q, s = p["q"], p["s"]
        ax.plot([-s * q / (1 + q), s / (1 + q)], [0, 0], "x", color="0.3", ms=7, label="lenses")
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal")
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.set_xlabel(r"$x$ [$\theta_E$]")
        ax.set_ylabel(r"$y$ [$\theta_E$]")
        ax.set_title(
            f"#{rank} {solution.label}: s = {s:.3f}, q = {q:.2e}\n"
            f"$u_0$ = {p['u_0']:.3f}, $\\alpha$ = {p['alpha']:.1f}$^\\circ$, "
            f"$\\chi^2$ = {solution.chi2:.0f}",
            fontsize=9,
            loc="left",
            color=color,
        )
    axes[0].legend(fontsize=7, loc="lower left", framealpha=0.9)
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=90)
    return path
