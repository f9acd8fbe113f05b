"""Batch fitting: one results table, bad files reported without stopping the others, Dask.

The tiny model of conftest stands in for the shipped one; the events are short simulations.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from astropy.table import Table

from mulens_npe.batch import event_names, find_lightcurves, fit_batch
from mulens_npe.cli import main
from mulens_npe.initializer import NPEInitializer

FAST = dict(n_samples=150, n_solutions=2, time_budget=1.0, seed=2)


@pytest.fixture(scope="module")
def survey(tmp_path_factory, tiny_event_file):
    """A folder of four files: two good events, one unreadable, one with too few points."""
    folder = tmp_path_factory.mktemp("survey")
    rows = np.loadtxt(tiny_event_file)
    np.savetxt(folder / "a_event.dat", rows)
    np.savetxt(folder / "c_event.dat", rows + [0.5, 0.2, 0.0])  # another event, shifted
    (folder / "b_garbage.dat").write_text("2461450.0 19.0 0.01\nnot numbers at all\n")
    np.savetxt(folder / "d_short.dat", rows[:4])
    (folder / "notes.json").write_text("{}")  # not a light curve: ignored
    return folder


def test_find_lightcurves_and_names(survey, tmp_path):
    found = find_lightcurves(survey)
    assert [p.name for p in found] == ["a_event.dat", "b_garbage.dat", "c_event.dat", "d_short.dat"]
    assert event_names(["x/a.dat", "y/a.dat", "a.txt", "b.dat"]) == ["a", "a-2", "a-3", "b"]


def test_propose_many_gives_what_propose_gives_alone(tiny_model, tiny_event_file):
    init = NPEInitializer.load(tiny_model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = init.propose(tiny_event_file, n_samples=300, seed=4, polish=False)
        many = init.propose_many(
            [tiny_event_file, "missing.dat", tiny_event_file],
            n_samples=300,
            seed=4,
            polish=False,
            return_exceptions=True,
        )
    assert isinstance(many[1], Exception) and "missing.dat" in str(many[1])
    for result in (many[0], many[2]):
        for name in alone.samples.colnames:
            np.testing.assert_allclose(result.samples[name], alone.samples[name], rtol=1e-5)
        assert [s.label for s in result.solutions] == [s.label for s in alone.solutions]
    with pytest.raises(Exception, match="missing.dat"):
        init.propose_many(["missing.dat"], n_samples=10)


def test_propose_many_gives_each_event_its_own_time_budget(tiny_model, tiny_event_file):
    init = NPEInitializer.load(tiny_model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # no map search: without a budget it would take ~30 s per event here
        options = dict(n_samples=200, seed=1, n_solutions=2, map_starts=False)
        alone = init.propose(tiny_event_file, **options)
        many = init.propose_many([tiny_event_file] * 3, **options)
    for result in many:
        timings = result.timings
        steps = sum(
            timings[k] for k in ("preprocess", "sampling", "modes", "anomaly", "map", "polish")
        )
        assert timings["total"] == pytest.approx(steps, abs=0.05)  # not the others' time
        # the batched embedding differs from a single pass only by float rounding (the
        # polish from such draws may still end in a nearby minimum of this rugged surface)
        for name in ("t_0", "u_0", "t_E", "s", "q"):
            assert np.allclose(result.samples[name], alone.samples[name], rtol=1e-4)
    assert [s.chi2 for s in many[1].solutions] == [s.chi2 for s in many[2].solutions]


def _check_results(table: Table, out) -> None:
    status = dict(zip(table["event"], table["status"], strict=True))
    assert status == {
        "a_event": "ok",
        "b_garbage": "input error",
        "c_event": "ok",
        "d_short": "input error",
    }
    rows = {row["event"]: row for row in table}
    assert "b_garbage.dat" in rows["b_garbage"]["error"]
    assert "4" in rows["d_short"]["error"]
    for name in ("a_event", "c_event"):
        assert np.isfinite(rows[name]["chi2"]) and rows[name]["n_points"] == 168
        solutions = Table.read(out / name / "solutions.ecsv", format="ascii.ecsv")
        assert solutions["chi2"][0] == pytest.approx(rows[name]["chi2"])
        assert rows[name]["s"] == pytest.approx(solutions["s"][0])
    for name in ("b_garbage", "d_short"):
        assert not (out / name / "solutions.ecsv").exists()
        assert np.isnan(rows[name]["chi2"])


def test_cli_batch_over_a_folder_reports_bad_files_and_fits_the_rest(
    survey, tmp_path, capsys, tiny_model
):
    out = tmp_path / "batch"
    status = main(
        ["fit", str(survey), "--model", str(tiny_model), "--out", str(out), "--quiet",
         "--n-samples", "150", "--n-solutions", "2", "--time-budget", "1", "--n-starts", "2"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 2  # some events had unusable input; the others are complete
    assert "4 events: 2 ok, 2 input error(s), 0 failed" in captured.out
    table = Table.read(out / "results.ecsv", format="ascii.ecsv")
    _check_results(table, out)
    assert table.meta["n_ok"] == 2 and table.meta["n_input_error"] == 2
    assert table.meta["n_starts"] == 2
    assert not (out / "a_event" / "lightcurve.png").exists()  # no figures unless --plots


def test_batch_from_a_list_on_a_dask_cluster(survey, tmp_path, capsys, tiny_model):
    distributed = pytest.importorskip("dask.distributed")
    listing = survey / "events.list"
    listing.write_text(
        "# events of the night\na_event.dat\n\nb_garbage.dat\nc_event.dat\nd_short.dat\n"
    )
    out = tmp_path / "dask"
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        status = main(
            ["fit", "--list", str(listing), "--scheduler", cluster.scheduler_address,
             "--model", str(tiny_model), "--out", str(out), "--json", "--quiet", "--plots",
             "--n-samples", "150", "--n-solutions", "2", "--time-budget", "1"]
        )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 2
    rows = json.loads(captured.out)
    assert [row["event"] for row in rows] == ["a_event", "b_garbage", "c_event", "d_short"]
    _check_results(Table.read(out / "results.ecsv", format="ascii.ecsv"), out)
    assert (out / "a_event" / "lightcurve.png").stat().st_size > 20_000


def test_a_crash_in_one_event_is_reported_and_the_rest_succeed(
    survey, tmp_path, monkeypatch, tiny_model
):
    import mulens_npe.batch as batch

    real = batch.write_fit

    def flaky(result, out, **kwargs):
        if kwargs["name"] == "c_event":
            raise ZeroDivisionError("simulated bug")
        return real(result, out, **kwargs)

    monkeypatch.setattr(batch, "write_fit", flaky)
    files = [survey / "a_event.dat", survey / "c_event.dat"]
    table = fit_batch(files, tmp_path / "out", model=tiny_model, chunk_size=1, **FAST)
    assert list(table["status"]) == ["ok", "failed"]
    assert "ZeroDivisionError: simulated bug" in table["error"][1]
    assert (tmp_path / "out" / "a_event" / "solutions.ecsv").exists()
    status = main(
        ["fit", str(files[0]), str(files[1]), "--list", "/dev/null", "--model", str(tiny_model),
         "--out", str(tmp_path / "cli"), "--quiet", "--n-samples", "100", "--time-budget", "1"]
    )  # fmt: skip
    assert status == 1  # an unexpected failure in the batch


def test_unreachable_scheduler_is_a_user_error(survey, tmp_path, capsys, monkeypatch, tiny_model):
    monkeypatch.setattr("mulens_npe.batch.SCHEDULER_TIMEOUT", 1.0)
    status = main(
        ["fit", str(survey), "--scheduler", "tcp://127.0.0.1:1", "--model", str(tiny_model),
         "--out", str(tmp_path), "--quiet"]
    )  # fmt: skip
    assert status == 2
    assert "Dask scheduler" in capsys.readouterr().err


def test_worker_processes_with_a_dask_scheduler_are_a_user_error(survey, tmp_path, capsys):
    # Dask's worker processes are daemonic and may not start the curve workers
    status = main(
        ["fit", str(survey), "--scheduler", "tcp://127.0.0.1:1", "--workers", "2",
         "--out", str(tmp_path), "--quiet"]
    )  # fmt: skip
    assert status == 2
    assert "--workers 1" in capsys.readouterr().err
