"""From the posterior under the training proposal back to the posterior under the prior.

The training set is drawn from a proposal that aims source trajectories at the caustics
(:class:`~mulens_npe.simulate.sampling.ProposalSampler`), each curve with its exact weight
``w = prior / proposal``. A network trained with ``TrainingConfig.target = "proposal"`` counts
every curve equally, so it learns

    q(theta | x)  proportional to  p(x | theta) proposal(theta),

which sees a caustic-crossing example in every second curve instead of giving those curves
weights below 0.05 (a third of the set). The posterior under the prior is then

    p(theta | x)  proportional to  q(theta | x) w(theta),

and sampling-importance-resampling (SIR) turns flow draws into draws from it. The weight needs
the "season" the proposal was aimed at: in training, the simulated season (t_0 uniform over
it, the caustic passage inside it); for an event, the span of its data, the same rule
(:attr:`mulens_npe.preprocess.NetworkInput.span`). A network trained with the default
``target = "prior"`` needs no reweighting: :func:`prior_reweighting` returns None for it.

Cost: the caustics of every draw, ~0.23 ms each (VBMicrolensing), so 2.3 s for 10,000 draws
on one core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigurationError
from .prior import Prior

__all__ = [
    "PriorReweighting",
    "prior_reweighting",
    "systematic_resample",
    "effective_sample_size",
]


@dataclass(frozen=True)
class PriorReweighting:
    """Importance weights ``prior / proposal`` for the draws of a proposal-trained network.

    Arguments:
        prior: The model's prior (its t_0 range is replaced by each event's span).
        proposal: Keyword arguments of the training set's
            :class:`~mulens_npe.simulate.sampling.ProposalSampler` (``caustic_fraction``,
            ``width``).
    """

    prior: Prior
    proposal: Mapping[str, Any]

    def log_weights(
        self, params: Mapping[str, np.ndarray], span: tuple[float, float]
    ) -> np.ndarray:
        """``log prior - log proposal`` of each draw, for an event observed over ``span``.

        Parameters
        ----------
        params : mapping of str to numpy.ndarray
            Draws in MulensModel names (t_0 in full BJD/HJD days, alpha in degrees).
        span : tuple of float
            First and last epoch of the event's data (days).

        Returns
        -------
        numpy.ndarray
            Finite log weights, at most ``-log(1 - caustic_fraction)``.
        """
        from .simulate.sampling import ProposalSampler

        first, last = (float(v) for v in span)
        if not last > first:
            raise ConfigurationError(f"reweighting: the data span {span} has no length.")
        sampler = ProposalSampler(
            Prior(t_0=(first, last), bounds=self.prior.bounds), **self.proposal
        )
        return -sampler.log_ratio(params)

    def resample(
        self,
        params: Mapping[str, np.ndarray],
        span: tuple[float, float],
        n: int,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices of ``n`` draws resampled in proportion to their weights (systematic SIR).

        Returns
        -------
        (indices, log_weights)
            ``indices`` into the draws (sorted, repeats where a draw weighs more than one
            share) and the log weights of all the draws.
        """
        log_w = self.log_weights(params, span)
        return systematic_resample(log_w, n, rng), log_w


def systematic_resample(log_weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn with probability proportional to ``exp(log_weights)``.

    Systematic resampling: one uniform offset, ``n`` evenly spaced points on the cumulative
    weights, so each draw is repeated ``floor`` or ``ceil`` of ``n`` times its share.
    """
    w = np.exp(log_weights - np.max(log_weights))
    cumulative = np.cumsum(w / w.sum())
    cumulative[-1] = 1.0
    points = (rng.uniform() + np.arange(int(n))) / int(n)
    return np.searchsorted(cumulative, points, side="right")


def effective_sample_size(log_weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of importance weights."""
    w = np.exp(np.asarray(log_weights, float) - np.max(log_weights))
    return float(w.sum() ** 2 / np.sum(w**2))


def prior_reweighting(card: Mapping[str, Any], prior: Prior) -> PriorReweighting | None:
    """The reweighting a model needs, from its card; None for a prior-trained model.

    Raises :class:`ConfigurationError` when the card says the network learnt the proposal's
    posterior but does not say what the proposal was.
    """
    target = card.get("training", {}).get("config", {}).get("target", "prior")
    if target == "prior":
        return None
    if target != "proposal":
        raise ConfigurationError(f"model card: unknown training target {target!r}.")
    proposal = card.get("dataset", {}).get("proposal")
    if not isinstance(proposal, Mapping):
        raise ConfigurationError(
            "model card: the network was trained on the proposal's posterior "
            "(training.config.target = 'proposal') but dataset.proposal is missing, so its "
            "samples cannot be reweighted to the prior."
        )
    return PriorReweighting(prior=prior, proposal=dict(proposal))
