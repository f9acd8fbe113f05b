"""Pack a simulated dataset small enough to travel to a remote training machine, and unpack it.

A dataset folder written by ``mulens-npe simulate`` stores each magnification curve as gzip'd
float32 (about 11 kB per Roman curve). A remote GPU lease may take only a few tens of MB, so
this packs the curves lossily but far below any photometric noise: ``ln A`` is quantised in
steps of ``STEP`` (1e-5, i.e. a relative magnification error below 5e-6, against Roman's best
~1e-3 photometry), second-differenced along time (smooth curves give small integers) and
compressed with LZMA (about 0.76 kB per curve). Parameters and weights are kept exactly.
``unpack`` writes an ordinary dataset folder (same manifest, grid and chunk layout) that
:class:`mulens_npe.simulate.SimulationDataset` and ``mulens-npe train`` read as usual.

Usage::

    python tools/pack_simulations.py pack   runs/sim-roman-2l1s  .devdata/sim   [--workers 2]
    python tools/pack_simulations.py unpack .devdata/sim  /tmp/sim-roman-2l1s [--workers 16]
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import h5py
import numpy as np

STEP = 1e-5
"""Quantisation step of ln(magnification)."""


def pack_chunk(source: Path, target: Path) -> int:
    """Pack one chunk file; returns the packed size in bytes."""
    with h5py.File(source, "r") as f:
        magnification = f["magnification"][:].astype(np.float64)
        params = f["params"][:]
        log_weight = f["log_weight"][:]
    quantised = np.round(np.log(magnification) / STEP).astype(np.int64)
    second = np.diff(np.diff(quantised, axis=1, prepend=0), axis=1, prepend=0)
    if np.abs(second).max() >= 2**31:
        raise ValueError(f"{source}: second differences overflow int32")
    blob = lzma.compress(second.astype("<i4").tobytes(), preset=6)
    header = np.array(second.shape, dtype="<i8")
    tmp = target.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        np.savez(
            out,
            shape=header,
            params=params,
            log_weight=log_weight,
            curves=np.frombuffer(blob, dtype=np.uint8),
        )
    tmp.rename(target)
    return target.stat().st_size


def unpack_chunk(source: Path, root: Path, index: int) -> None:
    """Unpack one packed chunk into ``root`` with the dataset writer."""
    from mulens_npe.simulate.config import SimulationConfig
    from mulens_npe.simulate.store import write_chunk

    manifest = json.loads((root / "manifest.json").read_text())
    config = SimulationConfig.from_dict(manifest["config"])
    with np.load(source) as packed:
        shape = tuple(int(v) for v in packed["shape"])
        second = np.frombuffer(lzma.decompress(packed["curves"].tobytes()), dtype="<i4")
        quantised = np.cumsum(np.cumsum(second.reshape(shape).astype(np.int64), axis=1), axis=1)
        magnification = np.exp(quantised * STEP).astype(config.dtype)
        write_chunk(
            root,
            index,
            config,
            packed["params"],
            packed["log_weight"],
            magnification,
            manifest["grid"]["sha256"],
        )


def _chunks(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["pack", "unpack"])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="pack only the first N chunks")
    args = parser.parse_args()
    args.target.mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", "grid.h5"):
        shutil.copy2(args.source / name, args.target / name)
    with ProcessPoolExecutor(args.workers) as pool:
        if args.action == "pack":
            chunks = _chunks(args.source, "chunk_*.h5")[: args.limit]
            todo = [c for c in chunks if not (args.target / f"{c.stem}.npz").exists()]
            sizes = list(pool.map(pack_chunk, todo, [args.target / f"{c.stem}.npz" for c in todo]))
            print(f"packed {len(todo)} chunk(s), {sum(sizes) / 1e6:.1f} MB")
        else:
            chunks = _chunks(args.source, "chunk_*.npz")
            indices = [int(c.stem.split("_")[1]) for c in chunks]
            list(pool.map(unpack_chunk, chunks, [args.target] * len(chunks), indices))
            print(f"unpacked {len(chunks)} chunk(s) into {args.target}")


if __name__ == "__main__":
    main()
