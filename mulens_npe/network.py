"""The posterior estimator: a 1-D residual CNN embedding and a neural circular spline flow.

The embedding reads the preprocessed light curve (channels x bins, see
:mod:`mulens_npe.preprocess`) with masks for gaps, so irregular cadence is handled by the
input, not assumed away. The flow is zuko's NCSF (Rezende et al. 2020,
https://arxiv.org/abs/2002.02428) on the torus [-pi, pi)^7 (see :mod:`mulens_npe.features`):
alpha is circular and the spline flow can hold several separated modes (close/wide,
inner/outer). Coupling layers (``passes=2``) keep sampling fast on a CPU.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

import torch
import zuko
from torch import nn
from torch.distributions import Transform
from zuko.flows.autoregressive import MaskedAutoregressiveTransform
from zuko.flows.spline import CircularRQSTransform
from zuko.nn import MaskedLinear
from zuko.transforms import (
    CircularShiftTransform,
    ComposedTransform,
    DependentTransform,
    MonotonicRQSTransform,
)
from zuko.utils import unpack

from .errors import ConfigurationError

__all__ = [
    "NetworkConfig",
    "ResidualEmbedding",
    "PosteriorNetwork",
    "POOLINGS",
    "stock_zuko_copy",
    "with_input_channels",
]

POOLINGS: tuple[str, ...] = ("global", "positional")

_SPLINE_SLOPE = 1e-3
"""Minimum slope of the flow's splines (zuko's NCSF default, which the weights were trained with)."""


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the embedding and the flow.

    Arguments:
        in_channels: Input channels (from the preprocessing).
        widths: Channels of each residual stage; every stage halves the length.
        context: Size of the context vector given to the flow.
        transforms: Number of flow transforms.
        hidden: Hidden layer sizes of each flow transform's conditioner.
        bins: Spline bins.
        passes: 2 for coupling layers (fast sampling); None for fully autoregressive.
        features: Number of parameters (7 for 2L1S).
        pooling: How the last residual stage becomes one vector. ``"global"``: mean and max
            over the whole curve (translation invariant: where a feature lies relative to
            the peak reaches the head only through the ``tau`` input channel).
            ``"positional"``: the global max, plus the stage averaged into ``positions``
            equal segments of the window and flattened, so the head sees *when* an anomaly
            happens relative to t_0 (which carries s and alpha).
        positions: Number of segments for ``pooling="positional"``.
    """

    in_channels: int = 4
    widths: tuple[int, ...] = (32, 64, 96, 128, 128)
    context: int = 128
    transforms: int = 5
    hidden: tuple[int, ...] = (256, 256)
    bins: int = 8
    passes: int | None = 2
    features: int = 7
    pooling: str = "global"
    positions: int = 16

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ConfigurationError(
                f"NetworkConfig: pooling must be one of {POOLINGS}, got {self.pooling!r}."
            )
        if int(self.positions) != self.positions or self.positions < 1:
            raise ConfigurationError(
                f"NetworkConfig: positions must be an integer >= 1, got {self.positions!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = asdict(self)
        d["widths"], d["hidden"] = list(self.widths), list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> NetworkConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigurationError`."""
        unknown = sorted(set(spec) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigurationError(f"NetworkConfig: unknown key(s) {unknown}.")
        spec = dict(spec)
        for key in ("widths", "hidden"):
            if key in spec:
                spec[key] = tuple(int(v) for v in spec[key])
        return cls(**spec)


class _ResidualBlock(nn.Module):
    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(channels_in, channels_out, 5, stride=2, padding=2),
            nn.BatchNorm1d(channels_out),
            nn.GELU(),
            nn.Conv1d(channels_out, channels_out, 5, padding=2),
            nn.BatchNorm1d(channels_out),
        )
        self.skip = nn.Conv1d(channels_in, channels_out, 1, stride=2)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


class ResidualEmbedding(nn.Module):
    """1-D residual CNN that turns (batch, channels, bins) into (batch, context).

    Example:
        >>> net = ResidualEmbedding(NetworkConfig())
        >>> net(torch.zeros(2, 4, 512)).shape
        torch.Size([2, 128])
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        widths = list(config.widths)
        self.stem = nn.Sequential(nn.Conv1d(config.in_channels, widths[0], 7, padding=3), nn.GELU())
        self.stages = nn.Sequential(
            *(_ResidualBlock(a, b) for a, b in zip([widths[0], *widths[:-1]], widths, strict=True))
        )
        self.pooling = config.pooling
        pooled = 2 * widths[-1]
        if config.pooling == "positional":
            self.segments = nn.AdaptiveAvgPool1d(int(config.positions))
            pooled = widths[-1] * (1 + int(config.positions))
        self.head = nn.Sequential(nn.Linear(pooled, 256), nn.GELU(), nn.Linear(256, config.context))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(x))
        if self.pooling == "positional":
            pooled = torch.cat([h.amax(-1), self.segments(h).flatten(1)], dim=-1)
        else:
            pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=-1)
        return self.head(pooled)


def _softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis, written out.

    The spline parameters are short (``bins``) last axes of strided views; there torch's CPU
    ``softmax`` kernel is 3-4x slower than these three element-wise operations (same values to
    float32 rounding), and it was ~40% of the time to sample the flow.
    """
    e = torch.exp(x - x.amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True)


class _RQSTransform(MonotonicRQSTransform):
    """zuko's ``MonotonicRQSTransform`` with :func:`_softmax`; the same map, faster on a CPU."""

    def __init__(
        self,
        widths: torch.Tensor,
        heights: torch.Tensor,
        derivatives: torch.Tensor,
        bound: float = 5.0,
        slope: float = _SPLINE_SLOPE,
        **kwargs: Any,
    ) -> None:
        Transform.__init__(self, **kwargs)
        log_slope = math.log(slope)
        widths = widths / (1 + abs(2 * widths / log_slope))
        heights = heights / (1 + abs(2 * heights / log_slope))
        derivatives = derivatives / (1 + abs(derivatives / log_slope))
        widths = nn.functional.pad(_softmax(widths), (1, 0), value=0)
        heights = nn.functional.pad(_softmax(heights), (1, 0), value=0)
        derivatives = nn.functional.pad(derivatives, (1, 1), value=0)
        self.horizontal = bound * (2 * torch.cumsum(widths, dim=-1) - 1)
        self.vertical = bound * (2 * torch.cumsum(heights, dim=-1) - 1)
        self.derivatives = torch.exp(derivatives)


def _circular_rqs(*phi: torch.Tensor, slope: float = _SPLINE_SLOPE) -> Transform:
    """zuko's ``CircularRQSTransform`` built on :class:`_RQSTransform`."""
    return ComposedTransform(
        CircularShiftTransform(bound=math.pi),
        _RQSTransform(*phi, bound=math.pi, slope=slope),
    )


class _ContextFirstTransform(MaskedAutoregressiveTransform):
    """zuko's autoregressive transform with the context's share of the first layer computed once.

    The conditioner's first layer reads ``cat(theta, context)``; when sampling, one context
    (an event) serves every draw, so its product with the context columns is computed per event
    and broadcast over the draws instead of per draw (it is ~95% of that layer's work).
    """

    def meta(self, c: torch.Tensor | None, x: torch.Tensor) -> Transform:
        first, *rest = self.hyper
        if c is None or not isinstance(first, MaskedLinear):
            return super().meta(c, x)
        weight = first.mask * first.weight
        n = x.shape[-1]
        phi = nn.functional.linear(x, weight[:, :n]) + nn.functional.linear(
            c, weight[:, n:], first.bias
        )
        for layer in rest:
            phi = layer(phi)
        phi = unpack(phi.unflatten(-1, (-1, self.total)), self.shapes)
        return DependentTransform(self.univariate(*phi), 1)


class PosteriorNetwork(nn.Module):
    """Embedding + conditional flow: ``network(x)`` is the posterior distribution given ``x``.

    Arguments:
        config: Network sizes.

    Example:
        >>> net = PosteriorNetwork(NetworkConfig(widths=(8, 8), transforms=1, hidden=(16,)))
        >>> net(torch.zeros(1, 4, 64)).sample((3,)).shape
        torch.Size([3, 1, 7])
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = ResidualEmbedding(config)
        self.flow = zuko.flows.NCSF(
            config.features,
            context=config.context,
            bins=config.bins,
            transforms=config.transforms,
            hidden_features=tuple(config.hidden),
            passes=config.passes,
        )
        for transform in self.flow.transform.transforms:  # same parameters, faster splines
            if isinstance(transform, MaskedAutoregressiveTransform):
                transform.univariate = partial(_circular_rqs, slope=_SPLINE_SLOPE)
                transform.__class__ = _ContextFirstTransform

    def forward(self, x: torch.Tensor) -> torch.distributions.Distribution:
        return self.flow(self.embedding(x))

    def log_prob(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log q(theta | x) for a batch, theta of shape (batch, 7) on the torus."""
        return self.flow(self.embedding(x)).log_prob(theta)


def with_input_channels(network: PosteriorNetwork, in_channels: int) -> PosteriorNetwork:
    """A copy of ``network`` that reads ``in_channels`` input channels, the extra ones ignored.

    The embedding's first convolution gets zero weights for the added channels, so the copy
    computes exactly what ``network`` computes on the channels they share, and training can
    then teach it to use the new ones (a warm start across a change of the preprocessing).

    Example:
        >>> net = PosteriorNetwork(NetworkConfig(widths=(8, 8), transforms=1, hidden=(16,))).eval()
        >>> wider = with_input_channels(net, 5)
        >>> x = torch.randn(2, 5, 64)
        >>> bool(torch.allclose(wider.embedding(x), net.embedding(x[:, :4])))
        True
    """
    old = network.config.in_channels
    if in_channels < old:
        raise ConfigurationError(
            f"with_input_channels: cannot drop channels ({old} -> {in_channels})."
        )
    wider = PosteriorNetwork(replace(network.config, in_channels=in_channels))
    state = network.state_dict()
    stem = state["embedding.stem.0.weight"]
    padded = torch.zeros(stem.shape[0], in_channels, stem.shape[2], dtype=stem.dtype)
    padded[:, :old] = stem
    wider.load_state_dict({**state, "embedding.stem.0.weight": padded})
    return wider.train(network.training)


def stock_zuko_copy(network: PosteriorNetwork) -> PosteriorNetwork:
    """A copy of ``network`` whose flow uses zuko's own autoregressive transform and spline.

    The same weights and the same map as ``network`` (to float rounding): the reference that
    the tests and ``benchmarks/bench_sample.py`` compare the faster flow against.
    """
    stock = copy.deepcopy(network)
    for transform in stock.flow.transform.transforms:
        if isinstance(transform, MaskedAutoregressiveTransform):
            transform.__class__ = MaskedAutoregressiveTransform
            transform.univariate = partial(CircularRQSTransform, slope=_SPLINE_SLOPE)
    return stock
