"""Writing simulated datasets: manifest, time grid and chunk files, atomically and resumably.

The layout is described in :mod:`mulens_npe.simulate.dataset`, which reads it. Every file is
written to a temporary name and renamed into place when complete, so a file that exists is whole.
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
from collections.abc import Mapping
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
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "GRID_NAME",
    "chunk_path",
    "missing_chunks",
    "grid_digest",
    "build_manifest",
    "read_manifest",
    "read_grid",
    "prepare_directory",
    "write_chunk",
    "open_chunk",
]

FORMAT = "mulens_npe.simulation"
"""Value of the manifest's ``format`` key."""

FORMAT_VERSION = 1
"""Version of the on-disk layout; a reader refuses layouts newer than it knows."""

MANIFEST_NAME = "manifest.json"
GRID_NAME = "grid.h5"
_TMP_SUFFIX = ".h5.tmp"
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


def open_chunk(
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
            open_chunk(root, index, config, recorded["grid"]).close()
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
