"""A proposal that puts binary-lens events where they have a signal, with exact weights.

Drawn from the plain :class:`~mulens_npe.prior.Prior`, most small-q events show no planet:
the source passes far from every caustic. :class:`ProposalSampler` draws from the mixture

    proposal(theta) = (1 - f) prior(theta) + f caustic(theta)

whose second component sends the source trajectory close to one of the caustics of the drawn
(s, q), in the spirit of Penny 2014 (ApJ 790, 142; the "caustic region of influence") and of
the caustic-crossing parametrisation of Cassan 2008 (A&A 491, 587). Every draw carries
``log_weight = log prior(theta) - log proposal(theta)``, exact, so that training weighted by
``exp(log_weight)`` targets the prior and the posterior stays honest.

The caustic component. Draw t_E, rho, s, q, alpha from the prior. Compute the caustics of
(s, q) with VBMicrolensing (one, two or three closed curves, any q); each curve k is a target
with centre c_k and radius r_k (largest distance of the curve from its bounding-box centre).
In MulensModel 3.x geometry the source is at ``-(tau e + u_0 n)`` with ``e = (cos alpha,
sin alpha)``, ``n = (-sin alpha, cos alpha)``; it passes c_k at ``tau_k = -c_k.e`` with
impact offset ``b = u_0 + c_k.n``. Target k asks for

- ``|b| <= w_k = width (r_k + rho)``, i.e. u_0 in ``I_k = [-c_k.n - w_k, -c_k.n + w_k]``
  intersected with the prior range of u_0 (u_0 >= 0: canonical);
- the passage inside the observed season, ``t_0 + tau_k t_E`` in the t_0 range, i.e. t_0 in
  ``J_k`` = the t_0 range shifted by ``-tau_k t_E``, intersected with the t_0 range.

Among the targets whose ``I_k`` and ``J_k`` are not empty (``R``), pick one with equal
probability and draw (u_0, t_0) uniformly in ``I_k x J_k``; if none is reachable, draw them
from the prior. So, given the other parameters, the density of (t_0, u_0) is

    h = sum_{k in R} 1[u_0 in I_k] 1[t_0 in J_k] / (|R| |I_k| |J_k|)     (prior if R is empty)

and ``log_weight = log p - log((1 - f) p + f h)`` with ``p = 1 / (|t_0 range| |u_0 range|)``:
the parameters the two components share cancel. Weights are bounded by ``1 / (1 - f)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import VBMicrolensing

from ..errors import ConfigurationError
from ..parameters import PARAMETER_NAMES
from ..prior import Prior

__all__ = ["ProposalSampler", "caustic_targets"]

_MAX_CAUSTICS = 3
"""A binary lens has one (resonant), two (wide) or three (close) caustics."""


def caustic_targets(s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Centres and radii of the caustics of binary lenses (MulensModel 3.x frame).

    Arguments:
        s: Separations in Einstein radii, shape ``(n,)``.
        q: Mass ratios, shape ``(n,)``.

    Returns:
        Array of shape ``(n, 3, 3)``: for each lens up to three caustics as
        ``(x_centre, y_centre, radius)``, NaN-padded; origin at the centre of mass, the
        secondary on the +x axis.

    Example:
        >>> targets = caustic_targets(np.array([1.5]), np.array([1e-3]))
        >>> targets[0, :, 0].round(2)  # x of the central and planetary caustics; no third
        array([0.  , 0.83,  nan])
    """
    s, q = np.broadcast_arrays(
        np.atleast_1d(np.asarray(s, dtype=float)), np.asarray(q, dtype=float)
    )
    lenses, inverse = np.unique(np.column_stack([s, q]), axis=0, return_inverse=True)
    out = np.full((len(lenses), _MAX_CAUSTICS, 3), np.nan)
    vbm = VBMicrolensing.VBMicrolensing()
    # The default 200 points per critical curve give centres and radii to 2% and the right
    # number of caustics near topology changes (fewer points merge close caustics), ~0.25 ms.
    vbm.NPcrit = 200
    for i, (s_i, q_i) in enumerate(lenses.tolist()):
        for k, (x, y) in enumerate(vbm.Caustics(s_i, q_i)[:_MAX_CAUSTICS]):
            x = np.asarray(x)
            y = np.asarray(y)
            xc = 0.5 * (x.max() + x.min())
            yc = 0.5 * (y.max() + y.min())
            out[i, k] = xc, yc, np.sqrt(np.max((x - xc) ** 2 + (y - yc) ** 2))
    return out[inverse.ravel()]


class ProposalSampler:
    """Mixture of the prior and a caustic-targeted component, with exact importance weights.

    Arguments:
        prior: The prior the weighted draws must follow.
        caustic_fraction: Probability ``f`` that a draw comes from the caustic component
            (0 gives the plain prior, weights all 1).
        width: Half-width of the band of impact offsets around each caustic, in units of
            ``caustic radius + rho``.
        targets: Caustic centres and radii of lenses ``(s, q)`` (default
            :func:`caustic_targets`; inference uses the interpolated
            :class:`mulens_npe.reweighting.CausticTable`).

    Example:
        >>> prior = Prior(t_0=(2460000.0, 2460072.0))
        >>> params, log_weight = ProposalSampler(prior).sample(4, np.random.default_rng(0))
        >>> params["u_0"].round(3), np.exp(log_weight).round(3)  # weights <= 1 / (1 - 0.5)
        (array([1.627, 1.826, 1.213, 0.181]), array([2.   , 2.   , 2.   , 0.461]))
    """

    def __init__(
        self,
        prior: Prior,
        caustic_fraction: float = 0.5,
        width: float = 2.0,
        targets: Callable[[np.ndarray, np.ndarray], np.ndarray] = caustic_targets,
    ) -> None:
        if not 0.0 <= caustic_fraction < 1.0:
            raise ConfigurationError(
                f"ProposalSampler: caustic_fraction must be in [0, 1), got {caustic_fraction}."
            )
        if not width > 0:
            raise ConfigurationError(f"ProposalSampler: width must be > 0, got {width}.")
        self.prior = prior
        self.caustic_fraction = float(caustic_fraction)
        self.width = float(width)
        self.targets = targets

    def __repr__(self) -> str:
        return f"ProposalSampler(caustic_fraction={self.caustic_fraction}, width={self.width})"

    def sample(self, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Draw ``n`` parameter sets and their log importance weights.

        Returns:
            ``(params, log_weight)``: a dict of arrays of length ``n`` in MulensModel names
            (u_0 >= 0), and ``log prior - log proposal`` for each draw.
        """
        params = self.prior.sample(n, rng)
        from_caustic = rng.uniform(size=int(n)) < self.caustic_fraction
        u_pick, u_u0, u_t0 = rng.uniform(size=(3, int(n)))
        boxes = self._boxes(params)
        ok = boxes["ok"]
        n_reachable = ok.sum(axis=1)
        rows = np.flatnonzero(from_caustic & (n_reachable > 0))
        # the k-th reachable caustic, k uniform among the reachable ones
        rank = np.floor(u_pick[rows] * n_reachable[rows])
        pick = np.argmax(np.cumsum(ok[rows], axis=1) > rank[:, None], axis=1)
        box = {name: boxes[name][rows, pick] for name in ("u_lo", "u_hi", "t_lo", "t_hi")}
        params["u_0"][rows] = box["u_lo"] + (box["u_hi"] - box["u_lo"]) * u_u0[rows]
        params["t_0"][rows] = box["t_lo"] + (box["t_hi"] - box["t_lo"]) * u_t0[rows]
        return params, self._log_weight(params, boxes)

    def log_weight(self, params: Mapping[str, Any]) -> np.ndarray:
        """``log prior(params) - log proposal(params)``; -inf outside the prior."""
        params = self._columns(params)
        return self._log_weight(params, self._boxes(params))

    def log_ratio(self, params: Mapping[str, Any]) -> np.ndarray:
        """``log proposal(params) - log prior(params)``, finite everywhere (also outside the prior).

        Used to turn a posterior learnt under this proposal back into one under the prior
        (:mod:`mulens_npe.reweighting`); inside the prior it is ``-log_weight``.
        """
        params = self._columns(params)
        return self._log_ratio(params, self._boxes(params))

    def log_prob(self, params: Mapping[str, Any]) -> np.ndarray:
        """Log density of the proposal (per day, per degree, like :meth:`Prior.log_prob`)."""
        params = self._columns(params)
        return self.prior.log_prob(params) + self._log_ratio(params, self._boxes(params))

    def to_config(self) -> dict[str, Any]:
        """A JSON-able description (for dataset files and model cards)."""
        return {
            "prior": self.prior.to_dict(),
            "caustic_fraction": self.caustic_fraction,
            "width": self.width,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ProposalSampler:
        """Inverse of :meth:`to_config`."""
        unknown = sorted(set(config) - {"prior", "caustic_fraction", "width"})
        if unknown:
            raise ConfigurationError(f"ProposalSampler: unknown key(s) {unknown} in configuration.")
        if "prior" not in config:
            raise ConfigurationError("ProposalSampler: the configuration needs a 'prior'.")
        return cls(
            Prior.from_dict(config["prior"]),
            caustic_fraction=config.get("caustic_fraction", 0.5),
            width=config.get("width", 2.0),
        )

    def _boxes(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per draw and per caustic, the (u_0, t_0) box of the caustic component."""
        targets = self.targets(params["s"], params["q"])
        x, y, radius = (targets[..., j] for j in range(3))
        alpha = np.deg2rad(np.asarray(params["alpha"], dtype=float))[:, None]
        sin, cos = np.sin(alpha), np.cos(alpha)
        offset = x * sin - y * cos  # u_0 of the trajectory through the caustic centre
        tau = -(x * cos + y * sin)  # when it passes there, in units of t_E after t_0
        half = self.width * (radius + np.asarray(params["rho"], dtype=float)[:, None])
        u_min, u_max = self.prior.bounds["u_0"]
        t_min, t_max = self.prior.bounds["t_0"]
        shift = tau * np.asarray(params["t_E"], dtype=float)[:, None]
        boxes = {
            "u_lo": np.maximum(offset - half, u_min),
            "u_hi": np.minimum(offset + half, u_max),
            "t_lo": np.maximum(t_min - shift, t_min),
            "t_hi": np.minimum(t_max - shift, t_max),
        }
        with np.errstate(invalid="ignore"):
            boxes["ok"] = (boxes["u_hi"] > boxes["u_lo"]) & (boxes["t_hi"] > boxes["t_lo"])
        return boxes

    @staticmethod
    def _columns(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        columns = np.broadcast_arrays(
            *(np.atleast_1d(np.asarray(params[name], dtype=float)) for name in PARAMETER_NAMES)
        )
        return dict(zip(PARAMETER_NAMES, columns, strict=True))

    def _log_weight(
        self, params: Mapping[str, np.ndarray], boxes: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        log_ratio = self._log_ratio(params, boxes)
        return np.where(self.prior.contains(params), -log_ratio, -np.inf)

    def _log_ratio(
        self, params: Mapping[str, np.ndarray], boxes: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """``log(proposal / prior) = log((1 - f) + f h / p)``, finite everywhere."""
        u_0 = np.asarray(params["u_0"], dtype=float)[:, None]
        t_0 = np.asarray(params["t_0"], dtype=float)[:, None]
        ok = boxes["ok"]
        n_reachable = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            inside = ok & (u_0 >= boxes["u_lo"]) & (u_0 <= boxes["u_hi"])
            inside &= (t_0 >= boxes["t_lo"]) & (t_0 <= boxes["t_hi"])
            area = (boxes["u_hi"] - boxes["u_lo"]) * (boxes["t_hi"] - boxes["t_lo"])
            h = np.where(inside, 1.0 / np.where(ok, area, 1.0), 0.0).sum(axis=1)
            h = h / np.maximum(n_reachable, 1)
        u_range = np.subtract(*self.prior.bounds["u_0"][::-1])
        t_range = np.subtract(*self.prior.bounds["t_0"][::-1])
        # h / p, with p the prior density of (t_0, u_0); the prior itself when nothing is reachable
        h_over_p = np.where(n_reachable > 0, h * u_range * t_range, 1.0)
        f = self.caustic_fraction
        return np.log((1.0 - f) + f * h_over_p)
