"""The training pipeline end to end on a tiny dataset: simulate -> train -> artifact -> sample."""

import json
from dataclasses import replace

import numpy as np
import pytest

from mulens_npe.errors import ConfigurationError
from mulens_npe.initializer import NPEInitializer
from mulens_npe.training import TrainingConfig, train
from tests.tiny import TINY_TRAINING, simulate_tiny

TINY = replace(TINY_TRAINING, max_steps=4)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return simulate_tiny(tmp_path_factory.mktemp("sim") / "tiny")


def test_train_writes_a_loadable_model_that_samples(tiny_dataset, tmp_path):
    model = train(tiny_dataset, tmp_path / "model", TINY, progress=False)
    card = json.loads((tmp_path / "model" / "card.json").read_text())
    assert card["training"]["steps"] == 4
    assert card["dataset"]["size"] == 48 and card["dataset"]["seed"] == 11
    assert np.isfinite(card["metrics"]["validation_nll"])
    init = NPEInitializer.load(tmp_path / "model")
    from mulens_npe.simulate.augment import simulated_lightcurve
    from mulens_npe.simulate.dataset import SimulationDataset

    data = SimulationDataset(tiny_dataset)
    lc = simulated_lightcurve(data[0].magnification, data.times, np.random.default_rng(0))
    a = init.sample(lc, n=200, seed=5)
    b = init.sample(lc, n=200, seed=5)
    assert a.colnames == ["t_0", "u_0", "t_E", "rho", "s", "q", "alpha"]
    np.testing.assert_array_equal(np.asarray(a["s"]), np.asarray(b["s"]))
    assert len(a) == 200 and np.all(np.asarray(a["u_0"]) > 0)
    prior = model.prior
    for name in ("s", "q", "rho"):
        low, high = prior.bounds[name]
        assert np.all((np.asarray(a[name]) >= low * 0.999) & (np.asarray(a[name]) <= high * 1.001))


def test_resume_and_warm_start(tiny_dataset, tmp_path):
    train(tiny_dataset, tmp_path / "m", replace(TINY, max_steps=2), progress=False)
    resumed = train(tiny_dataset, tmp_path / "m", replace(TINY, max_steps=4), progress=False)
    assert resumed.card["training"]["steps"] == 4
    warm = train(
        tiny_dataset,
        tmp_path / "warm",
        replace(TINY, max_steps=2),
        init=tmp_path / "m",
        progress=False,
    )
    assert warm.card["training"]["warm_start"].endswith("m")


def test_config_validation_and_round_trip(tmp_path):
    assert TrainingConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ConfigurationError, match="unknown"):
        TrainingConfig.from_dict({"learning_rat": 1e-3})
    with pytest.raises(ConfigurationError, match="batch_size"):
        TrainingConfig(batch_size=0)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(TINY.to_dict()))
    assert TrainingConfig.from_file(path) == TINY
