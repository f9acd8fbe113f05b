"""Draw docs/figures/simulated_events.png: simulated Roman events with their caustics.

Rows: the two example events of examples/data/ and two planetary events drawn from the
caustic-targeted proposal (seeded). Columns: the season's light curve with the true model,
a zoom on the anomaly, and the caustics with the source trajectory.

    python examples/make_example_events.py      # first, if examples/data/ is empty
    python examples/plot_simulated_events.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import VBMicrolensing
from matplotlib.figure import Figure  # no pyplot: renders with Agg, no display needed
from matplotlib.ticker import MaxNLocator

from mulens_npe.parameters import PARAMETER_NAMES
from mulens_npe.photometry import flux_to_mag
from mulens_npe.prior import Prior
from mulens_npe.simulate import (
    ProposalSampler,
    binary_magnification,
    roman_epochs,
    simulated_lightcurve,
    single_lens_magnification,
    source_trajectory,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"
FIGURE = ROOT / "docs" / "figures" / "simulated_events.png"
SEED = 7


def example_events() -> list[dict]:
    events = []
    for name in ("roman_planet_example", "roman_binary_example"):
        truth = json.loads((DATA / f"{name}.truth.json").read_text())
        time, mag, mag_err = np.loadtxt(DATA / f"{name}.dat", unpack=True)
        events.append(
            dict(
                title=truth["description"],
                params=truth["parameters"],
                flux_source=truth["flux_source"],
                flux_blend=truth["flux_blend"],
                time=time,
                mag=mag,
                mag_err=mag_err,
            )
        )
    return events


def proposal_events(times: np.ndarray, count: int = 2) -> list[dict]:
    """Small-q events from the proposal whose source meets a planetary caustic, one close
    and one wide (central-caustic events are common too, but their anomaly is small here)."""
    prior = Prior(t_0=(times[0], times[-1]), bounds={"q": (1e-4, 1e-2), "t_E": (10.0, 60.0)})
    rng = np.random.default_rng(SEED)
    draws, _ = ProposalSampler(prior, caustic_fraction=0.9).sample(100, rng)
    events, seen = [], set()
    for i in range(100):
        params = {name: float(draws[name][i]) for name in PARAMETER_NAMES}
        topology = "wide" if params["s"] > 1 else "close"
        centre, _ = nearest_caustic(params, times)
        if topology in seen or np.hypot(*centre) < 0.1:
            continue
        magnification = binary_magnification(params, times)[0]
        single = single_lens_magnification(params["t_0"], params["u_0"], params["t_E"], times)[0]
        if np.max(np.abs(magnification / single - 1)) < 0.1:
            continue
        seen.add(topology)
        lc = simulated_lightcurve(magnification, times, rng, meta=params)
        events.append(
            dict(
                title=f"proposal draw, {topology}: s = {params['s']:.2f}, q = {params['q']:.1e}",
                params=params,
                flux_source=lc.meta["flux_source"],
                flux_blend=lc.meta["flux_blend"],
                time=lc.time,
                mag=lc.mag,
                mag_err=lc.mag_err,
            )
        )
        if len(events) == count:
            break
    return events


def nearest_caustic(params: dict, times: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and radius of the caustic that the source trajectory passes closest to."""
    x, y = source_trajectory(params, times)
    best = (np.inf, None, 0.0)
    for cx, cy in VBMicrolensing.VBMicrolensing().Caustics(params["s"], params["q"]):
        curve = np.column_stack([cx, cy])
        distance = np.min(np.hypot(x[0, :, None] - curve[:, 0], y[0, :, None] - curve[:, 1]))
        centre = 0.5 * (curve.max(axis=0) + curve.min(axis=0))
        radius = float(np.max(np.hypot(*(curve - centre).T)))
        if distance < best[0]:
            best = (distance, centre, radius)
    return best[1], best[2]


def anomaly_window(params: dict, times: np.ndarray) -> tuple[float, float]:
    magnification = binary_magnification(params, times)[0]
    single = single_lens_magnification(params["t_0"], params["u_0"], params["t_E"], times)[0]
    deviation = np.abs(magnification / single - 1)
    peak = times[np.argmax(deviation)]
    anomalous = times[(deviation > 0.02) & (np.abs(times - peak) < 3.0)]
    return anomalous.min() - 0.3, anomalous.max() + 0.3


def plot_event(axes, event: dict, times: np.ndarray) -> None:
    params = event["params"]
    model_times = np.linspace(times[0], times[-1], 20_000)
    model_mag = flux_to_mag(
        event["flux_source"] * binary_magnification(params, model_times)[0] + event["flux_blend"]
    )[0]
    start, end = anomaly_window(params, model_times)
    for ax, (low, high) in zip(axes[:2], [(times[0], times[-1]), (start, end)], strict=True):
        inside = (event["time"] >= low) & (event["time"] <= high)
        ax.errorbar(
            event["time"][inside] - 2460000,
            event["mag"][inside],
            event["mag_err"][inside],
            fmt=".",
            ms=2,
            lw=0.5,
            color="0.55",
            zorder=1,
        )
        shown = (model_times >= low) & (model_times <= high)
        ax.plot(model_times[shown] - 2460000, model_mag[shown], color="C3", lw=1, zorder=2)
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_xlabel("BJD - 2460000")
    axes[0].set_ylabel("W149")
    axes[0].set_title(event["title"], fontsize=9, loc="left")
    axes[1].set_title("anomaly", fontsize=9, loc="left")

    ax = axes[2]
    caustics = VBMicrolensing.VBMicrolensing().Caustics(params["s"], params["q"])
    for x, y in caustics:
        ax.plot(x, y, color="k", lw=0.8)
    centre, radius = nearest_caustic(params, model_times[::10])
    half = max(1.4 * radius, 0.02) if radius > 0.05 else max(3 * radius, 10 * params["rho"])
    x, y = source_trajectory(params, model_times)
    ax.plot(x[0], y[0], color="C0", lw=0.8)
    step = len(model_times) // 40
    ax.annotate(
        "",
        xy=(x[0, 20 * step + 1], y[0, 20 * step + 1]),
        xytext=(x[0, 20 * step], y[0, 20 * step]),
        arrowprops=dict(arrowstyle="->", color="C0"),
    )
    q, s = params["q"], params["s"]
    ax.plot([-s * q / (1 + q), s / (1 + q)], [0, 0], "+", color="C2", ms=6)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_aspect("equal")
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.set_title(
        f"u_0 = {params['u_0']:.3f}, alpha = {params['alpha']:.0f} deg", fontsize=9, loc="left"
    )
    ax.set_xlabel("x [theta_E]")


def main() -> None:
    times = roman_epochs()
    events = example_events() + proposal_events(times)
    fig = Figure(figsize=(13, 3.1 * len(events)), layout="tight")
    axes = fig.subplots(len(events), 3, gridspec_kw={"width_ratios": [2, 1.3, 1]})
    for row, event in zip(axes, events, strict=True):
        plot_event(row, event, times)
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=80)
    print(f"wrote {FIGURE.relative_to(ROOT)} ({FIGURE.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
