"""Figures: calibration of a trained model, posterior corner plots.

Every function writes PNG files with labelled axes (units where they have them) and returns
their paths. matplotlib runs with the non-interactive Agg backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["evaluation_figures", "corner_plot", "LABELS"]

LABELS = {
    "t_0": r"$t_0$ [BJD - 2450000]",
    "u_0": r"$\log_{10} u_0$",
    "t_E": r"$\log_{10} t_E$ [d]",
    "rho": r"$\log_{10} \rho$",
    "s": r"$\log_{10} s$",
    "q": r"$\log_{10} q$",
    "alpha": r"$\alpha$ [deg]",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _corner_columns(params):
    return np.column_stack(
        [
            np.asarray(params["t_0"], float) - 2450000.0,
            *(np.log10(np.asarray(params[k], float)) for k in ("u_0", "t_E", "rho", "s", "q")),
            np.asarray(params["alpha"], float),
        ]
    )


def _ranges(data: np.ndarray, points: np.ndarray | None) -> list[tuple[float, float]]:
    """Axis ranges holding the central 99% of the samples (stray draws would squash the
    rest into one bin) and every marked point, padded by 5%."""
    low, high = np.nanpercentile(data, [0.5, 99.5], axis=0)
    if points is not None:
        low, high = (
            np.minimum(low, np.nanmin(points, axis=0)),
            np.maximum(high, np.nanmax(points, axis=0)),
        )
    pad = 0.05 * np.maximum(high - low, 1e-9)
    return [(float(a), float(b)) for a, b in zip(low - pad, high + pad, strict=True)]


def corner_plot(
    samples,
    path,
    truth=None,
    title: str | None = None,
    markers=None,
    marker_labels=None,
) -> Path:
    """Corner plot of posterior ``samples`` (dict or Table, MulensModel names).

    ``truth`` (dict) is drawn in red lines. ``markers`` (list of parameter dicts, e.g. the
    ranked solutions) are squares in the colours of
    :data:`mulens_npe.lightcurve_plots.COLORS`, named in a legend by ``marker_labels``.
    """
    import corner
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from .lightcurve_plots import COLORS

    data = _corner_columns(samples)
    order = ("t_0", "u_0", "t_E", "rho", "s", "q", "alpha")
    shown = [data]
    if truth is not None:
        shown.append(_corner_columns({k: [truth[k]] for k in order}))
    if markers:
        shown.append(_corner_columns({k: [m[k] for m in markers] for k in order}))
    fig = Figure(figsize=(14, 14))
    corner.corner(
        data,
        fig=fig,
        range=_ranges(data, np.concatenate(shown[1:]) if len(shown) > 1 else None),
        labels=[LABELS[k] for k in order],
        truths=None if truth is None else _corner_columns({k: [truth[k]] for k in order})[0],
        truth_color="tab:red",
        quantiles=(0.16, 0.5, 0.84),
        show_titles=False,
        bins=30,
        smooth=0.8,
        label_kwargs={"fontsize": 13},
    )
    axes = np.array(fig.axes).reshape(7, 7)
    if markers:
        points = _corner_columns({k: [m[k] for m in markers] for k in order})
        colors = [COLORS[n % len(COLORS)] for n in range(len(markers))]
        for i in range(7):
            for j in range(i):
                axes[i, j].scatter(
                    points[::-1, j], points[::-1, i], marker="s", s=30, c=colors[::-1],
                    edgecolors="k", linewidths=0.5, zorder=5,
                )  # fmt: skip
            for n, color in enumerate(colors):
                axes[i, i].axvline(points[n, i], color=color, lw=1.2)
        if marker_labels:
            handles = [
                Line2D([], [], marker="s", ls="", color=color, markeredgecolor="k", label=label)
                for color, label in zip(colors, marker_labels, strict=False)
            ]
            axes[0, 6].legend(handles=handles, loc="upper right", fontsize=11, frameon=False)
    if title:
        fig.suptitle(title, fontsize=15)
    path = Path(path)
    fig.savefig(path, dpi=70)
    return path


def evaluation_figures(result, out) -> list[Path]:
    """Calibration curves, SBC ranks, TARP, corner plots and a close/wide example."""
    plt = _pyplot()
    out = Path(out)
    paths = []
    levels = np.linspace(0.0, 1.0, 41)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.8))
    for name, ranks in result.ranks.items():
        coverage = [np.mean(np.abs(ranks - 0.5) <= level / 2) for level in levels]
        ax1.plot(levels, coverage, label=name)
    ax1.plot([0, 1], [0, 1], "k--", lw=1, label="ideal")
    ax1.set_xlabel("credible level (central interval)")
    ax1.set_ylabel("fraction of events whose truth is inside")
    ax1.set_title("Marginal calibration")
    ax1.legend(fontsize=8)
    ax2.plot(result.tarp_levels, result.tarp_coverage, color="tab:purple", label="TARP")
    ax2.plot([0, 1], [0, 1], "k--", lw=1, label="ideal")
    ax2.set_xlabel("credibility level")
    ax2.set_ylabel("expected coverage")
    ax2.set_title("Joint calibration (TARP)")
    ax2.legend()
    fig.tight_layout()
    paths.append(out / "calibration.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(result.ranks), figsize=(16, 2.8), sharey=True)
    for ax, (name, ranks) in zip(axes, result.ranks.items(), strict=True):
        ax.hist(ranks, bins=20, range=(0, 1), color="tab:gray")
        ax.axhline(ranks.size / 20, color="k", ls="--", lw=1)
        ax.set_xlabel(f"rank of true {name}")
    axes[0].set_ylabel("events")
    fig.suptitle("SBC rank histograms (flat = calibrated)")
    fig.tight_layout()
    paths.append(out / "sbc_ranks.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)

    clear = [k for k in result.samples if k["delta_chi2"] > 100]
    for n, kept in enumerate(clear[:3]):
        paths.append(
            corner_plot(
                kept["samples"],
                out / f"corner_{n}.png",
                truth=kept["truth"],
                title=f"event {kept['index']}: delta chi2 = {kept['delta_chi2']:.0f}",
            )
        )
    twins = [k for k in result.samples if 0.1 < np.mean(np.asarray(k["samples"]["s"]) > 1.0) < 0.9]
    if twins:
        kept = max(twins, key=lambda k: k["delta_chi2"])
        paths.append(
            corner_plot(
                kept["samples"],
                out / "close_wide_example.png",
                truth=kept["truth"],
                title=f"close/wide: {np.mean(kept['samples']['s'] > 1):.0%} of samples at s > 1",
            )
        )
    return paths
