"""Starting points read off the light curve's anomaly: where a planet must be to cause it.

The posterior network may leave (s, q, alpha) broad while the data show a sharp anomaly on a
single-lens curve. The classical geometry of planetary perturbations (Gould & Loeb 1992; Han
2006) turns the anomaly's time and duration into candidate binary parameters:

* the source at the anomaly's time ``t_a`` lies at ``u_a = sqrt(u_0^2 + tau_a^2)`` from the
  lens, ``tau_a = (t_a - t_0) / t_E``; a planetary caustic sits on the binary axis at
  ``|s - 1/s|`` from the host, so ``s - 1/s = u_a`` (wide, ``s > 1``; the major image) or its
  twin ``1/s`` (close; the minor image's caustics lie off the axis by about
  ``2 sqrt(q) / (s sqrt(1 + s^2))``);
* ``alpha`` turns the trajectory so that the source crosses the axis at ``t_a``, on either side
  of the host (MulensModel's convention, ``u_0 >= 0``);
* the caustic's size grows as ``sqrt(q)``, but the anomaly's visible duration depends as much
  on the crossing angle, the source size and the photometric precision, so q is not guessed:
  every start comes with a ladder of q over the whole prior (half-dex steps) and the
  screening chi2 chooses.

These are starting points for the same polish as the posterior draws
(:func:`mulens_npe.polish.polish_modes`), never solutions by themselves: the polished chi2
decides.
"""

from __future__ import annotations

import time as clock
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .likelihood import Likelihood
from .parameters import PARAMETER_NAMES
from .singlelens import pspl_magnification

__all__ = [
    "Anomaly",
    "find_anomalies",
    "anomaly_starts",
    "anomaly_candidates",
    "anomaly_candidates_ladder",
    "RHO_LADDER",
]


@dataclass(frozen=True)
class Anomaly:
    """A stretch of the light curve that departs from the single-lens model.

    Attributes
    ----------
    t_start, t_end : float
        First and last epoch of its core, where the residual stays above a fifth of its
        largest value (full BJD/HJD days).
    t_peak : float
        Epoch of the largest normalised residual in it.
    excess_chi2 : float
        chi2 of the single-lens model in the stretch minus the number of epochs in it.
    sign : int
        +1 where the data are brighter than the single-lens model, -1 where fainter.
    """

    t_start: float
    t_end: float
    t_peak: float
    excess_chi2: float
    sign: int

    @property
    def duration(self) -> float:
        """Length of the stretch (days)."""
        return self.t_end - self.t_start


def _single_lens_residuals(
    likelihood: Likelihood, single_lens: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Epochs (sorted) and normalised residuals of the best single-lens model."""
    time = np.concatenate([lc.time for lc in likelihood.lightcurves])  # dataset order
    tau = (time - single_lens["t_0"]) / single_lens["t_E"]
    magnification = pspl_magnification(tau, abs(single_lens["u_0"]))
    residual = likelihood.residuals_from_magnification(magnification[None])[0]
    order = np.argsort(time, kind="stable")
    return time[order], residual[order]


def _best_stretch(score: np.ndarray) -> tuple[int, int]:
    """Indices ``[i, j]`` of the contiguous stretch with the largest sum of ``score`` (Kadane)."""
    best, best_i, best_j = -np.inf, 0, -1
    running, start = 0.0, 0
    for k, value in enumerate(score):
        if running <= 0.0:
            running, start = value, k
        else:
            running += value
        if running > best:
            best, best_i, best_j = running, start, k
    return best_i, best_j


def find_anomalies(
    likelihood: Likelihood,
    single_lens: Mapping[str, float],
    *,
    max_anomalies: int = 2,
    threshold: float = 4.0,
    min_excess: float = 50.0,
) -> list[Anomaly]:
    """The strongest departures from the single-lens model, strongest first.

    Parameters
    ----------
    likelihood : Likelihood
        The data.
    single_lens : mapping
        ``t_0``, ``u_0``, ``t_E`` of the best single-lens model
        (:func:`mulens_npe.likelihood.single_lens_fit`).
    max_anomalies : int
        How many stretches to return at most.
    threshold : float
        Squared normalised residual that counts as anomalous: each epoch scores
        ``r^2 - threshold`` and the stretch with the largest total score is taken.
    min_excess : float
        Smallest excess chi2 (over one per epoch) of a stretch worth returning.

    Returns
    -------
    list of Anomaly
    """
    time, residual = _single_lens_residuals(likelihood, single_lens)
    score = residual**2 - float(threshold)
    found: list[Anomaly] = []
    for _ in range(int(max_anomalies)):
        i, j = _best_stretch(score)
        if j < i:
            break
        chunk = slice(i, j + 1)
        excess = float(np.sum(residual[chunk] ** 2) - (j + 1 - i))
        if excess < min_excess:
            break
        peak = i + int(np.argmax(np.abs(residual[chunk])))
        # On precise data the whole peak departs from the (biased) single-lens fit: the
        # anomaly proper is where the residual stays above a fifth of its largest value.
        strong = np.abs(residual) >= max(2.0, 0.2 * abs(residual[peak]))
        low, high = peak, peak
        while low > i and strong[low - 1]:
            low -= 1
        while high < j and strong[high + 1]:
            high += 1
        found.append(
            Anomaly(
                t_start=float(time[low]),
                t_end=float(time[high]),
                t_peak=float(time[peak]),
                excess_chi2=excess,
                sign=1 if np.sum(residual[chunk]) >= 0 else -1,
            )
        )
        score[chunk] = -np.inf  # never again part of a stretch
    return found


def anomaly_starts(
    anomaly: Anomaly,
    single_lens: Mapping[str, float],
    *,
    rho: float = 1e-3,
    q_step: float = 0.5,
    q_bounds: tuple[float, float] = (1e-6, 1.0),
) -> dict[str, np.ndarray]:
    """Binary-lens starting points whose planetary caustic lies where the anomaly is.

    Parameters
    ----------
    anomaly : Anomaly
        From :func:`find_anomalies`.
    single_lens : mapping
        ``t_0``, ``u_0``, ``t_E`` of the single-lens model.
    rho : float
        Source radius of every start (Einstein radii).
    q_step : float
        Spacing (dex) of the q ladder.
    q_bounds : (float, float)
        Range of the q ladder.

    Returns
    -------
    dict
        MulensModel parameters (arrays): for each q of the ladder (from ``q_bounds[1]`` down
        in steps of ``q_step`` dex), the wide and the close
        geometry, with the source crossing the binary axis on either side of the host (and,
        for close, just above and below it).
    """
    t_0, t_e = float(single_lens["t_0"]), float(single_lens["t_E"])
    u_0 = abs(float(single_lens["u_0"]))
    tau_a = (anomaly.t_peak - t_0) / t_e
    u_a = float(np.hypot(u_0, tau_a))
    s_wide = 0.5 * (u_a + np.sqrt(u_a**2 + 4.0))
    across = np.degrees(np.arctan2(-u_0, tau_a))  # source on the +x axis at t_peak
    low, high = np.log10(q_bounds[0]), np.log10(q_bounds[1])
    n_q = int(np.floor((high - low) / q_step + 1e-9)) + 1
    rows = []
    for log_q in high - q_step * np.arange(n_q):
        q = float(10.0**log_q)
        for s in (s_wide, 1.0 / s_wide):
            shifts = [0.0]
            if s < 1.0 and u_a > 0:  # the minor image's caustics lie off the axis
                off = 2.0 * np.sqrt(q) / (s * np.sqrt(1.0 + s**2))
                shifts += [np.degrees(off / u_a), -np.degrees(off / u_a)]
            for side in (0.0, 180.0):
                for shift in shifts:
                    alpha = (across + side + shift) % 360.0
                    rows.append((t_0, u_0, t_e, rho, s, q, alpha))
    table = np.array(rows, dtype=float)
    return {name: table[:, k] for k, name in enumerate(PARAMETER_NAMES)}


def _near(time: np.ndarray, anomalies: list[Anomaly], factor: float, floor: float) -> np.ndarray:
    """Epochs within ``max(factor * duration, floor)`` days of any anomaly's core."""
    near = np.zeros(time.shape, bool)
    for a in anomalies:
        pad = max(factor * a.duration, floor)
        near |= (time >= a.t_start - pad) & (time <= a.t_end + pad)
    return near


def _single_lens_without(
    likelihood: Likelihood, single_lens: Mapping[str, float], anomalies: list[Anomaly]
) -> dict[str, float] | None:
    """The single-lens fit to the epochs away from the anomalies.

    A binary perturbs the light curve well beyond the anomaly's core, so the masked stretch
    grows (1, 2, 4, 8, 16 times the core's length on each side) until the fit to what is left
    is good (chi2 per epoch < 2), keeping at least half of the epochs; otherwise the best of
    those fits.
    """
    from .likelihood import single_lens_fit

    fits = []
    for factor in (1.0, 2.0, 4.0, 8.0, 16.0):
        lightcurves = []
        for lc in likelihood.lightcurves:
            keep = ~_near(lc.time, anomalies, factor, 0.05 * factor)
            if keep.sum() >= 10:
                lightcurves.append(lc.select(keep))
        n_kept = sum(lc.n_points for lc in lightcurves)
        if not lightcurves or n_kept < 0.5 * likelihood.n_points:
            break
        fit = single_lens_fit(Likelihood(lightcurves), single_lens)
        fits.append((fit["chi2"] / n_kept, fit))
        if fits[-1][0] < 2.0:
            break
    if not fits:
        return None
    return min(fits, key=lambda item: item[0])[1] if fits[-1][0] >= 2.0 else fits[-1][1]


def _local_grid(
    starts: Mapping[str, np.ndarray],
    rows: np.ndarray,
    *,
    log_s_steps: np.ndarray,
    alpha_steps: np.ndarray,
    log_q_steps: np.ndarray,
) -> dict[str, np.ndarray]:
    """Small (s, alpha, q) grids around the given rows of ``starts``."""
    ds, da, dq = (g.ravel() for g in np.meshgrid(log_s_steps, alpha_steps, log_q_steps))
    out = {name: [] for name in PARAMETER_NAMES}
    for row in rows:
        for name in ("t_0", "u_0", "t_E", "rho"):
            out[name].append(np.full(ds.size, starts[name][row]))
        out["s"].append(starts["s"][row] * 10.0**ds)
        out["alpha"].append((starts["alpha"][row] + da) % 360.0)
        out["q"].append(starts["q"][row] * 10.0**dq)
    return {name: np.concatenate(values) for name, values in out.items()}


def anomaly_candidates(
    likelihood: Likelihood,
    single_lens: Mapping[str, float],
    *,
    rho: float = 1e-3,
    n_keep: int = 3,
    screen_points: int = 2000,
    s_bounds: tuple[float, float] = (0.2, 5.0),
    q_bounds: tuple[float, float] = (1e-6, 1.0),
    deadline: float | None = None,
) -> dict[str, np.ndarray]:
    """The best starting points the anomalies suggest, screened on a subset of the epochs.

    The geometry of :func:`anomaly_starts` for each anomaly of :func:`find_anomalies` is
    ranked by chi2 on about ``screen_points`` epochs; around the three best, a local grid
    (log s +- 0.04 dex in 9 steps, alpha +- 4 deg in 9, log q +- 0.25 dex in 3) is ranked on
    the epochs around the anomalies (and a sparse sample of the others, for the fluxes), since
    a caustic crossing's minimum is too narrow for the optimiser to find from the coarse
    geometry alone. About 200 curves per anomaly and 729 for the local grids (seconds to tens
    of seconds for a Roman season; ``deadline`` cuts it short).

    Parameters
    ----------
    likelihood : Likelihood
        The data.
    single_lens : mapping
        ``t_0``, ``u_0``, ``t_E`` of the best single-lens model.
    rho : float
        Source radius of the starts (e.g. the posterior median).
    n_keep : int
        Candidates returned, lowest screening chi2 first.
    screen_points : int
        Epochs of the screening subset (:meth:`Likelihood.subset`).
    s_bounds, q_bounds : (float, float)
        Box of the candidates (the model's prior).
    deadline : float, optional
        ``time.perf_counter()`` value after which no more candidates are screened: the best
        of those screened so far are returned.

    Returns
    -------
    dict
        MulensModel parameters (arrays of length <= ``n_keep``); empty arrays when the data
        show no anomaly.
    """
    prepared = _prepare(likelihood, single_lens, screen_points)
    if prepared is None:
        return _no_candidates()
    return _candidates_at(prepared, rho, n_keep, s_bounds, q_bounds, deadline)


def _no_candidates() -> dict[str, np.ndarray]:
    """The empty result: no anomaly, or none of its starts screened in time."""
    return {name: np.empty(0) for name in PARAMETER_NAMES}


@dataclass(frozen=True)
class _Prepared:
    """What the screening at any source size shares: the anomalies, the single lens they
    were found against, and the two subsets of the epochs the starts are ranked on."""

    anomalies: list[Anomaly]
    single_lens: Mapping[str, float]
    screen: Likelihood
    near: Likelihood


def _prepare(
    likelihood: Likelihood, single_lens: Mapping[str, float], screen_points: int
) -> _Prepared | None:
    """The anomalies (None: the data show none) and the screening subsets."""
    anomalies = find_anomalies(likelihood, single_lens)
    if not anomalies:
        return None
    # a strong anomaly drags the single-lens fit (t_E, u_0 and the blending trade off to
    # absorb it): fit the single lens again without the anomalies, then look again
    refit = _single_lens_without(likelihood, single_lens, anomalies)
    if refit is not None:
        single_lens = refit
        anomalies = find_anomalies(likelihood, single_lens) or anomalies
    return _Prepared(
        anomalies,
        single_lens,
        likelihood.subset(screen_points),
        _around(likelihood, anomalies, screen_points // 2),
    )


def _coarse_starts(
    prepared: _Prepared,
    rho: float,
    s_bounds: tuple[float, float],
    q_bounds: tuple[float, float],
) -> dict[str, np.ndarray]:
    """The geometry's starts of every anomaly at source size ``rho``, those with s inside
    ``s_bounds`` only.

    Far from the single lens's peak (``u_a`` of tens or more, e.g. where the fit is poor
    and the anomaly is the start of the season) the geometry gives s = u_a and 1 / u_a:
    outside any prior, and binary-lens curves that take VBMicrolensing seconds each (4 s per
    curve at s ~ 1e-3 on a 5,000-epoch Roman season, stalling the screening for minutes).
    """
    parts = [
        anomaly_starts(a, prepared.single_lens, rho=rho, q_bounds=q_bounds)
        for a in prepared.anomalies
    ]
    starts = {name: np.concatenate([p[name] for p in parts]) for name in PARAMETER_NAMES}
    inside = (starts["s"] >= s_bounds[0]) & (starts["s"] <= s_bounds[1])
    return {name: values[inside] for name, values in starts.items()}


def _candidates_at(
    prepared: _Prepared,
    rho: float,
    n_keep: int,
    s_bounds: tuple[float, float],
    q_bounds: tuple[float, float],
    deadline: float | None,
) -> dict[str, np.ndarray]:
    """The geometry's starts at source size ``rho``, screened coarse then on a local grid."""
    coarse = _coarse_starts(prepared, rho, s_bounds, q_bounds)
    chi2 = _screen(prepared.screen, coarse, deadline)
    best = np.argsort(chi2, kind="stable")[:3]
    best = best[np.isfinite(chi2[best])]
    return _fine_candidates(prepared, coarse, best, n_keep, s_bounds, q_bounds, deadline)


def _fine_candidates(
    prepared: _Prepared,
    coarse: Mapping[str, np.ndarray],
    best: np.ndarray,
    n_keep: int,
    s_bounds: tuple[float, float],
    q_bounds: tuple[float, float],
    deadline: float | None,
) -> dict[str, np.ndarray]:
    """A local grid around the ``best`` rows of ``coarse``, ranked on the epochs near the
    anomalies; its ``n_keep`` best (out of time: the best coarse rows; none when ``best`` is
    empty, i.e. no coarse start was screened in time)."""
    if best.size == 0:
        return _no_candidates()
    fine = _local_grid(
        coarse,
        best,
        log_s_steps=np.linspace(-0.04, 0.04, 9),
        alpha_steps=np.linspace(-4.0, 4.0, 9),
        log_q_steps=np.array([-0.25, 0.0, 0.25]),
    )
    fine["s"] = np.clip(fine["s"], *s_bounds)
    fine["q"] = np.clip(fine["q"], *q_bounds)
    chi2 = _screen(prepared.near, fine, deadline)
    if not np.isfinite(chi2).any():  # out of time: the coarse ranking's best
        keep = best[: int(n_keep)]
        return {name: coarse[name][keep] for name in PARAMETER_NAMES}
    keep = np.argsort(chi2, kind="stable")[: int(n_keep)]
    keep = keep[np.isfinite(chi2[keep])]
    return {name: fine[name][keep] for name in PARAMETER_NAMES}


def _screen(
    likelihood: Likelihood, params: Mapping[str, np.ndarray], deadline: float | None
) -> np.ndarray:
    """chi2 of each parameter set; inf for those not reached by the deadline.

    In batches of 8 without a deadline; with one, a set per process of the likelihood's
    :class:`~mulens_npe.simulate.CurvePool` at a time (a caustic-crossing curve can take a
    second or more, so a batch could overrun the deadline by many).
    """
    n = params["t_0"].size
    chi2 = np.full(n, np.inf)
    pool = getattr(likelihood, "pool", None)
    processes = 1 if pool is None else pool.workers
    batch = max(8, processes) if deadline is None else processes
    for start in range(0, n, batch):
        if deadline is not None and clock.perf_counter() > deadline:
            break
        part = {name: values[start : start + batch] for name, values in params.items()}
        chi2[start : start + batch] = likelihood.chi2(part)
    return chi2


def _around(likelihood: Likelihood, anomalies: list[Anomaly], n_sparse: int) -> Likelihood:
    """The epochs near the anomalies (each widened by twice its length, at least 0.2 d), and
    about ``n_sparse`` evenly spread others to pin the source and blend fluxes."""
    stride = max(1, int(np.ceil(likelihood.n_points / max(n_sparse, 1))))
    lightcurves = []
    for lc in likelihood.lightcurves:
        keep = (np.arange(lc.n_points) % stride == 0) | _near(lc.time, anomalies, 2.0, 0.2)
        if keep.sum() >= 3:
            lightcurves.append(lc.select(keep))
    if not lightcurves:
        return likelihood
    return Likelihood(lightcurves, tolerance=likelihood.tolerance, pool=likelihood.pool)


RHO_LADDER = (1.0, 0.5, 2.0)
"""Source sizes of :func:`anomaly_candidates_ladder`, in units of the given ``rho``."""


def anomaly_candidates_ladder(
    likelihood: Likelihood,
    single_lens: Mapping[str, float],
    *,
    rho: float,
    n_keep: int = 3,
    screen_points: int = 2000,
    s_bounds: tuple[float, float] = (0.2, 5.0),
    q_bounds: tuple[float, float] = (1e-6, 1.0),
    deadline: float | None = None,
    factors: Sequence[float] = RHO_LADDER,
) -> dict[str, np.ndarray]:
    """:func:`anomaly_candidates` with the geometry screened at several source sizes.

    The coarse starts of the anomaly geometry are screened at each size ``rho * factor``
    (two digits; the anomalies and screening subsets found once), in the first half of the
    time to ``deadline``; the three best distinct geometries over all sizes, each at its best
    size, get the local grid of :func:`anomaly_candidates` (one grid, as at one size), whose
    ``n_keep`` best are returned.

    The coarse ranking can turn on the source size: on the example planet (truth rho =
    1e-3) starts with rho = 1.5e-3 or 1.0e-3 put the true s = 1.1 first and 1.2e-3 did not, so
    ``propose`` missed the planet for three of five seeds of the posterior draws, whose
    median rho it used. A local grid per size found it for five of five but cost three times
    the single size's curves, time the polish of strong binaries lacked.
    """
    prepared = _prepare(likelihood, single_lens, screen_points)
    if prepared is None:
        return _no_candidates()
    parts, scores = [], []
    for k, factor in enumerate(factors):
        share = None
        if deadline is not None:
            now = clock.perf_counter()
            share = now + 0.5 * max(deadline - now, 0.0) / (len(factors) - k)
        coarse = _coarse_starts(prepared, float(f"{rho * factor:.2g}"), s_bounds, q_bounds)
        parts.append(coarse)
        scores.append(_screen(prepared.screen, coarse, share))
    pooled = {name: np.concatenate([p[name] for p in parts]) for name in PARAMETER_NAMES}
    chi2 = np.concatenate(scores)
    best = _distinct_geometries(pooled, np.argsort(chi2, kind="stable"), chi2, 3)
    return _fine_candidates(prepared, pooled, best, n_keep, s_bounds, q_bounds, deadline)


def _distinct_geometries(
    starts: Mapping[str, np.ndarray], order: np.ndarray, chi2: np.ndarray, n: int
) -> np.ndarray:
    """The first ``n`` rows of ``order`` with a finite chi2 and an (s, q, alpha) of their own
    (the same geometry at another source size is a repeat)."""
    kept: list[int] = []
    for i in order:
        if len(kept) >= n or not np.isfinite(chi2[i]):
            break
        if all(
            starts["s"][i] != starts["s"][j]
            or starts["q"][i] != starts["q"][j]
            or starts["alpha"][i] != starts["alpha"][j]
            for j in kept
        ):
            kept.append(int(i))
    return np.array(kept, dtype=int)
