"""The training pipeline end to end on a tiny dataset: simulate -> train -> artifact -> sample."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from mulens_npe.errors import ConfigurationError
from mulens_npe.initializer import NPEInitializer
from mulens_npe.training import (
    TrainingConfig,
    _load_moments,
    save_optimizer_moments,
    train,
)
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


def test_warm_start_reuses_the_parent_runs_adam_moments(tiny_dataset, tmp_path):
    parent = train(tiny_dataset, tmp_path / "m", replace(TINY, max_steps=3), progress=False)
    saved = torch.load(tmp_path / "m" / "checkpoint.pt", weights_only=True)["optimizer"]["state"]
    slim = save_optimizer_moments(tmp_path / "m" / "checkpoint.pt", tmp_path / "moments.pt")
    assert slim.stat().st_size < (tmp_path / "m" / "checkpoint.pt").stat().st_size / 2
    network = parent.network
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    _load_moments(optimizer, network, slim, "cpu")
    for index, param in enumerate(network.parameters()):
        state = optimizer.state[param]
        assert state["exp_avg"].dtype == param.dtype  # bfloat16 on disk, float32 in use
        torch.testing.assert_close(
            state["exp_avg_sq"], saved[index]["exp_avg_sq"], rtol=1e-2, atol=0.0
        )
        assert float(state["step"]) == 3.0
    assert optimizer.param_groups[0]["lr"] == 1e-3  # this run's learning rate, not the parent's
    warm = train(
        tiny_dataset,
        tmp_path / "warm",
        replace(TINY, max_steps=2),
        init=tmp_path / "m",
        init_optimizer=slim,
        progress=False,
    )
    assert warm.card["training"]["steps"] == 2
    # moments of another network are refused with a message, not a shape error mid-step
    other = torch.nn.Linear(3, 2)
    with pytest.raises(ConfigurationError, match="does not belong to the warm-start model"):
        _load_moments(torch.optim.AdamW(other.parameters()), other, slim, "cpu")
    not_torch = tmp_path / "moments.txt"
    not_torch.write_text("not a checkpoint")
    for path, fragment in ((tmp_path / "missing.pt", "no file"), (not_torch, "not a torch")):
        with pytest.raises(ConfigurationError, match=fragment):
            _load_moments(optimizer, network, path, "cpu")


def test_config_validation_and_round_trip(tmp_path):
    assert TrainingConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ConfigurationError, match="unknown"):
        TrainingConfig.from_dict({"learning_rat": 1e-3})
    with pytest.raises(ConfigurationError, match="batch_size"):
        TrainingConfig(batch_size=0)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(TINY.to_dict()))
    assert TrainingConfig.from_file(path) == TINY


def test_learning_rate_follows_whichever_budget_ends_first():
    from mulens_npe.training import _lr_factor

    # warm-up rises, the peak is 1, the end is annealed to 1% of it
    assert _lr_factor(0.0, 0.0) < 0.05
    assert _lr_factor(0.05, 0.0) == pytest.approx(1.0)
    assert _lr_factor(1.0, 0.0) == pytest.approx(0.01)
    # a run cut by its time budget ends annealed too, however few steps it made
    assert _lr_factor(0.1, 1.0) == pytest.approx(0.01)
    assert _lr_factor(0.1, 0.5) == _lr_factor(0.5, 0.1)
    factors = [_lr_factor(f, 0.0) for f in np.linspace(0.05, 1.0, 50)]
    assert all(b <= a for a, b in zip(factors[:-1], factors[1:], strict=True))


def test_split_seed_keeps_the_validation_set_when_the_augmentation_seed_changes():
    from mulens_npe.training import _split

    train_a, val_a = _split(1000, 0.05, 7)
    train_b, val_b = _split(1000, 0.05, 8)
    assert len(val_a) == 50 and not set(val_a) & set(train_a)
    assert set(val_a) != set(val_b)
    config = TrainingConfig(seed=11, split_seed=7)
    assert TrainingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_split_size_keeps_the_validation_set_of_a_grown_dataset():
    from mulens_npe.training import _config_split

    config = TrainingConfig(seed=11, split_seed=7, validation_fraction=0.03)
    grown = replace(config, split_size=1000)
    train_small, val_small = _config_split(1000, config)
    train_big, val_big = _config_split(2000, grown)
    # the grown dataset validates on exactly the curves the smaller one held out ...
    np.testing.assert_array_equal(val_big, val_small)
    # ... and trains on all the others, old and new, once each
    assert set(train_big) == set(train_small) | set(range(1000, 2000))
    assert len(train_big) + len(val_big) == 2000
    assert TrainingConfig.from_dict(json.loads(json.dumps(grown.to_dict()))) == grown
    with pytest.raises(ConfigurationError, match="split_size"):
        _config_split(500, grown)
    with pytest.raises(ConfigurationError, match="split_size"):
        TrainingConfig(split_size=1.5)


def test_proposal_target_counts_every_curve_and_reweights_its_samples(tiny_dataset, tmp_path):
    from mulens_npe.training import _weights

    config = replace(TINY, target="proposal")
    log_weight = np.log(np.array([2.0, 1e-3, 0.5, 1.0]))
    uniform = _weights(torch.from_numpy(log_weight), config)
    np.testing.assert_allclose(uniform.numpy(), 0.25)
    prior_weighted = _weights(torch.from_numpy(log_weight), TINY).numpy()
    np.testing.assert_allclose(prior_weighted, np.exp(log_weight) / np.exp(log_weight).sum())

    model = train(tiny_dataset, tmp_path / "p", config, progress=False)
    assert model.card["training"]["config"]["target"] == "proposal"
    assert model.card["dataset"]["proposal"] == {"caustic_fraction": 0.5}
    assert model.reweighting is not None
    from mulens_npe.simulate.augment import simulated_lightcurve
    from mulens_npe.simulate.dataset import SimulationDataset

    data = SimulationDataset(tiny_dataset)
    lc = simulated_lightcurve(data[0].magnification, data.times, np.random.default_rng(0))
    samples = NPEInitializer.load(tmp_path / "p").sample(lc, n=300, seed=2)
    assert len(samples) == 300
    ess = samples.meta["reweighting"]["effective_sample_size"]
    assert 1 <= ess <= 300
    from mulens_npe.evaluate import evaluate_model, write_report

    result = evaluate_model(model, data.times, n=4, seed=1, n_samples=100, progress=False)
    summary = result.summary()
    assert 1 <= summary["effective_sample_size"]["median"] <= 100
    assert set(summary["coverage"]["q"]) == {"68%", "95%"}
    report = (write_report(result, model, tmp_path / "report", 1) / "evaluation.md").read_text()
    assert "importance-resampled to the prior" in report and "per 100 draws" in report
    with pytest.raises(ConfigurationError, match="target"):
        TrainingConfig(target="posterior")


def test_frozen_embedding_trains_the_flow_alone_from_cached_contexts(tiny_dataset, tmp_path):
    parent = train(tiny_dataset, tmp_path / "parent", TINY, progress=False)
    frozen = replace(TINY, max_steps=6, freeze_embedding=True, cached_passes=2)
    child = train(
        tiny_dataset, tmp_path / "child", frozen, init=tmp_path / "parent", progress=False
    )
    before = parent.network.state_dict()
    after = child.network.state_dict()
    embedding = [k for k in before if k.startswith("embedding.")]
    flow = [k for k in before if k.startswith("flow.")]
    # batch-norm statistics included: the frozen embedding stays in eval mode
    assert embedding and all(torch.equal(before[k], after[k]) for k in embedding)
    assert any(not torch.equal(before[k], after[k]) for k in flow)
    assert child.card["training"]["config"]["freeze_embedding"] is True
    assert child.card["training"]["config"]["cached_passes"] == 2
    # the flow learnt on cached contexts is the network's flow: one forward pass, same density
    x = torch.randn(3, 4, TINY.preprocess.n_bins)
    theta = torch.zeros(3, 7)
    with torch.no_grad():
        direct = child.network.flow(child.network.embedding(x)).log_prob(theta)
        np.testing.assert_allclose(child.network.log_prob(theta, x), direct)


def test_cached_passes_are_the_streamed_augmentations(tiny_dataset, tmp_path):
    from mulens_npe.artifact import load_model
    from mulens_npe.simulate.dataset import SimulationDataset
    from mulens_npe.training import TrainingExamples, _cache_passes, _config_split

    config = replace(TINY, cached_passes=2)
    model = train(tiny_dataset, tmp_path / "cached", config, progress=False)
    assert model.card["training"]["steps"] == 4
    data = SimulationDataset(tiny_dataset)
    rows, _ = _config_split(len(data), config)
    examples = TrainingExamples(
        data, rows, config.preprocess, model.features, config.seed, config.augment
    )
    network = load_model(tmp_path / "cached").network
    x, target, _ = _cache_passes(examples, network, config, torch.device("cpu"), False)
    examples.epoch = 1  # the second pass is epoch 1's augmentation
    streamed = examples[list(range(len(examples)))]
    n = len(streamed[0])
    assert x.dtype == torch.float16 and len(x) == len(target) > n
    np.testing.assert_allclose(x[-n:].float(), streamed[0], atol=2e-2, rtol=2e-3)
    np.testing.assert_array_equal(target[-n:], streamed[1])


def test_frozen_embedding_needs_a_warm_start_and_valid_options(tiny_dataset, tmp_path):
    frozen = replace(TINY, freeze_embedding=True)
    with pytest.raises(ConfigurationError, match="warm start"):
        train(tiny_dataset, tmp_path / "x", frozen, progress=False)
    for bad in (-1, 2.5, "4"):
        with pytest.raises(ConfigurationError, match="cached_passes must be"):
            TrainingConfig(cached_passes=bad)
    with pytest.raises(ConfigurationError, match="freeze_embedding must be"):
        TrainingConfig.from_dict({"freeze_embedding": "yes"})


def test_warm_start_adds_the_residual_channel_without_changing_the_parent(tiny_dataset, tmp_path):
    from mulens_npe.artifact import load_model
    from mulens_npe.network import with_input_channels

    parent = train(tiny_dataset, tmp_path / "parent", TINY, progress=False)
    wider = with_input_channels(parent.network, 5).eval()
    x = torch.randn(3, 5, TINY.preprocess.n_bins)
    with torch.no_grad():
        torch.testing.assert_close(wider.embedding(x), parent.network.eval().embedding(x[:, :4]))
    with pytest.raises(ConfigurationError, match="drop"):
        with_input_channels(parent.network, 3)
    config = replace(
        TINY,
        max_steps=2,
        preprocess=replace(TINY.preprocess, residual=True),
        network=replace(TINY.network, in_channels=5),
    )
    child = train(
        tiny_dataset, tmp_path / "child", config, init=tmp_path / "parent", progress=False
    )
    assert child.preprocess.residual and child.network.config.in_channels == 5
    loaded = load_model(tmp_path / "child")
    assert loaded.card["preprocess"]["channels"][-1] == "residual"
    # the residual channel's weights started at zero and moved with training
    assert loaded.network.embedding.stem[0].weight[:, 4].abs().max() > 0
    with pytest.raises(ConfigurationError, match="in_channels"):
        replace(TINY, preprocess=replace(TINY.preprocess, residual=True))


def test_warm_start_with_squashed_coordinates_keeps_the_parent_and_samples_beyond_its_range(
    tiny_dataset, tmp_path
):
    parent = train(tiny_dataset, tmp_path / "parent", TINY, progress=False)
    assert parent.features.squash == ()
    config = replace(TINY, max_steps=3, squash=["t_0", "t_E"])
    child = train(
        tiny_dataset, tmp_path / "child", config, init=tmp_path / "parent", progress=False
    )
    card = json.loads((tmp_path / "child" / "card.json").read_text())
    assert card["features"]["squash"] == ["t_0", "t_E"]
    assert "squash" not in json.loads((tmp_path / "parent" / "card.json").read_text())["features"]
    assert child.features.bounds == parent.features.bounds
    # the squashed flow's draws reach t_0 beyond t_ref +- 3 t_scale, which the parent cannot
    init = NPEInitializer.load(tmp_path / "child")
    from mulens_npe.simulate.augment import simulated_lightcurve
    from mulens_npe.simulate.dataset import SimulationDataset

    data = SimulationDataset(tiny_dataset)
    lc = simulated_lightcurve(data[0].magnification, data.times, np.random.default_rng(0))
    z = np.full((1, 7), 3.0)  # a flow draw near the torus edge
    net_input = init.network_input(lc)
    far = child.features.from_torus(z, net_input.t_ref, net_input.t_scale)
    near = parent.features.from_torus(z, net_input.t_ref, net_input.t_scale)
    assert abs(far["t_0"][0] - net_input.t_ref) > 10 * net_input.t_scale
    assert abs(near["t_0"][0] - net_input.t_ref) < 3 * net_input.t_scale
    with pytest.raises(ConfigurationError, match="squash"):
        TrainingConfig(squash=["q"])


def test_signal_weight_reads_the_anomaly_from_the_residual_channel():
    from mulens_npe.lightcurve import LightCurve
    from mulens_npe.preprocess import PreprocessSpec, preprocess
    from mulens_npe.simulate.magnification import binary_magnification
    from mulens_npe.singlelens import pspl_magnification
    from mulens_npe.training import _weights, signal_factor, signal_strength

    season = np.arange(2461447.75, 2461447.75 + 72.0, 15.16 / 1440.0)
    spec = PreprocessSpec(n_bins=128, residual=True)
    rng = np.random.default_rng(4)

    def curve(magnification):
        flux = 8.0 * magnification + 4.0
        err = 0.02 * np.sqrt(flux)
        lc = LightCurve(season, flux + rng.normal(size=season.size) * err, err, band="W149")
        return torch.from_numpy(preprocess(lc, spec).values)

    single = curve(pspl_magnification((season - 2461480.0) / 12.0, 0.3))
    # a planetary caustic crossed 10 days after the peak (as in test_preprocess)
    params = {"t_0": 2461480.0, "u_0": 0.3, "t_E": 12.0, "rho": 1e-3, "s": 1.6, "q": 3e-3}
    params["alpha"] = 180.0 - np.degrees(np.arctan2(0.3, 1.6 - 1 / 1.6))
    planet = curve(binary_magnification(params, season)[0])
    x = torch.stack([single, planet])
    strength = signal_strength(x, spec).numpy()
    n_filled = int(single[2].sum())
    # a single lens: the binned chi2 is noise about its number of bins; the planet stands out
    assert abs(strength[0]) < 5 * np.sqrt(2 * n_filled)
    assert strength[1] > 1000
    setting = {"gain": 3.0, "low": 100.0, "high": 10_000.0}
    factor = signal_factor(torch.tensor([-50.0, 100.0, 1000.0, 10_000.0, 1e6]), setting)
    np.testing.assert_allclose(factor.numpy(), [1.0, 1.0, 2.5, 4.0, 4.0])
    config = replace(
        TINY,
        target="proposal",
        preprocess=spec,
        network=replace(TINY.network, in_channels=5),
        signal_weight=setting,
    )
    w = _weights(torch.zeros(2, dtype=torch.float64), config, x).numpy()
    expected = signal_factor(torch.from_numpy(strength), setting).numpy()
    np.testing.assert_allclose(w, expected / expected.sum(), rtol=1e-6)
    assert w[1] > w[0]
    # under the prior target the importance weights multiply in
    prior_config = replace(config, target="prior")
    log_weight = torch.log(torch.tensor([2.0, 1.0], dtype=torch.float64))
    w = _weights(log_weight, prior_config, x).numpy()
    both = np.array([2.0, 1.0]) * expected
    np.testing.assert_allclose(w, both / both.sum(), rtol=1e-6)


def test_signal_weighted_training_records_its_setting_and_refuses_bad_ones(tiny_dataset, tmp_path):
    setting = {"gain": 2.0, "low": 50.0, "high": 5000.0}
    config = replace(
        TINY,
        preprocess=replace(TINY.preprocess, residual=True),
        network=replace(TINY.network, in_channels=5),
        signal_weight=setting,
    )
    model = train(tiny_dataset, tmp_path / "weighted", config, progress=False)
    card = json.loads((tmp_path / "weighted" / "card.json").read_text())
    assert card["training"]["config"]["signal_weight"] == setting
    assert np.isfinite(model.card["metrics"]["validation_nll"])
    assert TrainingConfig.from_dict(card["training"]["config"]) == config
    # earlier cards have no key, and a run without the setting writes none
    assert "signal_weight" not in TINY.to_dict()
    with pytest.raises(ConfigurationError, match="residual"):
        replace(TINY, signal_weight=setting)
    for bad in (
        {"gain": 1.0},
        {"gain": -1.0, "low": 1.0, "high": 2.0},
        {"gain": 1, "low": 5, "high": 2},
        3.0,
    ):
        with pytest.raises(ConfigurationError, match="signal_weight"):
            replace(config, signal_weight=bad)
    with pytest.raises(ConfigurationError, match="freeze_embedding"):
        replace(config, freeze_embedding=True)


def test_validation_keeps_the_networks_mode(tiny_dataset, tmp_path):
    from mulens_npe.simulate.dataset import SimulationDataset
    from mulens_npe.training import _config_split, _loader, _validate, _validation_examples

    model = train(tiny_dataset, tmp_path / "m", TINY, progress=False)
    data = SimulationDataset(tiny_dataset)
    _, rows = _config_split(len(data), TINY)
    loader = _loader(_validation_examples(data, rows, TINY, model.features), 8, False, 0, 0)
    network = model.network.eval()
    first = _validate(network, loader, "cpu", TINY)
    # a loaded model stays in eval mode (batch norm on its running statistics) ...
    assert not network.training
    assert _validate(network, loader, "cpu", TINY) == first
    # ... and a network in training keeps training
    network.train()
    _validate(network, loader, "cpu", TINY)
    assert network.training
