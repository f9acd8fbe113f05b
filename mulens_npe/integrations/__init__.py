"""Hooks into the host packages: MulensModel events and emcee refinement, pyLIMA guesses.

Each module imports its host package only when a function is called, so pyLIMA (GPL, an
optional extra) is never imported by ``import mulens_npe``.

- :mod:`~mulens_npe.integrations.mulensmodel`: :func:`~.mulensmodel.event`,
  :func:`~.mulensmodel.refine` (emcee from NPE walkers), :func:`~.mulensmodel.write_starting_file`
  (for MulensModel's ``ulens_model_fit.py``).
- :mod:`~mulens_npe.integrations.pylima`: :func:`~.pylima.pylima_guesses`,
  :func:`~.pylima.de_population`, :class:`~.pylima.NPEGuessMixin`.
"""

from __future__ import annotations

from .mulensmodel import event, mulens_data, refine, write_starting_file

__all__ = ["event", "mulens_data", "refine", "write_starting_file"]
