"""Many events at once: one results table, a failure on one event never stops the others.

:func:`fit_batch` splits the events into chunks; each chunk is embedded by the network in one
batch (:meth:`NPEInitializer.propose_many`), then every event is polished and its outputs are
written to ``out/<event>/`` on its own, so a bad file costs only its own row. Chunks run in
this process, or as tasks on a Dask cluster (``scheduler=ADDRESS``; dask-jobqueue reaches
SLURM/PBS). The table (``results.ecsv``) has one row per event, in input order, with a
``status`` of ``ok``, ``input error`` (the data could not be used) or ``failed`` (anything
else), the ``error`` message of a failed event, the ``warnings`` of a fitted one (see
:attr:`Proposal.warnings`) and its best solution.
"""

from __future__ import annotations

import functools
import os
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from .errors import ConfigurationError, MulensNPEError
from .outputs import write_fit, write_table
from .parameters import PARAMETER_NAMES

__all__ = ["fit_batch", "event_names", "find_lightcurves", "LIGHTCURVE_SUFFIXES", "STATUSES"]

LIGHTCURVE_SUFFIXES = (".dat", ".txt", ".tbl", ".csv", ".phot", ".pho", ".lc")
"""File name endings :func:`find_lightcurves` takes as light curves in a folder."""

STATUSES = ("ok", "input error", "failed")
"""Values of the ``status`` column of the results table."""

SCHEDULER_TIMEOUT = 20.0
"""Seconds to wait for a Dask scheduler to answer."""


def find_lightcurves(folder: str | Path) -> list[Path]:
    """The light-curve files of a folder (by :data:`LIGHTCURVE_SUFFIXES`), sorted by name."""
    folder = Path(folder)
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() in LIGHTCURVE_SUFFIXES
    )


def event_names(paths: Sequence[str | Path]) -> list[str]:
    """A distinct name per file: its stem, with ``-2``, ``-3``... for repeats."""
    names: list[str] = []
    for path in paths:
        stem = Path(path).stem or "event"
        name, k = stem, 1
        while name in names:
            k += 1
            name = f"{stem}-{k}"
        names.append(name)
    return names


@functools.lru_cache(maxsize=4)
def _initializer(model: str | None):
    """One model per process (workers of a Dask cluster load it once)."""
    from .initializer import NPEInitializer

    return NPEInitializer.from_name_or_folder(model)


def _row(name: str, path: str, status: str, error: str = "", **values: Any) -> dict[str, Any]:
    return {"event": name, "file": path, "status": status, "error": error, **values}


def _failure(name: str, path: str, exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, MulensNPEError | OSError):
        return _row(name, path, "input error", f"{type(exc).__name__}: {exc}")
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {Path(last[0].filename).name}:{last[0].lineno}" if last else ""
    return _row(name, path, "failed", f"{type(exc).__name__}: {exc}{where}")


def fit_chunk(
    items: Sequence[tuple[str, str]],
    out: str,
    model: str | None,
    options: dict[str, Any],
    plots: bool = False,
    refine: int = 0,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Fit the events ``items`` (name, file) and write ``out/<name>/``; one row per event.

    Never raises for one event: its row carries the error. This is the task a Dask worker
    runs; all its arguments are plain values. ``on_row(row)`` is called as each event ends.
    """
    rows: list[dict[str, Any]] = []

    def add(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    try:
        init = _initializer(model)
    except Exception as exc:  # every event of the chunk fails the same way
        for name, path in items:
            add(_failure(name, path, exc))
        return rows

    def write(index: int, result: Any) -> None:
        name, path = items[index]
        if isinstance(result, BaseException):
            add(_failure(name, path, result))
            return
        mark = time.perf_counter()
        try:
            chain = _refine(result, refine, options.get("seed", 0)) if refine else None
            write_fit(result, Path(out) / name, name=name, plots=plots, chain=chain)
        except Exception as exc:
            add(_failure(name, path, exc))
            return
        add(_success(name, path, result, result.timings.get("total", 0.0), mark))

    adapter = {k: v for k, v in options.items() if k == "phot_fmt" and v is not None}
    propose = {k: v for k, v in options.items() if k != "phot_fmt"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # they are kept in each Proposal's warnings
        init.propose_many(
            [path for _, path in items],
            return_exceptions=True,
            on_result=write,
            **propose,
            **adapter,
        )
    return rows


def _refine(result: Any, n_steps: int, seed: int) -> Table:
    from .integrations.mulensmodel import refine

    return refine(None, result, n_steps=n_steps, seed=seed, likelihood="vbm")


def _success(name: str, path: str, result: Any, seconds: float, mark: float) -> dict[str, Any]:
    best = result.solutions[0] if result.solutions else None
    values: dict[str, Any] = {
        "n_points": sum(lc.n_points for lc in result.lightcurves),
        "n_solutions": len(result.solutions),
        "label": best.label if best else "",
        "chi2": best.chi2 if best else np.nan,
        "dof": best.dof if best else 0,
        "chi2_dof": best.chi2_per_dof if best else np.nan,
        "delta_chi2": best.delta_chi2 if best else np.nan,
        "seconds": seconds + time.perf_counter() - mark,
    }
    for name_ in PARAMETER_NAMES:
        values[name_] = best.parameters[name_] if best else np.nan
    return _row(name, path, "ok", warnings=" | ".join(result.warnings), **values)


def _table(rows: list[dict[str, Any]]) -> Table:
    columns = {
        "event": str,
        "file": str,
        "status": str,
        "error": str,
        "warnings": str,
        "n_points": int,
        "n_solutions": int,
        "label": str,
        **{name: float for name in PARAMETER_NAMES},
        "chi2": float,
        "dof": int,
        "chi2_dof": float,
        "delta_chi2": float,
        "seconds": float,
    }
    empty = {str: "", int: 0, float: np.nan}
    table = Table(
        {
            name: np.array([row.get(name, empty[kind]) for row in rows], dtype=kind)
            for name, kind in columns.items()
        }
    )
    for name, unit in (("t_0", "d"), ("t_E", "d"), ("alpha", "deg"), ("seconds", "s")):
        table[name].unit = unit
    return table


def fit_batch(
    files: Sequence[str | Path],
    out: str | Path,
    *,
    model: str | Path | None = None,
    scheduler: str | None = None,
    chunk_size: int = 16,
    n_samples: int = 10_000,
    seed: int = 0,
    n_solutions: int = 5,
    time_budget: float | None = None,
    anomaly_starts: bool = True,
    n_starts: int = 3,
    compress: bool = True,
    extend: bool = True,
    map_starts: bool = True,
    workers: int = 1,
    phot_fmt: str | None = None,
    plots: bool = False,
    refine: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Table:
    """Fit every file as its own event and write ``results.ecsv`` into ``out``.

    Parameters
    ----------
    files : sequence of path
        One light-curve file per event.
    out : str or Path
        Folder: ``results.ecsv`` and one sub-folder per event (see :func:`write_fit`).
    model : str or Path, optional
        Model folder or shipped model name; default the shipped model. Dask workers must see it.
    scheduler : str, optional
        Address of a Dask scheduler (e.g. ``tcp://10.0.0.1:8786``): chunks run as tasks on
        its workers, which must see the files and ``out``. Default: in this process.
    chunk_size : int
        Events embedded by the network in one batch and sent as one task.
    n_samples, seed, n_solutions, time_budget, anomaly_starts, n_starts, compress, extend,
    map_starts, workers
        As in :meth:`NPEInitializer.propose` (``time_budget`` is per event; ``workers``
        must be 1 with a ``scheduler``).
    phot_fmt : {"mag", "flux"}, optional
        What the files' value column holds (default: magnitudes, as MulensModel).
    plots : bool
        Draw each event's figures (a few seconds per event).
    refine : int
        emcee steps from each best solution (0: none); the chain is written as
        ``chain.ecsv``.
    progress : callable, optional
        Called as ``progress(done, total)`` as events end (on Dask: as chunks end).

    Returns
    -------
    astropy.table.Table
        One row per event, in input order (see the module docstring); also written to
        ``out/results.ecsv``.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigurationError(f"fit_batch: chunk_size must be >= 1, got {chunk_size!r}.")
    if scheduler is not None and workers != 1:
        # Dask runs the tasks in daemonic processes, which may not start worker processes
        raise ConfigurationError(
            f"fit_batch: workers={workers!r} with a Dask scheduler; the cluster already spreads "
            "the events over its workers: use workers=1 (--workers 1) there."
        )
    if not files:
        raise ConfigurationError("fit_batch: no light-curve files to fit.")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the output folder {out}: {exc}") from None
    paths = [os.fspath(Path(f).resolve()) for f in files]
    items = list(zip(event_names(paths), paths, strict=True))
    chunks = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]
    # a folder travels to the workers as an absolute path, a shipped model by its name
    model_path = (
        model if model is None or not Path(model).exists() else os.fspath(Path(model).resolve())
    )
    options = dict(
        n_samples=n_samples,
        seed=seed,
        n_solutions=n_solutions,
        time_budget=time_budget,
        anomaly_starts=bool(anomaly_starts),
        n_starts=n_starts,
        compress=bool(compress),
        extend=bool(extend),
        map_starts=bool(map_starts),
        workers=workers,
        phot_fmt=phot_fmt,
    )
    _initializer(model_path)  # a missing or broken model is the user's error: raise it here
    arguments = (os.fspath(out.resolve()), model_path, options, plots, refine)
    rows: dict[str, dict[str, Any]] = {}
    if scheduler is None:

        def on_row(row: dict[str, Any]) -> None:
            rows[row["event"]] = row
            if progress is not None:
                progress(len(rows), len(items))

        for chunk in chunks:
            fit_chunk(chunk, *arguments, on_row=on_row)
    else:
        _run_on_dask(scheduler, chunks, arguments, rows, progress, len(items))
    table = _table([rows[name] for name, _ in items])
    table.meta.update(
        {
            "model": model_path or "shipped",
            "n_events": len(items),
            **{f"n_{s.replace(' ', '_')}": int(np.sum(table["status"] == s)) for s in STATUSES},
            **{k: v for k, v in options.items() if v is not None},
        }
    )
    write_table(table, out / "results.ecsv")
    return table


def _run_on_dask(
    scheduler: str,
    chunks: list[list[tuple[str, str]]],
    arguments: tuple,
    rows: dict[str, dict[str, Any]],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> None:
    from dask.distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot reach the Dask scheduler at {scheduler!r}: {exc}"
        ) from None
    with client:
        futures = {
            client.submit(fit_chunk, chunk, *arguments, pure=False): chunk for chunk in chunks
        }
        for future in as_completed(futures):
            chunk = futures[future]
            try:
                done = future.result()
            except Exception as exc:  # the task itself died (worker lost, killed ...)
                done = [_failure(name, path, exc) for name, path in chunk]
            rows.update((row["event"], row) for row in done)
            if progress is not None:
                progress(len(rows), total)
