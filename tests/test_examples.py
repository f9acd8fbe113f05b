"""Every script in examples/ runs, on a tiny budget: the tiny model of conftest, a short event.

Each example is loaded as a module and its ``main()`` run with a patched ``sys.argv`` in a
temporary folder, so nothing is written into the repository.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(monkeypatch, module, *argv) -> int:
    monkeypatch.setattr(sys, "argv", [module.__file__, *(str(a) for a in argv)])
    return module.main()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")


def test_every_example_is_tested():
    tested = {
        "quickstart", "propose_mulensmodel", "propose_pylima", "refine_emcee", "fit_survey",
        "train_your_own", "make_example_events", "plot_simulated_events",
    }  # fmt: skip
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_quickstart(monkeypatch, capsys, tiny_model, tiny_event_file):
    assert run(monkeypatch, load("quickstart"), tiny_event_file, "--model", tiny_model) == 0
    assert "emcee walkers: (32, 7)" in capsys.readouterr().out


def test_propose_mulensmodel(monkeypatch, tmp_path, capsys, tiny_model, tiny_event_file):
    module = load("propose_mulensmodel")
    args = (tiny_event_file, "--model", tiny_model, "--time-budget", "2", "--plot", "fit.png")
    assert run(monkeypatch, module, *args) == 0
    assert "delta chi2 over a single lens" in capsys.readouterr().out
    assert np.loadtxt(tmp_path / "npe_starting_walkers.txt").shape == (32, 7)
    assert (tmp_path / "fit.png").stat().st_size > 10_000


def test_propose_pylima(monkeypatch, capsys, tiny_model, tiny_event_file):
    pytest.importorskip("pyLIMA", reason="pyLIMA is an optional dependency")
    assert run(monkeypatch, load("propose_pylima"), tiny_event_file, "--model", tiny_model) == 0
    assert "pyLIMA best model" in capsys.readouterr().out


def test_refine_emcee(monkeypatch, tmp_path, tiny_model, tiny_event_file):
    module = load("refine_emcee")
    args = (tiny_event_file, "--model", tiny_model, "--steps", "6", "--walkers", "16")
    assert run(monkeypatch, module, *args, "--out", "chain.ecsv") == 0
    chain = Table.read(tmp_path / "chain.ecsv", format="ascii.ecsv")
    assert len(chain) == 6 * 16


def test_fit_survey(monkeypatch, tmp_path, capsys, tiny_model, tiny_event_file):
    folder = tmp_path / "night"
    folder.mkdir()
    (folder / "one.dat").write_bytes(tiny_event_file.read_bytes())
    (folder / "broken.dat").write_text("nothing to read\n")
    args = (folder, "--model", tiny_model, "--out", "fits", "--time-budget", "1")
    assert run(monkeypatch, load("fit_survey"), *args, "--n-samples", "200") == 0
    table = Table.read(tmp_path / "fits" / "results.ecsv", format="ascii.ecsv")
    assert list(table["status"]) == ["input error", "ok"]
    assert "broken" in capsys.readouterr().out


def test_train_your_own(monkeypatch, tmp_path, capsys):
    args = ("--out", "mine", "--n", "40", "--steps", "2", "--days", "12", "--small")
    assert run(monkeypatch, load("train_your_own"), *args, "--n-eval", "6") == 0
    assert (tmp_path / "mine" / "model" / "card.json").is_file()
    assert (tmp_path / "mine" / "evaluation" / "evaluation.md").is_file()
    assert "posterior median s" in capsys.readouterr().out


def test_make_example_events_reproduces_the_shipped_files(monkeypatch, tmp_path):
    module = load("make_example_events")
    monkeypatch.setattr(module, "OUT", tmp_path)
    module.main()
    for name in ("roman_planet_example", "roman_binary_example"):
        assert (tmp_path / f"{name}.dat").read_text() == (
            EXAMPLES / "data" / f"{name}.dat"
        ).read_text()
        written = json.loads((tmp_path / f"{name}.truth.json").read_text())
        shipped = json.loads((EXAMPLES / "data" / f"{name}.truth.json").read_text())
        assert written == shipped


def test_plot_simulated_events(monkeypatch, tmp_path):
    module = load("plot_simulated_events")
    monkeypatch.setattr(module, "FIGURE", tmp_path / "figures" / "simulated.png")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    module.main()
    assert (tmp_path / "figures" / "simulated.png").stat().st_size > 50_000
