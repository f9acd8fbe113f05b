"""The exceptions and warnings that mulens_npe raises.

Every error the user can cause (bad data, a wrong option, a broken model file) is a
:class:`MulensNPEError`; catching that one class catches them all.
"""

from __future__ import annotations

__all__ = [
    "MulensNPEError",
    "InputDataError",
    "ConfigurationError",
    "ModelCardError",
    "DataWarning",
    "OutOfPriorWarning",
]


class MulensNPEError(Exception):
    """Base class of every error raised by mulens_npe."""


class InputDataError(MulensNPEError, ValueError):
    """The light-curve data given by the user cannot be used as they are.

    The message names the dataset, the column and the offending value(s).
    """


class ConfigurationError(MulensNPEError, ValueError):
    """An option, prior or configuration value is out of range or unknown."""


class ModelCardError(MulensNPEError):
    """A trained-model artifact is missing, corrupt or incompatible with this package."""


class DataWarning(UserWarning):
    """The data were usable but had to be changed (sorted, merged, points dropped)."""


class OutOfPriorWarning(UserWarning):
    """The event (or a parameter set) lies outside the prior the model was trained on."""
