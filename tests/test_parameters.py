"""Parameter conventions checked against physics: the same 2L1S parameters must give the same
light curve through MulensModel, pyLIMA and VBMicrolensing, and the symmetries must hold on
computed light curves, not only on numbers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import MulensModel
import numpy as np
import pytest
import VBMicrolensing

from mulens_npe.errors import ConfigurationError
from mulens_npe.parameters import (
    PARAMETER_NAMES,
    VBM_NAMES,
    canonicalize,
    flip_u0,
    from_mulensmodel2,
    from_pylima,
    from_vbm,
    mulensmodel_model,
    time_reverse,
    to_mulensmodel2,
    to_pylima,
    to_vbm,
    vbm_matrix,
    vbm_vector,
    wrap_alpha,
)
from mulens_npe.prior import Prior

TOLERANCE = 1e-4
"""Accuracy asked of every VBMicrolensing call, so that differences measure conventions."""

MAX_RELATIVE_DIFFERENCE = 1e-3


def _u0_through(x: float, y: float, alpha: float) -> float:
    """u_0 of the trajectory at angle alpha [deg] that passes through (x, y) (centre of mass)."""
    a = np.deg2rad(alpha)
    return float(x * np.sin(a) - y * np.cos(a))


def _event(s, q, alpha, point, rho, t_E=20.0, t_0=2460000.0):
    u_0 = _u0_through(*point, alpha)
    return dict(t_0=t_0, u_0=u_0, t_E=t_E, rho=rho, s=s, q=q, alpha=alpha)


# Trajectories aimed at caustics (centroids from VBMicrolensing.Caustics); every set but the
# last is asymmetric under alpha -> alpha + 180, so a wrong alpha or origin convention shows.
EVENTS = {
    "resonant crossing q=0.2": _event(1.0, 0.2, 35.0, (0.05, 0.02), 5e-3),
    "close central crossing q=1e-2": _event(0.5, 1e-2, 70.0, (0.0, 0.002), 1e-3),
    "close planetary crossing s=0.3": _event(0.3, 1e-3, 300.0, (-3.02727, 0.20113), 1e-4),
    "wide planetary crossing q=1e-4": _event(1.6, 1e-4, 20.0, (0.9749, 0.0), 1e-3),
    "wide planetary crossing q=1e-5": _event(2.0, 1e-5, 160.0, (1.49999, 0.0005), 5e-4),
    "central crossing q=1e-5": _event(0.95, 1e-5, 250.0, (0.0, 1e-4), 2e-4),
    "wide equal mass s=3": _event(3.0, 1.0, 80.0, (1.33333, 0.0), 1e-2),
}


def _times(params, n=400, n_zoom=150):
    """A grid over t_0 +- 3.5 t_E, denser around the sharpest feature (the caustic crossing)."""
    t = np.linspace(params["t_0"] - 3.5 * params["t_E"], params["t_0"] + 3.5 * params["t_E"], n)
    k = int(np.argmax(np.abs(np.diff(_vbm_magnification(params, t)))))
    zoom = np.linspace(t[max(k - 3, 0)], t[min(k + 4, n - 1)], n_zoom)
    return np.unique(np.concatenate([t, zoom]))


def _vbm_magnification(params, times):
    vbm = VBMicrolensing.VBMicrolensing()
    vbm.Tol = TOLERANCE
    vbm.RelTol = TOLERANCE
    return np.asarray(vbm.BinaryLightCurve(vbm_vector(params), list(times))[0])


def _mulensmodel_magnification(params, times):
    model = mulensmodel_model(params)
    model.set_magnification_methods_parameters(
        {"vbbl": {"accuracy": TOLERANCE, "relative_accuracy": TOLERANCE}}
    )
    return np.asarray(model.get_magnification(times))


def _pylima_magnification(params, times, fancy, monkeypatch):
    """Magnification from a pyLIMA USBL model with its default (centre-of-mass) origin."""
    from pyLIMA import event, telescopes
    from pyLIMA.magnification import magnification_VBB
    from pyLIMA.models import USBL_model, pyLIMA_fancy_parameters

    monkeypatch.setattr(magnification_VBB.VBM, "Tol", TOLERANCE)
    monkeypatch.setattr(magnification_VBB.VBM, "RelTol", TOLERANCE)
    lightcurve = np.c_[times, np.full_like(times, 19.0), np.full_like(times, 0.01)]
    telescope = telescopes.Telescope(
        name="sim",
        camera_filter="I",
        lightcurve=lightcurve,
        lightcurve_names=["time", "mag", "err_mag"],
        lightcurve_units=["JD", "mag", "mag"],
    )
    pylima_event = event.Event()
    pylima_event.telescopes.append(telescope)
    pylima_event.check_event()
    fancy_parameters = pyLIMA_fancy_parameters.StandardFancyParameters() if fancy else None
    model = USBL_model.USBLmodel(pylima_event, fancy_parameters=fancy_parameters)
    assert model.origin[0] == "center_of_mass"
    converted = to_pylima(params, fancy=fancy)
    vector = [converted[name] for name in model.model_dictionnary if name in converted]
    assert len(vector) == len(PARAMETER_NAMES)
    pylima_parameters = model.compute_pyLIMA_parameters(vector)
    return np.asarray(model.model_magnification(telescope, pylima_parameters)), pylima_parameters


def _max_relative_difference(a, b):
    return float(np.max(np.abs(np.asarray(a) / np.asarray(b) - 1.0)))


@pytest.fixture(scope="module")
def reference_curves():
    """VBMicrolensing light curves of :data:`EVENTS`, computed once."""
    curves = {}
    for name, params in EVENTS.items():
        times = _times(params)
        curves[name] = (times, _vbm_magnification(params, times))
    return curves


# --- the reference sets do what they claim -------------------------------------------------


@pytest.mark.parametrize("name", list(EVENTS))
def test_reference_trajectories_cross_a_caustic(name):
    params = EVENTS[name]
    alpha = np.deg2rad(params["alpha"])
    vbm = VBMicrolensing.VBMicrolensing()
    crossing = False
    for x, y in (np.asarray(c) for c in vbm.Caustics(params["s"], params["q"])):
        offset = x * np.sin(alpha) - y * np.cos(alpha) - params["u_0"]
        tau = -(x * np.cos(alpha) + y * np.sin(alpha))
        crossing |= offset.min() < 0 < offset.max() and np.all(np.abs(tau) < 3.5)
    assert crossing


# --- one geometry in MulensModel, pyLIMA and VBMicrolensing ---------------------------------


@pytest.mark.parametrize("name", list(EVENTS))
def test_mulensmodel_light_curve_matches_vbmicrolensing(name, reference_curves):
    times, reference = reference_curves[name]
    magnification = _mulensmodel_magnification(EVENTS[name], times)
    assert _max_relative_difference(magnification, reference) < MAX_RELATIVE_DIFFERENCE


@pytest.mark.pylima
@pytest.mark.parametrize("fancy", [False, True], ids=["linear", "fancy"])
@pytest.mark.parametrize("name", list(EVENTS))
def test_pylima_light_curve_matches_vbmicrolensing(name, fancy, reference_curves, monkeypatch):
    pytest.importorskip("pyLIMA")
    times, reference = reference_curves[name]
    magnification, _ = _pylima_magnification(EVENTS[name], times, fancy, monkeypatch)
    assert _max_relative_difference(magnification, reference) < MAX_RELATIVE_DIFFERENCE


@pytest.mark.pylima
def test_pylima_reads_fancy_parameters_as_we_write_them(monkeypatch):
    pytest.importorskip("pyLIMA")
    params = EVENTS["wide planetary crossing q=1e-4"]
    times = np.linspace(params["t_0"] - 1.0, params["t_0"] + 1.0, 5)
    _, pylima_parameters = _pylima_magnification(params, times, True, monkeypatch)
    back = from_pylima({k: pylima_parameters[k] for k in to_pylima(params)})
    for name in PARAMETER_NAMES:
        assert back[name] == pytest.approx(params[name], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", ["resonant crossing q=0.2", "wide planetary crossing q=1e-4"])
def test_comparison_detects_wrong_alpha_or_u0_sign(name, reference_curves):
    """The light-curve checks above would fail for alpha + 180, -alpha alone or -u_0 alone."""
    times, reference = reference_curves[name]
    params = EVENTS[name]
    for wrong in (
        {**params, "alpha": params["alpha"] + 180.0},
        {**params, "alpha": -params["alpha"]},
        {**params, "u_0": -params["u_0"]},
    ):
        assert _max_relative_difference(_vbm_magnification(wrong, times), reference) > 0.1


def test_origin_is_the_centre_of_mass():
    """Equal masses: the lens is point-symmetric about the origin only at the centre of mass,
    so alpha -> alpha + 180 (source position -> minus itself) keeps the light curve."""
    params = EVENTS["wide equal mass s=3"]
    times = _times(params)
    turned = {**params, "alpha": params["alpha"] + 180.0}
    difference = _max_relative_difference(
        _mulensmodel_magnification(turned, times), _mulensmodel_magnification(params, times)
    )
    assert difference < MAX_RELATIVE_DIFFERENCE


@pytest.mark.parametrize(("s", "q"), [(1.6, 1e-4), (2.5, 1e-3), (4.0, 1e-5)])
def test_primary_on_negative_x_planet_on_positive_x(s, q):
    """A wide planet's caustic lies s - 1/s from the primary, towards the planet; with the
    primary at -s q / (1 + q) it sits at x = s - 1/s - s q / (1 + q) in both packages."""
    expected = s - 1.0 / s - s * q / (1.0 + q)
    x_mm = np.asarray(MulensModel.CausticsBinary(q=q, s=s).get_caustics(n_points=2000)[0])
    x_vbm = np.concatenate([c[0] for c in VBMicrolensing.VBMicrolensing().Caustics(s, q)])
    for x in (x_mm, x_vbm):
        planetary = x[x > 0.5 * expected]
        assert planetary.mean() == pytest.approx(expected, abs=2 * np.sqrt(q))


# --- symmetries on light curves ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(EVENTS))
def test_flip_u0_keeps_the_light_curve(name, reference_curves):
    times, reference = reference_curves[name]
    flipped = flip_u0(EVENTS[name])
    assert flipped["u_0"] == -EVENTS[name]["u_0"]
    magnification = _vbm_magnification(flipped, times)
    assert _max_relative_difference(magnification, reference) < MAX_RELATIVE_DIFFERENCE


@pytest.mark.parametrize("name", list(EVENTS))
def test_time_reverse_reflects_the_light_curve(name, reference_curves):
    times, reference = reference_curves[name]
    params = EVENTS[name]
    reflected_times = 2.0 * params["t_0"] - times
    magnification = _vbm_magnification(time_reverse(params), reflected_times)
    assert _max_relative_difference(magnification, reference) < MAX_RELATIVE_DIFFERENCE


def test_time_reverse_through_mulensmodel():
    params = EVENTS["resonant crossing q=0.2"]
    times = _times(params)
    reversed_curve = _mulensmodel_magnification(time_reverse(params), 2.0 * params["t_0"] - times)
    difference = _max_relative_difference(reversed_curve, _mulensmodel_magnification(params, times))
    assert difference < MAX_RELATIVE_DIFFERENCE


def test_canonicalize_keeps_the_light_curve():
    rng = np.random.default_rng(3)
    draws = Prior(t_0=(-5.0, 5.0), bounds={"q": (1e-3, 1.0)}).sample(12, rng)
    draws["u_0"] = draws["u_0"] * rng.choice([-1.0, 1.0], size=12)
    draws["alpha"] = draws["alpha"] + rng.choice([-720.0, 0.0, 360.0], size=12)
    canonical = canonicalize(draws)
    assert np.all(canonical["u_0"] >= 0)
    assert np.all((canonical["alpha"] >= 0) & (canonical["alpha"] < 360))
    times = np.linspace(-40.0, 40.0, 300)
    for i in range(12):
        original = {name: float(draws[name][i]) for name in PARAMETER_NAMES}
        mapped = {name: float(canonical[name][i]) for name in PARAMETER_NAMES}
        difference = _max_relative_difference(
            _vbm_magnification(mapped, times), _vbm_magnification(original, times)
        )
        assert difference < MAX_RELATIVE_DIFFERENCE


def test_symmetry_maps_on_numbers():
    params = {"u_0": -0.3, "alpha": 30.0, "s": 1.1}
    assert canonicalize(params) == {"u_0": 0.3, "alpha": 330.0, "s": 1.1}
    assert canonicalize({"u_0": 0.3, "alpha": -30.0}) == {"u_0": 0.3, "alpha": 330.0}
    assert flip_u0(flip_u0(params)) == {**params, "alpha": 30.0}
    assert time_reverse(params)["alpha"] == 150.0
    assert time_reverse(time_reverse(params))["alpha"] == pytest.approx(30.0, abs=1e-12)
    assert isinstance(canonicalize(params)["u_0"], float)
    with pytest.raises(ConfigurationError):
        canonicalize({"u_0": 0.1})


def test_wrap_alpha():
    assert wrap_alpha(-90.0) == 270.0
    assert wrap_alpha(720.0) == 0.0
    assert wrap_alpha(-1e-20) == 0.0  # np.mod would give 360.0
    np.testing.assert_array_equal(wrap_alpha(np.array([-1.0, 361.0])), [359.0, 1.0])


# --- round trips ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def draws():
    """1000 parameter sets spanning the default prior (arrays)."""
    return Prior(t_0=(2460000.0, 2460072.0)).sample(1000, np.random.default_rng(0))


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-12)


def test_vbm_round_trip_vectorised(draws):
    _assert_same(from_vbm(to_vbm(draws)), draws)
    vbm = to_vbm(draws)
    _assert_same(to_vbm(from_vbm(vbm)), vbm)


def test_vbm_round_trip_scalar():
    for params in EVENTS.values():
        back = from_vbm(to_vbm(params))
        _assert_same(back, params)
        assert isinstance(back["alpha"], float)


@pytest.mark.parametrize("fancy", [False, True])
def test_pylima_round_trip_vectorised(draws, fancy):
    _assert_same(from_pylima(to_pylima(draws, fancy=fancy)), draws)


@pytest.mark.parametrize("fancy", [False, True])
def test_pylima_round_trip_scalar(fancy):
    for params in EVENTS.values():
        _assert_same(from_pylima(to_pylima(params, fancy=fancy)), params)


def test_pylima_names_and_units():
    params = EVENTS["resonant crossing q=0.2"]
    linear = to_pylima(params)
    assert sorted(linear) == sorted(["t0", "u0", "tE", "rho", "separation", "mass_ratio", "alpha"])
    assert linear["alpha"] == pytest.approx(np.deg2rad(35.0))
    fancy = to_pylima(params, fancy=True)
    assert fancy["log_tE"] == pytest.approx(np.log10(20.0))
    assert fancy["log_mass_ratio"] == pytest.approx(np.log10(0.2))
    psbl = to_pylima({k: v for k, v in params.items() if k != "rho"})
    assert "rho" not in psbl and "rho" not in from_pylima(psbl)
    with pytest.raises(ConfigurationError, match="tE"):
        from_pylima({k: v for k, v in linear.items() if k != "tE"})
    with pytest.raises(ConfigurationError):
        to_vbm({k: v for k, v in params.items() if k != "rho"})


def test_pylima_fancy_matches_pylima_own_transform():
    pytest.importorskip("pyLIMA")
    from pyLIMA.models import pyLIMA_fancy_parameters

    params = EVENTS["wide planetary crossing q=1e-5"]
    ours = to_pylima(params, fancy=True)
    theirs = pyLIMA_fancy_parameters.StandardFancyParameters()
    linear = to_pylima(params)
    for fancy_name in ("log_tE", "log_rho", "log_separation", "log_mass_ratio"):
        assert getattr(theirs, fancy_name)(linear) == pytest.approx(ours[fancy_name], rel=1e-14)


def test_vbm_matrix(draws):
    matrix = vbm_matrix(draws)
    assert matrix.shape == (1000, 7) and matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix[17], vbm_vector({k: v[17] for k, v in draws.items()}))
    _assert_same(from_vbm(dict(zip(VBM_NAMES, matrix.T, strict=True))), draws)
    assert vbm_matrix(EVENTS["resonant crossing q=0.2"]).shape == (1, 7)
    with pytest.raises(ConfigurationError):
        vbm_matrix({k: np.ones((2, 2)) for k in PARAMETER_NAMES})


def test_vbm_vector_order():
    params = EVENTS["close central crossing q=1e-2"]
    vector = vbm_vector(params)
    assert vector == pytest.approx(
        [
            np.log(params["s"]),
            np.log(params["q"]),
            params["u_0"],
            np.deg2rad(params["alpha"]),
            np.log(params["rho"]),
            np.log(params["t_E"]),
            params["t_0"],
        ],
        rel=1e-15,
    )


# --- old MulensModel and MulensModel objects --------------------------------------------------


def test_mulensmodel2_alpha_is_turned_by_180_degrees(draws):
    old = to_mulensmodel2(draws)
    np.testing.assert_allclose(wrap_alpha(old["alpha"] - draws["alpha"]), 180.0, atol=1e-10)
    _assert_same(from_mulensmodel2(old), draws)
    assert to_mulensmodel2({"alpha": 300.0}) == {"alpha": 120.0}


def test_mulensmodel2_alpha_gives_the_skowron_trajectory():
    """MulensModel < 3 used Skowron et al. (2011): x = tau cos a - u sin a,
    y = tau sin a + u cos a. With alpha_2 from to_mulensmodel2 it is MulensModel 3's path."""
    params = EVENTS["resonant crossing q=0.2"]
    times = np.linspace(params["t_0"] - 30.0, params["t_0"] + 30.0, 7)
    trajectory = MulensModel.Trajectory(times, MulensModel.ModelParameters(params))
    a = np.deg2rad(to_mulensmodel2(params)["alpha"])
    tau = (times - params["t_0"]) / params["t_E"]
    np.testing.assert_allclose(trajectory.x, tau * np.cos(a) - params["u_0"] * np.sin(a))
    np.testing.assert_allclose(trajectory.y, tau * np.sin(a) + params["u_0"] * np.cos(a))


def test_mulensmodel_model():
    params = EVENTS["wide planetary crossing q=1e-4"]
    model = mulensmodel_model(params)
    assert isinstance(model, MulensModel.Model)
    start, method, stop = model.methods
    assert method == "VBBL"
    half_width = (params["s"] - 1.0 / params["s"] + 2.0 + params["rho"]) * params["t_E"]
    assert (start, stop) == pytest.approx((params["t_0"] - half_width, params["t_0"] + half_width))
    custom = mulensmodel_model(params, t_range=(params["t_0"] - 1.0, params["t_0"] + 1.0))
    assert custom.methods == [params["t_0"] - 1.0, "VBBL", params["t_0"] + 1.0]
    point_source = mulensmodel_model({k: v for k, v in params.items() if k != "rho"})
    assert point_source.methods in (None, [])
    with pytest.raises(ConfigurationError):
        mulensmodel_model(params, t_range=(1.0, 0.0))


def test_core_does_not_import_pylima():
    code = (
        "import sys, mulens_npe, mulens_npe.parameters, mulens_npe.prior;"
        "print(any(m.split('.')[0] == 'pyLIMA' for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_conventions_doc_example_runs(capsys):
    doc = Path(__file__).resolve().parents[1] / "docs" / "conventions.md"
    if not doc.exists():
        pytest.skip("docs/conventions.md is not next to the tests")
    code = re.search(r"```python\n(.*?)```", doc.read_text(), re.S).group(1)
    exec(compile(code, str(doc), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[2] == "True" and printed[3] == "340.0"
