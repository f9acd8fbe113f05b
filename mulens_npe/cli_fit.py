"""The ``fit`` and ``propose`` subcommands of ``mulens-npe`` (registered in :mod:`mulens_npe.cli`).

``fit FILE [FILE ...]`` is one event (several files: several telescopes): the ranked solutions
are printed and written with the posterior samples and figures. ``fit DIR`` or ``fit --list
FILE`` is a batch: every file is its own event, and one results table covers them all.
``propose FILE --json OUT`` writes the solutions as JSON for pipelines.

Progress goes to stderr (``--quiet`` silences it), results to stdout. Exit status: 0 done,
2 a user or input error (one line on stderr), 1 an unexpected failure; a batch exits 0 when
every event succeeded, 2 when some had unusable input and 1 when some failed otherwise (each
is reported in results.ecsv, and the others are complete).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .errors import ConfigurationError, ModelCardError

FIT_N_STARTS = 10
"""Default ``--n-starts`` of ``fit`` and ``propose`` (see docs/benchmarks.md for the choice)."""

__all__ = ["add_fit", "add_propose"]


class _Progress:
    """One line on stderr per slow step, with its duration; silent when ``quiet``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def start(self, message: str) -> float:
        if not self.quiet:
            print(f"{message} ...", end="", file=sys.stderr, flush=True)
        return time.perf_counter()

    def done(self, start: float, note: str = "") -> None:
        if not self.quiet:
            extra = f", {note}" if note else ""
            print(f" {time.perf_counter() - start:.1f} s{extra}", file=sys.stderr, flush=True)

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)


def _initializer(model: str | None):
    from .initializer import DEFAULT_MODEL, NPEInitializer, available_models

    if model is None and DEFAULT_MODEL not in available_models():
        raise ModelCardError(
            f"the shipped model {DEFAULT_MODEL!r} is not installed; pass --model DIR, a "
            "folder written by `mulens-npe train`."
        )
    return NPEInitializer.from_name_or_folder(model)


def _propose(args: argparse.Namespace, progress: _Progress):
    """Read the event, load the model and propose; warnings are kept in the result."""
    from .adapters import as_lightcurves

    mark = progress.start(f"reading {', '.join(args.files)}")
    options = {"phot_fmt": args.phot_fmt} if args.phot_fmt else {}
    lightcurves = as_lightcurves(list(args.files), **options)
    n_points = sum(lc.n_points for lc in lightcurves)
    progress.done(mark, f"{len(lightcurves)} dataset(s), {n_points} epochs")
    mark = progress.start("loading the model")
    init = _initializer(args.model)
    progress.done(mark, str(init.card.get("name", args.model)))
    mark = progress.start(
        f"posterior ({args.n_samples} samples), modes, polishing"
        + (f" (budget {args.time_budget:g} s)" if args.time_budget else "")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same messages are in result.warnings
        result = init.propose(
            lightcurves,
            n_samples=args.n_samples,
            seed=args.seed,
            n_solutions=args.n_solutions,
            time_budget=args.time_budget,
            anomaly_starts=not args.no_anomaly_starts,
            n_starts=args.n_starts,
            compress=not args.no_compress,
            extend=not args.no_extend,
            map_starts=not args.no_map_starts,
            workers=args.workers,
        )
    progress.done(mark, f"{len(result.solutions)} solution(s)")
    for message in result.warnings:
        progress.say(f"warning: {message}")
    return result


def _fit(args: argparse.Namespace) -> int:
    if args.list or any(Path(f).is_dir() for f in args.files):
        return _fit_batch(args)
    if not args.files:
        raise ConfigurationError("fit needs light-curve files, a folder or --list FILE.")
    if args.scheduler:
        raise ConfigurationError("--scheduler is for batches (a folder or --list FILE).")
    from .outputs import refined_text, solutions_text, write_fit

    progress = _Progress(args.quiet)
    name = Path(args.files[0]).stem
    out = Path(args.out or f"mulens-npe-{name}")
    result = _propose(args, progress)
    chain = None
    if args.refine:
        from .integrations.mulensmodel import refine

        progress.say(f"emcee: {args.refine} steps x 32 walkers from solution #1")
        chain = refine(
            None,
            result,
            n_steps=args.refine,
            seed=args.seed,
            progress=not args.quiet,
            likelihood="vbm",
        )
    plots = args.plots is not False
    mark = progress.start(f"writing {out}/" + (" with figures" if plots else ""))
    written = write_fit(result, out, name=name, plots=plots, chain=chain)
    progress.done(mark)
    if args.json:
        print(result.to_json())
        return 0
    print(solutions_text(result, name))
    if chain is not None:
        print(refined_text(chain))
    print(f"wrote {', '.join(written)} in {out}/")
    return 0


def _fit_batch(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from .batch import STATUSES, find_lightcurves, fit_batch

    files: list[Path] = []
    for item in args.files:
        path = Path(item)
        found = find_lightcurves(path) if path.is_dir() else [path]
        if path.is_dir() and not found:
            raise ConfigurationError(f"no light-curve files (*.dat, *.txt, *.tbl ...) in {path}.")
        files.extend(found)
    if args.list:
        files.extend(_read_list(Path(args.list)))
    out = Path(args.out or "mulens-npe-batch")
    bar = tqdm(total=len(files), unit="event", disable=args.quiet, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    with bar:
        table = fit_batch(
            files,
            out,
            model=args.model,
            scheduler=args.scheduler,
            n_samples=args.n_samples,
            seed=args.seed,
            n_solutions=args.n_solutions,
            time_budget=args.time_budget,
            anomaly_starts=not args.no_anomaly_starts,
            n_starts=args.n_starts,
            compress=not args.no_compress,
            extend=not args.no_extend,
            map_starts=not args.no_map_starts,
            workers=args.workers,
            phot_fmt=args.phot_fmt,
            plots=bool(args.plots),
            refine=args.refine or 0,
            progress=progress,
        )
    counts = {status: int((table["status"] == status).sum()) for status in STATUSES}
    if args.json:
        rows = [{k: _plain(row[k]) for k in table.colnames} for row in table]
        print(json.dumps(rows, indent=2))
    else:
        print(_results_text(table))
        print(
            f"{len(table)} events: {counts['ok']} ok, {counts['input error']} input error(s), "
            f"{counts['failed']} failed; results in {out / 'results.ecsv'}"
        )
    if counts["failed"]:
        return 1
    return 2 if counts["input error"] else 0


def _results_text(table: Any, width: int = 60) -> str:
    """One line per event: status, best solution, and the error or the number of warnings."""
    name_width = max([len("event"), *(len(name) for name in table["event"])])
    lines = [
        f"{'event':<{name_width}s}  {'status':<11s}  {'label':<8s}  {'s':>7s}  {'q':>9s}  "
        f"{'chi2/dof':>9s}  {'dchi2_1L':>11s}  note"
    ]
    for row in table:
        if row["status"] == "ok":
            n_warnings = len(row["warnings"].split(" | ")) if row["warnings"] else 0
            note = f"{n_warnings} warning(s)" if n_warnings else ""
            fit = (
                f"{row['label']:<8s}  {row['s']:>7.4f}  {row['q']:>9.2e}  "
                f"{row['chi2_dof']:>9.4g}  {row['delta_chi2']:>11.1f}"
            )
        else:
            note = row["error"] if len(row["error"]) <= width else row["error"][: width - 3] + "..."
            fit = f"{'-':<8s}  {'-':>7s}  {'-':>9s}  {'-':>9s}  {'-':>11s}"
        lines.append(f"{row['event']:<{name_width}s}  {row['status']:<11s}  {fit}  {note}")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def _read_list(path: Path) -> list[Path]:
    """One file per line (blank and ``#`` lines skipped), relative to the list's folder."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the list {path}: {exc}") from None
    entries = [line.strip() for line in lines]
    return [path.parent / entry for entry in entries if entry and not entry.startswith("#")]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="MODEL",
        help="model folder or shipped model name, e.g. roman-2l1s-calibrated (default: the "
        "shipped roman-2l1s)",
    )
    parser.add_argument(
        "--phot-fmt", choices=("mag", "flux"), help="what the value column holds (default mag)"
    )
    parser.add_argument(
        "--n-solutions", type=_positive_int, default=5, metavar="K", help="most solutions (5)"
    )
    parser.add_argument(
        "--n-samples",
        type=_positive_int,
        default=10_000,
        metavar="N",
        help="posterior samples (10000)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (0)")
    parser.add_argument(
        "--time-budget",
        type=_positive_float,
        default=120.0,
        metavar="SECONDS",
        help="stop polishing after this long (per event; default 120 s)",
    )
    parser.add_argument(
        "--n-starts",
        type=_positive_int,
        default=FIT_N_STARTS,
        metavar="K",
        help=f"posterior draws polished per mode, best screened first, while the budget "
        f"lasts; also the number of anomaly starts ({FIT_N_STARTS})",
    )
    parser.add_argument(
        "--no-anomaly-starts",
        action="store_true",
        help="polish posterior draws only, not also starts read off the light curve's anomaly",
    )
    parser.add_argument(
        "--no-map-starts",
        action="store_true",
        help="no trajectory search on magnification maps where a single lens fails badly "
        "(chi2/dof > 1.15)",
    )
    parser.add_argument(
        "--no-compress",
        action="store_true",
        help="polish on every epoch throughout (default: first on every epoch where the light "
        "curve bends and runs of 4 epochs binned to one elsewhere, then the best optima again "
        "on every epoch)",
    )
    parser.add_argument(
        "--no-extend",
        action="store_true",
        help="polish --n-starts draws per mode and stop (default: while the time budget "
        "lasts, also further screened draws, then restarts of the best optimum)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="processes computing the polish's magnification curves side by side (1: "
        "none started); more polishing fits in the time budget on a machine with N cores",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output on stderr")


def add_fit(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="ranked 2L1S solutions, samples and figures for one event or a batch",
        description=(
            "One event: FILE [FILE ...] (several files = several telescopes). Prints the "
            "ranked solutions and writes solutions.ecsv, samples.ecsv, solutions.json and "
            "lightcurve.png, caustics.png, corner.png into --out. Batch: a folder (every "
            "*.dat, *.txt, *.tbl, *.csv ... in it) or --list FILE; every file is an event, "
            "written to OUT/<name>/, and OUT/results.ecsv has one row per event with its "
            "status. Exit status: 0 ok, 2 bad input or options, 1 unexpected failure."
        ),
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="light-curve file(s) or folder")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default ./mulens-npe-<first file name>, ./mulens-npe-batch)",
    )
    _common(parser)
    parser.add_argument(
        "--json", action="store_true", help="print JSON on stdout instead of the table"
    )
    parser.add_argument(
        "--refine",
        type=_positive_int,
        metavar="N_STEPS",
        help="run emcee for N_STEPS from the best solution; writes chain.ecsv",
    )
    parser.add_argument(
        "--plots",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw the figures (default: yes for one event, no in a batch)",
    )
    parser.add_argument(
        "--list", metavar="FILE", help="batch: a file listing light curves, one per line"
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="batch: Dask scheduler address, e.g. tcp://10.0.0.1:8786 (workers must see "
        "the files, the model and --out)",
    )
    parser.set_defaults(run=_fit)


def _propose_json(args: argparse.Namespace) -> int:
    from .outputs import solutions_text

    result = _propose(args, _Progress(args.quiet))
    if args.json is None:
        print(solutions_text(result, Path(args.files[0]).stem))
    elif args.json == "-":
        print(result.to_json())
    else:
        try:
            result.to_json(args.json)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {args.json}: {exc}") from None
    return 0


def add_propose(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "propose",
        help="ranked 2L1S solutions of one event as JSON (no figures)",
        description="Propose ranked, polished solutions for one event (several files = "
        "several telescopes) and write them as JSON (MulensModel parameter names, fluxes at "
        "zero point 22): for pipelines. Without --json, print the table.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="light-curve file(s)")
    parser.add_argument(
        "--json", metavar="OUT", help="write the solutions as JSON to OUT ('-': stdout)"
    )
    _common(parser)
    parser.set_defaults(run=_propose_json)
