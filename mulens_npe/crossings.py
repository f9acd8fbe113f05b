"""Polishing a caustic-crossing model in caustic-crossing coordinates (Cassan 2008).

In the usual coordinates ``(t_0, u_0, t_E, alpha, s, q, rho)`` the chi2 minimum of a strong
caustic crossing is a narrow, curved valley: changing ``s`` or ``q`` by a little moves the
caustic, so the model's crossing times move away from the data's and the chi2 jumps by
thousands. A local optimiser started near the minimum (0.01 dex in ``s``, a few degrees in
``alpha``) therefore often stops short of it. Cassan (2008, A&A 491, 587) removes that
coupling by describing the trajectory through two points *on the caustic* and the times the
source passes them:

* ``t_a, t_b`` [d]: the times of two caustic crossings;
* ``phi_a, phi_b`` [rad]: where on the caustic they happen, as the phase of the critical-curve
  equation ``m_1 / (z - z_1)^2 + m_2 / (z - z_2)^2 = exp(i phi)`` (each ``phi`` gives four
  critical points; a crossing follows the one nearest its reference point, so a small change
  of ``s`` or ``q`` keeps it on the same stretch of caustic);
* ``s, q, rho`` as usual.

A change of ``s`` or ``q`` in these coordinates keeps the crossings at the data's times, and
``t_0, u_0, t_E, alpha`` follow: the straight line through the two caustic points, walked in
``t_b - t_a``. Where the two crossings are close (a caustic's tip clipped in an hour) that
line is poorly defined, so one crossing can be held instead: ``t_a, phi_a`` with ``t_E`` and
``alpha`` free. :func:`crossing_coordinates` gives either set for a model whose trajectory
crosses its caustics (:func:`trajectory_crossings` finds where);
:func:`mulens_npe.polish.crossing_polish` runs the usual bounded trust-region least squares
in them.

Frame: MulensModel 3.x, origin at the centre of mass, primary at ``x = -s q / (1 + q)``,
secondary at ``x = s / (1 + q)``; the source at ``-(tau cos alpha - u_0 sin alpha,
tau sin alpha + u_0 cos alpha)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = [
    "critical_points",
    "caustic_point",
    "trajectory_crossings",
    "from_crossing",
    "from_crossings",
    "crossing_coordinates",
]

_N_PHASES = 2048
"""Phases sampled when a crossing is first located on the caustic."""

_STEPS_TWO = np.array([1e-7, 1e-7, 1e-6, 1e-6, 1e-6, 1e-5, 1e-5])
"""Forward-difference steps in ``(t_a, t_b)`` [units of t_E], ``phi_a, phi_b`` [rad],
``ln s``, ``ln q``, ``ln rho``."""

_STEPS_ONE = np.array([1e-7, 1e-6, 1e-6, 1e-6, 1e-6, 1e-5, 1e-5])
"""The same for one crossing: ``t_a``, ``phi_a``, ``ln t_E``, ``alpha`` [rad], ``ln s``,
``ln q``, ``ln rho``."""


def _lenses(s: float, q: float) -> tuple[float, float, float, float]:
    """Mass fractions and positions on the x axis: ``m_1, m_2, x_1, x_2``."""
    m_1, m_2 = 1.0 / (1.0 + q), q / (1.0 + q)
    return m_1, m_2, -s * m_2, s * m_1


def critical_points(s: float, q: float, phi: np.ndarray) -> np.ndarray:
    """The four critical points at each phase ``phi`` [rad], complex, shape ``(n, 4)``.

    Roots of ``exp(i phi) (z - x_1)^2 (z - x_2)^2 - m_1 (z - x_2)^2 - m_2 (z - x_1)^2 = 0``.
    """
    m_1, m_2, a, b = _lenses(s, q)
    phi = np.atleast_1d(np.asarray(phi, dtype=float))
    e = np.exp(1j * phi)
    quartic = np.array(
        [1.0, -2 * (a + b), a * a + 4 * a * b + b * b, -2 * a * b * (a + b), a * a * b * b]
    )
    quadratic = np.array([0.0, 0.0, m_1 + m_2, -2 * (m_1 * b + m_2 * a), m_1 * b * b + m_2 * a * a])
    coefficients = e[:, None] * quartic[None, :] - quadratic[None, :]
    monic = coefficients[:, 1:] / coefficients[:, :1]
    companion = np.zeros((phi.size, 4, 4), dtype=complex)
    companion[:, 0, :] = -monic
    companion[:, 1, 0] = companion[:, 2, 1] = companion[:, 3, 2] = 1.0
    return np.linalg.eigvals(companion)


def caustic_point(s: float, q: float, z: np.ndarray) -> np.ndarray:
    """The source-plane image of lens-plane points ``z`` (complex): the lens equation."""
    m_1, m_2, a, b = _lenses(s, q)
    zc = np.conj(z)
    return z - m_1 / (zc - a) - m_2 / (zc - b)


def _frame(alpha_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Direction of motion and the line's normal: position = tau * e + u_0 * n."""
    alpha = np.deg2rad(alpha_deg)
    return np.array([-np.cos(alpha), -np.sin(alpha)]), np.array([np.sin(alpha), -np.cos(alpha)])


def _nearest_root(s: float, q: float, phi: float, z_ref: complex) -> complex:
    roots = critical_points(s, q, np.array([phi]))[0]
    return complex(roots[np.argmin(np.abs(roots - z_ref))])


def trajectory_crossings(params: Mapping[str, float]) -> list[tuple[float, float, complex]]:
    """Where a model's trajectory crosses its caustics: ``(time, phi, z)`` sorted by time.

    The caustics are sampled at :data:`_N_PHASES` phases; each sign change of the distance
    from the trajectory's line along a branch is refined by the secant method on the phase
    (following the nearest critical point).
    """
    s, q = float(params["s"]), float(params["q"])
    e, n = _frame(float(params["alpha"]))
    u_0, t_0, t_e = float(params["u_0"]), float(params["t_0"]), float(params["t_E"])
    phases = np.linspace(0.0, 2 * np.pi, _N_PHASES + 1)  # closed: branches may swap over a turn
    roots = critical_points(s, q, phases)  # (N, 4)
    # follow each branch along the phases: the root nearest the previous one
    branches = np.empty_like(roots)
    branches[0] = roots[0]
    for k in range(1, phases.size):
        previous = branches[k - 1]
        order = np.argmin(np.abs(roots[k][None, :] - previous[:, None]), axis=1)
        if np.unique(order).size < 4:  # ambiguous near a cusp of the ordering: keep as found
            order = _assign(roots[k], previous)
        branches[k] = roots[k][order]
    points = caustic_point(s, q, branches)  # (N, 4)
    distance = points.real * n[0] + points.imag * n[1] - u_0
    out = []
    for j in range(4):
        d = distance[:, j]
        for k in np.nonzero(np.sign(d[:-1]) != np.sign(d[1:]))[0]:
            phi = _refine_phase(
                s, q, phases[k], phases[k + 1], d[k], d[k + 1], branches[k, j], n, u_0
            )
            if phi is None:
                continue
            z = _nearest_root(s, q, phi, branches[k, j])
            point = caustic_point(s, q, z)
            tau = point.real * e[0] + point.imag * e[1]
            out.append((t_0 + tau * t_e, float(phi % (2 * np.pi)), z))
    out.sort(key=lambda c: c[0])
    return out


def _assign(roots: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Greedy one-to-one assignment of ``roots`` to ``previous`` by distance."""
    cost = np.abs(roots[None, :] - previous[:, None])
    order = np.full(4, -1)
    taken: set[int] = set()
    for flat in np.argsort(cost, axis=None):
        i, j = divmod(int(flat), 4)
        if order[i] < 0 and j not in taken:
            order[i] = j
            taken.add(j)
    return order


def _refine_phase(
    s: float,
    q: float,
    lo: float,
    hi: float,
    d_lo: float,
    d_hi: float,
    z_ref: complex,
    n: np.ndarray,
    u_0: float,
    steps: int = 30,
) -> float | None:
    """The phase in ``[lo, hi]`` [rad] where the branch's caustic point lies on the line.

    ``d_lo``, ``d_hi``: signed distances from the line (Einstein radii) at the two ends;
    regula falsi on the phase, following the critical point nearest ``z_ref``.
    """
    for _ in range(steps):
        if d_hi == d_lo:
            break
        mid = hi - d_hi * (hi - lo) / (d_hi - d_lo)
        if not lo < mid < hi:
            mid = 0.5 * (lo + hi)
        z = _nearest_root(s, q, mid, z_ref)
        p = caustic_point(s, q, z)
        d = p.real * n[0] + p.imag * n[1] - u_0
        if abs(d) < 1e-12:
            return mid
        if np.sign(d) == np.sign(d_lo):
            lo, d_lo = mid, d
        else:
            hi, d_hi = mid, d
        if hi - lo < 1e-13:
            break
    return 0.5 * (lo + hi) if np.isfinite(lo + hi) else None


def from_crossings(
    s: float,
    q: float,
    rho: float,
    t_a: float,
    t_b: float,
    phi_a: float,
    phi_b: float,
    z_a: complex,
    z_b: complex,
) -> dict[str, float]:
    """MulensModel parameters of the trajectory through two caustic points at two times.

    ``z_a, z_b`` are reference critical points: at each phase the nearest of the four is
    taken. ``u_0`` may come out negative (the mirror trajectory: the same light curve).
    """
    p_a = caustic_point(s, q, _nearest_root(s, q, phi_a, z_a))
    p_b = caustic_point(s, q, _nearest_root(s, q, phi_b, z_b))
    step = np.array([p_b.real - p_a.real, p_b.imag - p_a.imag])
    length = float(np.hypot(*step))
    e = step / length * np.sign(t_b - t_a)
    alpha = float(np.arctan2(-e[1], -e[0]))
    return from_crossing(s, q, rho, t_a, phi_a, z_a, abs(t_b - t_a) / length, np.rad2deg(alpha))


def from_crossing(
    s: float,
    q: float,
    rho: float,
    t_a: float,
    phi_a: float,
    z_a: complex,
    t_e: float,
    alpha: float,
) -> dict[str, float]:
    """MulensModel parameters of the trajectory through one caustic point at time ``t_a``,
    moving in direction ``alpha`` [deg] at one Einstein radius per ``t_e`` days."""
    p_a = caustic_point(s, q, _nearest_root(s, q, phi_a, z_a))
    e, n = _frame(alpha)
    u_0 = float(p_a.real * n[0] + p_a.imag * n[1])
    tau_a = float(p_a.real * e[0] + p_a.imag * e[1])
    return {
        "t_0": t_a - tau_a * t_e,
        "u_0": u_0,
        "t_E": float(t_e),
        "rho": rho,
        "s": s,
        "q": q,
        "alpha": float(alpha),
    }


def crossing_coordinates(
    start: Mapping[str, float], anchor: tuple[int, ...]
) -> tuple[np.ndarray, Callable[[np.ndarray], dict[str, float]], np.ndarray] | None:
    """Start vector, map to MulensModel parameters and forward-difference steps of one
    anchoring of ``start``'s crossings (indices in time order), or None where it has no such
    crossings.

    ``anchor = (i, j)``: ``(t_a, t_b)`` [units of t_E from t_a], ``phi_a, phi_b``, ``ln s``,
    ``ln q``, ``ln rho``. ``anchor = (i,)``: ``t_a``, ``phi_a``, ``ln t_E``, ``alpha``
    [rad], ``ln s``, ``ln q``, ``ln rho``.
    """
    crossings = trajectory_crossings(start)
    try:
        chosen = [crossings[k] for k in anchor]
    except IndexError:
        return None
    t_a, phi_a, z_a = chosen[0]
    t_scale = float(start["t_E"])
    tail = [np.log(float(start[k])) for k in ("s", "q", "rho")]
    if len(anchor) == 2:
        t_b, phi_b, z_b = chosen[1]
        if t_b - t_a <= 0:
            return None
        x0 = np.array([0.0, (t_b - t_a) / t_scale, phi_a, phi_b, *tail])

        def to_params(x: np.ndarray) -> dict[str, float]:
            return from_crossings(
                *np.exp(x[4:7]), t_a + t_scale * x[0], t_a + t_scale * x[1], x[2], x[3], z_a, z_b
            )

    else:
        x0 = np.array([0.0, phi_a, np.log(t_scale), np.deg2rad(float(start["alpha"])), *tail])

        def to_params(x: np.ndarray) -> dict[str, float]:
            return from_crossing(
                *np.exp(x[4:7]), t_a + t_scale * x[0], x[1], z_a, np.exp(x[2]), np.rad2deg(x[3])
            )

    return x0, to_params, _STEPS_TWO if len(anchor) == 2 else _STEPS_ONE
