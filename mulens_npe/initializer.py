"""NPEInitializer: from a light curve to posterior samples over the 2L1S parameters.

This is the object users meet first::

    init = NPEInitializer.pretrained()
    result = init.propose(data, n_samples=10_000, seed=0)   # ranked, polished solutions
    samples = init.sample(data, n=10_000, seed=0)            # astropy Table, MulensModel names
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from astropy.table import Table

from .adapters import as_lightcurves
from .artifact import TrainedModel, load_model
from .errors import ConfigurationError, ModelCardError
from .lightcurve import LightCurve
from .parameters import PARAMETER_NAMES
from .preprocess import NetworkInput, preprocess
from .prior import Prior
from .proposing import build_proposal, event_prior, propose_settings
from .reweighting import effective_sample_size
from .simulate.magnification import CurvePool
from .solutions import Proposal

__all__ = ["NPEInitializer", "DEFAULT_MODEL", "available_models"]

DEFAULT_MODEL = "roman-2l1s"
"""Name of the model shipped inside the package."""

_UNITS = {"t_0": "d", "t_E": "d", "alpha": "deg"}


def available_models() -> list[str]:
    """Names of the models shipped inside the package."""
    root = resources.files("mulens_npe") / "models"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "card.json").is_file())


class NPEInitializer:
    """Amortized posterior estimation for 2L1S events.

    Arguments:
        model: A trained model (see :func:`mulens_npe.artifact.load_model`).

    Example:
        >>> init = NPEInitializer.pretrained()                     # doctest: +SKIP
        >>> init.sample("event.dat", n=1000, phot_fmt="mag")       # doctest: +SKIP
        >>> result = init.propose("event.dat", seed=0)             # doctest: +SKIP
        >>> result.best.to_mulensmodel()                           # doctest: +SKIP
    """

    def __init__(self, model: TrainedModel) -> None:
        self.model = model

    @classmethod
    def pretrained(cls, name: str = DEFAULT_MODEL) -> NPEInitializer:
        """Load a model shipped inside the package (no download)."""
        names = available_models()
        if name not in names:
            raise ModelCardError(
                f"no shipped model named {name!r}; shipped models: {names or 'none'}. "
                "Use NPEInitializer.load(folder) for a model you trained."
            )
        with resources.as_file(resources.files("mulens_npe") / "models" / name) as folder:
            return cls(load_model(folder))

    @classmethod
    def load(cls, folder: str | Path) -> NPEInitializer:
        """Load a model folder written by ``mulens-npe train``."""
        return cls(load_model(folder))

    @classmethod
    def from_name_or_folder(cls, model: str | Path | None = None) -> NPEInitializer:
        """A shipped model by name, a model folder by path, or the default (``None``).

        An existing folder wins over a shipped model of the same name.

        Raises
        ------
        ModelCardError
            When ``model`` is neither a folder nor the name of a shipped model.
        """
        if model is None:
            return cls.pretrained()
        if Path(model).exists():
            return cls.load(model)
        names = available_models()
        if str(model) in names:
            return cls.pretrained(str(model))
        raise ModelCardError(
            f"{model}: no such model folder (one holding card.json and model.safetensors, "
            f"written by `mulens-npe train`) and no shipped model of that name; shipped "
            f"models: {names or 'none'}."
        )

    @property
    def card(self) -> dict[str, Any]:
        """The model card (training data, hardware, validation metrics)."""
        return self.model.card

    def network_input(self, data: Any, **options: Any) -> NetworkInput:
        """The preprocessed network input for ``data`` (anything :func:`as_lightcurves` takes)."""
        return preprocess(as_lightcurves(data, **options), self.model.preprocess)

    def sample(self, data: Any, n: int = 10_000, seed: int = 0, **options: Any) -> Table:
        """Draw posterior samples for one event.

        Parameters
        ----------
        data : object
            A file, MulensModel/pyLIMA object, astropy Table, arrays or LightCurve(s): anything
            :func:`mulens_npe.as_lightcurves` accepts.
        n : int
            Number of samples.
        seed : int
            Seed of the draw; the same seed gives the same samples.
        **options
            Passed to :func:`mulens_npe.as_lightcurves` (e.g. ``phot_fmt``).

        Returns
        -------
        astropy.table.Table
            Columns t_0 [d, full BJD/HJD], u_0, t_E [d], rho, s, q, alpha [deg]
            (MulensModel 3.x conventions, u_0 >= 0; the mirror solution has
            (-u_0, -alpha)). ``meta`` holds the reference frame and the model name. For a
            model trained on the simulation proposal's posterior the flow's draws are
            importance-resampled to the prior (:mod:`mulens_npe.reweighting`; repeated rows
            are possible) and ``meta["reweighting"]`` gives the effective sample size.
        """
        if int(n) != n or n < 1:
            raise ConfigurationError(f"sample: n must be a positive integer, got {n!r}.")
        return self._samples(self.network_input(data, **options), int(n), seed)

    def _samples(self, net_input: NetworkInput, n: int, seed: int) -> Table:
        return self._table(self._sample_torus(net_input, int(n), seed), net_input, seed)

    def _table(self, z: np.ndarray, net_input: NetworkInput, seed: int) -> Table:
        params = self.model.features.from_torus(z, net_input.t_ref, net_input.t_scale)
        meta: dict[str, Any] = {}
        reweighting = self.model.reweighting
        if reweighting is not None:
            rows, log_w = reweighting.resample(
                params, net_input.span, len(z), np.random.default_rng([seed, 1])
            )
            params = {name: values[rows] for name, values in params.items()}
            meta["reweighting"] = {
                "to": "prior",
                "draws": len(z),
                "effective_sample_size": round(effective_sample_size(log_w), 1),
            }
        table = Table({name: params[name] for name in PARAMETER_NAMES})
        for name, unit in _UNITS.items():
            table[name].unit = unit
        table.meta.update(
            {
                "model": self.model.card.get("name", "unnamed"),
                "t_ref": net_input.t_ref,
                "t_scale": net_input.t_scale,
                "seed": seed,
                "conventions": "MulensModel 3.x; alpha in degrees; u_0 >= 0 (mirror: -u_0, -alpha)",
                **meta,
            }
        )
        return table

    def event_prior(self, lightcurves: LightCurve | list[LightCurve]) -> Prior:
        """The model's prior with t_0 anywhere from half a span before the data to half after."""
        return event_prior(self.model.prior, lightcurves)

    def propose(
        self,
        data: Any,
        n_samples: int = 10_000,
        seed: int = 0,
        n_solutions: int = 5,
        polish: bool = True,
        time_budget: float | None = None,
        *,
        n_draws: int = 64,
        n_starts: int = 3,
        max_evaluations: int = 200,
        anomaly_starts: bool = True,
        compress: bool = True,
        extend: bool = True,
        map_starts: bool = True,
        workers: int = 1,
        **adapter_options: Any,
    ) -> Proposal:
        """Ranked, polished starting solutions for one event.

        Steps: read and preprocess the data; draw ``n_samples`` from the posterior; find its
        distinct modes (:func:`mulens_npe.modes.find_modes`); in each mode, rank ``n_draws``
        draws by chi2 on a subset of the epochs and polish the best ``n_starts`` with the
        true likelihood on all epochs (:func:`mulens_npe.polish.polish_modes`); drop
        repeats and rank by chi2. Where the data depart sharply from a single lens, the
        geometry of that anomaly gives ``n_starts`` more starts, polished first
        (:func:`mulens_npe.anomaly.anomaly_candidates`; ``origin="anomaly"``). Where a
        single lens fits poorly (chi2/dof > 1.15: caustic crossings, strong anomalies),
        trajectories searched on magnification maps of the posterior's densest (s, q) give
        more starts, polished first (:func:`mulens_npe.mapsearch.map_candidates`;
        ``origin="map"``). The close/wide twins (``s -> 1/s``) of the best optimum are
        polished too (:func:`mulens_npe.polish.twin_starts`; ``origin="twin"``).

        Parameters
        ----------
        data : object
            Anything :func:`mulens_npe.as_lightcurves` accepts (file, MulensData, Event,
            pyLIMA Telescope/Event, astropy Table, arrays, LightCurve, or a list).
        n_samples : int
            Posterior samples to draw.
        seed : int
            Seed of the posterior draw; the same seed gives the same result.
        n_solutions : int
            Most solutions returned.
        polish : bool
            Run the local optimiser. False: each mode's best draw, with its chi2 (fast).
        time_budget : float, optional
            Seconds for the whole call. Polishing stops when they run out (every mode still
            gets one chi2 on all epochs); ``meta["complete"]`` says whether it finished.
            Default: no limit (each start stops after ``max_evaluations``). With a budget
            and ``extend``, further screened draws of every mode are polished after the first
            ``n_starts`` while it lasts (at most ``n_draws`` per mode).
        n_draws, n_starts, max_evaluations : int
            Draws screened per mode, draws polished per mode, magnification curves per
            polished start (one Jacobian costs 7).
        anomaly_starts : bool
            Also polish starts read off the light curve's anomaly (a few seconds of
            screening; only when ``polish``).
        compress : bool
            Polish first on a compressed light curve (every epoch where the light curve
            bends, runs of 4 epochs binned to one elsewhere:
            :meth:`mulens_npe.likelihood.Likelihood.compressed`), 2-5x cheaper per start,
            then polish the best distinct optima again on all epochs. False: all epochs
            throughout (as before this option existed).
        extend : bool
            With a ``time_budget``, spend what is left of it on further screened draws
            (above) and, with ``compress``, on restarting the best optimum's polish while it
            improves, then annealing it (:func:`mulens_npe.polish.anneal`). False: polish
            ``n_starts`` per mode and stop.
        map_starts : bool
            Also polish starts from the magnification-map search when the single lens fails
            badly (5-10 s per map, at most 4 maps and a third of the ``time_budget``; only
            when ``polish``).
        workers : int
            Processes that compute the magnification curves of each batch side by side
            (the 7 curves of every Jacobian of the polish, the screenings), started for the
            call (:class:`mulens_npe.simulate.CurvePool`; forked on Linux); 1: none, every
            curve in this process. More polishing fits in a ``time_budget``; results agree
            with one process's up to VBMicrolensing's ~1e-14 variation, which a polish
            through a caustic crossing can turn into a different nearby minimum.
        **adapter_options
            Passed to :func:`mulens_npe.as_lightcurves` (e.g. ``phot_fmt``).

        Returns
        -------
        Proposal
            ``solutions`` best first, ``samples``, ``modes``, ``timings`` and ``warnings``.
        """
        return self.propose_many(
            [data],
            n_samples,
            seed,
            n_solutions,
            polish,
            time_budget,
            n_draws=n_draws,
            n_starts=n_starts,
            max_evaluations=max_evaluations,
            anomaly_starts=anomaly_starts,
            compress=compress,
            extend=extend,
            map_starts=map_starts,
            workers=workers,
            **adapter_options,
        )[0]

    def propose_many(
        self,
        events: Sequence[Any],
        n_samples: int = 10_000,
        seed: int = 0,
        n_solutions: int = 5,
        polish: bool = True,
        time_budget: float | None = None,
        *,
        return_exceptions: bool = False,
        on_result: Callable[[int, Any], None] | None = None,
        n_draws: int = 64,
        n_starts: int = 3,
        max_evaluations: int = 200,
        anomaly_starts: bool = True,
        compress: bool = True,
        extend: bool = True,
        map_starts: bool = True,
        workers: int = 1,
        **adapter_options: Any,
    ) -> list[Proposal | Exception]:
        """:meth:`propose` for many events, with one batched pass of the embedding network.

        The light curves are embedded together; each event's posterior is then drawn with
        ``seed`` and polished on its own, as ``propose(event, ...)`` would. The samples equal
        those of ``propose`` up to the float rounding of the batched network (~1e-6), so the
        polished solutions agree to that precision or, where the optimiser's path is
        sensitive, land in nearby minima; the same events in the same batch give the same
        answer. ``time_budget`` is per event.

        Parameters
        ----------
        events : sequence
            One item per event, each anything :meth:`propose` takes (a file, a list of
            files for several telescopes, a MulensData, ...).
        return_exceptions : bool
            False: the first event that fails raises. True: a failed event's item in the
            result is its exception and the other events go on.
        on_result : callable, optional
            Called as ``on_result(index, result)`` as soon as each event is done (for
            progress bars and streaming writes).
        n_samples, seed, n_solutions, polish, time_budget, n_draws, n_starts, max_evaluations
        anomaly_starts, compress, extend, map_starts, workers
            As in :meth:`propose` (the worker processes are started once for all events).
        **adapter_options
            Passed to :func:`mulens_npe.as_lightcurves` for every event.

        Returns
        -------
        list
            One :class:`Proposal` (or exception) per event, in input order.
        """
        settings = propose_settings(
            n_samples,
            n_solutions,
            polish,
            time_budget,
            n_draws,
            n_starts,
            max_evaluations,
            anomaly_starts,
            compress,
            extend,
            map_starts,
            workers,
        )
        results: list[Any] = [None] * len(events)

        def finished(index: int, result: Any) -> None:
            if isinstance(result, Exception) and not return_exceptions:
                raise result
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        prepared = []
        for index, data in enumerate(events):
            start = time.perf_counter()
            try:
                lightcurves = as_lightcurves(data, **adapter_options)
                net_input = preprocess(lightcurves, self.model.preprocess)
            except Exception as exc:
                finished(index, exc)
                continue
            timings = {"preprocess": time.perf_counter() - start}
            prepared.append((index, lightcurves, net_input, timings, start))
        mark = time.perf_counter()
        contexts = self._contexts([item[2] for item in prepared])
        share = (time.perf_counter() - mark) / max(len(prepared), 1)
        parallel = settings["polish"] and settings["workers"] > 1 and bool(prepared)
        pool = CurvePool(settings["workers"]) if parallel else None
        try:
            for context, (index, lightcurves, net_input, timings, start) in zip(
                contexts, prepared, strict=True
            ):
                try:
                    mark = time.perf_counter()
                    samples = self._table(
                        self._sample_context(context, settings["n_samples"], seed),
                        net_input,
                        seed,
                    )
                    timings["sampling"] = time.perf_counter() - mark + share
                    # the event's own clock: its budget is not spent on the events before it
                    start = time.perf_counter() - timings["preprocess"] - timings["sampling"]
                    result = build_proposal(
                        self.model,
                        lightcurves,
                        net_input,
                        samples,
                        seed,
                        settings,
                        timings,
                        start,
                        pool,
                    )
                except Exception as exc:
                    result = exc
                finished(index, result)
        finally:
            if pool is not None:
                pool.close()
        return results

    @torch.no_grad()
    def _contexts(self, net_inputs: Sequence[NetworkInput]) -> torch.Tensor:
        """Embedding of several events in one batch, shape (n_events, context)."""
        if not net_inputs:
            return torch.empty(0)
        x = torch.from_numpy(np.stack([net_input.values for net_input in net_inputs]))
        return self.model.network.embedding(x)

    @torch.no_grad()
    def _sample_context(self, context: torch.Tensor, n: int, seed: int) -> np.ndarray:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            z = self.model.network.flow(context[None]).sample((n,))[:, 0, :]
        return z.numpy().astype(float)

    def _sample_torus(self, net_input: NetworkInput, n: int, seed: int) -> np.ndarray:
        return self._sample_context(self._contexts([net_input])[0], n, seed)
