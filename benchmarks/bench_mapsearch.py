"""The magnification-map trajectory search on strong simulated binaries, alone.

For chosen events of the ``bench_propose.py --simulate`` pool (seed ``--seed``, indices as that
script prints them), runs :func:`mulens_npe.mapsearch.map_candidates`

* ``--truth``: on the map of the true (s, q) only (is the trajectory found?), or
* by default: on the 40 densest (s, q) of the shipped model's posterior, as ``propose`` does
  (``--posterior-seeds on``: also from the trajectories of the draws near each map),
  within ``--budget`` seconds,

then polishes every start it returns on all epochs (:func:`mulens_npe.polish.polish`, 200
curves per start) and prints, per start, its offsets from the truth, its chi2 and the polished
chi2 against the truth-started polish (recovered as ``bench_propose.py`` counts it).

``--crossing both`` searches each event without, then with, the trajectories through the
caustics at the data's sharpest times (``map_candidates(crossing_seeds=True)``); likewise
``--window-bins`` (finer bins inside the magnified window), ``--finite-nodes`` (maps of a
source one node wide) and ``--caustic-bands`` (maps refined near the caustics): every
combination of the chosen settings is run on each event, in this process, and counted.

Usage: python benchmarks/bench_mapsearch.py --events 45,109,110 [--truth] [--budget 40]
    [--crossing off|on|both] [--window-bins off|on|both] [--finite-nodes off|on|both]
    [--caustic-bands off|on|both]
    [--wide-share F] [--sharp-elites F]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_propose import add_pool_arguments, pool_events, recovered, truth_polish  # noqa: E402

from mulens_npe.errors import OutOfPriorWarning  # noqa: E402
from mulens_npe.initializer import NPEInitializer  # noqa: E402
from mulens_npe.likelihood import Likelihood  # noqa: E402
from mulens_npe.mapsearch import (  # noqa: E402
    CAUSTIC_BANDS,
    SHARP_ELITES,
    WIDE_SHARE,
    map_candidates,
    map_targets,
)
from mulens_npe.parameters import PARAMETER_NAMES  # noqa: E402
from mulens_npe.polish import polish  # noqa: E402
from mulens_npe.proposing import MAP_POSTERIOR_SEEDS, MAP_TARGETS, event_prior  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pool_arguments(parser)
    parser.add_argument("--truth", action="store_true", help="search the true (s, q) only")
    parser.add_argument("--budget", type=float, default=40.0, help="seconds per event search")
    parser.add_argument(
        "--posterior-seeds",
        choices=("on", "off"),
        default="on" if MAP_POSTERIOR_SEEDS else "off",
        help="without --truth: also descend from the posterior draws' trajectories near each "
        "map (map_candidates(posterior); default as propose)",
    )
    parser.add_argument(
        "--crossing",
        choices=("on", "off", "both"),
        default="off",
        help="also descend from trajectories through the caustics at the data's sharpest "
        "times (map_candidates(crossing_seeds=True); 'both': each event searched without, "
        "then with them, in this process; default off, as in propose)",
    )
    for flag, what, default in (
        (
            "--window-bins",
            "map_candidates(window_bins): finer bins inside the magnified window",
            "on",
        ),
        ("--finite-nodes", "map_candidates(finite_nodes): maps of a source one node wide", "on"),
        (
            "--caustic-bands",
            "map_candidates(caustic_bands): maps refined near the caustics",
            "on" if CAUSTIC_BANDS else "off",
        ),
    ):
        parser.add_argument(
            flag, choices=("on", "off", "both"), default=default, help=f"{what} (default {default})"
        )
    parser.add_argument(
        "--wide-share",
        type=float,
        default=WIDE_SHARE,
        help=f"map_candidates(wide_share), default {WIDE_SHARE}",
    )
    parser.add_argument(
        "--sharp-elites",
        type=float,
        default=SHARP_ELITES,
        help=f"map_candidates(sharp_elites), default {SHARP_ELITES}",
    )
    parser.add_argument("model", nargs="?", default=None)
    args = parser.parse_args()
    init = NPEInitializer.pretrained() if args.model is None else NPEInitializer.load(args.model)
    print(
        f"model {init.card.get('name')}; search on "
        f"{'the true (s, q)' if args.truth else f'{MAP_TARGETS} posterior (s, q)'}, "
        f"budget {args.budget:g} s; wide share {args.wide_share:g}, sharp elites "
        f"{args.sharp_elites:g}"
    )
    choices = {"on": [True], "off": [False], "both": [False, True]}
    variants = list(
        itertools.product(
            choices[args.crossing],
            choices[args.window_bins],
            choices[args.finite_nodes],
            choices[args.caustic_bands],
        )
    )
    n_recovered = dict.fromkeys(variants, 0)
    n_done = 0
    for event in pool_events(init, args):
        truth, lc = event["truth"], event["lightcurve"]
        likelihood = Likelihood(lc)
        prior = event_prior(init.model.prior, lc)
        reference = truth_polish(likelihood, truth, prior, 200).chi2
        if args.truth:
            targets, draws = [(truth["s"], truth["q"])], None
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OutOfPriorWarning)
                samples = init.sample(lc, 10_000, seed=0)
            targets = map_targets(samples["s"], samples["q"], MAP_TARGETS)
            draws = None
            if args.posterior_seeds == "on":
                draws = {name: np.asarray(samples[name], float) for name in PARAMETER_NAMES}
        n_done += 1
        for variant in variants:
            crossing, window_bins, finite_nodes, caustic_bands = variant
            mark = time.perf_counter()
            found = map_candidates(
                likelihood,
                targets,
                t_e_bounds=prior.bounds["t_E"],
                crossing_seeds=crossing,
                window_bins=window_bins,
                finite_nodes=finite_nodes,
                caustic_bands=caustic_bands,
                wide_share=args.wide_share,
                sharp_elites=args.sharp_elites,
                seed=0,
                posterior=draws,
                deadline=mark + args.budget,
            )
            search = time.perf_counter() - mark
            starts = {name: found[name] for name in PARAMETER_NAMES}
            mark = time.perf_counter()
            polished = polish(likelihood, starts, prior=prior, covariance=False)
            polish_time = time.perf_counter() - mark
            hit = any(recovered(r.chi2, reference) for r in polished)
            n_recovered[variant] += hit
            best = min((r.chi2 for r in polished), default=float("inf"))
            print(
                f"[{event['index']:3d}] {_label(variant)}: delta chi2 "
                f"{event['delta_chi2']:.3g}, truth-polish chi2 {reference:.1f}; truth s "
                f"{truth['s']:.3f} q {truth['q']:.3g} u_0 {truth['u_0']:.3f} t_E "
                f"{truth['t_E']:.2f} alpha {truth['alpha']:.1f} rho {truth['rho']:.2g}; search "
                f"{search:.1f} s, polish {polish_time:.1f} s, best {best:.1f}"
                f" -> {'RECOVERED' if hit else 'missed'}"
            )
            for k, result in enumerate(polished):
                d_alpha = (found["alpha"][k] - truth["alpha"] + 180.0) % 360.0 - 180.0
                start_chi2 = likelihood.chi2({n: found[n][k] for n in PARAMETER_NAMES})[0]
                print(
                    f"    start s {found['s'][k]:.3f} q {found['q'][k]:.3g} | d alpha "
                    f"{d_alpha:+6.1f} d u_0 {found['u_0'][k] - truth['u_0']:+.3f} t_E ratio "
                    f"{found['t_E'][k] / truth['t_E']:.3f} d t_0/t_E "
                    f"{(found['t_0'][k] - truth['t_0']) / truth['t_E']:+.3f} rho "
                    f"{found['rho'][k]:.0e} | chi2 {start_chi2:.4g} -> polished {result.chi2:.1f}"
                    f"{'  recovered' if recovered(result.chi2, reference) else ''}"
                )
            sys.stdout.flush()
    for variant in variants:
        print(f"recovered by a map start, {_label(variant)}: {n_recovered[variant]}/{n_done}")


def _label(variant: tuple[bool, bool, bool, bool]) -> str:
    names = ("crossing seeds", "window bins", "finite nodes", "caustic bands")
    return ", ".join(
        f"{name} {'on' if on else 'off'}" for name, on in zip(names, variant, strict=True)
    )


if __name__ == "__main__":
    main()
