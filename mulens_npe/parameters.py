"""Parameter conventions: the one place where 2L1S parameters change names, units and signs.

Canonical parameters are MulensModel 3.x (``t_0`` full BJD/HJD, ``u_0``, ``t_E`` in days,
``rho``, ``s``, ``q = m2/m1``, ``alpha`` in degrees, origin at the centre of mass).

=============  ====================  ==========================  =======================
MulensModel    pyLIMA (USBL/PSBL)    pyLIMA fancy                VBMicrolensing
=============  ====================  ==========================  =======================
t_0            t0                    t0                          t0
u_0            u0                    u0                          u0
t_E  [d]       tE                    log_tE (log10)              log_tE (ln)
rho            rho                   log_rho (log10)             log_rho (ln)
s              separation            log_separation (log10)      log_s (ln)
q              mass_ratio            log_mass_ratio (log10)      log_q (ln)
alpha [deg]    alpha [rad]           alpha [rad]                 alpha [rad]
=============  ====================  ==========================  =======================

The three packages share one geometry (read from their sources and checked on light curves in
``tests/test_parameters.py``): origin at the centre of mass, the primary (heavier) lens at
``x = -s q / (1 + q)``, the secondary at ``x = s / (1 + q)``, and the source at

    x = -tau cos(alpha) + u_0 sin(alpha),    y = -tau sin(alpha) - u_0 cos(alpha),

with ``tau = (t - t_0) / t_E``. MulensModel < 3.0 used the Skowron et al. (2011) ``alpha``,
which differs by 180 degrees (:func:`to_mulensmodel2`).

Every function takes and returns plain dicts keyed by the target package's names; values may
be floats or numpy arrays (vectorised).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigurationError

if TYPE_CHECKING:
    import MulensModel

__all__ = [
    "PARAMETER_NAMES",
    "VBM_NAMES",
    "to_vbm",
    "from_vbm",
    "vbm_vector",
    "vbm_matrix",
    "to_pylima",
    "from_pylima",
    "to_mulensmodel2",
    "from_mulensmodel2",
    "mulensmodel_model",
    "flip_u0",
    "time_reverse",
    "canonicalize",
    "wrap_alpha",
]

PARAMETER_NAMES: tuple[str, ...] = ("t_0", "u_0", "t_E", "rho", "s", "q", "alpha")
"""The 2L1S parameters in MulensModel names, in the order used everywhere in mulens_npe."""

VBM_NAMES: tuple[str, ...] = ("log_s", "log_q", "u0", "alpha", "log_rho", "log_tE", "t0")
"""VBMicrolensing ``BinaryLightCurve`` parameter order (natural logs, alpha in radians)."""

_PYLIMA_LINEAR = {
    "t_0": "t0",
    "u_0": "u0",
    "t_E": "tE",
    "rho": "rho",
    "s": "separation",
    "q": "mass_ratio",
}
_PYLIMA_FANCY_LOG = {
    "t_E": "log_tE",
    "rho": "log_rho",
    "s": "log_separation",
    "q": "log_mass_ratio",
}


def _take(params: Mapping[str, Any], names: Sequence[str], convention: str) -> dict:
    missing = [name for name in names if name not in params]
    if missing:
        raise ConfigurationError(
            f"{convention} parameters are missing {missing}; got {sorted(params)}."
        )
    return {name: params[name] for name in names}


def _same_kind(value: Any) -> Any:
    """A Python float for a scalar, the array otherwise."""
    return float(value) if np.ndim(value) == 0 else value


def wrap_alpha(alpha_deg: Any) -> Any:
    """Wrap angles in degrees to [0, 360).

    Parameters
    ----------
    alpha_deg : float or array_like
        Angles in degrees.

    Returns
    -------
    float or numpy.ndarray
        The same angles in [0, 360) degrees; a float for a scalar input.
    """
    wrapped = np.mod(np.asarray(alpha_deg, dtype=float), 360.0)
    # np.mod(-1e-20, 360.0) rounds to 360.0, which is outside [0, 360).
    wrapped = np.where(wrapped >= 360.0, 0.0, wrapped)
    return _same_kind(wrapped)


def to_vbm(params: Mapping[str, Any]) -> dict[str, Any]:
    """MulensModel 3.x parameters to VBMicrolensing's names and units.

    Parameters
    ----------
    params : mapping
        ``t_0`` [d], ``u_0``, ``t_E`` [d], ``rho``, ``s``, ``q``, ``alpha`` [deg]; floats or
        arrays.

    Returns
    -------
    dict
        ``log_s``, ``log_q``, ``log_rho``, ``log_tE`` (natural logs), ``u0``, ``alpha`` [rad],
        ``t0`` [d]. VBMicrolensing's ``BinaryLightCurve`` uses the MulensModel 3.x geometry, so
        only names and units change.
    """
    p = _take(params, PARAMETER_NAMES, "MulensModel")
    return {
        "log_s": np.log(p["s"]),
        "log_q": np.log(p["q"]),
        "u0": p["u_0"],
        "alpha": np.deg2rad(p["alpha"]),
        "log_rho": np.log(p["rho"]),
        "log_tE": np.log(p["t_E"]),
        "t0": p["t_0"],
    }


def from_vbm(params: Mapping[str, Any]) -> dict[str, Any]:
    """VBMicrolensing parameters (see :data:`VBM_NAMES`) to MulensModel 3.x.

    A ``(n, 7)`` matrix from :func:`vbm_matrix` converts back with
    ``from_vbm(dict(zip(VBM_NAMES, matrix.T)))``. ``alpha`` comes back wrapped to [0, 360) deg.
    """
    p = _take(params, VBM_NAMES, "VBMicrolensing")
    return {
        "t_0": p["t0"],
        "u_0": p["u0"],
        "t_E": np.exp(p["log_tE"]),
        "rho": np.exp(p["log_rho"]),
        "s": np.exp(p["log_s"]),
        "q": np.exp(p["log_q"]),
        "alpha": wrap_alpha(np.rad2deg(p["alpha"])),
    }


def vbm_vector(params: Mapping[str, Any]) -> list[float]:
    """The list ``VBMicrolensing.BinaryLightCurve`` takes, from one set of MulensModel parameters.

    Example
    -------
    >>> import VBMicrolensing
    >>> params = dict(t_0=0.0, u_0=0.1, t_E=20.0, rho=1e-3, s=1.1, q=0.01, alpha=45.0)
    >>> magnification = VBMicrolensing.VBMicrolensing().BinaryLightCurve(
    ...     vbm_vector(params), [-5.0, 0.0, 5.0])[0]
    """
    vbm = to_vbm(params)
    return [float(vbm[name]) for name in VBM_NAMES]


def vbm_matrix(params: Mapping[str, Any]) -> np.ndarray:
    """Many parameter sets as one ``(n, 7)`` float array, columns in :data:`VBM_NAMES` order.

    Row ``i`` is what ``BinaryLightCurve`` takes for parameter set ``i``; scalars broadcast
    against arrays.

    Parameters
    ----------
    params : mapping
        MulensModel parameters; floats or 1-d arrays of a common length ``n``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 7)`` (``(1, 7)`` for scalars).
    """
    vbm = to_vbm(params)
    columns = np.broadcast_arrays(*(np.asarray(vbm[name], dtype=float) for name in VBM_NAMES))
    if columns[0].ndim > 1:
        raise ConfigurationError(
            f"vbm_matrix takes scalars or 1-d arrays, got shape {columns[0].shape}."
        )
    return np.stack([np.atleast_1d(column) for column in columns], axis=-1)


def to_pylima(params: Mapping[str, Any], fancy: bool = False) -> dict[str, Any]:
    """MulensModel 3.x parameters to pyLIMA USBL/PSBL names (alpha in radians).

    pyLIMA (checked on 1.9.8) puts the source at ``-(tau cos alpha - u0 sin alpha,
    tau sin alpha + u0 cos alpha)`` around the centre of mass and calls VBMicrolensing with
    the same lens placement as MulensModel 3.x, so ``u0`` and ``alpha`` keep their sign and
    direction: only the unit of ``alpha`` changes. This holds for pyLIMA's default origin,
    ``origin=['center_of_mass', [0, 0]]``; build pyLIMA models with that origin (other origins
    replace ``t0, u0`` by ``t_center, u_center``).

    Parameters
    ----------
    params : mapping
        MulensModel parameters; ``rho`` may be absent (pyLIMA PSBL).
    fancy : bool
        Use pyLIMA's ``StandardFancyParameters``: ``log_tE``, ``log_rho``,
        ``log_separation``, ``log_mass_ratio`` (base-10 logarithms) instead of linear ones.

    Returns
    -------
    dict
        Keyed by pyLIMA names: ``t0`` [d], ``u0``, ``tE`` [d], ``rho``, ``separation``,
        ``mass_ratio``, ``alpha`` [rad] (or their ``log_`` forms).
    """
    names = [n for n in PARAMETER_NAMES if n != "rho" or "rho" in params]
    p = _take(params, names, "MulensModel")
    out: dict[str, Any] = {}
    for name in names:
        if name == "alpha":
            out["alpha"] = np.deg2rad(p["alpha"])
        elif fancy and name in _PYLIMA_FANCY_LOG:
            out[_PYLIMA_FANCY_LOG[name]] = np.log10(p[name])
        else:
            out[_PYLIMA_LINEAR[name]] = p[name]
    return out


def from_pylima(params: Mapping[str, Any]) -> dict[str, Any]:
    """pyLIMA USBL/PSBL parameters (linear or fancy ``log_`` names) to MulensModel 3.x.

    Linear names win where both forms are present (pyLIMA's own parameter dicts carry both).
    ``alpha`` comes back in degrees, wrapped to [0, 360). See :func:`to_pylima` for the
    geometry and the required pyLIMA origin.
    """
    out: dict[str, Any] = {}
    for name in PARAMETER_NAMES:
        if name == "alpha":
            out["alpha"] = wrap_alpha(np.rad2deg(_take(params, ["alpha"], "pyLIMA")["alpha"]))
        elif _PYLIMA_LINEAR[name] in params:
            out[name] = params[_PYLIMA_LINEAR[name]]
        elif name in _PYLIMA_FANCY_LOG and _PYLIMA_FANCY_LOG[name] in params:
            out[name] = _same_kind(10.0 ** np.asarray(params[_PYLIMA_FANCY_LOG[name]], float))
        elif name != "rho":
            raise ConfigurationError(
                f"pyLIMA parameters have neither {_PYLIMA_LINEAR[name]!r} nor its log form; "
                f"got {sorted(params)}."
            )
    return out


def to_mulensmodel2(params: Mapping[str, Any]) -> dict[str, Any]:
    """MulensModel 3.x parameters to MulensModel < 3.0 (Skowron et al. 2011 ``alpha``).

    MulensModel 3.0 turned ``alpha`` by 180 degrees (``MulensModel/trajectory.py``); all other
    parameters and the lens placement are unchanged, so ``alpha_2 = alpha_3 + 180``
    (mod 360). The map is its own inverse.

    Example
    -------
    >>> to_mulensmodel2({"alpha": 30.0, "s": 1.2})
    {'alpha': 210.0, 's': 1.2}
    """
    out = dict(params)
    out["alpha"] = wrap_alpha(np.asarray(_take(params, ["alpha"], "MulensModel")["alpha"]) + 180.0)
    return out


def from_mulensmodel2(params: Mapping[str, Any]) -> dict[str, Any]:
    """MulensModel < 3.0 parameters to MulensModel 3.x: ``alpha_3 = alpha_2 - 180`` (mod 360)."""
    return to_mulensmodel2(params)


def mulensmodel_model(
    params: Mapping[str, Any], t_range: tuple[float, float] | None = None
) -> MulensModel.Model:
    """A ``MulensModel.Model`` for one parameter set, with VBBL finite-source magnification.

    Parameters
    ----------
    params : mapping
        One set of MulensModel parameters (floats); without ``rho`` the model is a point
        source and no method is set.
    t_range : (float, float), optional
        Full BJD/HJD interval [d] in which VBBL is used (MulensModel's point-source
        magnification elsewhere). Default: ``t_0 +- (|s - 1/s| + 2 + rho) t_E``, which
        encloses every caustic (they lie within ``|s - 1/s| + 2`` Einstein radii of the
        centre of mass for 0.2 < s < 5).

    Returns
    -------
    MulensModel.Model
    """
    import MulensModel

    names = [n for n in PARAMETER_NAMES if n != "rho" or "rho" in params]
    p = {name: float(value) for name, value in _take(params, names, "MulensModel").items()}
    model = MulensModel.Model(p)
    if "rho" in p:
        if t_range is None:
            half_width = (abs(p["s"] - 1.0 / p["s"]) + 2.0 + p["rho"]) * p["t_E"]
            t_range = (p["t_0"] - half_width, p["t_0"] + half_width)
        start, stop = map(float, t_range)
        if not start < stop:
            raise ConfigurationError(
                f"t_range must be (start, stop) with start < stop, got {t_range}."
            )
        model.set_magnification_methods([start, "VBBL", stop])
    return model


def flip_u0(params: Mapping[str, Any]) -> dict[str, Any]:
    """The mirror solution (u_0, alpha) -> (-u_0, -alpha): the same static 2L1S light curve.

    The source trajectory is reflected in the binary axis (y -> -y), which leaves the lens
    unchanged. Parallax or orbital motion break this symmetry.
    """
    p = _take(params, ["u_0", "alpha"], "MulensModel")
    out = dict(params)
    out["u_0"] = _same_kind(-np.asarray(p["u_0"], dtype=float))
    out["alpha"] = wrap_alpha(-np.asarray(p["alpha"], dtype=float))
    return out


def time_reverse(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters whose light curve is this one reflected in time about ``t_0``.

    ``A(t_0 + tau t_E)`` of the result equals ``A(t_0 - tau t_E)`` of ``params``:
    alpha -> 180 - alpha with u_0 unchanged (the reversed trajectory reflected in the binary
    axis).
    """
    p = _take(params, ["alpha"], "MulensModel")
    out = dict(params)
    out["alpha"] = wrap_alpha(180.0 - np.asarray(p["alpha"], dtype=float))
    return out


def canonicalize(params: Mapping[str, Any]) -> dict[str, Any]:
    """Map to the equivalent parameters with u_0 >= 0 and alpha in [0, 360).

    Sets with u_0 < 0 go through :func:`flip_u0`; the light curve is unchanged. Works
    element-wise on arrays; other keys pass through.
    """
    p = _take(params, ["u_0", "alpha"], "MulensModel")
    u_0 = np.asarray(p["u_0"], dtype=float)
    alpha = np.asarray(p["alpha"], dtype=float)
    negative = u_0 < 0
    out = dict(params)
    out["u_0"] = _same_kind(np.where(negative, -u_0, u_0))
    out["alpha"] = wrap_alpha(np.where(negative, -alpha, alpha))
    return out
