"""`mulens-npe fit` with the shipped model on the shipped example events finds the truth.

Skipped when no model is installed in mulens_npe/models/ (a source checkout before training).
The criteria are loose on purpose: the network proposes, the polish refines; the best
solution must sit in the right (s, q) basin, or its close/wide twin s -> 1/s, and fit as well
as the truth does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from mulens_npe.adapters import as_lightcurves
from mulens_npe.cli import main
from mulens_npe.initializer import DEFAULT_MODEL, NPEInitializer, available_models
from mulens_npe.likelihood import Likelihood

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"

pytestmark = [
    pytest.mark.slow,
    # one worker runs both fits (module fixture) under `pytest -n auto --dist loadgroup`
    pytest.mark.xdist_group("shipped_model"),
    pytest.mark.skipif(
        DEFAULT_MODEL not in available_models(),
        reason=f"no shipped model {DEFAULT_MODEL!r} in mulens_npe/models/ (train and install it)",
    ),
]


@pytest.fixture(scope="module", params=["roman_planet_example", "roman_binary_example"])
def fitted(request, tmp_path_factory):
    event = request.param
    out = tmp_path_factory.mktemp("fit") / event
    if event == "roman_planet_example":
        # in practice unbounded: the result must not depend on the machine's speed; no map
        # starts (made for stellar binaries: unbounded, polishing them took minutes here)
        budget = ["--time-budget", "600", "--no-map-starts"]
    else:
        # fit's default budget: given 600 s, polishing this binary's map starts took all
        # of it (and the expected failure below does not depend on the budget)
        budget = ["--time-budget", "120"]
    status = main(
        [
            "fit",
            str(DATA / f"{event}.dat"),
            "--out",
            str(out),
            "--quiet",
            "--seed",
            "0",
            *budget,
            "--n-starts",
            "3",  # not fit's 10: unbounded, those take several minutes per event on 2 cores
            "--no-extend",  # and no further draws: they would run until the budget is spent
        ]
    )
    truth = json.loads((DATA / f"{event}.truth.json").read_text())["parameters"]
    return event, status, out, truth


def test_fit_writes_every_output_of_the_example_event(fitted):
    _, status, out, _ = fitted
    assert status == 0
    for name in ("solutions.ecsv", "samples.ecsv", "solutions.json"):
        assert (out / name).stat().st_size > 0
    for name in ("lightcurve.png", "caustics.png", "corner.png"):
        assert (out / name).stat().st_size > 20_000
    solutions = Table.read(out / "solutions.ecsv", format="ascii.ecsv")
    assert len(solutions) >= 1 and np.all(np.diff(np.asarray(solutions["chi2"])) >= 0)


def test_best_solution_is_near_the_truth(fitted, request):
    if fitted[0] == "roman_binary_example":
        request.applymarker(
            pytest.mark.xfail(
                reason="the shipped model does not localise s, q and alpha of this "
                "stellar binary (q = 0.3), and the anomaly starts are planetary geometry: see "
                "docs/evaluation/evaluation.md and docs/benchmarks.md",
                strict=False,
            )
        )
    event, _, out, truth = fitted
    best = Table.read(out / "solutions.ecsv", format="ascii.ecsv")[0]
    d_log_s = np.log10(best["s"]) - np.log10(truth["s"])
    twin = np.log10(best["s"]) + np.log10(truth["s"])  # close/wide: s -> 1/s
    assert min(abs(d_log_s), abs(twin)) < 0.1, (best["s"], truth["s"])
    assert abs(np.log10(best["q"]) - np.log10(truth["q"])) < 0.5, (best["q"], truth["q"])
    truth_chi2 = Likelihood(as_lightcurves(str(DATA / f"{event}.dat"))).chi2(truth)[0]
    assert best["chi2"] <= 1.1 * truth_chi2, (best["chi2"], truth_chi2)


@pytest.mark.parametrize("name", available_models())
def test_every_shipped_model_loads_by_name_and_its_posterior_holds_the_example_truth(name):
    init = NPEInitializer.from_name_or_folder(name)
    assert init.card["name"] == name
    truth = json.loads((DATA / "roman_planet_example.truth.json").read_text())["parameters"]
    samples = init.sample(str(DATA / "roman_planet_example.dat"), n=4000, seed=0)
    for key in ("t_0", "u_0", "t_E"):
        low, high = np.quantile(np.asarray(samples[key]), [0.025, 0.975])
        assert low < truth[key] < high, (name, key, low, high, truth[key])
    # s: the truth or its close/wide twin inside the central 95%; q within a decade of it
    log_s = np.log10(np.asarray(samples["s"]))
    low, high = np.quantile(log_s, [0.025, 0.975])
    assert any(low < v < high for v in (np.log10(truth["s"]), -np.log10(truth["s"]))), name
    median_q = np.median(np.log10(np.asarray(samples["q"])))
    assert abs(median_q - np.log10(truth["q"])) < 1.0, (name, median_q)
