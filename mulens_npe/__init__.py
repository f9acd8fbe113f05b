"""mulens_npe: amortized neural posterior estimation for binary-lens microlensing events.

The network returns, in well under a second, a posterior over the 2L1S parameters
(t_0, u_0, t_E, rho, s, q, alpha; MulensModel 3.x conventions) and starting solutions for
MulensModel, pyLIMA and emcee fits.

:func:`refine` (emcee from NPE walkers) is imported on first use, so that ``import mulens_npe``
does not load MulensModel, emcee or VBMicrolensing.
"""

from __future__ import annotations

from typing import Any

from .adapters import as_lightcurves
from .errors import (
    ConfigurationError,
    DataWarning,
    InputDataError,
    ModelCardError,
    MulensNPEError,
    OutOfPriorWarning,
)
from .lightcurve import LightCurve

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "LightCurve",
    "as_lightcurves",
    "refine",
    "MulensNPEError",
    "InputDataError",
    "ConfigurationError",
    "ModelCardError",
    "DataWarning",
    "OutOfPriorWarning",
]


def __getattr__(name: str) -> Any:
    if name == "refine":
        from .integrations.mulensmodel import refine

        return refine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
