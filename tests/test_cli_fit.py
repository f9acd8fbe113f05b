"""`mulens-npe fit` and `propose`: files written and readable, JSON, exit codes, one-line errors.

A tiny model trained in the test (conftest.tiny_model) stands in for the shipped one: these
tests check the command, not the posterior. The accuracy check on the shipped example event
is in test_shipped_model.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table

from mulens_npe.cli import main
from mulens_npe.parameters import PARAMETER_NAMES

FAST = ["--n-samples", "200", "--n-solutions", "2", "--time-budget", "2", "--seed", "1"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_fit_one_event_writes_readable_tables_and_figures(
    tmp_path, capsys, tiny_model, tiny_event_file
):
    out = tmp_path / "fit"
    status, stdout, stderr = run(
        capsys, "fit", tiny_event_file, "--model", tiny_model, "--out", out, *FAST
    )
    assert status == 0, stderr
    solutions = Table.read(out / "solutions.ecsv", format="ascii.ecsv")
    assert 1 <= len(solutions) <= 2
    assert set(PARAMETER_NAMES) <= set(solutions.colnames)
    assert {"chi2", "chi2_dof", "delta_chi2", "source_flux_0", "blend_flux_0"} <= set(
        solutions.colnames
    )
    assert str(solutions["t_E"].unit) == "d" and str(solutions["alpha"].unit) == "deg"
    assert np.all(np.diff(solutions["chi2"]) >= 0)  # ranked best first
    samples = Table.read(out / "samples.ecsv", format="ascii.ecsv")
    assert len(samples) == 200 and samples.colnames == list(PARAMETER_NAMES)
    for name in ("lightcurve.png", "caustics.png", "corner.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 20_000, name
    # the printed table: a header, then one line per solution with its numbers
    lines = stdout.splitlines()
    assert lines[0].startswith("tiny_event: 1 dataset(s)")
    header = lines[2].split()
    assert header[:4] == ["#", "label", "from", "t_0"] and header[-3:] == [
        "chi2",
        "chi2/dof",
        "dchi2_1L",
    ]
    first = lines[3].split()
    assert first[0] == "1" and float(first[10]) == pytest.approx(solutions["chi2"][0], abs=0.1)
    # progress on stderr, one line per step
    assert "posterior (200 samples)" in stderr and "writing" in stderr


def test_fit_quiet_json_is_valid_with_mulensmodel_names(
    tmp_path, capsys, tiny_model, tiny_event_file
):
    import MulensModel

    status, stdout, stderr = run(
        capsys, "fit", tiny_event_file, "--model", tiny_model, "--out", tmp_path / "j",
        "--json", "--quiet", "--no-plots", *FAST,
    )  # fmt: skip
    assert status == 0 and stderr == ""
    document = json.loads(stdout)
    best = document["solutions"][0]
    assert set(best["parameters"]) == set(PARAMETER_NAMES)
    model = MulensModel.Model(best["parameters"])  # the names MulensModel takes
    assert model.parameters.s == pytest.approx(best["parameters"]["s"])
    assert best["chi2"] > 0 and best["dof"] == 168 - 9
    assert not (tmp_path / "j" / "lightcurve.png").exists()
    assert json.loads((tmp_path / "j" / "solutions.json").read_text()) == document


def test_propose_writes_json_for_pipelines(tmp_path, capsys, tiny_model, tiny_event_file):
    target = tmp_path / "solutions.json"
    status, stdout, stderr = run(
        capsys, "propose", tiny_event_file, "--model", tiny_model, "--json", target, *FAST
    )
    assert status == 0, stderr
    assert stdout == ""
    document = json.loads(target.read_text())
    assert {"meta", "solutions", "modes", "single_lens", "timings", "warnings"} <= set(document)
    assert document["meta"]["seed"] == 1 and document["meta"]["n_samples"] == 200
    for solution in document["solutions"]:
        assert list(solution["parameters"]) == list(PARAMETER_NAMES)
        assert solution["fluxes"][0]["band"] == "tiny_event.dat"


def test_n_starts_reaches_propose(tmp_path, capsys, tiny_model, tiny_event_file):
    from mulens_npe.cli_fit import FIT_N_STARTS

    for option, expected in (((), FIT_N_STARTS), (("--n-starts", "5"), 5)):
        target = tmp_path / f"{expected}.json"
        args = ("propose", tiny_event_file, "--model", tiny_model, "--json", target, *FAST)
        assert run(capsys, *args, *option)[0] == 0
        assert json.loads(target.read_text())["meta"]["n_starts"] == expected


def test_same_seed_same_answer(tmp_path, capsys, tiny_model, tiny_event_file):
    outputs = []
    for k in range(2):
        target = tmp_path / f"{k}.json"
        args = ("propose", tiny_event_file, "--model", tiny_model, "--json", target, "--quiet")
        # no map search: unbounded it is seeded too, but costs ~30 s per run on 2 cores
        options = ("--n-samples", "200", "--n-solutions", "2", "--no-map-starts")
        assert run(capsys, *args, *options)[0] == 0
        outputs.append(json.loads(target.read_text())["solutions"])
    assert outputs[0] == outputs[1]


def test_several_files_are_several_telescopes(tmp_path, capsys, tiny_model, tiny_event_file):
    rows = np.loadtxt(tiny_event_file)
    second = tmp_path / "other_site.dat"
    np.savetxt(second, rows + [0.0, 0.3, 0.0])  # the same epochs, 0.3 mag fainter
    out = tmp_path / "two"
    status, stdout, stderr = run(
        capsys, "fit", tiny_event_file, second, "--model", tiny_model, "--out", out, *FAST
    )
    assert status == 0, stderr
    assert "2 dataset(s) (tiny_event.dat, other_site.dat), 336 epochs" in stdout
    best = Table.read(out / "solutions.ecsv", format="ascii.ecsv")[0]
    # one source and blend flux per telescope: the magnitude offset is in the fluxes
    for key in ("source_flux", "blend_flux"):
        ratio = best[f"{key}_1"] / best[f"{key}_0"]
        assert ratio == pytest.approx(10 ** (-0.4 * 0.3), rel=1e-6)
    assert (out / "lightcurve.png").stat().st_size > 20_000


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["fit"], "fit needs light-curve files"),
        (["fit", "{event}", "--model", "{missing}"], "card.json"),
        (["fit", "{missing}/x.dat", "--model", "{model}"], "x.dat"),
        (["fit", "{event}", "--model", "{model}", "--scheduler", "tcp://h:1"], "for batches"),
        (["propose", "{event}", "--model", "{model}", "--json", "{missing}/a/b.json"], "b.json"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    tmp_path, capsys, tiny_model, tiny_event_file, argv, fragment
):
    values = {"event": tiny_event_file, "model": tiny_model, "missing": tmp_path / "missing"}
    argv = [a.format(**values) for a in argv]
    status, _, stderr = run(capsys, *argv, "--quiet", "--n-samples", "100", "--time-budget", "1")
    assert status == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"mulens-npe {argv[0]}: error:") and fragment in lines[0]


@pytest.mark.parametrize(
    "option",
    [["--n-samples", "0"], ["--time-budget", "-1"], ["--n-solutions", "x"], ["--n-starts", "0"]],
)
def test_bad_option_values_exit_2(capsys, tiny_event_file, option):
    status, _, stderr = run(capsys, "fit", tiny_event_file, *option)
    assert status == 2
    assert stderr.strip().splitlines()[-1].startswith("mulens-npe fit: error: argument")


def test_without_a_shipped_model_the_error_says_what_to_do(capsys, tiny_event_file):
    from mulens_npe.initializer import available_models

    if available_models():
        pytest.skip("a model is shipped: the default works")
    status, _, stderr = run(capsys, "fit", tiny_event_file, "--quiet")
    assert status == 2 and "--model DIR" in stderr and len(stderr.strip().splitlines()) == 1


def test_unexpected_failure_exits_1_with_traceback(
    tmp_path, capsys, monkeypatch, tiny_model, tiny_event_file
):
    from mulens_npe.initializer import NPEInitializer

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(NPEInitializer, "propose", broken)
    status, _, stderr = run(
        capsys, "fit", tiny_event_file, "--model", tiny_model, "--out", tmp_path, "--quiet"
    )
    assert status == 1
    assert "Traceback" in stderr
    assert (
        stderr.strip()
        .splitlines()[-1]
        .startswith("mulens-npe fit: unexpected error: RuntimeError: boom")
    )


def test_refine_writes_the_chain_and_prints_its_summary(
    tmp_path, capsys, tiny_model, tiny_event_file
):
    out = tmp_path / "refined"
    status, stdout, stderr = run(
        capsys, "fit", tiny_event_file, "--model", tiny_model, "--out", out, "--refine", "4",
        "--no-plots", "--quiet", *FAST,
    )  # fmt: skip
    assert status == 0, stderr
    chain = Table.read(out / "chain.ecsv", format="ascii.ecsv")
    assert len(chain) == 4 * 32 and set(PARAMETER_NAMES) <= set(chain.colnames)
    assert "emcee: 4 steps x 32 walkers" in stdout and "chain.ecsv" in stdout


def test_propose_without_json_prints_the_table(capsys, tiny_model, tiny_event_file):
    status, stdout, _ = run(capsys, "propose", tiny_event_file, "--model", tiny_model, *FAST)
    assert status == 0
    assert "chi2/dof" in stdout.splitlines()[2]
