"""mulens_npe: amortized neural posterior estimation for binary-lens microlensing events.

The network returns, in well under a second, a posterior over the 2L1S parameters
(t_0, u_0, t_E, rho, s, q, alpha; MulensModel 3.x conventions) and starting solutions for
MulensModel, pyLIMA and emcee fits.
"""

from __future__ import annotations

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
    "MulensNPEError",
    "InputDataError",
    "ConfigurationError",
    "ModelCardError",
    "DataWarning",
    "OutOfPriorWarning",
]
