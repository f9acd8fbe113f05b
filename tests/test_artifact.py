"""Model artifacts: exact round trip, and clear refusal of corrupt or incompatible files."""

import json

import pytest
import torch

from mulens_npe.artifact import TrainedModel, load_model, save_model
from mulens_npe.errors import ModelCardError
from mulens_npe.features import FeatureMap
from mulens_npe.network import NetworkConfig, PosteriorNetwork
from mulens_npe.preprocess import PreprocessSpec
from mulens_npe.prior import Prior

TINY = NetworkConfig(widths=(8, 8), context=16, transforms=1, hidden=(16,))


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    prior = Prior(t_0=(2461447.75, 2461519.75))
    model = TrainedModel(
        PosteriorNetwork(TINY),
        PreprocessSpec(n_bins=64),
        FeatureMap.from_prior(prior),
        prior,
        {"name": "tiny"},
    )
    return model, save_model(model, tmp_path / "tiny")


def test_round_trip_gives_identical_densities(saved):
    model, folder = saved
    loaded = load_model(folder)
    assert loaded.preprocess == model.preprocess and loaded.features == model.features
    assert loaded.prior == model.prior and loaded.card["name"] == "tiny"
    x = torch.randn(3, 4, 64)
    theta = torch.rand(3, 7) * 6 - 3
    model.network.eval()
    torch.testing.assert_close(loaded.network.log_prob(theta, x), model.network.log_prob(theta, x))


def test_no_pickle_files(saved):
    _, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "model.safetensors"]


def test_corrupt_weights_refused(saved):
    _, folder = saved
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelCardError, match="SHA-256"):
        load_model(folder)


def test_truncated_weights_refused_even_with_matching_hash(saved):
    _, folder = saved
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    card = json.loads((folder / "card.json").read_text())
    import hashlib

    card["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="unreadable"):
        load_model(folder)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(format="something-else"), "not a mulens-npe-model card"),
        (lambda c: c.update(format_version=99), "format version 99"),
        (lambda c: c.update(parameter_names=["t_0", "u_0"]), "parameter names"),
        (lambda c: c["network"].update(context=32), "do not match the network"),
        (lambda c: c["network"].update(colour="blue"), "unknown key"),
        (lambda c: c.pop("prior"), "incomplete"),
        (lambda c: c["network"].update(in_channels=5), "reads 5 channels"),
        (
            lambda c: c["preprocess"].update(residual=True, channels=c["preprocess"]["channels"]),
            "channels",
        ),
    ],
)
def test_incompatible_card_refused(saved, edit, message):
    _, folder = saved
    card = json.loads((folder / "card.json").read_text())
    edit(card)
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match=message):
        load_model(folder)


def test_missing_and_invalid_files(tmp_path, saved):
    _, folder = saved
    with pytest.raises(ModelCardError, match="missing card.json"):
        load_model(tmp_path / "nowhere")
    (folder / "card.json").write_text("{not json")
    with pytest.raises(ModelCardError, match="not valid JSON"):
        load_model(folder)
