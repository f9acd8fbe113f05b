"""Training the posterior network on a simulated dataset.

The dataset on disk holds noise-free magnification curves; every time a curve is served it
gets a fresh augmentation (source magnitude, blending, noise, gaps, cadence drop-outs) seeded by
(seed, epoch, row), then the same :func:`~mulens_npe.preprocess.preprocess` as at inference.
The loss is the importance-weighted negative log posterior density, ``exp(log_weight)`` undoing
the caustic-targeted proposal, so the trained posterior answers for the prior.

Runs on CPU or one GPU, or on several GPUs under ``torchrun`` (DistributedDataParallel).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from .artifact import TrainedModel, load_model, save_model
from .errors import ConfigurationError, InputDataError
from .features import FeatureMap
from .network import NetworkConfig, PosteriorNetwork, with_input_channels
from .preprocess import RESIDUAL, PreprocessSpec, preprocess

__all__ = ["TrainingConfig", "train", "TrainingExamples", "TARGETS", "signal_strength"]

TARGETS: tuple[str, ...] = ("prior", "proposal")
"""The posteriors a network can be trained to (``TrainingConfig.target``)."""


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides a training run (stored in the model card).

    Arguments:
        network: Embedding and flow sizes.
        preprocess: Input grid. A warm start (``--init``) keeps its model's network and grid,
            except that ``preprocess.residual: true`` adds the residual channel to a
            four-channel model (its weights start at zero, so the network starts as the
            model it warm-starts from; set ``network.in_channels`` to 5 with it).
        batch_size: Curves per optimisation step.
        learning_rate: Peak Adam learning rate (linear warm-up over the first 5% of the run,
            then one cosine cycle down to 1% of the peak).
        max_steps: Optimisation steps at most.
        max_minutes: Wall-clock budget; training stops cleanly when it is spent. The learning
            rate schedule follows whichever of ``max_steps`` and ``max_minutes`` runs out
            first, so a run cut by its time budget (a GPU lease, say) still ends annealed.
        validation_fraction: Share of the dataset held out for validation.
        validate_every: Steps between validations (and checkpoints).
        patience: Validations without improvement before stopping early.
        clip_grad: Gradient-norm clip.
        max_weight: Importance weights are clipped at this multiple of their mean.
        target: Which posterior the network learns. ``"prior"``: the loss carries each
            curve's importance weight, so the network learns the posterior under the prior
            (but the caustic-targeted curves, a third of them with weights below 0.05, barely
            count). ``"proposal"``: every curve counts equally, so the network learns the
            posterior under the simulation's proposal, which aims at the caustics; inference
            turns it into the posterior under the prior by importance resampling with the
            same weights (:mod:`mulens_npe.reweighting`).
        seed: Seed of the shuffling and the augmentations (and of the split, unless
            ``split_seed`` is given).
        split_seed: Seed of the train/validation split; a warm start on the same dataset keeps
            its parent's split (and so an untouched validation set) by keeping this seed while
            changing ``seed`` for fresh augmentations. None: use ``seed``.
        split_size: Draw the split over the first ``split_size`` curves only; every later
            curve trains. A dataset grown by more chunks (same simulation seed: its first
            curves are unchanged) then keeps the validation curves of the dataset it grew
            from, which a warm-started parent never trained on. None: over all curves.
        workers: DataLoader worker processes (0: in the main process).
        augment: Options passed to the augmentation.
        cached_passes: 0 (default): every step gets freshly augmented curves from the
            DataLoader. ``K > 0``: the workers augment and preprocess ``K`` passes over the
            training curves once (pass ``k`` seeded as epoch ``k``), the run keeps them in
            memory (float16 inputs, ~240 MB per pass of 58,000 curves) and draws its batches
            from them at random, so a step costs only the network's forward and backward pass
            (on a CPU the augmentation costs ~2.8 ms a curve, more than the step itself).
            One device only (not under ``torchrun``).
        freeze_embedding: Train the flow alone; the embedding keeps its (warm-start) weights.
            With ``cached_passes`` the cache then holds the embedding's context vectors
            (128 floats a curve), and a step costs the flow's pass alone (~40 ms for 512
            curves on one CPU core, against ~0.34 s for 256 curves through the whole network;
            ``benchmarks/bench_training_step.py``).
        squash: Flow coordinates mapped from the whole real line (``["t_0", "t_E"]``; see
            :class:`mulens_npe.features.FeatureMap`) instead of clipped to a range. None: the
            warm-start model's map (linear from scratch). With ``--init`` the flow then
            starts from weights learnt in the other map and must be trained on.
        signal_weight: None (default): every curve of a batch counts alike (times its
            importance weight under ``target: "prior"``). A mapping ``{"gain": G, "low": L,
            "high": H}``: a curve counts ``1 + G * clip(log(S / L) / log(H / L), 0, 1)`` times
            as much, ``S`` its binned excess chi2 over the single-lens fit read from its own
            ``residual`` channel (:func:`signal_strength`). ``S`` is a function of the data
            alone, so the weighted loss has the same minimiser, the true posterior of every
            light curve; a network of finite size spends more of itself on the curves with a
            strong anomaly. Needs ``preprocess.residual``; not with ``freeze_embedding`` (its
            cache holds contexts, not inputs). The validation loss carries the same weights.
    """

    network: NetworkConfig = field(default_factory=NetworkConfig)
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)
    batch_size: int = 256
    learning_rate: float = 1e-3
    max_steps: int = 10_000
    max_minutes: float = 60.0
    validation_fraction: float = 0.05
    validate_every: int = 200
    patience: int = 10
    clip_grad: float = 5.0
    max_weight: float = 20.0
    target: str = "prior"
    seed: int = 0
    split_seed: int | None = None
    split_size: int | None = None
    workers: int = 1
    augment: Mapping[str, Any] = field(default_factory=dict)
    cached_passes: int = 0
    freeze_embedding: bool = False
    squash: tuple[str, ...] | None = None
    signal_weight: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_steps", "validate_every", "patience"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise ConfigurationError(
                    f"TrainingConfig: {name} must be a positive integer, got {getattr(self, name)!r}."
                )
        if self.split_size is not None and (
            isinstance(self.split_size, bool)
            or not isinstance(self.split_size, int)
            or self.split_size < 2
        ):
            raise ConfigurationError(
                f"TrainingConfig: split_size must be null or an integer >= 2, got {self.split_size!r}."
            )
        if not 0 < self.validation_fraction < 1:
            raise ConfigurationError(
                f"TrainingConfig: validation_fraction must be in (0, 1), got {self.validation_fraction}."
            )
        if self.target not in TARGETS:
            raise ConfigurationError(
                f"TrainingConfig: target must be one of {TARGETS}, got {self.target!r}."
            )
        if (
            not isinstance(self.cached_passes, int)
            or isinstance(self.cached_passes, bool)
            or self.cached_passes < 0
        ):
            raise ConfigurationError(
                f"TrainingConfig: cached_passes must be an integer >= 0, got {self.cached_passes!r}."
            )
        if not isinstance(self.freeze_embedding, bool):
            raise ConfigurationError(
                f"TrainingConfig: freeze_embedding must be true or false, got {self.freeze_embedding!r}."
            )
        if self.squash is not None:
            if isinstance(self.squash, str) or not set(self.squash) <= {"t_0", "t_E"}:
                raise ConfigurationError(
                    "TrainingConfig: squash must be null or a list drawn from "
                    f'["t_0", "t_E"], got {self.squash!r}.'
                )
            object.__setattr__(self, "squash", tuple(self.squash))
        if self.signal_weight is not None:
            _check_signal_weight(self)
        if not self.learning_rate > 0 or not self.max_minutes > 0:
            raise ConfigurationError("TrainingConfig: learning_rate and max_minutes must be > 0.")
        if self.network.in_channels != len(self.preprocess.channels):
            raise ConfigurationError(
                f"TrainingConfig: network.in_channels is {self.network.in_channels} but the "
                f"preprocessing makes {len(self.preprocess.channels)} channels "
                f"{list(self.preprocess.channels)}; set them to agree."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = asdict(self)
        d["network"] = self.network.to_dict()
        d["preprocess"] = self.preprocess.to_dict()
        d["augment"] = dict(self.augment)
        if self.signal_weight is None:
            del d["signal_weight"]  # cards of earlier runs have no such key
        else:
            d["signal_weight"] = dict(self.signal_weight)
        return d

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> TrainingConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigurationError`."""
        unknown = sorted(set(spec) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigurationError(f"TrainingConfig: unknown key(s) {unknown}.")
        spec = dict(spec)
        if "network" in spec:
            spec["network"] = NetworkConfig.from_dict(spec["network"])
        if "preprocess" in spec:
            spec["preprocess"] = PreprocessSpec.from_dict(spec["preprocess"])
        return cls(**spec)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainingConfig:
        """Read a JSON configuration file."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read training config {path}: {exc}") from None


class TrainingExamples(Dataset):
    """Simulated curves served as (network input, flow target, weight) with fresh noise.

    Indexed by a list of dataset rows (one batch at a time, so that disk reads are batched).

    Arguments:
        dataset: A :class:`~mulens_npe.simulate.SimulationDataset`.
        rows: The dataset rows this split may serve.
        spec: Preprocessing.
        features: Flow coordinate map.
        seed: Augmentation seed; with :attr:`epoch` and the row it seeds each draw.
        augment: Options for the augmentation.
    """

    def __init__(
        self,
        dataset,
        rows: np.ndarray,
        spec: PreprocessSpec,
        features: FeatureMap,
        seed: int,
        augment: Mapping[str, Any] | None = None,
    ) -> None:
        self.dataset = dataset
        self.rows = np.asarray(rows)
        self.spec = spec
        self.features = features
        self.seed = int(seed)
        self.augment = dict(augment or {})
        self.epoch = 0

    def __len__(self) -> int:
        return int(self.rows.size)

    def example(self, row: int, magnification: np.ndarray, params: Mapping[str, float], epoch: int):
        """One augmented, preprocessed example, or None if the draw leaves no usable event."""
        from .simulate.augment import simulated_lightcurve

        rng = np.random.default_rng([self.seed, epoch, int(row)])
        try:
            lc = simulated_lightcurve(magnification, self.dataset.times, rng, **self.augment)
            net_input = preprocess(lc, self.spec)
        except InputDataError:
            return None
        target = self.features.to_torus(params, net_input.t_ref, net_input.t_scale)
        return net_input.values, target.astype(np.float32)

    def __getitem__(self, positions: list[int]):
        rows = self.rows[np.asarray(positions)]
        curves = self.dataset.batch(rows)
        xs, targets, weights = [], [], []
        for k, row in enumerate(rows):
            params = {name: float(v[k]) for name, v in curves.parameters().items()}
            item = self.example(int(row), curves.magnification[k], params, self.epoch)
            if item is None:
                continue
            xs.append(item[0])
            targets.append(item[1])
            weights.append(curves.log_weight[k])
        if not xs:
            return None
        return (
            torch.from_numpy(np.stack(xs)),
            torch.from_numpy(np.stack(targets)),
            torch.from_numpy(np.asarray(weights, dtype=np.float64)),
        )


def _loader(examples: TrainingExamples, batch_size: int, shuffle: bool, seed: int, workers: int):
    generator = torch.Generator().manual_seed(seed)
    base = RandomSampler(examples, generator=generator) if shuffle else SequentialSampler(examples)
    return DataLoader(
        examples,
        sampler=BatchSampler(base, batch_size, drop_last=False),
        batch_size=None,
        num_workers=workers,
        collate_fn=_keep,
    )


def _keep(batch):
    return batch


def _check_signal_weight(config: TrainingConfig) -> None:
    setting = config.signal_weight
    if not isinstance(setting, Mapping) or set(setting) != {"gain", "low", "high"}:
        raise ConfigurationError(
            'TrainingConfig: signal_weight must be null or {"gain": G, "low": L, "high": H}, '
            f"got {setting!r}."
        )
    gain, low, high = (setting[k] for k in ("gain", "low", "high"))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (gain, low, high)):
        raise ConfigurationError(
            f"TrainingConfig: signal_weight values must be numbers, got {setting!r}."
        )
    if not (gain >= 0 and 0 < low < high):
        raise ConfigurationError(
            f"TrainingConfig: signal_weight needs gain >= 0 and 0 < low < high, got {setting!r}."
        )
    if not config.preprocess.residual:
        raise ConfigurationError(
            "TrainingConfig: signal_weight reads the residual channel; set preprocess.residual."
        )
    if config.freeze_embedding:
        raise ConfigurationError(
            "TrainingConfig: signal_weight cannot be combined with freeze_embedding (the cache "
            "holds context vectors, not the inputs the weight is read from)."
        )


def signal_strength(x: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """Binned excess chi2 of each curve over its single-lens fit, read from its network input.

    Parameters
    ----------
    x : torch.Tensor
        Network inputs, shape (n, channels, n_bins), made with ``spec.residual``.
    spec : PreprocessSpec
        Their preprocessing.

    Returns
    -------
    torch.Tensor
        ``sum(z_b ** 2 - 1)`` over the filled bins, shape (n,), float64: ``z_b = sinh(residual)``
        is the bin's summed residual over the square root of its epochs, so a single lens
        gives about 0 (scatter ``sqrt(2 n_filled)``) and a binary its anomaly's chi2 as it
        shows at the bins' resolution.
    """
    channels = spec.channels
    z = torch.sinh(x[:, channels.index(RESIDUAL)].double())
    mask = x[:, channels.index("mask")].double()
    return (mask * (z**2 - 1.0)).sum(dim=1)


def signal_factor(strength: torch.Tensor, setting: Mapping[str, float]) -> torch.Tensor:
    """``1 + gain * clip(log(S / low) / log(high / low), 0, 1)`` (see ``TrainingConfig.signal_weight``)."""
    low, high = float(setting["low"]), float(setting["high"])
    ramp = torch.log(torch.clamp(strength, min=low) / low) / math.log(high / low)
    return 1.0 + float(setting["gain"]) * torch.clamp(ramp, 0.0, 1.0)


def _weights(
    log_weight: torch.Tensor, config: TrainingConfig, x: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-curve loss weights of a batch, summing to one (see ``TrainingConfig.target`` and
    ``TrainingConfig.signal_weight``; ``x``, the batch's inputs, is needed for the latter)."""
    if config.target == "proposal":
        w = torch.ones(log_weight.shape, dtype=torch.float64, device=log_weight.device)
    else:
        w = torch.exp(log_weight - log_weight.max())
        w = torch.clamp(w / w.mean(), max=config.max_weight)
    if config.signal_weight is not None:
        w = w * signal_factor(signal_strength(x, config.preprocess), config.signal_weight)
    return (w / w.sum()).float()


def _lr_factor(step_fraction: float, time_fraction: float, warmup: float = 0.05) -> float:
    """Learning-rate multiplier at a point of the run (the larger of the two fractions used).

    Linear warm-up over the first ``warmup`` of the run, then one cosine cycle down to 1%.
    """
    progress = max(step_fraction, time_fraction)
    if progress < warmup:
        return max(progress, 1e-3) / warmup
    progress = min(1.0, (progress - warmup) / (1.0 - warmup))
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _split(
    n: int, fraction: float, seed: int, size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows: a share of the first ``size`` rows (all: None) validate."""
    if size is not None and size > n:
        raise ConfigurationError(
            f"TrainingConfig: split_size is {size} but the dataset holds only {n} curves."
        )
    size = n if size is None else size
    order = np.random.default_rng([seed, 7]).permutation(size)
    n_val = max(1, int(round(fraction * size)))
    train = np.concatenate([order[n_val:], np.arange(size, n)])
    return np.sort(train), np.sort(order[:n_val])


def _config_split(n: int, config: TrainingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows of a config (``split_seed``, else ``seed``)."""
    split_seed = config.seed if config.split_seed is None else config.split_seed
    return _split(n, config.validation_fraction, split_seed, config.split_size)


def _validation_examples(
    dataset: Any, rows: np.ndarray, config: TrainingConfig, features: FeatureMap
) -> TrainingExamples:
    """The validation curves: augmentation seed ``seed + 1``, one fixed draw per curve."""
    examples = TrainingExamples(
        dataset, rows, config.preprocess, features, config.seed + 1, config.augment
    )
    examples.epoch = 0  # never advanced
    return examples


@torch.no_grad()
def _validate(network, loader, device, config: TrainingConfig) -> float:
    """Mean weighted NLL over ``loader`` in eval mode; the network keeps the mode it had."""
    was_training = network.training
    network.eval()
    total, count = 0.0, 0
    for batch in loader:
        if batch is None:
            continue
        x, target, log_weight = (t.to(device) for t in batch)
        nll = -network.log_prob(target, x)
        w = _weights(log_weight, config, x)
        total += float((w * nll).sum()) * len(x)
        count += len(x)
    network.train(was_training)
    return total / max(count, 1)


def train(
    data: str | Path,
    out: str | Path,
    config: TrainingConfig | None = None,
    *,
    init: str | Path | None = None,
    init_optimizer: str | Path | None = None,
    device: str | None = None,
    progress: bool = True,
    resume: bool = True,
) -> TrainedModel:
    """Train a posterior network on a simulated dataset and write the artifact to ``out``.

    Parameters
    ----------
    data : path
        Folder written by :func:`mulens_npe.simulate.simulate`.
    out : path
        Output folder: ``model.safetensors`` + ``card.json`` (the best validation state),
        and ``checkpoint.pt`` for resuming.
    config : TrainingConfig, optional
        Defaults to ``TrainingConfig()``.
    init : path, optional
        A model folder to warm-start from (its network configuration is used).
    init_optimizer : path, optional
        A ``checkpoint.pt`` (or a file from :func:`save_optimizer_moments`) of the run that
        produced ``init``: its Adam moments are loaded instead of starting from zero (the
        learning rate and schedule stay this run's; see docs/model.md, stage 7, for what it did).
    device : str, optional
        ``"cpu"``, ``"cuda"``...; default CUDA when available.
    progress : bool
        Show a progress bar.
    resume : bool
        Continue from ``out/checkpoint.pt`` when it exists.

    Returns
    -------
    TrainedModel
    """
    from tqdm.auto import tqdm

    from .simulate.dataset import SimulationDataset

    config = config or TrainingConfig()
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = device or (f"cuda:{local}" if torch.cuda.is_available() else "cpu")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(config.seed + rank)

    dataset = SimulationDataset(data)
    prior = dataset.prior
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    if init is not None:
        start = load_model(init)
        network = start.network
        preprocess_spec = start.preprocess
        if config.preprocess.residual and not start.preprocess.residual:
            # add the residual channel to a four-channel model: zero weights, same outputs
            preprocess_spec = replace(start.preprocess, residual=True)
            network = with_input_channels(network, len(preprocess_spec.channels))
        config = replace(config, network=network.config, preprocess=preprocess_spec)
        features = start.features
        if config.squash is not None:
            features = replace(features, squash=config.squash)
    else:
        features = FeatureMap.from_prior(prior, squash=config.squash or ())
        network = PosteriorNetwork(config.network)
    network.to(device).train()

    train_rows, val_rows = _config_split(len(dataset), config)
    if distributed:
        train_rows = train_rows[rank :: int(os.environ["WORLD_SIZE"])]
    train_set = TrainingExamples(
        dataset, train_rows, config.preprocess, features, config.seed, config.augment
    )
    val_set = _validation_examples(dataset, val_rows, config, features)

    if distributed and (config.cached_passes or config.freeze_embedding):
        raise ConfigurationError(
            "TrainingConfig: cached_passes and freeze_embedding train on one device; "
            "run them without torchrun."
        )
    if config.freeze_embedding:
        if init is None:
            raise ConfigurationError(
                "TrainingConfig: freeze_embedding needs a warm start (--init MODEL); "
                "a random embedding would stay random."
            )
        if init_optimizer is not None:
            raise ConfigurationError(
                "--init-optimizer cannot be combined with freeze_embedding: the saved moments "
                "are the whole network's, this run optimises the flow alone."
            )
        network.embedding.requires_grad_(False)
    _train_mode(network, config)
    model = torch.nn.parallel.DistributedDataParallel(network) if distributed else network
    optimizer = torch.optim.AdamW(
        [p for p in network.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=1e-5,
    )
    state = {"step": 0, "epoch": 0, "best_val": math.inf, "stale": 0, "history": [], "seconds": 0.0}
    budget = config.max_minutes * 60.0

    def lr_factor(step: int) -> float:
        return _lr_factor(step / config.max_steps, state["seconds"] / budget)

    if init_optimizer is not None:
        _load_moments(optimizer, network, init_optimizer, device)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    checkpoint = out / "checkpoint.pt"
    if resume and checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
        network.load_state_dict(saved["network"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        state.update(json.loads(saved["state"]))

    def save_checkpoint() -> None:
        tmp = checkpoint.with_suffix(".tmp")
        torch.save(
            {
                "network": network.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "state": json.dumps(state),
            },
            tmp,
        )
        os.replace(tmp, checkpoint)

    def write_artifact(metrics: dict[str, Any]) -> None:
        card = {
            "name": out.name,
            "training": {
                "config": config.to_dict(),
                "steps": state["step"],
                "seconds": round(state["seconds"], 1),
                "hardware": _hardware(device),
                "warm_start": str(init) if init else None,
            },
            "dataset": {
                "path": str(data),
                "size": len(dataset),
                "seed": dataset.config.seed,
                "grid": dataset.manifest.get("grid", {}),
                "proposal": dict(dataset.config.proposal),
                "train_curves": int(len(train_rows)),
                "validation_curves": int(len(val_rows)),
            },
            "metrics": metrics,
        }
        save_model(TrainedModel(network, config.preprocess, features, prior, card), out)

    val_loader = _loader(val_set, config.batch_size, False, config.seed, config.workers)
    cache = None  # made before the clock starts: the budget and schedule are the steps'
    if config.cached_passes and state["step"] < config.max_steps:
        cache = _cache_passes(train_set, network, config, device, progress and rank == 0)
    started = time.perf_counter() - state["seconds"]
    bar = tqdm(
        total=config.max_steps,
        initial=state["step"],
        disable=not progress or rank != 0,
        desc="training",
        unit="step",
    )
    done = state["step"] >= config.max_steps
    while not done:
        if cache is None:
            train_set.epoch = state["epoch"]
            loader = _loader(
                train_set, config.batch_size, True, config.seed + state["epoch"], config.workers
            )
        else:
            loader = _cached_batches(cache, config.batch_size, config.seed + state["epoch"])
        for batch in loader:
            if batch is None:
                continue
            x, target, log_weight = (t.to(device) for t in batch)
            weights = _weights(log_weight, config, x)
            if config.freeze_embedding:
                if cache is None:  # a cache would hold the contexts already
                    with torch.no_grad():
                        x = network.embedding(x)
                posterior = network.flow(x.float())
            else:
                posterior = model(x.float())
            loss = -(weights * posterior.log_prob(target)).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), config.clip_grad)
            optimizer.step()
            schedule.step()
            state["step"] += 1
            state["seconds"] = time.perf_counter() - started
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            last = state["step"] >= config.max_steps or state["seconds"] >= budget
            if state["step"] % config.validate_every == 0 or last:
                val = _validate(network, val_loader, device, config)
                _train_mode(network, config)
                state["history"].append(
                    {
                        "step": state["step"],
                        "train_loss": loss.item(),
                        "val_loss": val,
                        "minutes": round(state["seconds"] / 60, 2),
                    }
                )
                # every rank sees the same validation loss (same weights, same curves), so
                # every rank takes the same early-stopping decision; only rank 0 writes
                improved = val < state["best_val"]
                if improved:
                    state["best_val"], state["stale"] = val, 0
                else:
                    state["stale"] += 1
                if rank == 0:
                    if improved:
                        write_artifact({"validation_nll": val, "history": state["history"]})
                    save_checkpoint()
                if state["stale"] >= config.patience:
                    last = True
            if last:
                done = True
                break
        state["epoch"] += 1
    bar.close()
    if rank == 0 and not (out / "card.json").exists():
        write_artifact({"validation_nll": state["best_val"], "history": state["history"]})
    if distributed:
        torch.distributed.barrier()  # every rank returns the final artifact rank 0 wrote
        torch.distributed.destroy_process_group()
    return load_model(out)


def _train_mode(network: PosteriorNetwork, config: TrainingConfig) -> None:
    """Training mode; a frozen embedding stays in eval mode (its batch norms keep their statistics)."""
    network.train()
    if config.freeze_embedding:
        network.embedding.eval()


def _cache_passes(
    train_set: TrainingExamples,
    network: PosteriorNetwork,
    config: TrainingConfig,
    device: torch.device,
    progress: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``config.cached_passes`` augmented passes over the training curves, kept in memory.

    Returns (inputs, targets, log weights): the network inputs in float16 or, with a frozen
    embedding, the embedding's contexts (float32, computed in eval mode as at inference).
    Pass ``k`` is the augmentation of epoch ``k``, so a run's cache depends only on its seed.
    """
    from tqdm.auto import tqdm

    xs, targets, weights = [], [], []
    n_batches = math.ceil(len(train_set) / config.batch_size)
    bar = tqdm(
        total=config.cached_passes * n_batches,
        disable=not progress,
        desc="caching passes",
        unit="batch",
    )
    for epoch in range(config.cached_passes):
        train_set.epoch = epoch
        for batch in _loader(train_set, config.batch_size, False, config.seed, config.workers):
            bar.update(1)
            if batch is None:
                continue
            x, target, log_weight = batch
            if config.freeze_embedding:
                with torch.no_grad():
                    x = network.embedding(x.to(device)).cpu()
            else:
                x = x.to(torch.float16)
            xs.append(x)
            targets.append(target)
            weights.append(log_weight)
    bar.close()
    if not xs:
        raise InputDataError("training: no training curve could be preprocessed.")
    return torch.cat(xs), torch.cat(targets), torch.cat(weights)


def _cached_batches(cache, batch_size: int, seed: int):
    """One shuffled pass over the cache, in batches."""
    xs, targets, weights = cache
    order = torch.randperm(len(xs), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        yield xs[rows], targets[rows], weights[rows]


def _load_moments(optimizer, network, path: str | Path, device) -> None:
    """Load only the per-parameter Adam state of a saved optimizer into ``optimizer``."""
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise ConfigurationError(f"--init-optimizer: no file {path}") from None
    except Exception as exc:  # torch raises several kinds for a file that is not its own
        raise ConfigurationError(f"{path}: not a torch checkpoint ({exc})") from None
    if not isinstance(saved, dict) or "optimizer" not in saved:
        raise ConfigurationError(f"{path}: not a training checkpoint (no 'optimizer' entry)")
    moments = saved["optimizer"]["state"]
    params = list(network.parameters())
    if sorted(int(k) for k in moments) != list(range(len(params))):
        raise ConfigurationError(
            f"{path}: optimizer state for {len(moments)} parameters, this network has "
            f"{len(params)}; it does not belong to the warm-start model"
        )
    for index, param in enumerate(params):
        shape = tuple(moments[index]["exp_avg"].shape)
        if shape != tuple(param.shape):
            raise ConfigurationError(
                f"{path}: parameter {index} has moments of shape {shape}, the network "
                f"{tuple(param.shape)}; it does not belong to the warm-start model"
            )
    current = optimizer.state_dict()["param_groups"]
    optimizer.load_state_dict({"state": moments, "param_groups": current})


def save_optimizer_moments(checkpoint: str | Path, out: str | Path) -> Path:
    """Write the Adam moments of ``checkpoint`` alone, in bfloat16, for ``init_optimizer``.

    A third of the checkpoint's size (the network weights are in the model folder already), so
    it can travel to a remote GPU with the training set. bfloat16 keeps float32's exponent
    range, which the second moments (down to ~1e-20) need; the moments only steer step sizes.
    """
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = {
        index: {
            key: (value.to(torch.bfloat16) if value.is_floating_point() and value.ndim else value)
            for key, value in entry.items()
        }
        for index, entry in saved["optimizer"]["state"].items()
    }
    out = Path(out)
    torch.save({"optimizer": {"state": state, "param_groups": []}}, out)
    return out


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}"
