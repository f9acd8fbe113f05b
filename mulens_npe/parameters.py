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

Every function takes and returns plain dicts keyed by the target package's names; values may
be floats or numpy arrays (vectorised).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ConfigurationError

__all__ = [
    "PARAMETER_NAMES",
    "VBM_NAMES",
    "to_vbm",
    "from_vbm",
    "vbm_vector",
    "to_pylima",
    "from_pylima",
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
_PYLIMA_FANCY_LOG = {"t_E": "log_tE", "rho": "log_rho", "s": "log_separation", "q": "log_mass_ratio"}


def _take(params: Mapping[str, Any], names: tuple[str, ...] | list[str], convention: str) -> dict:
    missing = [name for name in names if name not in params]
    if missing:
        raise ConfigurationError(
            f"{convention} parameters are missing {missing}; got {sorted(params)}."
        )
    return {name: params[name] for name in names}


def wrap_alpha(alpha_deg: Any) -> Any:
    """Wrap angles in degrees to [0, 360)."""
    wrapped = np.mod(alpha_deg, 360.0)
    return float(wrapped) if np.ndim(wrapped) == 0 else wrapped


def to_vbm(params: Mapping[str, Any]) -> dict[str, Any]:
    """MulensModel 3.x parameters to VBMicrolensing's (ln s, ln q, u0, alpha rad, ln rho, ln tE, t0)."""
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
    """VBMicrolensing parameters (see :data:`VBM_NAMES`) to MulensModel 3.x."""
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
    """The list ``VBMicrolensing.BinaryLightCurve`` takes, from MulensModel parameters."""
    vbm = to_vbm(params)
    return [float(vbm[name]) for name in VBM_NAMES]


def to_pylima(params: Mapping[str, Any], fancy: bool = False) -> dict[str, Any]:
    """MulensModel 3.x parameters to pyLIMA USBL names (alpha in radians).

    Parameters
    ----------
    params : mapping
        MulensModel parameters; ``rho`` may be absent (pyLIMA PSBL).
    fancy : bool
        Use pyLIMA's fancy parameters ``log_tE``, ``log_rho``, ``log_separation``,
        ``log_mass_ratio`` (base-10 logarithms) instead of linear ones.
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
    """pyLIMA USBL/PSBL parameters (linear or fancy ``log_`` names) to MulensModel 3.x."""
    out: dict[str, Any] = {}
    for name in PARAMETER_NAMES:
        if name == "alpha":
            out["alpha"] = wrap_alpha(np.rad2deg(_take(params, ["alpha"], "pyLIMA")["alpha"]))
        elif _PYLIMA_LINEAR[name] in params:
            out[name] = params[_PYLIMA_LINEAR[name]]
        elif name in _PYLIMA_FANCY_LOG and _PYLIMA_FANCY_LOG[name] in params:
            out[name] = 10.0 ** np.asarray(params[_PYLIMA_FANCY_LOG[name]], dtype=float)
        elif name != "rho":
            raise ConfigurationError(
                f"pyLIMA parameters have neither {_PYLIMA_LINEAR[name]!r} nor its log form; "
                f"got {sorted(params)}."
            )
    return out


def flip_u0(params: Mapping[str, Any]) -> dict[str, Any]:
    """The mirror solution (u_0, alpha) -> (-u_0, -alpha): the same static 2L1S light curve."""
    out = dict(params)
    out["u_0"] = -np.asarray(params["u_0"]) if np.ndim(params["u_0"]) else -params["u_0"]
    out["alpha"] = wrap_alpha(-np.asarray(params["alpha"], dtype=float))
    return out


def time_reverse(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters whose light curve is this one reflected in time about ``t_0``.

    ``A(t_0 + tau t_E)`` of the result equals ``A(t_0 - tau t_E)`` of ``params``:
    alpha -> 180 - alpha with u_0 unchanged.
    """
    out = dict(params)
    out["alpha"] = wrap_alpha(180.0 - np.asarray(params["alpha"], dtype=float))
    return out


def canonicalize(params: Mapping[str, Any]) -> dict[str, Any]:
    """Map to the equivalent parameters with u_0 >= 0 and alpha in [0, 360).

    Works element-wise on arrays.
    """
    u_0 = np.asarray(params["u_0"], dtype=float)
    alpha = np.asarray(params["alpha"], dtype=float)
    negative = u_0 < 0
    out = dict(params)
    new_u0 = np.where(negative, -u_0, u_0)
    new_alpha = np.mod(np.where(negative, -alpha, alpha), 360.0)
    out["u_0"] = float(new_u0) if new_u0.ndim == 0 else new_u0
    out["alpha"] = float(new_alpha) if new_alpha.ndim == 0 else new_alpha
    return out
