"""Fit every light curve of a folder as its own event, locally or on a Dask cluster.

What ``mulens-npe fit FOLDER`` does, from Python: the events are embedded by the network in
batches, polished one by one, written to ``OUT/<event>/``, and summarised in one table
(``OUT/results.ecsv``) whose ``status`` column says which failed and why. A file that cannot be
read costs only its own row.

    python examples/fit_survey.py FOLDER [--out DIR] [--model FOLDER] [--scheduler ADDRESS]
                                  [--local-cluster K] [--time-budget SECONDS]

``--local-cluster K`` starts a Dask cluster of K worker processes on this machine;
``--scheduler`` joins an existing one (e.g. from dask-jobqueue on SLURM).
"""

from __future__ import annotations

import argparse
import sys

from mulens_npe.batch import find_lightcurves, fit_batch
from mulens_npe.errors import MulensNPEError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--out", default="survey-fits")
    parser.add_argument("--model", default=None, help="model folder (default: shipped model)")
    parser.add_argument("--time-budget", type=float, default=10.0, help="seconds per event")
    parser.add_argument("--n-samples", type=int, default=10_000)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, help="address of a Dask scheduler")
    where.add_argument("--local-cluster", type=int, default=0, metavar="K")
    args = parser.parse_args()
    files = find_lightcurves(args.folder)
    print(f"{len(files)} light curves in {args.folder}")
    cluster = None
    if args.local_cluster:
        from dask.distributed import LocalCluster

        cluster = LocalCluster(n_workers=args.local_cluster, threads_per_worker=1)
        args.scheduler = cluster.scheduler_address
    try:
        table = fit_batch(
            files,
            args.out,
            model=args.model,
            scheduler=args.scheduler,
            n_samples=args.n_samples,
            time_budget=args.time_budget,
            progress=lambda done, total: print(f"  {done}/{total} events done"),
        )
    except MulensNPEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if cluster is not None:
            cluster.close()
    table["event", "status", "label", "s", "q", "chi2_dof", "delta_chi2"].pprint_all()
    for row in table[table["status"] != "ok"]:
        print(f"{row['event']}: {row['error']}")
    print(f"results: {args.out}/results.ecsv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
