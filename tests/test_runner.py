"""simulate(): same seed, same dataset on any number of workers, on Dask, and after resuming."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from mulens_npe.errors import ConfigurationError, MulensNPEError
from mulens_npe.simulate import runner
from mulens_npe.simulate.config import SimulationConfig, TimeGrid
from mulens_npe.simulate.dataset import SimulationDataset
from mulens_npe.simulate.runner import simulate
from mulens_npe.simulate.store import MANIFEST_NAME, chunk_path

CONFIG = SimulationConfig(n=45, seed=7, chunk_size=10, grid=TimeGrid(duration=2.0))


def contents(path) -> dict[str, np.ndarray]:
    """Every array of a dataset, read chunk file by chunk file."""
    data = SimulationDataset(path)
    chunks = list(data.chunks())
    return {
        name: np.concatenate([getattr(c, name) for c in chunks])
        for name in ("params", "log_weight", "magnification")
    } | {"times": data.times}


def assert_same(a, b) -> None:
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def stamps(path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(path.glob("chunk_*.h5"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "data"
    simulate(CONFIG, out, workers=1, progress=False)
    return contents(out)


def test_two_worker_processes_give_the_same_dataset(reference, tmp_path):
    data = simulate(CONFIG, tmp_path / "pool", workers=2, progress=False)
    assert len(data) == 45 and data.n_chunks == 5
    assert_same(contents(tmp_path / "pool"), reference)


def test_dask_cluster_gives_the_same_dataset(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        simulate(CONFIG, tmp_path / "client", scheduler=client, progress=False)
        assert client.status == "running"  # a Client we were given stays open
        simulate(CONFIG, tmp_path / "address", scheduler=cluster.scheduler_address, progress=False)
    assert_same(contents(tmp_path / "client"), reference)
    assert_same(contents(tmp_path / "address"), reference)


def test_an_interrupted_run_resumes_to_the_same_dataset(reference, tmp_path, monkeypatch):
    out = tmp_path / "data"
    real = runner.simulate_chunk

    def fail_on_chunk_2(config, times, sampler, index):
        if index == 2:
            raise KeyboardInterrupt
        return real(config, times, sampler, index)

    monkeypatch.setattr(runner, "simulate_chunk", fail_on_chunk_2)
    with pytest.raises(KeyboardInterrupt):
        simulate(CONFIG, out, workers=1, progress=False)
    assert sorted(p.name for p in out.glob("chunk_*")) == ["chunk_00000.h5", "chunk_00001.h5"]
    with pytest.raises(MulensNPEError, match="3 of 5 chunk files are missing"):
        SimulationDataset(out)
    before = stamps(out)

    monkeypatch.setattr(runner, "simulate_chunk", real)
    simulate(CONFIG, out, workers=2, progress=False)
    assert_same(contents(out), reference)
    after = stamps(out)
    assert all(after[name] == stamp for name, stamp in before.items())  # kept, not recomputed


def test_a_failure_while_writing_leaves_no_half_chunk(tmp_path, monkeypatch):
    real = h5py.Group.create_dataset

    def full_disk(self, name, *args, **kwargs):
        if name == "magnification" and "chunk_00001" in self.file.filename:
            raise OSError("No space left on device")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", full_disk)
    with pytest.raises(OSError, match="No space left"):
        simulate(CONFIG, tmp_path / "data", workers=1, progress=False)
    names = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert names == ["chunk_00000.h5", "grid.h5", MANIFEST_NAME]


def test_missing_chunk_and_stray_temporary_file_are_repaired(reference, tmp_path):
    out = tmp_path / "data"
    simulate(CONFIG, out, workers=1, progress=False)
    chunk_path(out, 3).unlink()
    stray = out / "chunk_00003.5f2a9c1b7e44.h5.tmp"
    stray.write_bytes(b"\x89HDF half written")
    before = stamps(out)
    simulate(CONFIG, out, workers=2, progress=False)
    assert not stray.exists()
    assert_same(contents(out), reference)
    after = stamps(out)
    assert {name for name in after if after[name] != before.get(name)} == {"chunk_00003.h5"}


def test_running_again_on_a_complete_dataset_changes_nothing(tmp_path):
    out = tmp_path / "data"
    simulate(CONFIG, out, workers=1, progress=False)
    before = stamps(out) | {MANIFEST_NAME: (out / MANIFEST_NAME).stat().st_mtime_ns}
    simulate(CONFIG, out, workers=1, progress=False)
    assert stamps(out) | {MANIFEST_NAME: (out / MANIFEST_NAME).stat().st_mtime_ns} == before


@pytest.mark.slow
def test_a_killed_process_resumes_to_the_same_dataset(tmp_path):
    """SIGKILL a real run part way, then finish it: the same as one uninterrupted run."""
    config = SimulationConfig(n=120, seed=3, chunk_size=8, grid=TimeGrid(duration=20.0))
    out = tmp_path / "killed"
    script = textwrap.dedent(
        f"""
        from mulens_npe.simulate.config import SimulationConfig
        from mulens_npe.simulate.runner import simulate
        config = SimulationConfig.from_json({config.to_json()!r})
        simulate(config, {str(out)!r}, workers=1, progress=False)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while len(list(out.glob("chunk_*.h5"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"
    assert 2 <= len(list(out.glob("chunk_*.h5"))) < config.n_chunks
    simulate(config, out, workers=2, progress=False)
    whole = tmp_path / "whole"
    simulate(config, whole, workers=1, progress=False)
    assert not list(out.glob("*.tmp"))
    assert_same(contents(out), contents(whole))


def test_resuming_with_another_config_is_refused(tmp_path):
    out = tmp_path / "data"
    simulate(CONFIG, out, workers=1, progress=False)
    other_seed = SimulationConfig.from_dict({**CONFIG.to_dict(), "seed": 8})
    with pytest.raises(ConfigurationError, match=r"config\.seed: 7 on disk, 8 now"):
        simulate(other_seed, out, workers=1, progress=False)
    other_grid = SimulationConfig.from_dict({**CONFIG.to_dict(), "grid": {"duration": 3.0}})
    with pytest.raises(ConfigurationError, match="time grid") as info:
        simulate(other_grid, out, workers=1, progress=False)
    assert "different configuration" in str(info.value)


def test_resuming_with_other_software_warns(tmp_path):
    out = tmp_path / "data"
    simulate(CONFIG, out, workers=1, progress=False)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    manifest["created"]["software"]["VBMicrolensing"] = "4.0.0"
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    chunk_path(out, 4).unlink()
    with pytest.warns(RuntimeWarning, match=r"VBMicrolensing 4\.0\.0 -> "):
        simulate(CONFIG, out, workers=1, progress=False)


def test_refuses_a_directory_that_is_not_a_dataset(tmp_path):
    (tmp_path / "notes.txt").write_text("my thesis")
    with pytest.raises(ConfigurationError, match=r"not empty \(notes\.txt\)"):
        simulate(CONFIG, tmp_path, workers=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigurationError, match="exists and is not a directory"):
        simulate(CONFIG, blocker, workers=1, progress=False)
    with pytest.raises(ConfigurationError, match="cannot create the dataset directory"):
        simulate(CONFIG, blocker / "data", workers=1, progress=False)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ConfigurationError, match="not writable"):
            simulate(CONFIG, locked, workers=1, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"workers": 0}, "workers must be a positive integer"),
        ({"workers": "2"}, "workers must be a positive integer"),
        ({"workers": 2, "scheduler": "tcp://127.0.0.1:8786"}, "not both"),
        ({"scheduler": 8786}, "scheduler must be a dask.distributed.Client or an address"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        simulate(CONFIG, tmp_path / "data", progress=False, **kwargs)


def test_config_must_be_a_simulation_config(tmp_path):
    with pytest.raises(ConfigurationError, match="must be a SimulationConfig"):
        simulate({"n": 5, "seed": 0}, tmp_path / "data")


def test_unreachable_scheduler(tmp_path):
    dask = pytest.importorskip("dask")
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "0.2s"}),
        pytest.raises(ConfigurationError, match="cannot reach the Dask scheduler"),
    ):
        simulate(CONFIG, tmp_path / "data", scheduler="tcp://127.0.0.1:9", progress=False)


@pytest.mark.skipif(
    multiprocessing.get_start_method() != "fork", reason="needs the patch inherited by fork"
)
def test_progress_is_reported_as_chunks_finish(tmp_path, monkeypatch):
    """The bar moves when the first chunk is done, not when the last one is."""
    out, gate, last = tmp_path / "data", tmp_path / "gate", CONFIG.n_chunks - 1
    real = runner.simulate_chunk

    def last_chunk_waits_for_the_bar(config, times, sampler, index):
        deadline = time.monotonic() + 20
        while index == last and not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return real(config, times, sampler, index)

    class Bar:
        updates: list[tuple[int, bool]] = []

        def __init__(self, *args, **kwargs) -> None:
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

        def update(self, n: int) -> None:
            Bar.updates.append((n, chunk_path(out, last).exists()))
            gate.touch()

    monkeypatch.setattr(runner, "simulate_chunk", last_chunk_waits_for_the_bar)
    monkeypatch.setattr(runner, "tqdm", Bar)
    simulate(CONFIG, out, workers=2, progress=False)
    assert Bar.updates[0] == (10, False)
    assert sum(n for n, _ in Bar.updates) == 45 and len(Bar.updates) == 5


def test_progress_bar_counts_curves(tmp_path, capsys):
    out = tmp_path / "data"
    shutil.rmtree(out, ignore_errors=True)
    simulate(CONFIG, out, workers=1, progress=True)
    err = capsys.readouterr().err
    assert "45/45" in err and "curve" in err
