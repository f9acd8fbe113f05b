"""Simulated training sets on disk: a directory of HDF5 chunk files and a JSON manifest.

Layout of a dataset directory::

    manifest.json        format, config, resolved prior and proposal, time grid, provenance
    grid.h5              times (m,) float64: the epochs every curve is computed on
    chunk_00000.h5       params (k, 7), log_weight (k,), magnification (k, m)
    chunk_00001.h5       ...

Chunk ``i`` holds curves ``i * chunk_size`` to ``min(n, (i + 1) * chunk_size) - 1``. Every
chunk is written to a temporary ``*.h5.tmp`` file and renamed into place when complete, so a
chunk file that exists is whole; an interrupted run is resumed by computing the chunks that
are missing (see docs/datasets.md).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import MulensNPEError
from ..parameters import PARAMETER_NAMES
from ..prior import Prior
from .config import SimulationConfig
from .store import missing_chunks, open_chunk, read_grid, read_manifest

__all__ = ["SimulationDataset", "SimulatedCurves"]

_OPEN_FILES = 64
"""Chunk files a reader keeps open at once."""


@dataclass(frozen=True)
class SimulatedCurves:
    """Rows of a simulated dataset.

    Arguments:
        index: Row numbers in the whole dataset, shape (k,) (or () for one curve).
        params: Parameters in :data:`~mulens_npe.parameters.PARAMETER_NAMES` order
            (MulensModel 3.x units), shape (k, 7).
        log_weight: log(prior / proposal density) of each draw, shape (k,); weights
            ``exp(log_weight)`` turn averages over the dataset into averages over the prior.
        magnification: Noise-free magnification on the dataset's epochs, shape (k, m).
    """

    index: np.ndarray
    params: np.ndarray
    log_weight: np.ndarray
    magnification: np.ndarray

    def parameters(self) -> dict[str, np.ndarray]:
        """The parameters as a dict of columns keyed by MulensModel names."""
        return {name: self.params[..., i] for i, name in enumerate(PARAMETER_NAMES)}

    def __len__(self) -> int:
        return int(np.size(self.index))


class SimulationDataset:
    """A simulated training set on disk, read chunk by chunk or by random access.

    Nothing is loaded until asked for: a batch reads only the rows it needs, so a trainer
    can stream a dataset much larger than memory. The object may be pickled into data-loader
    worker processes; each process opens its own file handles.

    Arguments:
        path: The dataset directory written by :func:`mulens_npe.simulate.runner.simulate`.

    Example:
        >>> dataset = SimulationDataset("runs/roman_300k")           # doctest: +SKIP
        >>> len(dataset), dataset.times.shape                       # doctest: +SKIP
        (300000, (6839,))
        >>> batch = dataset.batch([5, 17, 123456])                  # doctest: +SKIP
        >>> batch.params.shape, batch.magnification.shape           # doctest: +SKIP
        ((3, 7), (3, 6839))
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self.config = SimulationConfig.from_dict(self.manifest["config"])
        chunks = self.manifest["chunks"]
        if (
            chunks.get("count") != self.config.n_chunks
            or chunks.get("size") != self.config.chunk_size
        ):
            raise MulensNPEError(f"{self.path}: manifest chunk counts disagree with its config.")
        missing = missing_chunks(self.path, self.config.n_chunks)
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise MulensNPEError(
                f"{self.path} is incomplete: {len(missing)} of {self.config.n_chunks} chunk "
                f"files are missing ({shown}). Run `mulens-npe simulate --out {self.path}` "
                "to compute them."
            )
        self._times: np.ndarray | None = None
        self._files: OrderedDict[int, h5py.File] = OrderedDict()
        self._small: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return self.config.n

    def __repr__(self) -> str:
        return (
            f"SimulationDataset({str(self.path)!r}, n={len(self)}, "
            f"n_epochs={self.n_epochs}, chunks={self.n_chunks})"
        )

    @property
    def n_chunks(self) -> int:
        """Number of chunk files."""
        return self.config.n_chunks

    @property
    def n_epochs(self) -> int:
        """Number of epochs per curve."""
        return int(self.manifest["grid"]["n_epochs"])

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Column names of ``params``."""
        return PARAMETER_NAMES

    @property
    def prior(self) -> Prior:
        """The prior the dataset's weights refer to."""
        return Prior.from_dict(self.manifest["prior"])

    @property
    def times(self) -> np.ndarray:
        """The epochs (full BJD, days), shape (m,); read-only."""
        if self._times is None:
            times = read_grid(self.path, self.manifest)
            times.setflags(write=False)
            self._times = times
        return self._times

    def _file(self, index: int) -> h5py.File:
        if self._pid != os.getpid():
            # Handles inherited through fork belong to the parent process.
            self._files = OrderedDict()
            self._pid = os.getpid()
        if index in self._files:
            self._files.move_to_end(index)
            return self._files[index]
        f = open_chunk(self.path, index, self.config, self.manifest["grid"])
        self._files[index] = f
        if len(self._files) > _OPEN_FILES:
            self._files.popitem(last=False)[1].close()
        return f

    def chunk(self, index: int) -> SimulatedCurves:
        """All rows of chunk ``index``."""
        if not 0 <= index < self.n_chunks:
            raise IndexError(f"chunk {index} out of range 0..{self.n_chunks - 1}")
        f = self._file(index)
        start, stop = self.config.chunk_rows(index)
        return SimulatedCurves(
            np.arange(start, stop),
            f["params"][()],
            f["log_weight"][()],
            f["magnification"][()],
        )

    def chunks(self) -> Iterator[SimulatedCurves]:
        """Iterate over the dataset one chunk at a time, in order."""
        for index in range(self.n_chunks):
            yield self.chunk(index)

    def batch(self, indices: Any) -> SimulatedCurves:
        """The rows ``indices`` (any order, repeats allowed, negative counts from the end)."""
        index = np.asarray(indices)
        if index.dtype.kind not in "iu" and index.size:
            raise IndexError(f"dataset indices must be integers, got dtype {index.dtype}.")
        index = index.astype(np.int64).reshape(-1)
        index = np.where(index < 0, index + len(self), index)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"dataset index out of range for {len(self)} curves.")
        params = np.empty((index.size, len(PARAMETER_NAMES)))
        log_weight = np.empty(index.size)
        magnification = np.empty((index.size, self.n_epochs), dtype=self.config.dtype)
        chunk_of, row = np.divmod(index, self.config.chunk_size)
        for c in np.unique(chunk_of).tolist():
            where = np.flatnonzero(chunk_of == c)
            rows = row[where]
            chunk_params, chunk_log_weight = self._columns(c)
            params[where] = chunk_params[rows]
            log_weight[where] = chunk_log_weight[rows]
            stored = self._file(c)["magnification"]
            low, high = int(rows.min()), int(rows.max()) + 1
            if high - low == np.unique(rows).size:  # a run of rows: one read
                magnification[where] = stored[low:high][rows - low]
            else:
                # One read per row: h5py's fancy indexing is ~3x slower on row-chunked data.
                for out_row, stored_row in zip(where.tolist(), rows.tolist(), strict=True):
                    magnification[out_row] = stored[stored_row]
        return SimulatedCurves(index, params, log_weight, magnification)

    def _columns(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Parameters and log weights of chunk ``index``, kept in memory (64 bytes a curve)."""
        if index not in self._small:
            f = self._file(index)
            self._small[index] = (f["params"][()], f["log_weight"][()])
        return self._small[index]

    def __getitem__(self, key: Any) -> SimulatedCurves:
        if isinstance(key, slice):
            return self.batch(np.arange(len(self))[key])
        if isinstance(key, (int, np.integer)):
            one = self.batch([key])
            return SimulatedCurves(
                one.index[0], one.params[0], one.log_weight[0], one.magnification[0]
            )
        return self.batch(key)

    def close(self) -> None:
        """Close the open chunk files (they reopen on the next read)."""
        if self._pid == os.getpid():
            for f in self._files.values():
                f.close()
        self._files = OrderedDict()

    def __enter__(self) -> SimulationDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"] = OrderedDict()
        return state
