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

Cost: the weights need the caustics of every draw. Exact (VBMicrolensing) they cost 0.25 ms
on average and up to 25 ms for some lenses, seconds per 10,000 draws; models therefore use
:class:`CausticTable`, interpolated from a shipped table with a finer grid where the caustic
topology changes (log weights within 0.05 of the exact ones for 99.7% of caustic-aimed draws;
``benchmarks/bench_reweighting.py`` times it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigurationError
from .prior import Prior, span_prior
from .simulate.sampling import ProposalSampler, caustic_targets

__all__ = [
    "CausticTable",
    "PriorReweighting",
    "prior_reweighting",
    "systematic_resample",
    "effective_sample_size",
]


class CausticTable:
    """Caustic centres and radii interpolated from a table, exact where the table cannot tell.

    The table (``mulens_npe/data/caustic_targets.npz``, written by
    ``tools/make_caustic_table.py``) holds :func:`~mulens_npe.simulate.sampling.caustic_targets`
    on a 0.01-dex grid in (log10 s, log10 q) over the default prior, and a finer grid (a tenth
    of a cell) inside each cell whose corners disagree on the number of caustics, i.e. the
    cells a change of topology (close / resonant / wide) runs through. A lens is interpolated
    bilinearly between its four neighbouring nodes when all four have the same number of
    caustics (each corner's caustics matched to the first corner's by nearest centre): first
    on the coarse grid, then on the fine one; only where the fine corners still disagree, or
    outside the table, are its caustics computed exactly. Calling it is a drop-in for
    ``caustic_targets(s, q)``.

    Arguments:
        path: The table file (default: the one shipped in the package).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        shipped = resources.files("mulens_npe") / "data" / "caustic_targets.npz"
        source = shipped if path is None else Path(path)
        with resources.as_file(source) as file, np.load(file) as table:
            columns = {k: np.asarray(table[k]) for k in table.files}
        self.log10_s = columns["log10_s"].astype(float)
        self.log10_q = columns["log10_q"].astype(float)
        self.targets = columns["targets"].astype(float)
        self.counts = _caustic_counts(self.targets)
        # fine grids: cell (i, j) -> row of fine_targets, -1 where the cell has none
        self.fine_index = np.full((self.log10_s.size - 1, self.log10_q.size - 1), -1, int)
        self.fine_targets = np.zeros((0, 2, 2, 3, 3))
        if "fine_cells" in columns:
            cells = columns["fine_cells"].astype(int)
            self.fine_index[cells[:, 0], cells[:, 1]] = np.arange(len(cells))
            self.fine_targets = columns["fine_targets"].astype(float)
        self.fine_counts = _caustic_counts(self.fine_targets)

    def __call__(self, s: np.ndarray, q: np.ndarray) -> np.ndarray:
        s, q = np.broadcast_arrays(np.atleast_1d(np.asarray(s, float)), np.asarray(q, float))
        out, usable = self.interpolate(s, q)
        exact = ~usable
        if exact.any():
            out[exact] = caustic_targets(s[exact], q[exact])
        return out

    def interpolate(self, s: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The table's caustics and where they can be trusted, nothing computed exactly.

        Returns
        -------
        targets : numpy.ndarray
            Shape ``(n, 3, 3)`` as :func:`~mulens_npe.simulate.sampling.caustic_targets`;
            meaningless where ``usable`` is False.
        usable : numpy.ndarray
            Boolean, shape ``(n,)``: False where the corners disagree on the number of
            caustics even on the fine grid, or outside the table (``__call__`` computes
            those exactly).
        """
        s, q = np.broadcast_arrays(np.atleast_1d(np.asarray(s, float)), np.asarray(q, float))
        x, y = np.log10(s), np.log10(q)
        i = np.searchsorted(self.log10_s, x, side="right") - 1
        j = np.searchsorted(self.log10_q, y, side="right") - 1
        inside = (i >= 0) & (i < self.log10_s.size - 1) & (j >= 0) & (j < self.log10_q.size - 1)
        i, j = np.where(inside, i, 0), np.where(inside, j, 0)
        fx = (x - self.log10_s[i]) / (self.log10_s[i + 1] - self.log10_s[i])
        fy = (y - self.log10_q[j]) / (self.log10_q[j + 1] - self.log10_q[j])
        corners = [(i, j), (i + 1, j), (i, j + 1), (i + 1, j + 1)]
        out, usable = _bilinear(
            [self.targets[a, b] for a, b in corners],
            np.stack([self.counts[a, b] for a, b in corners]),
            fx,
            fy,
        )
        usable &= inside
        fine = np.flatnonzero(inside & ~usable & (self.fine_index[i, j] >= 0))
        if fine.size:
            cell = self.fine_index[i[fine], j[fine]]
            m = self.fine_targets.shape[1] - 1
            # position inside the cell's fine grid (m x m sub-cells)
            gx, gy = np.clip(fx[fine] * m, 0, m), np.clip(fy[fine] * m, 0, m)
            a, b = np.minimum(gx.astype(int), m - 1), np.minimum(gy.astype(int), m - 1)
            corners = [(a, b), (a + 1, b), (a, b + 1), (a + 1, b + 1)]
            out[fine], usable[fine] = _bilinear(
                [self.fine_targets[cell, u, v] for u, v in corners],
                np.stack([self.fine_counts[cell, u, v] for u, v in corners]),
                gx - a,
                gy - b,
            )
        return out, usable


def _caustic_counts(targets: np.ndarray) -> np.ndarray:
    """Number of caustics at each node of a table of shape (..., 3, 3)."""
    return np.sum(np.isfinite(targets[..., 0]), axis=-1)


def _bilinear(
    corners: list[np.ndarray], counts: np.ndarray, fx: np.ndarray, fy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear interpolation of caustic targets between four corners.

    Parameters
    ----------
    corners : list of numpy.ndarray
        Targets, each of shape (n, 3, 3), at corners (0, 0), (1, 0), (0, 1), (1, 1).
    counts : numpy.ndarray
        Number of caustics at each corner, shape (4, n).
    fx, fy : numpy.ndarray
        Fractional position inside the cell along log10 s and log10 q, in [0, 1].

    Returns
    -------
    (targets, usable)
        Interpolated targets, shape (n, 3, 3), and where they can be trusted: the four
        corners have the same number of caustics (each corner's caustics matched to the
        first corner's by nearest centre).
    """
    usable = np.all(counts == counts[0], axis=0)
    weights = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]
    first = corners[0]
    out = weights[0][:, None, None] * first
    for corner, w in zip(corners[1:], weights[1:], strict=True):
        distance = np.hypot(
            first[:, :, None, 0] - corner[:, None, :, 0],
            first[:, :, None, 1] - corner[:, None, :, 1],
        )
        match = np.argmin(np.where(np.isfinite(distance), distance, np.inf), axis=2)
        matched = np.take_along_axis(corner, match[..., None], axis=1)
        out = out + w[:, None, None] * matched
    return out, usable


@dataclass(frozen=True)
class PriorReweighting:
    """Importance weights ``prior / proposal`` for the draws of a proposal-trained network.

    Arguments:
        prior: The model's prior (its t_0 range is replaced by each event's span).
        proposal: Keyword arguments of the training set's
            :class:`~mulens_npe.simulate.sampling.ProposalSampler` (``caustic_fraction``,
            ``width``).
        targets: Caustic centres and radii of lenses (s, q) (default: computed exactly with
            :func:`~mulens_npe.simulate.sampling.caustic_targets`; a :class:`CausticTable`
            gives nearly the same weights about fifty times faster).
    """

    prior: Prior
    proposal: Mapping[str, Any]
    targets: Callable[[np.ndarray, np.ndarray], np.ndarray] = caustic_targets

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
        first, last = (float(v) for v in span)
        if not last > first:
            raise ConfigurationError(f"reweighting: the data span {span} has no length.")
        prior = Prior(t_0=(first, last), bounds=self.prior.bounds)
        return -ProposalSampler(prior, **self.proposal, targets=self.targets).log_ratio(params)

    def resample(
        self,
        params: Mapping[str, np.ndarray],
        span: tuple[float, float],
        n: int,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices of ``n`` draws resampled in proportion to their weights (systematic SIR).

        Draws outside the prior have no posterior mass under it and are never chosen: outside
        its bounds of u_0, t_E, rho, s and q, or with t_0 more than half the span before or
        after the data (the t_0 range of ``Proposal.prior``). If every draw is outside, the
        finite weights are used as they are (``propose`` then warns where s, q, t_E or u_0
        pile against or beyond the prior's edges).

        Returns
        -------
        (indices, log_weights)
            ``indices`` into the draws (sorted, repeats where a draw weighs more than one
            share) and the log weights of all the draws (``-inf`` outside the prior).
        """
        log_w = self.log_weights(params, span)
        support = span_prior(self.prior, *span)
        inside = support.contains({**params, "u_0": np.abs(np.asarray(params["u_0"], float))})
        if inside.any():
            log_w = np.where(inside, log_w, -np.inf)
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
