"""`mulens-npe simulate`: the command line over simulate(), errors as one line and status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mulens_npe.cli import main
from mulens_npe.simulate.config import SimulationConfig, TimeGrid
from mulens_npe.simulate.dataset import SimulationDataset
from mulens_npe.simulate.roman import roman_dc2026_epochs
from mulens_npe.simulate.store import chunk_path

SMALL = SimulationConfig(n=20, seed=4, chunk_size=8, grid=TimeGrid(duration=1.5))


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(SMALL.to_json())
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["simulate", *argv, "--no-progress"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_simulate_from_flags(tmp_path, capsys, config_file):
    out = tmp_path / "data"
    status, stdout, stderr = run(
        capsys, "--config", str(config_file), "--n", "12", "--seed", "9", "--chunk-size", "5",
        "--out", str(out), "--workers", "1",
    )  # fmt: skip
    assert status == 0, stderr
    assert "12 light curves x 143 epochs in 3 chunk files" in stdout
    data = SimulationDataset(out)
    assert (data.config.n, data.config.seed, data.config.chunk_size) == (12, 9, 5)
    assert data.config.grid == SMALL.grid  # kept from the file


def test_same_dataset_as_the_python_api(tmp_path, capsys, config_file):
    from mulens_npe.simulate.runner import simulate

    assert run(capsys, "--config", str(config_file), "--out", str(tmp_path / "cli"))[0] == 0
    api = simulate(SMALL, tmp_path / "api", workers=1, progress=False)
    cli = SimulationDataset(tmp_path / "cli")
    np.testing.assert_array_equal(
        cli.batch(np.arange(20)).magnification, api.batch(np.arange(20)).magnification
    )


def test_dc2026_grid_flag(tmp_path, capsys):
    out = tmp_path / "dc"
    status, _, stderr = run(
        capsys, "--n", "2", "--seed", "0", "--grid", "dc2026:5", "--out", str(out), "--workers", "1"
    )
    assert status == 0, stderr
    data = SimulationDataset(out)
    np.testing.assert_array_equal(data.times, roman_dc2026_epochs(5))
    assert data.prior.t_0 == (data.times[0], data.times[-1])


def test_out_alone_resumes_with_the_recorded_config(tmp_path, capsys, config_file):
    out = tmp_path / "data"
    assert run(capsys, "--config", str(config_file), "--out", str(out), "--workers", "1")[0] == 0
    first = SimulationDataset(out).chunk(1).magnification
    chunk_path(out, 1).unlink()
    status, stdout, _ = run(capsys, "--out", str(out))
    assert status == 0 and "20 light curves" in stdout
    np.testing.assert_array_equal(SimulationDataset(out).chunk(1).magnification, first)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--n", "0", "--seed", "1"], "n (number of light curves) must be >= 1"),
        (["--n", "5", "--seed", "1", "--chunk-size", "0"], "chunk_size must be >= 1"),
        (["--n", "5"], "simulate needs --seed"),
        (["--seed", "5"], "simulate needs --n"),
        (["--n", "5", "--seed", "1", "--grid", "dc2026:9"], "needs a season 1-6, got 9"),
        (["--n", "5", "--seed", "1", "--workers", "0"], "workers must be a positive integer"),
        (["--config", "/nonexistent/sim.json"], "cannot read the config file"),
    ],
)
def test_errors_are_one_line_with_status_2(tmp_path, capsys, argv, fragment):
    status, stdout, stderr = run(capsys, *argv, "--out", str(tmp_path / "data"))
    assert status == 2
    assert stderr.startswith("mulens-npe simulate: error: ")
    assert fragment in stderr and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stdout == ""


def test_unknown_config_key_is_named(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**SMALL.to_dict(), "noise": "roman"}))
    status, _, stderr = run(capsys, "--config", str(path), "--out", str(tmp_path / "data"))
    assert status == 2 and "unknown key(s) ['noise']" in stderr


def test_a_different_config_on_an_existing_dataset(tmp_path, capsys, config_file):
    out = tmp_path / "data"
    assert run(capsys, "--config", str(config_file), "--out", str(out), "--workers", "1")[0] == 0
    status, _, stderr = run(capsys, "--out", str(out), "--seed", "5")
    assert status == 2 and "config.seed: 4 on disk, 5 now" in stderr


def test_a_directory_that_is_not_a_dataset(tmp_path, capsys):
    (tmp_path / "paper.tex").write_text("")
    status, _, stderr = run(capsys, "--n", "5", "--seed", "0", "--out", str(tmp_path))
    assert status == 2 and "is not a mulens_npe dataset" in stderr


def test_argument_errors_return_2_without_exiting(capsys):
    assert main(["simulate", "--out", "x", "--workers", "2", "--scheduler", "tcp://h:1"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["simulate", "--n", "ten", "--out", "x"]) == 2
    assert main([]) == 2
    assert "choose a command" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "simulate" in capsys.readouterr().out
