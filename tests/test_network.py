"""The embedding network and flow: shapes, pooling behaviour, config round trip."""

import pytest
import torch

from mulens_npe.artifact import TrainedModel, load_model, save_model
from mulens_npe.errors import ConfigurationError
from mulens_npe.features import FeatureMap
from mulens_npe.network import (
    NetworkConfig,
    PosteriorNetwork,
    ResidualEmbedding,
    stock_zuko_copy,
)
from mulens_npe.preprocess import PreprocessSpec
from mulens_npe.prior import Prior

SMALL = dict(widths=(8, 8, 8), context=16, transforms=1, hidden=(16,))


def _spike(position: int, n_bins: int = 256) -> torch.Tensor:
    """One curve: flat baseline with a 3-bin spike, all other channels zero."""
    x = torch.zeros(1, 4, n_bins)
    x[0, 0, position : position + 3] = 50.0
    x[0, 2] = 1.0  # the mask: data everywhere
    return x


@pytest.mark.parametrize("pooling", ["global", "positional"])
def test_embedding_and_samples_have_the_documented_shapes(pooling):
    config = NetworkConfig(**SMALL, pooling=pooling, positions=4)
    net = PosteriorNetwork(config).eval()
    x = torch.randn(5, 4, 128)
    assert net.embedding(x).shape == (5, 16)
    assert net(x).sample((3,)).shape == (3, 5, 7)
    assert torch.isfinite(net.log_prob(torch.zeros(5, 7), x)).all()


def test_global_pooling_ignores_where_the_anomaly_is_and_positional_pooling_does_not():
    # shifting by a multiple of the total stride (2**3 = 8 bins), far from the edges, moves the
    # feature map by whole positions: mean/max pooling cannot tell the difference
    early, late = _spike(80), _spike(160)
    difference = {}
    for pooling in ("global", "positional"):
        torch.manual_seed(0)
        net = ResidualEmbedding(NetworkConfig(**SMALL, pooling=pooling, positions=8)).eval()
        with torch.no_grad():
            reference = net(early).abs().max()
            difference[pooling] = float((net(early) - net(late)).abs().max() / reference)
    assert difference["global"] < 1e-5
    assert difference["positional"] > 1e-2


def test_config_round_trip_and_old_cards_default_to_global_pooling():
    config = NetworkConfig(**SMALL, pooling="positional", positions=6)
    assert NetworkConfig.from_dict(config.to_dict()) == config
    old = config.to_dict()
    del old["pooling"], old["positions"]
    assert NetworkConfig.from_dict(old).pooling == "global"


@pytest.mark.parametrize(
    "options, message",
    [({"pooling": "attention"}, "pooling must be one of"), ({"positions": 0}, "positions")],
)
def test_bad_pooling_options_are_named(options, message):
    with pytest.raises(ConfigurationError, match=message):
        NetworkConfig(**SMALL, **options)


def test_positional_model_survives_the_artifact_round_trip(tmp_path):
    torch.manual_seed(1)
    prior = Prior(t_0=(2461447.75, 2461519.75))
    config = NetworkConfig(**SMALL, pooling="positional", positions=4)
    model = TrainedModel(
        PosteriorNetwork(config).eval(),
        PreprocessSpec(n_bins=64),
        FeatureMap.from_prior(prior),
        prior,
        {"name": "positional"},
    )
    loaded = load_model(save_model(model, tmp_path / "positional"))
    assert loaded.network.config.pooling == "positional"
    x, theta = torch.randn(2, 4, 64), torch.rand(2, 7) * 6 - 3
    torch.testing.assert_close(loaded.network.log_prob(theta, x), model.network.log_prob(theta, x))


def test_the_faster_flow_is_zukos_ncsf_to_float_rounding():
    torch.manual_seed(3)
    net = PosteriorNetwork(NetworkConfig(**{**SMALL, "transforms": 2})).eval()
    stock = stock_zuko_copy(net)
    x = torch.randn(4, 4, 128)
    theta = torch.rand(4, 7) * 6 - 3
    # densities, and the gradients training follows
    log_p, log_p_stock = net.log_prob(theta, x), stock.log_prob(theta, x)
    torch.testing.assert_close(log_p, log_p_stock, rtol=1e-5, atol=1e-5)
    log_p.sum().backward()
    log_p_stock.sum().backward()
    for (name, p), q in zip(net.named_parameters(), stock.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)
    # samples: the same base draws map to the same parameters, many draws per context
    with torch.no_grad():
        torch.manual_seed(4)
        z = net(x).sample((500,))
        torch.manual_seed(4)
        z_stock = stock(x).sample((500,))
    assert z.shape == (500, 4, 7)
    torch.testing.assert_close(z, z_stock, rtol=0, atol=1e-3)
    assert float((z - z_stock).abs().median()) < 1e-5
