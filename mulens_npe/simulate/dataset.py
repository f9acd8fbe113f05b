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

import getpass
import hashlib
import json
import os
import platform
import socket
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import ConfigurationError, MulensNPEError
from ..parameters import PARAMETER_NAMES
from ..prior import Prior
from .config import SimulationConfig

__all__ = [
    "SimulationDataset",
    "SimulatedCurves",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "GRID_NAME",
    "chunk_path",
    "missing_chunks",
    "grid_digest",
    "build_manifest",
    "read_manifest",
    "prepare_directory",
    "write_chunk",
]

FORMAT = "mulens_npe.simulation"
"""Value of the manifest's ``format`` key."""

FORMAT_VERSION = 1
"""Version of the on-disk layout; a reader refuses layouts newer than it knows."""

MANIFEST_NAME = "manifest.json"
GRID_NAME = "grid.h5"
_TMP_SUFFIX = ".h5.tmp"
_OPEN_FILES = 64
_SOFTWARE = ("mulens-npe", "VBMicrolensing", "numpy", "h5py")
_PARAMETER_UNITS = ("d", "", "d", "", "", "", "deg")


def chunk_path(root: str | os.PathLike, index: int) -> Path:
    """Path of chunk file ``index`` inside dataset directory ``root``."""
    return Path(root) / f"chunk_{index:05d}.h5"


def missing_chunks(root: str | os.PathLike, n_chunks: int) -> list[int]:
    """Indices of the chunk files not (yet) present in ``root``."""
    return [i for i in range(n_chunks) if not chunk_path(root, i).is_file()]


def grid_digest(times: np.ndarray) -> str:
    """SHA-256 of the epochs as little-endian float64: identifies a time grid exactly."""
    return hashlib.sha256(np.ascontiguousarray(times, dtype="<f8").tobytes()).hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def build_manifest(
    config: SimulationConfig, times: np.ndarray, prior: Prior, proposal: Mapping[str, Any]
) -> dict[str, Any]:
    """The manifest of a new dataset made from ``config`` on epochs ``times``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "prior": prior.to_dict(),
        "proposal": json.loads(json.dumps(proposal, default=_jsonable)),
        "parameters": {"names": list(PARAMETER_NAMES), "units": list(_PARAMETER_UNITS)},
        "grid": {
            "file": GRID_NAME,
            "description": config.grid.describe(),
            "spec": config.grid.to_dict(),
            "n_epochs": int(times.size),
            "first": float(times[0]),
            "last": float(times[-1]),
            "sha256": grid_digest(times),
        },
        "chunks": {
            "count": config.n_chunks,
            "size": config.chunk_size,
            "pattern": "chunk_{index:05d}.h5",
            "magnification_dtype": config.dtype,
        },
        "created": {
            "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
            "user": user,
            "python": platform.python_version(),
            "software": {name: _version(name) for name in _SOFTWARE},
        },
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename the result to ``path`` (same directory, atomic)."""
    tmp = path.with_name(f"{path.stem}.{uuid.uuid4().hex[:12]}{_TMP_SUFFIX}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_manifest(root: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest.json`` atomically."""
    text = json.dumps(manifest, indent=2, default=_jsonable) + "\n"
    _atomic_write(root / MANIFEST_NAME, lambda tmp: tmp.write_text(text))


def read_manifest(root: str | os.PathLike) -> dict[str, Any]:
    """Read and check the manifest of the dataset in ``root``."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise MulensNPEError(
            f"{root} is not a mulens_npe simulated dataset: it has no {MANIFEST_NAME}."
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MulensNPEError(f"{path} cannot be read as JSON ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise MulensNPEError(f"{path} is not a mulens_npe simulation manifest.")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise MulensNPEError(
            f"{path} has format version {version!r}; this mulens_npe reads up to "
            f"{FORMAT_VERSION}. Upgrade mulens_npe to read it."
        )
    missing = sorted({"config", "prior", "grid", "chunks"} - set(manifest))
    if missing:
        raise MulensNPEError(f"{path} lacks the key(s) {missing}; the manifest is damaged.")
    return manifest


def write_grid(root: Path, times: np.ndarray, manifest: Mapping[str, Any]) -> None:
    """Write ``grid.h5`` (the epochs) atomically."""

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            data = f.create_dataset("times", data=np.asarray(times, dtype=np.float64))
            data.attrs["unit"] = "d (full BJD)"
            f.attrs["description"] = manifest["grid"]["description"]
            f.attrs["spec"] = json.dumps(manifest["grid"]["spec"])
            f.attrs["sha256"] = manifest["grid"]["sha256"]

    _atomic_write(root / GRID_NAME, write)


def read_grid(root: Path, manifest: Mapping[str, Any]) -> np.ndarray:
    """The epochs of a dataset, checked against the manifest's digest."""
    path = root / manifest["grid"].get("file", GRID_NAME)
    try:
        with h5py.File(path, "r") as f:
            times = f["times"][()]
    except (OSError, KeyError) as exc:
        raise MulensNPEError(
            f"{path}: cannot read the time grid ({exc}); run simulate again on this directory "
            "to rewrite it."
        ) from None
    if grid_digest(times) != manifest["grid"]["sha256"]:
        raise MulensNPEError(f"{path} does not hold the time grid its manifest describes.")
    return times


def write_chunk(
    root: Path,
    index: int,
    config: SimulationConfig,
    params: np.ndarray,
    log_weight: np.ndarray,
    magnification: np.ndarray,
    grid_sha256: str,
) -> Path:
    """Write chunk ``index`` atomically; returns its path."""
    start, stop = config.chunk_rows(index)
    rows = stop - start
    if params.shape != (rows, len(PARAMETER_NAMES)) or log_weight.shape != (rows,):
        raise MulensNPEError(
            f"chunk {index}: expected {rows} parameter sets, got params {params.shape} and "
            f"log_weight {log_weight.shape}."
        )
    if magnification.ndim != 2 or magnification.shape[0] != rows:
        raise MulensNPEError(
            f"chunk {index}: expected magnification of shape ({rows}, m), got {magnification.shape}."
        )

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["chunk_index"] = index
            f.attrs["rows"] = (start, stop)
            # The entropy may exceed int64, which HDF5 attributes cannot hold.
            f.attrs["seed_entropy"] = str(config.seed)
            f.attrs["seed_spawn_key"] = (index,)
            f.attrs["grid_sha256"] = grid_sha256
            data = f.create_dataset("params", data=np.asarray(params, dtype=np.float64))
            data.attrs["columns"] = list(PARAMETER_NAMES)
            data.attrs["units"] = list(_PARAMETER_UNITS)
            data = f.create_dataset("log_weight", data=np.asarray(log_weight, dtype=np.float64))
            data.attrs["meaning"] = "log(prior density / proposal density) of each draw"
            f.create_dataset(
                "magnification",
                data=np.asarray(magnification, dtype=config.dtype),
                chunks=(1, magnification.shape[1]),
                compression="gzip",
                compression_opts=4,
                shuffle=True,
            )

    path = chunk_path(root, index)
    _atomic_write(path, write)
    return path


def _open_chunk(
    root: Path, index: int, config: SimulationConfig, grid: Mapping[str, Any]
) -> h5py.File:
    """Open chunk ``index`` for reading, after checking it belongs to this dataset."""
    path = chunk_path(root, index)
    start, stop = config.chunk_rows(index)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise MulensNPEError(
            f"{path}: cannot open chunk ({exc}); delete it and run simulate again on "
            f"{root} to recompute it."
        ) from None
    expected = {
        "chunk_index": index,
        "seed_entropy": str(config.seed),
        "grid_sha256": grid["sha256"],
    }
    shapes = {
        "params": (stop - start, len(PARAMETER_NAMES)),
        "log_weight": (stop - start,),
        "magnification": (stop - start, grid["n_epochs"]),
    }
    wrong = [key for key, value in expected.items() if f.attrs.get(key) != value]
    wrong += [name for name, shape in shapes.items() if name not in f or f[name].shape != shape]
    if wrong:
        f.close()
        raise MulensNPEError(
            f"{path} does not belong to this dataset ({', '.join(wrong)} differ); delete it "
            f"and run simulate again on {root} to recompute it."
        )
    return f


def remove_temporaries(root: Path) -> list[Path]:
    """Delete the ``*.h5.tmp`` files an interrupted run left behind; returns them."""
    stray = sorted(root.glob(f"*{_TMP_SUFFIX}"))
    for path in stray:
        path.unlink(missing_ok=True)
    return stray


_COMPARED = ("config", "prior", "proposal")


def prepare_directory(root: Path, manifest: Mapping[str, Any], times: np.ndarray) -> list[int]:
    """Make ``root`` ready to receive chunks of ``manifest``; returns the chunks to compute.

    A new or empty directory gets the grid and the manifest. A directory holding a dataset
    with the same config, prior, proposal and time grid is resumed: stray temporary files are
    removed and the missing chunks returned. Anything else raises.
    """
    if root.exists() and not root.is_dir():
        raise ConfigurationError(f"output {root} exists and is not a directory.")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the dataset directory {root}: {exc}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ConfigurationError(f"the dataset directory {root} is not writable.")

    if (root / MANIFEST_NAME).exists():
        recorded = read_manifest(root)
        _check_same_recipe(root, recorded, manifest)
        _warn_if_software_changed(root, recorded, manifest)
        remove_temporaries(root)
        if not (root / GRID_NAME).is_file():
            write_grid(root, times, manifest)
        read_grid(root, recorded)
        config = SimulationConfig.from_dict(recorded["config"])
        missing = missing_chunks(root, config.n_chunks)
        for index in sorted(set(range(config.n_chunks)) - set(missing)):
            _open_chunk(root, index, config, recorded["grid"]).close()
        return missing

    leftovers = [
        p.name for p in root.iterdir() if p.name != GRID_NAME and not p.name.endswith(_TMP_SUFFIX)
    ]
    if leftovers:
        shown = ", ".join(sorted(leftovers)[:5]) + (" ..." if len(leftovers) > 5 else "")
        raise ConfigurationError(
            f"{root} is not empty ({shown}) and is not a mulens_npe dataset (no "
            f"{MANIFEST_NAME}); choose a new or empty directory."
        )
    remove_temporaries(root)
    write_grid(root, times, manifest)
    write_manifest(root, manifest)
    return list(range(manifest["chunks"]["count"]))


def _check_same_recipe(
    root: Path, recorded: Mapping[str, Any], manifest: Mapping[str, Any]
) -> None:
    differences = []
    for key in _COMPARED:
        old, new = recorded.get(key), manifest[key]
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            differences += [
                f"{key}.{k}: {old.get(k)!r} on disk, {new.get(k)!r} now"
                for k in sorted(set(old) | set(new))
                if old.get(k) != new.get(k)
            ]
        elif old != new:
            differences.append(f"{key}: {old!r} on disk, {new!r} now")
    if recorded["grid"].get("sha256") != manifest["grid"]["sha256"]:
        differences.append(
            f"time grid: {recorded['grid'].get('description')!r} on disk, "
            f"{manifest['grid']['description']!r} now (the epochs differ)"
        )
    if differences:
        raise ConfigurationError(
            f"{root} holds a dataset made with a different configuration; resuming would mix "
            "two datasets. Differences: "
            + "; ".join(differences)
            + ". Use the recorded config (mulens-npe simulate --out DIR resumes with it) or "
            "a new directory."
        )


def _warn_if_software_changed(
    root: Path, recorded: Mapping[str, Any], manifest: Mapping[str, Any]
) -> None:
    old = recorded.get("created", {}).get("software", {})
    new = manifest["created"]["software"]
    changed = [
        f"{name} {old.get(name)} -> {new[name]}" for name in new if old.get(name) != new[name]
    ]
    if changed:
        warnings.warn(
            f"resuming {root} with other software than it was started with ({', '.join(changed)}); "
            "the new chunks may differ from what the first run would have written in the last "
            "digits.",
            RuntimeWarning,
            stacklevel=3,
        )


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
        f = _open_chunk(self.path, index, self.config, self.manifest["grid"])
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
