"""What :meth:`NPEInitializer.propose` returns: ranked, polished solutions and their hooks.

A :class:`Solution` is one starting solution (MulensModel parameters, chi2 on the data, the
source and blend flux of each dataset) with its exports: a ``MulensModel.Model``, pyLIMA
parameters, and its mirror. A :class:`Proposal` holds the solutions of one event, best first,
with the posterior samples they came from, emcee walkers, and table/JSON exports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from astropy.table import Table

from .errors import ConfigurationError
from .lightcurve import LightCurve
from .modes import Mode
from .parameters import PARAMETER_NAMES, flip_u0, mulensmodel_model, to_pylima
from .prior import Prior

if TYPE_CHECKING:
    import MulensModel

__all__ = ["Solution", "Proposal", "ProposalResult", "rank_solutions", "UNITS"]

UNITS = {"t_0": "d", "t_E": "d", "alpha": "deg"}
"""Units of the MulensModel parameters that have one."""

_MIRROR = np.diag([1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0])
"""How (u_0, alpha) -> (-u_0, -alpha) acts on a covariance."""


@dataclass(frozen=True)
class Solution:
    """One starting solution: a 2L1S model and how well it fits the data.

    Attributes
    ----------
    parameters : dict
        MulensModel 3.x parameters ``t_0`` [d], ``u_0``, ``t_E`` [d], ``rho``, ``s``, ``q``,
        ``alpha`` [deg].
    chi2 : float
        chi2 on all datasets with the best linear source and blend fluxes.
    dof : int
        Degrees of freedom: epochs - 7 - 2 per dataset.
    delta_chi2 : float
        chi2 of the best single-lens (PSPL) model minus this chi2: the binary signal.
    fluxes : tuple of dict
        Per dataset, in data order: ``band``, ``source_flux`` and ``blend_flux`` at zero
        point 22 (MulensModel's).
    label : str
        ``close``, ``wide`` or ``resonant`` (from the posterior mode it was polished in).
    weight : float
        Posterior mass of that mode.
    covariance : numpy.ndarray or None
        7x7 Gauss-Newton covariance of :attr:`parameters` (order of
        :data:`~mulens_npe.parameters.PARAMETER_NAMES`), None when not polished.
    polished : bool
        Whether the local optimiser ran (False: the best posterior draw of its mode).
    mode : int or None
        Index of the mode in :attr:`Proposal.modes` (None for an ``anomaly``, ``map`` or
        ``twin`` start).
    origin : str
        Where its start came from: ``posterior`` (a posterior draw of its mode),
        ``anomaly`` (the geometry of the light curve's anomaly, :mod:`mulens_npe.anomaly`),
        ``map`` (a trajectory search on magnification maps, :mod:`mulens_npe.mapsearch`) or
        ``twin`` (the close/wide twin ``s -> 1/s`` of the best optimum,
        :func:`mulens_npe.polish.twin_starts`).
    """

    parameters: dict[str, float]
    chi2: float
    dof: int
    delta_chi2: float = float("nan")
    fluxes: tuple[dict[str, Any], ...] = ()
    label: str = ""
    weight: float = float("nan")
    covariance: np.ndarray | None = field(default=None, repr=False)
    polished: bool = True
    mode: int | None = None
    origin: str = "posterior"

    @property
    def params(self) -> dict[str, float]:
        """Alias of :attr:`parameters`."""
        return self.parameters

    @property
    def chi2_per_dof(self) -> float:
        """chi2 / dof."""
        return self.chi2 / self.dof if self.dof > 0 else float("nan")

    def to_mulensmodel(self, t_range: tuple[float, float] | None = None) -> MulensModel.Model:
        """A ``MulensModel.Model`` of this solution with VBBL finite-source magnification.

        VBBL is used over ``t_range`` (default: every epoch from which the source can be
        near a caustic, see :func:`~mulens_npe.parameters.mulensmodel_model`), point-source
        magnification outside.
        """
        return mulensmodel_model(self.parameters, t_range)

    def to_pylima(self, fancy: bool = False) -> dict[str, float]:
        """Parameters in pyLIMA USBL/PSBL names (alpha in radians; ``fancy``: log10 forms)."""
        return {k: float(v) for k, v in to_pylima(self.parameters, fancy=fancy).items()}

    def pylima_guess(self, fit: Any) -> list[float]:
        """The guess list for a pyLIMA fit, in the order of its model dictionary.

        See :func:`mulens_npe.integrations.pylima.pylima_guesses`, which also sets it.
        """
        from .integrations.pylima import guess_vector

        return guess_vector(self, fit)

    def mirror(self) -> Solution:
        """The mirror solution (u_0, alpha) -> (-u_0, -alpha): the same static light curve.

        Fits with parallax or orbital motion must try both signs.
        """
        cov = None if self.covariance is None else _MIRROR @ self.covariance @ _MIRROR
        params = {k: float(v) for k, v in flip_u0(self.parameters).items()}
        return replace(self, parameters=params, covariance=cov)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        out = {
            "parameters": dict(self.parameters),
            "chi2": self.chi2,
            "dof": self.dof,
            "delta_chi2": self.delta_chi2,
            "fluxes": [dict(f) for f in self.fluxes],
            "label": self.label,
            "weight": self.weight,
            "polished": self.polished,
            "mode": self.mode,
            "origin": self.origin,
        }
        if self.covariance is not None:
            out["covariance"] = np.asarray(self.covariance).tolist()
        return out

    def __repr__(self) -> str:
        p = self.parameters
        return (
            f"Solution({self.label or '-'}, chi2={self.chi2:.2f}/{self.dof}, "
            f"delta_chi2={self.delta_chi2:.1f}, t_0={p['t_0']:.4f}, u_0={p['u_0']:.4g}, "
            f"t_E={p['t_E']:.4g}, rho={p['rho']:.3g}, s={p['s']:.5g}, q={p['q']:.4g}, "
            f"alpha={p['alpha']:.3f})"
        )


def _distinct(a: Solution, b: Solution) -> bool:
    """Whether two solutions are different minima (not the same one reached twice)."""
    pa, pb = a.parameters, b.parameters
    d_alpha = abs((pa["alpha"] - pb["alpha"] + 180.0) % 360.0 - 180.0)
    return bool(
        abs(np.log(pa["s"] / pb["s"])) > 0.01
        or abs(np.log(pa["q"] / pb["q"])) > 0.05
        or d_alpha > 1.0
        or abs(pa["u_0"] - pb["u_0"]) > 0.01 + 0.05 * abs(pa["u_0"])
        or abs(np.log(pa["t_E"] / pb["t_E"])) > 0.02
        or abs(pa["t_0"] - pb["t_0"]) > 0.01 * pa["t_E"]
    )


def rank_solutions(solutions: Sequence[Solution]) -> list[Solution]:
    """Sort by chi2 and drop solutions that repeat a better one (the same minimum)."""
    kept: list[Solution] = []
    for candidate in sorted(solutions, key=lambda s: (not np.isfinite(s.chi2), s.chi2)):
        if all(_distinct(candidate, other) for other in kept):
            kept.append(candidate)
    return kept


@dataclass
class Proposal:
    """Ranked starting solutions of one event, with the posterior they came from.

    Attributes
    ----------
    solutions : list of Solution
        Distinct solutions, lowest chi2 first.
    samples : astropy.table.Table
        Posterior samples (MulensModel names and units, u_0 >= 0).
    modes : list of Mode
        Modes of the samples (:func:`mulens_npe.modes.find_modes`).
    prior : Prior or None
        The model's prior with t_0 over the observed span: the box walkers are drawn in.
    single_lens : dict
        Best point-source point-lens model: ``t_0``, ``u_0``, ``t_E``, ``chi2``.
    lightcurves : tuple of LightCurve
        The data the solutions were fitted to.
    timings : dict
        Wall time in seconds of each step (``preprocess``, ``sampling``, ``modes``,
        ``anomaly`` (single-lens fit and anomaly screening), ``polish``, ``total``).
    warnings : list of str
        Why the result may not be trustworthy (the data look outside the model's prior, the
        best fit is poor); each was also issued as an :class:`~mulens_npe.OutOfPriorWarning`.
    meta : dict
        Model name, seed, number of samples, polish settings.

    Example:
        >>> result = init.propose(data)                                # doctest: +SKIP
        >>> result.solutions[0].to_mulensmodel()                       # doctest: +SKIP
        >>> walkers = result.emcee_walkers(32, seed=1)                 # doctest: +SKIP
    """

    solutions: list[Solution]
    samples: Table
    modes: list[Mode] = field(default_factory=list)
    prior: Prior | None = None
    single_lens: dict[str, float] = field(default_factory=dict)
    lightcurves: tuple[LightCurve, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    walker_parameters: ClassVar[tuple[str, ...]] = PARAMETER_NAMES
    """Default order of the columns of :meth:`emcee_walkers` (MulensModel names)."""

    @property
    def best(self) -> Solution:
        """The solution with the lowest chi2."""
        if not self.solutions:
            raise ConfigurationError("this proposal holds no solutions.")
        return self.solutions[0]

    def __len__(self) -> int:
        return len(self.solutions)

    def __iter__(self) -> Iterator[Solution]:
        return iter(self.solutions)

    def __getitem__(self, index: int) -> Solution:
        return self.solutions[index]

    def _solution(self, solution: int | Solution | None) -> Solution:
        if isinstance(solution, Solution):
            return solution
        index = 0 if solution is None else solution
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ConfigurationError(f"solution must be an index or a Solution, got {solution!r}.")
        if not -len(self.solutions) <= index < len(self.solutions):
            raise ConfigurationError(
                f"solution index {index} out of range: this proposal has {len(self.solutions)}."
            )
        return self.solutions[int(index)]

    def emcee_walkers(
        self,
        n_walkers: int = 32,
        seed: int | np.random.Generator = 0,
        solution: int | Solution | None = None,
        parameters: Sequence[str] | None = None,
        scale: float = 1.0,
    ) -> np.ndarray:
        """Starting positions for emcee around a solution, inside the prior.

        Walkers are drawn from a Gaussian centred on the solution. Its covariance is the
        solution's Gauss-Newton covariance (the width of the likelihood peak: walkers start
        where the posterior is, so the burn-in is short), capped per parameter at the width
        of the posterior mode; for an unpolished solution, a ball of a tenth of the posterior
        mode's width. Draws are made in (t_0, u_0, ln t_E, ln rho, ln s, ln q, alpha);
        walkers outside the prior are drawn again.

        Parameters
        ----------
        n_walkers : int
            Number of walkers (emcee needs at least twice the number of parameters).
        seed : int or numpy.random.Generator
            Same seed, same walkers.
        solution : int or Solution, optional
            Which solution (default: the best). Use ``proposal[0].mirror()`` for u_0 < 0.
        parameters : sequence of str, optional
            Columns to return, a subset of :attr:`walker_parameters` in any order (e.g.
            without ``rho`` for a point-source model). Default: all seven.
        scale : float
            Multiplies the width of the Gaussian.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_walkers, len(parameters))``. ``alpha`` in degrees is not wrapped, so
            walkers stay continuous around the solution (MulensModel takes any angle).
        """
        from .walkers import emcee_walkers

        return emcee_walkers(self, n_walkers, seed, solution, parameters, scale)

    def to_table(self, mirrors: bool = False) -> Table:
        """The solutions as an astropy Table (one row each, best first, with units).

        Columns: ``rank``, ``label``, ``chi2``, ``dof``, ``chi2_dof``, ``delta_chi2``,
        ``weight``, ``polished``, ``origin``, the seven parameters, and ``source_flux_<k>``,
        ``blend_flux_<k>`` for dataset k (zero point 22). ``mirrors=True`` adds, after each
        solution, its mirror (u_0, alpha) -> (-u_0, -alpha) with the same rank.
        """
        rows = []
        for rank, solution in enumerate(self.solutions, start=1):
            rows.append((rank, solution))
            if mirrors:
                rows.append((rank, solution.mirror()))
        n_datasets = max((len(s.fluxes) for s in self.solutions), default=0)
        columns: dict[str, list] = {
            "rank": [r for r, _ in rows],
            "label": [s.label for _, s in rows],
            "chi2": [s.chi2 for _, s in rows],
            "dof": [s.dof for _, s in rows],
            "chi2_dof": [s.chi2_per_dof for _, s in rows],
            "delta_chi2": [s.delta_chi2 for _, s in rows],
            "weight": [s.weight for _, s in rows],
            "polished": [s.polished for _, s in rows],
            "origin": [s.origin for _, s in rows],
        }
        for name in PARAMETER_NAMES:
            columns[name] = [s.parameters[name] for _, s in rows]
        for k in range(n_datasets):
            for key in ("source_flux", "blend_flux"):
                columns[f"{key}_{k}"] = [
                    s.fluxes[k][key] if k < len(s.fluxes) else np.nan for _, s in rows
                ]
        table = Table(columns)
        for name, unit in UNITS.items():
            table[name].unit = unit
        table.meta.update(
            {
                "conventions": "MulensModel 3.x; alpha in degrees; fluxes at zero point 22",
                "bands": [f["band"] for f in self.solutions[0].fluxes] if self.solutions else [],
                "single_lens_chi2": self.single_lens.get("chi2", np.nan),
                **{k: v for k, v in self.meta.items() if isinstance(v, str | int | float)},
            }
        )
        return table

    def table(self, mirrors: bool = False) -> Table:
        """Alias of :meth:`to_table`."""
        return self.to_table(mirrors=mirrors)

    def to_json(self, path: str | Path | None = None) -> str:
        """The solutions, modes, single-lens reference, timings and warnings as JSON.

        Written to ``path`` when given; the JSON text is returned either way. Values that
        are not finite (e.g. an unknown delta chi2) are written as ``null``.
        """
        document = {
            "meta": _jsonable(self.meta),
            "solutions": [s.to_dict() for s in self.solutions],
            "modes": [
                {
                    "label": m.label,
                    "weight": m.weight,
                    "n_samples": int(m.indices.size),
                    "center": m.center,
                    "spread": m.spread,
                }
                for m in self.modes
            ],
            "single_lens": self.single_lens,
            "timings": self.timings,
            "warnings": list(self.warnings),
            "prior": self.prior.to_dict() if self.prior is not None else None,
        }
        text = json.dumps(_jsonable(document), indent=2, allow_nan=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    def __repr__(self) -> str:
        lines = [f"Proposal({len(self.solutions)} solutions, {len(self.samples)} samples)"]
        lines += [f"  {i}: {s!r}" for i, s in enumerate(self.solutions)]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


ProposalResult = Proposal
"""Alias of :class:`Proposal`."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # strict JSON has no NaN or infinity
    return value
