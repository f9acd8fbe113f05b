"""The ``mulens-npe`` command line: one small function per subcommand.

Errors the user can cause (a bad option, an unreadable file, a directory in the way) print one
line on stderr and exit with status 2; an unexpected failure (a bug) prints its traceback and
exits with status 1; success exits 0. ``fit`` and ``propose`` live in :mod:`mulens_npe.cli_fit`.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .cli_fit import add_fit, add_propose
from .errors import ConfigurationError, MulensNPEError

__all__ = ["main", "build_parser"]


def _simulate(args: argparse.Namespace) -> int:
    from .simulate.config import SimulationConfig, TimeGrid
    from .simulate.runner import simulate
    from .simulate.store import MANIFEST_NAME, read_manifest

    out = Path(args.out)
    if args.config is not None:
        try:
            text = Path(args.config).read_text()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the config file {args.config}: {exc}") from None
        spec = SimulationConfig.from_json(text).to_dict()
    elif (out / MANIFEST_NAME).is_file():
        spec = read_manifest(out)["config"]  # resume with the recorded recipe
    else:
        spec = {}
    for key, value in (("n", args.n), ("seed", args.seed), ("chunk_size", args.chunk_size)):
        if value is not None:
            spec[key] = value
    if args.grid is not None:
        spec["grid"] = TimeGrid.parse(args.grid)
    missing = [flag for key, flag in (("n", "--n"), ("seed", "--seed")) if key not in spec]
    if missing:
        raise ConfigurationError(
            f"simulate needs {' and '.join(missing)} (or --config FILE, or --out pointing at a "
            "dataset to resume)."
        )
    config = SimulationConfig.from_dict(spec)
    dataset = simulate(
        config,
        out,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
    )
    print(
        f"{len(dataset)} light curves x {dataset.n_epochs} epochs in {dataset.n_chunks} "
        f"chunk files at {dataset.path}"
    )
    return 0


def _add_simulate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a training set of 2L1S light curves into a dataset directory",
        description=(
            "Draw parameters from the prior (with caustic-crossing proposals), compute "
            "noise-free magnifications on a Roman time grid and write them in HDF5 chunks. "
            "Running it again on an unfinished directory computes only the missing chunks."
        ),
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="dataset directory (created if needed)"
    )
    parser.add_argument("--n", type=int, metavar="N", help="number of light curves")
    parser.add_argument("--seed", type=int, metavar="S", help="random seed (non-negative integer)")
    parser.add_argument(
        "--chunk-size", type=int, metavar="C", help="light curves per chunk file (default 1000)"
    )
    parser.add_argument(
        "--grid",
        metavar="{roman,dc2026:K}",
        help="time grid: 'roman' (one 72-d season every 15.16 min, default) or 'dc2026:K' "
        "(the 2026 data-challenge epochs of season K = 1-6)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON simulation config (SimulationConfig.to_json); the flags above override it",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        metavar="K",
        help="local worker processes (default: all cores; 1 = in process)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a Dask scheduler, e.g. tcp://10.0.0.1:8786 (workers must see --out)",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    parser.set_defaults(run=_simulate)


def _read(args: argparse.Namespace) -> int:
    import numpy as np

    from .adapters import as_lightcurves

    options = {"phot_fmt": args.phot_fmt} if args.phot_fmt else {}
    if args.time_offset is not None:
        options["time_offset"] = args.time_offset
    for lc in as_lightcurves(list(args.files), **options):
        print(
            f"{lc.band}: {lc.n_points} epochs, BJD {lc.time[0]:.4f} - {lc.time[-1]:.4f} "
            f"({lc.time_span:.1f} d), brightest {np.nanmin(lc.mag):.3f} mag, median error "
            f"{1e3 * np.nanmedian(lc.mag_err):.1f} mmag [{lc.meta.get('source', '?')}]"
        )
    return 0


def _add_read(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "read",
        help="read light-curve files and print what was understood",
        description="Read one or more photometry files (3 columns or IPAC tables) the way "
        "propose/fit do, and print each dataset's epochs, span and photometry.",
    )
    parser.add_argument("files", nargs="+", help="light-curve files (one per telescope)")
    parser.add_argument("--phot-fmt", choices=("mag", "flux"), help="what the value column holds")
    parser.add_argument("--time-offset", type=float, help="days to add, e.g. 2450000")
    parser.set_defaults(run=_read)


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .training import TrainingConfig, train

    config = TrainingConfig.from_file(args.config) if args.config else TrainingConfig()
    overrides = {
        key: value
        for key, value in (
            ("max_minutes", args.max_minutes),
            ("max_steps", args.max_steps),
            ("workers", args.workers),
        )
        if value is not None
    }
    config = replace(config, **overrides)
    model = train(
        args.data,
        args.out,
        config,
        init=args.init,
        init_optimizer=args.init_optimizer,
        device=args.device,
        progress=not args.no_progress,
    )
    training = model.card["training"]
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun only rank 0 reports
    print(
        f"model written to {args.out}: {training['steps']} steps in "
        f"{training['seconds'] / 60:.1f} min, validation NLL "
        f"{model.card['metrics']['validation_nll']:.3f}"
    )
    return 0


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a posterior network on a simulated dataset",
        description="Train the embedding network and flow on a dataset written by "
        "`mulens-npe simulate`, with fresh noise for every served curve. Writes "
        "model.safetensors + card.json (best validation state) and checkpoint.pt; running the "
        "same command again resumes. Several GPUs: torchrun --nproc_per_node K -m mulens_npe.cli "
        "train ...",
    )
    parser.add_argument(
        "--data", required=True, help="dataset directory from `mulens-npe simulate`"
    )
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument(
        "--config", help="JSON training config (e.g. configs/roman-2l1s.train.json)"
    )
    parser.add_argument("--init", help="model directory to warm-start from")
    parser.add_argument(
        "--init-optimizer",
        help="checkpoint.pt of the run that made --init: reuse its Adam moments",
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--max-minutes", type=float, help="override the wall-clock budget")
    parser.add_argument("--max-steps", type=int, help="override the number of steps")
    parser.add_argument("--workers", type=int, help="override the data-loading processes")
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    parser.set_defaults(run=_train)


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_model, model_epochs, write_report
    from .initializer import NPEInitializer

    model = NPEInitializer.from_name_or_folder(args.model).model
    result = evaluate_model(
        model,
        model_epochs(model),
        n=args.n,
        seed=args.seed,
        n_samples=args.samples,
        progress=not args.no_progress,
    )
    out = write_report(result, model, args.out, args.seed)
    for name, coverage in result.coverage.items():
        print(
            f"{name:>6}: 68% interval covers {coverage['68%']:.3f}, 95% covers {coverage['95%']:.3f}"
        )
    for group, errors in result.errors.items():
        reference = result.reference_errors[group]
        print(
            f"{group} (n={errors['n']}): posterior median, median |d log10 s| {errors['log10_s']:.3f}, "
            f"|d log10 q| {errors['log10_q']:.3f} (a guess that reads no data: "
            f"{reference['log10_s']:.3f}, {reference['log10_q']:.3f})"
        )
    print(f"report: {out / 'evaluation.md'}")
    return 0


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="calibration and accuracy of a model on fresh simulations",
        description="Simulate N fresh events from the model's prior with a new seed, draw "
        "posteriors and report coverage (68%, 95%; also on the clear binaries alone), SBC ranks, "
        "TARP and median errors split by binary signal strength beside those of a guess that "
        "reads no data, with plots.",
    )
    parser.add_argument(
        "--model", help="model folder or shipped model name (default: the shipped roman-2l1s)"
    )
    parser.add_argument("--n", type=int, default=2000, help="number of events (default 2000)")
    parser.add_argument(
        "--seed", type=int, default=12345, help="seed of the events (default 12345)"
    )
    parser.add_argument("--samples", type=int, default=1000, help="posterior samples per event")
    parser.add_argument(
        "--out", default="evaluation", help="report directory (default ./evaluation)"
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    parser.set_defaults(run=_evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mulens-npe`` with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="mulens-npe",
        description="Amortized neural posterior estimation for binary-lens microlensing.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    add_fit(subparsers)
    add_propose(subparsers)
    _add_read(subparsers)
    _add_simulate(subparsers)
    _add_train(subparsers)
    _add_evaluate(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mulens-npe`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage or help already
        return exc.code if isinstance(exc.code, int) else 0
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("mulens-npe: error: choose a command (see mulens-npe --help)", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except MulensNPEError as exc:
        print(f"mulens-npe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mulens-npe {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not the user's doing: keep the traceback for the report
        traceback.print_exc()
        print(
            f"mulens-npe {args.command}: unexpected error: {type(exc).__name__}: {exc} "
            "(please report it with the traceback above)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
