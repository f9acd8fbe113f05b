"""Does the map score prefer the true trajectory? A diagnosis of the map search on its misses.

For chosen events of the ``bench_propose.py --simulate`` pool (seed ``--seed``, indices as that
script prints them), on the true (s, q): runs :func:`mulens_npe.mapsearch.map_candidates` with
the search as it was before session 12 (no window bins, point-source nodes, no sharp elites,
no wide draws), then scores the true trajectory and each trajectory found on the unblurred map
with point-source and with finite-source nodes, against 500 and 2,000 uniform bins (3% error
floor), and prints the exact chi2 of each. Also times the map (0.01) and fine map (0.002) with
point and finite-source nodes.

Usage: python benchmarks/bench_mapscore.py --events 24,45,56,110,187,302,324,337
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_propose import add_pool_arguments, pool_events  # noqa: E402

from mulens_npe.initializer import NPEInitializer  # noqa: E402
from mulens_npe.likelihood import Likelihood  # noqa: E402
from mulens_npe.mapsearch import (  # noqa: E402
    binned_data,
    fine_map,
    magnification_map,
    map_candidates,
    score,
)
from mulens_npe.parameters import PARAMETER_NAMES  # noqa: E402
from mulens_npe.proposing import event_prior  # noqa: E402

OLD_SEARCH = dict(window_bins=False, finite_nodes=False, wide_share=0.0, sharp_elites=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pool_arguments(parser)
    args = parser.parse_args()
    init = NPEInitializer.pretrained()
    n_worse = {(nodes, bins): 0 for nodes in ("point", "finite") for bins in (500, 2000)}
    n_done = 0
    for event in pool_events(init, args):
        truth, lc = event["truth"], event["lightcurve"]
        likelihood = Likelihood(lc)
        prior = event_prior(init.model.prior, lc)
        s, q = truth["s"], truth["q"]
        found = map_candidates(
            likelihood, [(s, q)], t_e_bounds=prior.bounds["t_E"], seed=0, **OLD_SEARCH
        )
        columns = {n: np.concatenate([[truth[n]], found[n]]) for n in PARAMETER_NAMES}
        exact = likelihood.chi2(columns)
        print(
            f"[{event['index']:3d}] truth s {s:.3f} q {q:.3g} t_E {truth['t_E']:.2f}; exact chi2 "
            f"truth {exact[0]:.0f}, found {', '.join(f'{c:.0f}' for c in exact[1:])}"
        )
        n_done += 1
        timings = []
        for nodes in ("point", "finite"):
            mark = time.perf_counter()
            sky = magnification_map(s, q, finite_nodes=nodes == "finite")
            middle = time.perf_counter()
            fine_map(sky, finite_nodes=nodes == "finite")
            timings.append(
                f"{nodes} map {middle - mark:.2f} s, fine map {time.perf_counter() - middle:.2f} s"
            )
            for bins in (500, 2000):
                chi2 = score(sky, binned_data(likelihood, max_points=bins), columns)
                worse = bool(found["t_0"].size and chi2[0] > np.min(chi2[1:]))
                n_worse[nodes, bins] += worse
                print(
                    f"    {nodes:6s} nodes, {bins:4d} bins: map chi2 truth {chi2[0]:.0f}, found "
                    f"{', '.join(f'{c:.0f}' for c in chi2[1:])}"
                    f"{'  (truth worse)' if worse else ''}"
                )
        print(f"    {'; '.join(timings)}")
        sys.stdout.flush()
    for (nodes, bins), n in n_worse.items():
        print(
            f"truth scored worse than a found trajectory, {nodes} nodes, {bins} bins: {n}/{n_done}"
        )


if __name__ == "__main__":
    main()
