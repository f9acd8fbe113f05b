"""Fill a dataset directory with simulated light curves, on local cores or a Dask cluster.

The unit of work is one chunk: draw its parameters from the proposal with the chunk's own
random stream, compute the magnifications, write the chunk file. Chunks depend only on the
config and their index, so which worker computes them, in which order, and whether a run
was interrupted half way change nothing in the result.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import ConfigurationError, MulensNPEError
from ..parameters import PARAMETER_NAMES
from .config import SimulationConfig
from .dataset import SimulationDataset
from .store import build_manifest, grid_digest, prepare_directory, write_chunk

__all__ = ["simulate", "simulate_chunk"]


def simulate_chunk(
    config: SimulationConfig, times: np.ndarray, sampler: Any, index: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute chunk ``index`` of ``config`` in memory.

    Returns ``(params (k, 7), log_weight (k,), magnification (k, m))``, the magnification in
    the config's storage precision.
    """
    from .magnification import binary_magnification

    start, stop = config.chunk_rows(index)
    rng = np.random.default_rng(config.seed_sequence(index))
    draws, log_weight = sampler.sample(stop - start, rng)
    params = np.column_stack(
        [np.asarray(draws[name], dtype=np.float64) for name in PARAMETER_NAMES]
    )
    magnification = binary_magnification(draws, times, tolerance=config.tolerance)
    bad = ~np.isfinite(magnification).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MulensNPEError(
            f"chunk {index}: non-finite magnification for curve {start + row} with parameters "
            f"{dict(zip(PARAMETER_NAMES, params[row].tolist(), strict=True))}."
        )
    return params, np.asarray(log_weight, dtype=np.float64), magnification.astype(config.dtype)


class _ChunkJob:
    """Compute and write one chunk; a small picklable callable shipped to every worker."""

    def __init__(self, config: SimulationConfig, times: np.ndarray, root: Path) -> None:
        self.config = config
        self.times = times
        self.root = root
        self.grid_sha256 = grid_digest(times)
        self._sampler = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sampler": None}

    def __call__(self, index: int) -> int:
        if self._sampler is None:
            self._sampler = self.config.build_sampler(self.config.build_prior(self.times))
        params, log_weight, magnification = simulate_chunk(
            self.config, self.times, self._sampler, index
        )
        write_chunk(
            self.root, index, self.config, params, log_weight, magnification, self.grid_sha256
        )
        return params.shape[0]


def simulate(
    config: SimulationConfig,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
) -> SimulationDataset:
    """Simulate the dataset ``config`` describes into directory ``out``, or finish it.

    A new (or empty) directory receives a new dataset. A directory that already holds this
    config's dataset is resumed: only the missing chunks are computed. Any other directory
    is refused with a :class:`~mulens_npe.errors.ConfigurationError`.

    Arguments:
        config: The :class:`~mulens_npe.simulate.config.SimulationConfig`.
        out: Dataset directory. With a Dask cluster every worker must see it at this path
            (a shared file system): workers write their chunks themselves.
        workers: Local processes; ``None`` uses every core available to this process, ``1``
            computes in this process.
        scheduler: A ``dask.distributed.Client`` or the address of a Dask scheduler
            (``"tcp://host:8786"``); then the chunks run on that cluster and ``workers`` must
            be ``None``.
        progress: Show a progress bar counting curves (on stderr).

    Returns:
        The finished :class:`~mulens_npe.simulate.dataset.SimulationDataset`.

    Example:
        >>> from mulens_npe.simulate.config import SimulationConfig, TimeGrid
        >>> config = SimulationConfig(n=20, seed=0, chunk_size=10, grid=TimeGrid(duration=2.0))
        >>> dataset = simulate(config, "runs/tiny", workers=1, progress=False)  # doctest: +SKIP
        >>> len(dataset), dataset.n_chunks                                      # doctest: +SKIP
        (20, 2)
    """
    if not isinstance(config, SimulationConfig):
        raise ConfigurationError(f"simulate: config must be a SimulationConfig, got {config!r}.")
    if scheduler is not None and workers is not None:
        raise ConfigurationError(
            "simulate: give either workers (local) or scheduler (Dask), not both."
        )
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1
    ):
        raise ConfigurationError(f"simulate: workers must be a positive integer, got {workers!r}.")

    root = Path(out).expanduser().absolute()
    times = config.grid.epochs()
    prior = config.build_prior(times)
    sampler = config.build_sampler(prior)
    manifest = build_manifest(config, times, prior, sampler.to_config())
    pending = prepare_directory(root, manifest, times)
    remaining = sum(stop - start for start, stop in map(config.chunk_rows, pending))
    job = _ChunkJob(config, times, root)

    with tqdm(
        total=config.n,
        initial=config.n - remaining,
        unit="curve",
        desc="simulate",
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        if scheduler is not None and pending:
            _run_dask(job, pending, scheduler, bar)
        elif min(workers or _available_cores(), len(pending)) <= 1:
            for index in pending:
                bar.update(job(index))
        else:
            _run_pool(job, pending, min(workers or _available_cores(), len(pending)), bar)
    return SimulationDataset(root)


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _run_pool(job: _ChunkJob, pending: list[int], n_workers: int, bar: tqdm) -> None:
    with ProcessPoolExecutor(max_workers=n_workers) as pool:
        futures = [pool.submit(job, index) for index in pending]
        try:
            for future in as_completed(futures):
                bar.update(future.result())
        except BaseException:
            # Chunks already running finish and are kept; queued ones never start.
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _run_dask(job: _ChunkJob, pending: list[int], scheduler: Any, bar: tqdm) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - dask[distributed] is a dependency
        raise ConfigurationError(
            f"simulate: a Dask scheduler needs dask.distributed ({exc})."
        ) from None
    if isinstance(scheduler, Client):
        client, owned = scheduler, False
    elif isinstance(scheduler, str):
        try:
            client, owned = Client(scheduler), True
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"simulate: cannot reach the Dask scheduler at {scheduler!r} ({exc})."
            ) from None
    else:
        raise ConfigurationError(
            f"simulate: scheduler must be a dask.distributed.Client or an address such as "
            f"'tcp://host:8786', got {scheduler!r}."
        )
    try:
        # pure=False: a chunk deleted on disk must be recomputed, never taken from a cache.
        futures = client.map(job, pending, pure=False)
        try:
            for future in as_completed(futures):
                bar.update(future.result())
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if owned:
            client.close()
