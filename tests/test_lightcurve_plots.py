"""Figures of a fit: the zoom finds the anomaly, every figure is drawn for one or two datasets."""

from __future__ import annotations

import numpy as np
from proposal_helpers import TIMES, TRUTH, proposal_at_truth, simulated_event

from mulens_npe.lightcurve_plots import anomaly_window, caustics_plot, lightcurve_plot
from mulens_npe.plots import _corner_columns, _ranges, corner_plot
from mulens_npe.simulate.magnification import binary_magnification, single_lens_magnification
from mulens_npe.singlelens import linear_fluxes


def test_the_zoom_holds_the_largest_departure_from_a_single_lens():
    """The noise-free departure, in units of the error bars, peaks inside the zoom."""
    result = proposal_at_truth()
    low, high = anomaly_window(result)
    lc, best, single = result.lightcurves[0], result.best, result.single_lens
    weight = lc.flux_err**-2.0
    binary = binary_magnification(TRUTH, lc.time)[0]
    pspl = single_lens_magnification(single["t_0"], single["u_0"], single["t_E"], lc.time)[0]
    source, blend, _ = linear_fluxes(pspl, lc.flux, weight)
    flux = best.fluxes[0]
    departure = flux["source_flux"] * binary + flux["blend_flux"] - source * pspl - blend
    strongest = lc.time[np.argmax(np.abs(departure) * np.sqrt(weight))]
    assert low < strongest < high
    assert high - low < 0.5 * (TIMES[-1] - TIMES[0])  # a zoom, not the whole light curve


def test_figures_are_drawn_for_one_and_two_datasets(tmp_path):
    for n_datasets in (1, 2):
        lightcurves = [simulated_event(seed=2 + k) for k in range(n_datasets)]
        result = proposal_at_truth(lightcurves[0])
        result.lightcurves = tuple(lightcurves)
        fluxes = result.solutions[0].fluxes
        object.__setattr__(result.solutions[0], "fluxes", fluxes * n_datasets)
        for draw, name in ((lightcurve_plot, "lc"), (caustics_plot, "caustics")):
            path = draw(result, tmp_path / f"{name}_{n_datasets}.png", title="test")
            assert path.stat().st_size > 20_000


def test_corner_ranges_hold_the_samples_and_every_marker(tmp_path):
    samples = proposal_at_truth().samples
    far = dict(TRUTH, s=4.0, q=0.5)
    ranges = _ranges(_corner_columns(samples), _corner_columns({k: [v] for k, v in far.items()}))
    log_s = np.log10(4.0)
    assert ranges[4][0] < np.log10(TRUTH["s"]) < ranges[4][1] and ranges[4][1] > log_s
    path = corner_plot(samples, tmp_path / "c.png", markers=[TRUTH, far],
                       marker_labels=["#1", "#2"])  # fmt: skip
    assert path.stat().st_size > 50_000
