"""Simulation configs and the dataset directory: JSON round trips, file layout, reading."""

from __future__ import annotations

import json
import pickle

import h5py
import numpy as np
import pytest

from mulens_npe import __version__
from mulens_npe.errors import ConfigurationError, MulensNPEError
from mulens_npe.parameters import PARAMETER_NAMES
from mulens_npe.simulate.config import SimulationConfig, TimeGrid
from mulens_npe.simulate.dataset import SimulationDataset
from mulens_npe.simulate.magnification import binary_magnification
from mulens_npe.simulate.roman import roman_dc2026_epochs, roman_epochs
from mulens_npe.simulate.runner import simulate, simulate_chunk
from mulens_npe.simulate.store import MANIFEST_NAME, chunk_path, grid_digest

SHORT = TimeGrid(duration=2.0)  # 190 epochs at 15.16 min


@pytest.fixture(scope="module")
def config() -> SimulationConfig:
    return SimulationConfig(n=25, seed=7, chunk_size=10, grid=SHORT)


@pytest.fixture(scope="module")
def dataset(config, tmp_path_factory) -> SimulationDataset:
    return simulate(config, tmp_path_factory.mktemp("sim") / "data", workers=1, progress=False)


# --- config -------------------------------------------------------------------------------


def test_config_json_round_trip_keeps_every_field():
    config = SimulationConfig(
        n=300_000,
        seed=2**70,
        chunk_size=500,
        grid=TimeGrid(kind="dc2026", season=4),
        prior={"t_0": [2462728.75, 2462799.5], "bounds": {"q": [1e-5, 1e-2], "s": [0.3, 3.0]}},
        proposal={"caustic_fraction": 0.25, "width": 3.0},
        tolerance=1e-4,
        dtype="float64",
    )
    again = SimulationConfig.from_json(config.to_json())
    assert again == config
    assert again.to_dict() == json.loads(config.to_json())
    assert pickle.loads(pickle.dumps(config)) == config


def test_config_defaults_are_one_roman_season_with_half_caustic_proposals():
    config = SimulationConfig(n=10, seed=0)
    assert config.chunk_size == 1000 and config.dtype == "float32" and config.tolerance == 1e-3
    assert config.proposal == {"caustic_fraction": 0.5}
    times = config.grid.epochs()
    np.testing.assert_array_equal(times, roman_epochs())
    assert config.build_prior(times).t_0 == (times[0], times[-1])
    assert SimulationConfig.from_dict({"n": 3e5, "seed": 1}).n == 300_000


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"n": 1, "seed": 0, "cadence": 5}, "['cadence']"),
        ({"n": 1}, "missing required key(s) ['seed']"),
        ({"n": 1, "seed": 0, "grid": {"kind": "roman", "every": 3}}, "['every']"),
        ({"n": 1, "seed": 0, "prior": {"bounds": {"mass": [0, 1]}}}, "['mass']"),
        ({"n": 1, "seed": 0, "prior": {"range": 1}}, "['range']"),
    ],
)
def test_unknown_keys_are_named(spec, fragment):
    with pytest.raises(ConfigurationError) as info:
        SimulationConfig.from_dict(spec)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n": 0}, "n (number of light curves) must be >= 1"),
        ({"n": -5}, "must be >= 1"),
        ({"n": 2.5}, "must be an integer"),
        ({"chunk_size": 0}, "chunk_size must be >= 1"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"tolerance": 0.0}, "tolerance must be finite and > 0"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"prior": {"bounds": {"q": [1.0, 1e-6]}}}, "low < high"),
        ({"grid": {"kind": "dc2026", "season": 9}}, "season 1-6"),
        ({"grid": {"kind": "kepler"}}, "unknown kind"),
    ],
)
def test_bad_values_raise_configuration_errors(kwargs, fragment):
    with pytest.raises(ConfigurationError) as info:
        SimulationConfig(**{"n": 10, "seed": 0, **kwargs})
    assert fragment in str(info.value)


def test_bad_proposal_options_fail_before_any_work(tmp_path):
    config = SimulationConfig(n=5, seed=0, grid=SHORT, proposal={"caustic_frac": 0.5})
    with pytest.raises(ConfigurationError, match="caustic_frac"):
        simulate(config, tmp_path / "out", workers=1, progress=False)
    assert not (tmp_path / "out").exists()


def test_time_grid_forms():
    assert TimeGrid.parse("roman") == TimeGrid()
    dc = TimeGrid.parse("dc2026:2")
    np.testing.assert_array_equal(dc.epochs(), roman_dc2026_epochs(2))
    assert TimeGrid.from_dict(dc.to_dict()) == dc
    custom = TimeGrid(season_start=2460000.0, duration=1.0, cadence_min=60.0)
    np.testing.assert_allclose(np.diff(custom.epochs()), 1 / 24)
    for bad in ("dc2026", "dc2026:7", "kmtnet", "roman:3"):
        with pytest.raises(ConfigurationError):
            TimeGrid.parse(bad)


def test_chunks_get_independent_reproducible_streams():
    config = SimulationConfig(n=30, seed=5, chunk_size=10)
    assert [config.chunk_rows(i) for i in range(3)] == [(0, 10), (10, 20), (20, 30)]
    first = np.random.default_rng(config.seed_sequence(1)).uniform(size=4)
    again = np.random.default_rng(config.seed_sequence(1)).uniform(size=4)
    other = np.random.default_rng(config.seed_sequence(2)).uniform(size=4)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert SimulationConfig(n=31, seed=0, chunk_size=10).n_chunks == 4


# --- layout -------------------------------------------------------------------------------


def test_directory_layout_and_manifest(dataset, config):
    names = sorted(p.name for p in dataset.path.iterdir())
    assert names == [
        "chunk_00000.h5",
        "chunk_00001.h5",
        "chunk_00002.h5",
        "grid.h5",
        MANIFEST_NAME,
    ]
    manifest = json.loads((dataset.path / MANIFEST_NAME).read_text())
    assert manifest["format"] == "mulens_npe.simulation" and manifest["format_version"] == 1
    assert SimulationConfig.from_dict(manifest["config"]) == config
    assert manifest["created"]["software"]["mulens-npe"] == __version__
    assert manifest["grid"]["n_epochs"] == 190 == dataset.times.size
    assert manifest["grid"]["sha256"] == grid_digest(roman_epochs(duration=2.0))
    assert manifest["proposal"]["caustic_fraction"] == 0.5
    assert manifest["prior"]["t_0"] == [dataset.times[0], dataset.times[-1]]
    assert manifest["parameters"]["names"] == list(PARAMETER_NAMES)


def test_chunk_file_contents(dataset):
    with h5py.File(chunk_path(dataset.path, 2), "r") as f:
        assert f.attrs["chunk_index"] == 2 and tuple(f.attrs["rows"]) == (20, 25)
        assert f.attrs["seed_entropy"] == "7" and tuple(f.attrs["seed_spawn_key"]) == (2,)
        assert list(f["params"].attrs["columns"]) == list(PARAMETER_NAMES)
        assert f["params"].shape == (5, 7) and f["params"].dtype == np.float64
        assert f["log_weight"].shape == (5,)
        mag = f["magnification"]
        assert mag.shape == (5, 190) and mag.dtype == np.float32
        assert mag.chunks == (1, 190) and mag.compression == "gzip"


def test_stored_curves_are_the_physics_of_the_stored_parameters(dataset, config):
    """Recompute magnification and weights from the parameters on disk."""
    curves = dataset.batch(np.arange(len(dataset)))
    params = curves.parameters()
    expected = binary_magnification(params, dataset.times, tolerance=config.tolerance)
    np.testing.assert_allclose(curves.magnification, expected, rtol=1e-6)
    sampler = config.build_sampler(dataset.prior)
    np.testing.assert_allclose(curves.log_weight, sampler.log_weight(params), rtol=1e-12)
    assert np.all(dataset.prior.contains(params))
    assert np.all(curves.magnification >= 0.999)


def test_a_chunk_is_a_function_of_seed_and_index_only(dataset, config):
    sampler = config.build_sampler(dataset.prior)
    params, log_weight, mag = simulate_chunk(config, dataset.times, sampler, 1)
    stored = dataset.chunk(1)
    np.testing.assert_array_equal(stored.params, params)
    np.testing.assert_array_equal(stored.log_weight, log_weight)
    np.testing.assert_array_equal(stored.magnification, mag)


# --- reading ------------------------------------------------------------------------------


def test_random_access_agrees_with_chunk_iteration(dataset):
    whole = list(dataset.chunks())
    params = np.concatenate([c.params for c in whole])
    mag = np.concatenate([c.magnification for c in whole])
    np.testing.assert_array_equal(np.concatenate([c.index for c in whole]), np.arange(25))
    rows = [24, 3, 3, 11, -1, 0, 19]
    batch = dataset.batch(rows)
    expected = np.array(rows) % 25
    np.testing.assert_array_equal(batch.index, expected)
    np.testing.assert_array_equal(batch.params, params[expected])
    np.testing.assert_array_equal(batch.magnification, mag[expected])
    one = dataset[7]
    assert one.params.shape == (7,) and one.magnification.shape == (190,)
    np.testing.assert_array_equal(one.magnification, mag[7])
    np.testing.assert_array_equal(dataset[8:12].params, params[8:12])
    assert one.parameters()["s"] == params[7, PARAMETER_NAMES.index("s")]
    assert len(dataset.batch([])) == 0


def test_bad_indices(dataset):
    with pytest.raises(IndexError):
        dataset.batch([25])
    with pytest.raises(IndexError):
        dataset.batch([-26])
    with pytest.raises(IndexError):
        dataset.batch([1.5])
    with pytest.raises(IndexError):
        dataset.chunk(3)


def test_reader_properties_and_pickling(dataset):
    assert len(dataset) == 25 and dataset.n_chunks == 3 and dataset.n_epochs == 190
    assert dataset.parameter_names == PARAMETER_NAMES
    assert not dataset.times.flags.writeable
    assert "n=25" in repr(dataset)
    dataset.batch([0, 12, 24])  # opens files
    clone = pickle.loads(pickle.dumps(dataset))
    np.testing.assert_array_equal(clone.batch([5]).magnification, dataset.batch([5]).magnification)
    with SimulationDataset(dataset.path) as again:
        assert len(again) == 25


def test_reader_refuses_what_is_not_a_whole_dataset(dataset, tmp_path):
    with pytest.raises(MulensNPEError, match="has no manifest.json"):
        SimulationDataset(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(MulensNPEError, match="cannot be read as JSON"):
        SimulationDataset(tmp_path)
    manifest = json.loads((dataset.path / MANIFEST_NAME).read_text())
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(MulensNPEError, match="Upgrade mulens_npe"):
        SimulationDataset(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(MulensNPEError, match="3 of 3 chunk files are missing"):
        SimulationDataset(tmp_path)


def test_reader_refuses_a_chunk_from_another_dataset(dataset, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(dataset.path, copy)
    shutil.copy(chunk_path(copy, 0), chunk_path(copy, 1))
    with pytest.raises(MulensNPEError, match="does not belong to this dataset"):
        SimulationDataset(copy).batch([12])
