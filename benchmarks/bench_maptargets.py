"""Which (s, q) get a full map search? The posterior's map targets and the quick ranking, diagnosed.

For chosen events of the ``bench_propose.py --simulate`` pool (seed ``--seed``, indices as that
script prints them): draws the shipped model's posterior (10,000 samples, seed 0) and its
:func:`mulens_npe.mapsearch.map_targets` as ``propose`` does, then prints

* the posterior mass near the truth (|d log10 s| < 0.05 and |d log10 q| < 0.2),
* the target nearest the truth (distance in those units: 1 = at the edge of that box),
* for each of ``--seeds`` random streams, the quick search of ``map_candidates`` (a tenth of
  the random trajectories, a quarter of the elites, 3 rounds, a point-source map with 0.02
  Einstein-radius nodes, 250 bins) on every target and on the true (s, q): the rank the truth
  would take among the targets (0 = best; ``map_candidates`` searches the best 4 in full) and
  the rank of the nearest target, with the seconds the quick searches took
  (``--caustic-bands on``: on maps with the band of :func:`mulens_npe.mapsearch.caustic_band`;
  ``--posterior-seeds on``: also from the trajectories of the posterior draws near each map,
  :func:`mulens_npe.mapsearch.posterior_descent`; both off in ``propose``).

and, at the end, the median posterior mass near the truth and the median distance of the
nearest target over the events. ``--seeds 0`` skips the quick searches (the masses alone take
a few seconds an event); ``--model PATH`` diagnoses another model than the shipped one.

Usage: python benchmarks/bench_maptargets.py --events 24,45,56 [--seeds 2] [--trials 2000]
    [--model PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_propose import add_pool_arguments, pool_events  # noqa: E402

from mulens_npe.errors import OutOfPriorWarning  # noqa: E402
from mulens_npe.initializer import NPEInitializer  # noqa: E402
from mulens_npe.likelihood import Likelihood  # noqa: E402
from mulens_npe.mapsearch import (  # noqa: E402
    CAUSTIC_BANDS,
    SHARP_ELITES,
    WIDE_SHARE,
    _search_one,
    binned_data,
    magnified_window,
    map_targets,
    posterior_descent,
    quick_map,
)
from mulens_npe.parameters import PARAMETER_NAMES  # noqa: E402
from mulens_npe.proposing import MAP_POSTERIOR_SEEDS, MAP_TARGETS, event_prior  # noqa: E402

#: the quick search of ``map_candidates`` with its defaults (n_random // 10, n_elite // 4, 3)
QUICK_ELITES, QUICK_ROUNDS, FULL_MAPS = 50, 3, 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pool_arguments(parser)
    parser.add_argument("--seeds", type=int, default=2, help="random streams of the quick search")
    parser.add_argument("--trials", type=int, default=2000, help="random trajectories per map")
    parser.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    parser.add_argument(
        "--posterior-seeds",
        choices=("on", "off"),
        default="on" if MAP_POSTERIOR_SEEDS else "off",
        help="the quick searches also descend from the posterior draws' trajectories near "
        "each map (map_candidates(posterior); default as propose)",
    )
    parser.add_argument(
        "--caustic-bands",
        choices=("on", "off"),
        default="on" if CAUSTIC_BANDS else "off",
        help="quick maps with a caustic band (map_candidates(caustic_bands); default as propose)",
    )
    args = parser.parse_args()
    init = NPEInitializer.pretrained() if args.model is None else NPEInitializer.load(args.model)
    n_top, n_nearest_top, n_runs = 0, 0, 0
    masses, nearest_distances = [], []
    for event in pool_events(init, args):
        truth, lc = event["truth"], event["lightcurve"]
        likelihood = Likelihood(lc)
        t_e_bounds = event_prior(init.model.prior, lc).bounds["t_E"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OutOfPriorWarning)
            samples = init.sample(lc, 10_000, seed=0)
        targets = map_targets(samples["s"], samples["q"], MAP_TARGETS)
        draws = {name: np.asarray(samples[name], float) for name in PARAMETER_NAMES}
        log_s, log_q = np.log10(truth["s"]), np.log10(truth["q"])
        d_s = np.abs(np.log10(np.asarray(samples["s"], float)) - log_s) / 0.05
        d_q = np.abs(np.log10(np.asarray(samples["q"], float)) - log_q) / 0.2
        mass = float(np.mean(np.maximum(d_s, d_q) < 1.0))
        distance = [
            max(abs(np.log10(s) - log_s) / 0.05, abs(np.log10(q) - log_q) / 0.2) for s, q in targets
        ]
        nearest = int(np.argmin(distance))
        masses.append(mass)
        nearest_distances.append(distance[nearest])
        data = binned_data(likelihood)
        window = magnified_window(data)
        coarse = binned_data(likelihood, max_points=250, window=window)
        runs = []
        for stream in range(args.seeds):
            rng = np.random.default_rng(stream)
            mark = time.perf_counter()
            quick = []
            for s, q in [*targets, (truth["s"], truth["q"])]:
                sky = quick_map(s, q, args.caustic_bands == "on")
                searched = _search_one(
                    sky,
                    coarse,
                    window,
                    rng,
                    args.trials,
                    QUICK_ELITES,
                    QUICK_ROUNDS,
                    t_e_bounds,
                    None,
                    WIDE_SHARE,
                    SHARP_ELITES,
                )
                if args.posterior_seeds == "on":
                    searched = posterior_descent(
                        sky,
                        coarse,
                        draws,
                        searched,
                        rng,
                        QUICK_ELITES,
                        QUICK_ROUNDS,
                        args.trials,
                        t_e_bounds,
                        None,
                        SHARP_ELITES,
                    )
                chi2 = searched[1]
                quick.append(float(np.min(chi2)))
            seconds = time.perf_counter() - mark
            scores = np.array(quick[:-1])
            truth_rank = int(np.sum(scores < quick[-1]))
            nearest_rank = int(np.sum(scores < scores[nearest]))
            n_top += truth_rank < FULL_MAPS
            n_nearest_top += nearest_rank < FULL_MAPS
            n_runs += 1
            runs.append(
                f"seed {stream}: truth rank {truth_rank} ({quick[-1]:.4g} vs best "
                f"{scores.min():.4g}), nearest rank {nearest_rank}, {seconds:.1f} s"
            )
        print(
            f"[{event['index']:3d}] truth s {truth['s']:.3f} q {truth['q']:.3g}; posterior mass "
            f"near truth {mass:.3f}; nearest of {len(targets)} targets: #{nearest} s "
            f"{targets[nearest][0]:.3f} q {targets[nearest][1]:.3g} at {distance[nearest]:.2f}"
        )
        for line in runs:
            print(f"    {line}")
        sys.stdout.flush()
    distances = np.asarray(nearest_distances)
    print(
        f"{len(masses)} events: median posterior mass near the truth "
        f"{np.median(masses):.4f}, median distance of the nearest target "
        f"{np.median(distances):.2f}; the nearest target inside the box on "
        f"{np.sum(distances <= 1.0)}, within 1.5x the box on {np.sum(distances <= 1.5)}"
    )
    if n_runs:
        print(
            f"the true (s, q) would be among the {FULL_MAPS} maps searched in full in "
            f"{n_top}/{n_runs} (event, seed) runs, the nearest target in {n_nearest_top}/{n_runs}"
        )


if __name__ == "__main__":
    main()
