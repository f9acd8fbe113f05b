"""The ``mulens-npe`` command line: one small function per subcommand.

Errors the user can cause (a bad option, an unreadable file, a directory in the way) print one
line on stderr and exit with status 2; success exits 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import ConfigurationError, MulensNPEError

__all__ = ["main", "build_parser"]


def _simulate(args: argparse.Namespace) -> int:
    from .simulate.config import SimulationConfig, TimeGrid
    from .simulate.dataset import MANIFEST_NAME, read_manifest
    from .simulate.runner import simulate

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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mulens-npe`` with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="mulens-npe",
        description="Amortized neural posterior estimation for binary-lens microlensing.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    _add_simulate(subparsers)
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


if __name__ == "__main__":
    sys.exit(main())
