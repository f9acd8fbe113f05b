"""pyLIMA hooks: binary-lens guesses, a DE population, and fits whose ``model_guess`` works.

pyLIMA guesses PSPL/FSPL/DSPL models itself but raises ``NotImplementedError`` for USBL, PSBL
and FSBL: users run DEfit or GRIDfit for hours. With a proposal::

    result = NPEInitializer.pretrained().propose(pylima_event)
    fit = TRFfit(model)
    pylima_guesses(result, fit)          # sets fit.model_parameters_guess
    fit.fit()

pyLIMA's default bounds reject |u_0| > 1, rho > 0.05 and t_0 outside the data; a guess outside
its bounds makes ``fit()`` print a message and return None. :func:`pylima_guesses` widens the
bounds that would reject the guess (with a warning) instead. Parameters follow the model
dictionary, fancy ones included (``log_tE``, ``log_rho``, ``log_separation``,
``log_mass_ratio`` or any other set of pyLIMA fancy parameters). Only pyLIMA's default origin,
the centre of mass, shares MulensModel's ``t_0, u_0`` (see :func:`mulens_npe.parameters.to_pylima`).

pyLIMA (GPL) is imported only by the functions that need it. PyPI pyLIMA 1.9.8 and its git
head differ in the default blend parameter: build models with ``blend_flux_parameter`` set.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigurationError
from ..lightcurve import LightCurve
from ..parameters import PARAMETER_NAMES
from ..photometry import PYLIMA_ZERO_POINT, rescale_flux

if TYPE_CHECKING:
    from ..solutions import Proposal, Solution

__all__ = [
    "guess_vector",
    "pylima_guesses",
    "de_population",
    "pylima_event",
    "NPEGuessMixin",
    "npe_fit_class",
]

_FLUX_PREFIXES = ("fsource_", "fblend_", "gblend_", "ftotal_")
_ZERO_DEFAULT = frozenset({"piEN", "piEE", "v_para", "v_perp", "v_radial", "dsdt", "dalphadt"})
"""Second-order parameters a static solution sets to zero (parallax, orbital motion)."""


def _require_pylima() -> None:
    try:
        import pyLIMA  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "pyLIMA is not installed; it is an optional extra: pip install 'mulens-npe[pylima]'."
        ) from None


def _model(fit_or_model: Any) -> Any:
    model = getattr(fit_or_model, "model", fit_or_model)
    if not hasattr(model, "model_dictionnary"):
        raise ConfigurationError(
            f"expected a pyLIMA fit or model, got {type(fit_or_model).__name__}."
        )
    origin = getattr(model, "origin", ["center_of_mass"])
    if origin[0] != "center_of_mass":
        raise ConfigurationError(
            f"the pyLIMA model has origin {origin!r}; mulens_npe guesses are for pyLIMA's "
            "default origin ['center_of_mass', [0, 0]], which MulensModel 3.x shares."
        )
    return model


def _pick(result: Proposal | Solution, solution: int | Solution | None) -> Solution:
    from ..solutions import Solution

    if isinstance(result, Solution):
        return result
    return result._solution(solution)


def _model_keys(model: Any) -> list[str]:
    return [key for key in model.model_dictionnary if not key.startswith(_FLUX_PREFIXES)]


def _pylima_values(parameters: dict[str, float], model: Any) -> dict[str, float]:
    from ..parameters import to_pylima

    values = {k: float(v) for k, v in to_pylima(parameters).items()}
    fancy = model.fancy_parameters
    if fancy is not None:
        for fancy_key in fancy.fancy_parameters.values():
            values[fancy_key] = float(getattr(fancy, fancy_key)(values))
    return values


def guess_vector(solution: Solution, fit_or_model: Any) -> list[float]:
    """A solution as the list pyLIMA takes: model parameters in model-dictionary order.

    Flux parameters are left out (pyLIMA solves them, or guesses them from this list);
    parallax and orbital-motion parameters are set to 0.
    """
    model = _model(fit_or_model)
    values = _pylima_values(solution.parameters, model)
    guess = []
    for key in _model_keys(model):
        if key in values:
            guess.append(values[key])
        elif key in _ZERO_DEFAULT:
            guess.append(0.0)
        else:
            raise ConfigurationError(
                f"no guess for the pyLIMA parameter {key!r}: mulens_npe gives the static 2L1S "
                f"parameters {list(PARAMETER_NAMES)}; set fit.model_parameters_guess by hand."
            )
    return guess


def _widen(
    name: str, value: float, bounds: tuple[float, float], widen: bool
) -> tuple[float, float] | None:
    low, high = float(bounds[0]), float(bounds[1])
    if low <= value <= high:
        return None
    if not widen:
        raise ConfigurationError(
            f"the guess {name} = {value:.6g} lies outside pyLIMA's bounds {(low, high)}; "
            "widen fit.fit_parameters or pass widen_bounds=True."
        )
    pad = 0.1 * max(abs(value), high - low, 1e-12)
    return (min(low, value - pad), max(high, value + pad))


def pylima_guesses(
    result: Proposal | Solution,
    fit: Any,
    solution: int | Solution | None = None,
    widen_bounds: bool = True,
) -> list[float]:
    """Set ``fit.model_parameters_guess`` from a solution; widen bounds that reject it.

    Parameters
    ----------
    result : Proposal or Solution
        What :meth:`NPEInitializer.propose` returned, or one solution.
    fit : pyLIMA fit
        Any pyLIMA fit (TRFfit, LMfit, DEfit, MCMCfit...) of a USBL, PSBL or FSBL model with
        the centre-of-mass origin, fancy parameters or not.
    solution : int or Solution, optional
        Which solution of a Proposal (default: the best).
    widen_bounds : bool
        Widen ``fit.fit_parameters`` bounds that exclude the guess (pyLIMA's defaults reject
        |u_0| > 1, rho > 0.05), with a warning. False: raise ConfigurationError instead.

    Returns
    -------
    list of float
        The guess, also stored in ``fit.model_parameters_guess``.
    """
    chosen = _pick(result, solution)
    guess = guess_vector(chosen, fit)
    keys = _model_keys(_model(fit))
    for key, value in zip(keys, guess, strict=True):
        if key not in fit.fit_parameters:
            continue
        index, bounds = fit.fit_parameters[key][0], fit.fit_parameters[key][1]
        if key == "alpha" and bounds[1] - bounds[0] >= 2 * np.pi - 1e-9:
            value = bounds[0] + np.mod(value - bounds[0], 2 * np.pi)
            guess[keys.index(key)] = float(value)
        widened = _widen(key, value, bounds, widen_bounds)
        if widened is not None:
            warnings.warn(
                f"pyLIMA bounds of {key} widened from {tuple(map(float, bounds))} to {widened} "
                f"to hold the guess {value:.6g}.",
                UserWarning,
                stacklevel=2,
            )
            fit.fit_parameters[key] = [index, widened]
            priors = getattr(fit, "priors_parameters", None)
            if isinstance(priors, dict) and key in priors:
                priors[key] = [priors[key][0], widened]
                fit.define_priors()  # pyLIMA's default priors are uniform within the bounds
    fit.model_parameters_guess = list(guess)
    return list(guess)


def de_population(
    result: Proposal,
    fit: Any,
    n: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """An initial population for pyLIMA's ``DEfit.fit(initial_population=...)``.

    The solutions come first, then posterior samples drawn at random (seeded), all clipped
    into the fit's bounds. Flux parameters, when the fit has them
    (``telescopes_fluxes_method='fit'``), are pyLIMA's own linear fluxes for each member.

    Parameters
    ----------
    result : Proposal
        What :meth:`NPEInitializer.propose` returned.
    fit : pyLIMA DEfit (or any pyLIMA fit)
        The fit; its bounds and parameter order are used.
    n : int, optional
        Population size; default ``fit.DE_population_size * n_parameters`` (pyLIMA's own).
    seed : int
        Seed of the draw of samples.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, len(fit.fit_parameters))``, columns in ``fit.fit_parameters`` order.
    """
    from ..solutions import Solution

    model = _model(fit)
    keys = list(fit.fit_parameters)
    size = int(n) if n is not None else int(getattr(fit, "DE_population_size", 10)) * len(keys)
    if size < 5:
        raise ConfigurationError(f"de_population: n must be >= 5 (scipy's minimum), got {size}.")
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(result.samples), size=max(size - len(result.solutions), 0), replace=True)
    members = [s.parameters for s in result.solutions][:size]
    members += [{name: float(result.samples[name][i]) for name in PARAMETER_NAMES} for i in rows]
    model_keys = _model_keys(model)
    population = np.empty((size, len(keys)))
    for row, parameters in enumerate(members):
        guess = guess_vector(Solution(parameters=parameters, chi2=np.nan, dof=0), model)
        values = dict(zip(model_keys, guess, strict=True))
        if any(key.startswith(_FLUX_PREFIXES) for key in keys):
            values.update(model.find_telescopes_fluxes(guess))
        population[row] = [values[key] for key in keys]
    low = np.array([fit.fit_parameters[k][1][0] for k in keys], dtype=float)
    high = np.array([fit.fit_parameters[k][1][1] for k in keys], dtype=float)
    if "alpha" in keys:
        j = keys.index("alpha")
        if high[j] - low[j] >= 2 * np.pi - 1e-9:
            population[:, j] = low[j] + np.mod(population[:, j] - low[j], 2 * np.pi)
    return np.clip(population, low, high)


def pylima_event(lightcurves: LightCurve | Sequence[LightCurve], name: str = "event") -> Any:
    """A pyLIMA ``Event`` with one telescope per LightCurve (fluxes at pyLIMA's zero point)."""
    _require_pylima()
    from pyLIMA import event, telescopes

    if isinstance(lightcurves, LightCurve):
        lightcurves = [lightcurves]
    pylima = event.Event()
    pylima.name = name
    for k, lc in enumerate(lightcurves):
        flux = rescale_flux(lc.flux, 22.0, PYLIMA_ZERO_POINT)
        flux_err = rescale_flux(lc.flux_err, 22.0, PYLIMA_ZERO_POINT)
        label = f"{lc.band}_{k}" if len(lightcurves) > 1 else lc.band
        pylima.telescopes.append(
            telescopes.Telescope(
                name=label.replace(" ", "_"),
                camera_filter=lc.band.replace(" ", "_"),
                lightcurve=np.column_stack([lc.time, flux, flux_err]),
                lightcurve_names=["time", "flux", "err_flux"],
                lightcurve_units=["JD", "W/m^2", "W/m^2"],
            )
        )
    pylima.check_event()
    return pylima


class NPEGuessMixin:
    """Mixin for pyLIMA fits: ``model_guess()`` from mulens_npe for binary-lens models.

    Put it before the pyLIMA fit class. When no guess is set, ``model_guess`` proposes
    solutions for the fit's event (with ``npe_initializer``, default the shipped model),
    keeps them in ``npe_result`` and sets the best as the guess; existing ``fit.fit()``
    calls then work for USBL/PSBL/FSBL models.

    Example:
        >>> from pyLIMA.fits import TRF_fit                           # doctest: +SKIP
        >>> class NPETRFfit(NPEGuessMixin, TRF_fit.TRFfit): pass      # doctest: +SKIP
        >>> fit = NPETRFfit(usbl_model)                               # doctest: +SKIP
        >>> fit.npe_result = result      # optional: reuse a proposal  # doctest: +SKIP
        >>> fit.fit()                                                 # doctest: +SKIP
    """

    npe_result: Proposal | None = None
    npe_initializer: Any = None

    def model_guess(self) -> None:
        if len(self.model_parameters_guess) == 0:
            if self.npe_result is None:
                from ..initializer import NPEInitializer

                initializer = self.npe_initializer or NPEInitializer.pretrained()
                self.npe_result = initializer.propose(self.model.event)
            pylima_guesses(self.npe_result, self)
        super().model_guess()


def npe_fit_class(fit_class: type) -> type:
    """``fit_class`` with :class:`NPEGuessMixin`: ``npe_fit_class(TRFfit)(model).fit()``."""
    return type(f"NPE{fit_class.__name__}", (NPEGuessMixin, fit_class), {})
