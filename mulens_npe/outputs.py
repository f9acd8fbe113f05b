"""What a fit leaves behind: the ranked solutions as text and files, the samples, the figures.

:func:`write_fit` writes the outputs of one event into a folder (``solutions.ecsv``,
``samples.ecsv``, ``solutions.json`` and the figures); :func:`solutions_text` is the table
``mulens-npe fit`` prints. Every file is written under a temporary name and renamed, so an
interrupted run never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigurationError
from .parameters import PARAMETER_NAMES

if TYPE_CHECKING:
    from astropy.table import Table

    from .solutions import Proposal

__all__ = ["solutions_text", "write_fit", "write_table", "refined_text", "FIGURES"]

FIGURES = ("lightcurve.png", "caustics.png", "corner.png")
"""File names of the figures :func:`write_fit` draws."""

_COLUMNS = (
    ("#", "{:>2d}"),
    ("label", "{:<8s}"),
    ("from", "{:<9s}"),
    ("t_0", "{:>14.4f}"),
    ("u_0", "{:>8.4f}"),
    ("t_E", "{:>8.3f}"),
    ("rho", "{:>9.2e}"),
    ("s", "{:>7.4f}"),
    ("q", "{:>9.2e}"),
    ("alpha", "{:>7.2f}"),
    ("chi2", "{:>11.1f}"),
    ("chi2/dof", "{:>9.4g}"),
    ("dchi2_1L", "{:>11.1f}"),
)


def solutions_text(result: Proposal, name: str = "event") -> str:
    """The ranked solutions as a fixed-width text table with a two-line header.

    Columns: rank, topology label, where the start came from (``posterior``,
    ``anomaly``, ``map`` or ``twin``, see :attr:`Solution.origin`), the seven MulensModel parameters (t_0 full BJD/HJD, t_E
    in days, alpha in degrees), chi2, chi2/dof and ``dchi2_1L``, the chi2 of the best
    single-lens model minus the solution's (how much better than a single lens it fits).
    """
    n_points = sum(lc.n_points for lc in result.lightcurves)
    bands = ", ".join(lc.band for lc in result.lightcurves)
    single = result.single_lens.get("chi2", float("nan"))
    lines = [
        f"{name}: {len(result.lightcurves)} dataset(s) ({bands}), {n_points} epochs; "
        f"model {result.meta.get('model', '?')}, {result.meta.get('n_samples', '?')} samples, "
        f"seed {result.meta.get('seed', '?')}",
        f"single lens (PSPL): chi2 = {single:.1f}; units: t_0 BJD/HJD, t_E days, alpha degrees",
    ]
    widths = [len(fmt.format(*_example(fmt))) for _, fmt in _COLUMNS]
    lines.append(
        "  ".join(
            f"{title:<{w}s}" if fmt.startswith("{:<") else f"{title:>{w}s}"
            for (title, fmt), w in zip(_COLUMNS, widths, strict=True)
        )
    )
    for rank, solution in enumerate(result.solutions, start=1):
        p = solution.parameters
        values = (
            rank,
            solution.label or "-",
            solution.origin,
            *(p[k] for k in PARAMETER_NAMES),
            solution.chi2,
            solution.chi2_per_dof,
            solution.delta_chi2,
        )
        lines.append("  ".join(fmt.format(v) for (_, fmt), v in zip(_COLUMNS, values, strict=True)))
    if not result.solutions:
        lines.append("(no solutions)")
    return "\n".join(lines)


def _example(fmt: str) -> tuple[Any]:
    if fmt.endswith("d}"):
        return (1,)
    if fmt.endswith("s}"):
        return ("",)  # padded to the format's width
    return (1.0,)


def refined_text(chain: Table) -> str:
    """Median and 68% interval of each parameter of an emcee chain after its burn-in."""
    n_steps = int(chain.meta.get("n_steps", np.max(chain["step"]) + 1))
    burn_in = chain.meta.get("burn_in") or n_steps // 2
    burn_in = min(int(burn_in), n_steps - 1)
    kept = chain[np.asarray(chain["step"]) >= burn_in]
    lines = [
        f"emcee: {n_steps} steps x {chain.meta.get('n_walkers', '?')} walkers, acceptance "
        f"{chain.meta.get('acceptance_fraction', float('nan')):.2f}, burn-in {burn_in} steps, "
        f"best chi2 {chain.meta.get('best_chi2', float('nan')):.1f}"
    ]
    for name in PARAMETER_NAMES:
        low, mid, high = np.percentile(np.asarray(kept[name], float), [16, 50, 84])
        lines.append(f"  {name:<6s} {mid:.6g}  +{high - mid:.2g} -{mid - low:.2g}")
    return "\n".join(lines)


def write_table(table: Table, path: str | Path) -> Path:
    """Write an astropy Table as ECSV, atomically (temporary file, then rename)."""
    path = Path(path)
    return _atomic(path, lambda tmp: table.write(tmp, format="ascii.ecsv", overwrite=True))


def _atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_fit(
    result: Proposal,
    out: str | Path,
    *,
    name: str = "event",
    plots: bool = True,
    chain: Table | None = None,
) -> dict[str, Path]:
    """Write the outputs of one fitted event into the folder ``out`` (created if needed).

    Parameters
    ----------
    result : Proposal
        What :meth:`NPEInitializer.propose` returned.
    out : str or Path
        Folder; files already there are replaced.
    name : str
        Event name, recorded in the tables and used in figure titles.
    plots : bool
        Draw the figures :data:`FIGURES`: the light curve with the top three solutions,
        residuals and a zoom on the anomaly; the caustics and source trajectory of each
        solution; the corner plot of the posterior samples with the solutions marked.
    chain : astropy.table.Table, optional
        An emcee chain (:func:`mulens_npe.integrations.mulensmodel.refine`), written as
        ``chain.ecsv``.

    Returns
    -------
    dict
        File name -> path of every file written.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the output folder {out}: {exc}") from None
    written = {}
    table = result.to_table()
    table.meta["event"] = name
    written["solutions.ecsv"] = write_table(table, out / "solutions.ecsv")
    samples = result.samples.copy(copy_data=False)
    samples.meta["event"] = name
    written["samples.ecsv"] = write_table(samples, out / "samples.ecsv")
    document = result.to_json()
    written["solutions.json"] = _atomic(
        out / "solutions.json", lambda tmp: tmp.write_text(document + "\n")
    )
    if chain is not None:
        written["chain.ecsv"] = write_table(chain, out / "chain.ecsv")
    if plots and result.solutions:
        written.update(_figures(result, out, name))
    return written


def _figures(result: Proposal, out: Path, name: str) -> dict[str, Path]:
    from .lightcurve_plots import caustics_plot, lightcurve_plot
    from .plots import corner_plot

    figures = {}
    draw = {
        "lightcurve.png": lambda tmp: lightcurve_plot(result, tmp, title=f"{name}"),
        "caustics.png": lambda tmp: caustics_plot(result, tmp, title=f"{name}: caustics"),
        "corner.png": lambda tmp: corner_plot(
            result.samples,
            tmp,
            title=f"{name}: posterior ({len(result.samples)} samples)",
            markers=[s.parameters for s in result.solutions],
            marker_labels=[f"#{k} {s.label}" for k, s in enumerate(result.solutions, 1)],
        ),
    }
    for file_name, function in draw.items():
        figures[file_name] = _atomic(out / file_name, function)
    return figures
