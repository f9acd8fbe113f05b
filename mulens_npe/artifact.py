"""Trained-model artifacts: safetensors weights plus a JSON model card, in one folder.

Nothing is unpickled: weights are read with :mod:`safetensors`, the card with :mod:`json`.
Loading checks the card (format, parameter names, the preprocessing and network specs this
package can build), the weights' SHA-256 against the card, and every tensor name and shape
against the network the card describes; any mismatch is a :class:`ModelCardError` that says
what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ConfigurationError, ModelCardError
from .features import FeatureMap
from .network import NetworkConfig, PosteriorNetwork
from .parameters import PARAMETER_NAMES
from .preprocess import PreprocessSpec
from .prior import Prior
from .reweighting import CausticTable, PriorReweighting, prior_reweighting

__all__ = ["TrainedModel", "save_model", "load_model", "FORMAT", "FORMAT_VERSION"]

FORMAT = "mulens-npe-model"
FORMAT_VERSION = 1
_WEIGHTS = "model.safetensors"
_CARD = "card.json"


@dataclass
class TrainedModel:
    """A posterior network with everything needed to use it.

    Attributes
    ----------
    network : PosteriorNetwork
        Embedding and flow (in eval mode after loading).
    preprocess : PreprocessSpec
        How light curves are put on the input grid.
    features : FeatureMap
        How flow coordinates map to physical parameters.
    prior : Prior
        The prior the training set was drawn from (t_0 range of the training season).
    card : dict
        The full model card (training data, time, hardware, validation metrics).
    """

    network: PosteriorNetwork
    preprocess: PreprocessSpec
    features: FeatureMap
    prior: Prior
    card: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def reweighting(self) -> PriorReweighting | None:
        """How the flow's draws become posterior draws under the prior (None: they already are).

        A network trained on the simulation proposal's posterior (card
        ``training.config.target = "proposal"``) needs importance resampling; see
        :mod:`mulens_npe.reweighting`. Its caustics come from the shipped table
        (:class:`~mulens_npe.reweighting.CausticTable`, loaded once per model).
        """
        found = prior_reweighting(self.card, self.prior)
        return None if found is None else replace(found, targets=CausticTable())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(
    model: TrainedModel, folder: str | Path, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``model`` to ``folder`` (created if needed) as weights + card; returns the folder."""
    from . import __version__

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.network.state_dict().items()}
    save_file(state, str(folder / _WEIGHTS))
    card = dict(model.card)
    card.update(dict(extra or {}))
    card.update(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "package_version": __version__,
            "parameter_names": list(PARAMETER_NAMES),
            "network": model.network.config.to_dict(),
            "preprocess": model.preprocess.to_dict(),
            "features": model.features.to_dict(),
            "prior": model.prior.to_dict(),
            "weights_sha256": _sha256(folder / _WEIGHTS),
        }
    )
    (folder / _CARD).write_text(json.dumps(card, indent=2, sort_keys=True))
    return folder


def load_model(folder: str | Path) -> TrainedModel:
    """Read a model written by :func:`save_model`, checking everything it can.

    Raises
    ------
    ModelCardError
        When the folder, card or weights are missing, corrupt or incompatible.
    """
    folder = Path(folder)
    card_path, weights_path = folder / _CARD, folder / _WEIGHTS
    for path in (card_path, weights_path):
        if not path.is_file():
            raise ModelCardError(
                f"{folder}: missing {path.name}; a model folder holds {_CARD} and {_WEIGHTS}."
            )
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelCardError(f"{card_path}: not valid JSON ({exc}).") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ModelCardError(
            f"{card_path}: not a {FORMAT} card (format={card.get('format') if isinstance(card, dict) else None!r})."
        )
    if card.get("format_version") != FORMAT_VERSION:
        raise ModelCardError(
            f"{card_path}: format version {card.get('format_version')!r}, this package reads "
            f"version {FORMAT_VERSION}. Upgrade mulens-npe or retrain the model."
        )
    if card.get("parameter_names") != list(PARAMETER_NAMES):
        raise ModelCardError(
            f"{card_path}: parameter names {card.get('parameter_names')} differ from {list(PARAMETER_NAMES)}."
        )
    try:
        config = NetworkConfig.from_dict(card["network"])
        preprocess = PreprocessSpec.from_dict(card["preprocess"])
        features = FeatureMap.from_dict(card["features"])
        prior = Prior.from_dict(card["prior"])
        prior_reweighting(card, prior)
        if config.in_channels != len(preprocess.channels):
            raise ConfigurationError(
                f"the network reads {config.in_channels} channels, the preprocessing makes "
                f"{len(preprocess.channels)}"
            )
    except (KeyError, TypeError, ConfigurationError) as exc:
        raise ModelCardError(
            f"{card_path}: incompatible or incomplete specification ({exc})."
        ) from None
    if card.get("weights_sha256") != _sha256(weights_path):
        raise ModelCardError(
            f"{weights_path}: SHA-256 differs from the card: the weights are corrupt or were replaced."
        )
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelCardError(f"{weights_path}: unreadable safetensors file ({exc}).") from None
    network = PosteriorNetwork(config)
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))[:3]
        unexpected = sorted(set(found) - set(expected))[:3]
        shapes = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])[:3]
        raise ModelCardError(
            f"{weights_path}: tensors do not match the network in the card (missing {missing}, "
            f"unexpected {unexpected}, wrong shape {shapes})."
        )
    network.load_state_dict(state)
    network.eval()
    return TrainedModel(
        network=network, preprocess=preprocess, features=features, prior=prior, card=card
    )
