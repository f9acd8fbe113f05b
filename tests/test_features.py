"""Flow coordinates: physical parameters <-> torus, exact round trip inside the bounds."""

import numpy as np

from mulens_npe.features import FeatureMap
from mulens_npe.parameters import PARAMETER_NAMES
from mulens_npe.prior import Prior


def _map():
    return FeatureMap.from_prior(Prior(t_0=(2461447.75, 2461519.75)))


def test_round_trip_and_range():
    fmap = _map()
    rng = np.random.default_rng(0)
    params = Prior(t_0=(2461460.0, 2461470.0)).sample(500, rng)
    params["u_0"] = np.clip(params["u_0"], 1e-3, None)
    z = fmap.to_torus(params, t_ref=2461465.0, t_scale=params["t_E"] * 1.3)
    assert z.shape == (500, 7)
    assert np.all(z >= -np.pi) and np.all(z < np.pi)
    back = fmap.from_torus(z, t_ref=2461465.0, t_scale=params["t_E"] * 1.3)
    inside = np.abs(params["t_0"] - 2461465.0) < 3 * params["t_E"] * 1.3
    for name in ("u_0", "t_E", "rho", "s", "q", "alpha"):
        np.testing.assert_allclose(back[name], params[name], rtol=1e-9)
    np.testing.assert_allclose(back["t_0"][inside], params["t_0"][inside], rtol=1e-12)


def test_alpha_is_circular():
    fmap = _map()
    p = {"t_0": 0.0, "t_E": 1.0, "u_0": 0.1, "rho": 1e-3, "s": 1.0, "q": 1e-3}
    z359 = fmap.to_torus({**p, "alpha": 359.0}, 0.0, 1.0)
    z1 = fmap.to_torus({**p, "alpha": 1.0}, 0.0, 1.0)
    # 359 deg and 1 deg are 2 degrees apart on the circle
    d = np.angle(np.exp(1j * (z359[..., 6] - z1[..., 6])))
    assert abs(np.rad2deg(abs(d)) - 2.0) < 1e-9


def test_dict_round_trip():
    fmap = _map()
    assert FeatureMap.from_dict(fmap.to_dict()) == fmap


def _squashed():
    return FeatureMap.from_prior(Prior(t_0=(2461447.75, 2461519.75)), squash=("t_0", "t_E"))


def test_squashed_map_represents_values_beyond_the_linear_range():
    fmap, linear = _squashed(), _map()
    t_ref, t_scale = 2461465.0, 4.0
    # a faint event whose single-lens estimate is far off: t_0 30 t_scale away, t_E 60 t_scale
    p = {"t_0": t_ref + 30 * t_scale, "t_E": 60 * t_scale, "u_0": 1.3, "rho": 1e-3}
    p.update({"s": 1.0, "q": 1e-3, "alpha": 10.0})
    back_linear = linear.from_torus(linear.to_torus(p, t_ref, t_scale), t_ref, t_scale)
    back = fmap.from_torus(fmap.to_torus(p, t_ref, t_scale), t_ref, t_scale)
    # the linear map clips to 3 t_scale and e^3.5 t_scale; the squashed one keeps them
    assert abs(back_linear["t_0"] - t_ref) < 3.01 * t_scale
    assert back_linear["t_E"] < np.exp(3.51) * t_scale
    np.testing.assert_allclose(back["t_0"], p["t_0"], rtol=1e-9)
    np.testing.assert_allclose(back["t_E"], p["t_E"], rtol=1e-6)
    for name in ("u_0", "rho", "s", "q", "alpha"):
        np.testing.assert_allclose(back[name], back_linear[name], rtol=1e-9)


def test_squashed_map_has_the_linear_slope_at_the_centre_and_is_monotone():
    fmap, linear = _squashed(), _map()
    x = np.linspace(-200.0, 200.0, 4001)
    p = {"t_0": x, "t_E": np.exp(np.clip(x, -300, 300)), "u_0": 0.1, "rho": 1e-3}
    p.update({"s": 1.0, "q": 1e-3, "alpha": 0.0})
    z = fmap.to_torus(p, 0.0, 1.0)
    for i in (PARAMETER_NAMES.index("t_0"), PARAMETER_NAMES.index("t_E")):
        assert np.all(np.diff(z[:, i]) > 0) and np.all(np.abs(z[:, i]) < np.pi)
    small = {**p, "t_0": np.array([-1e-4, 1e-4]), "t_E": np.exp([-1e-4, 1e-4])}
    dz = np.diff(fmap.to_torus(small, 0.0, 1.0), axis=0)[0]
    dz_linear = np.diff(linear.to_torus(small, 0.0, 1.0), axis=0)[0]
    np.testing.assert_allclose(dz, dz_linear, rtol=1e-6)
    # the old edge (3 t_scale) maps to 2 atan(pi / 2) ~ 2.0 rad
    edge = fmap.to_torus({**p, "t_0": 3.0, "t_E": 1.0}, 0.0, 1.0)
    np.testing.assert_allclose(edge[0], 2 * np.arctan(np.pi / 2), rtol=1e-12)


def test_log_abs_det_matches_a_finite_difference():
    fmap = _squashed()
    p = {"t_0": 5.0, "t_E": 3.0, "u_0": 0.3, "rho": 1e-3, "s": 1.2, "q": 1e-3, "alpha": 40.0}
    t_ref, t_scale = 1.0, 2.0
    h = 1e-6
    expected = 0.0
    for name in ("t_0", "t_E"):
        i = PARAMETER_NAMES.index(name)
        raw = (p["t_0"] - t_ref) / t_scale if name == "t_0" else np.log(p["t_E"] / t_scale)
        shifted = dict(p)
        shifted[name] = t_ref + (raw + h) * t_scale if name == "t_0" else t_scale * np.exp(raw + h)
        z0 = fmap.to_torus(p, t_ref, t_scale)[i]
        z1 = fmap.to_torus(shifted, t_ref, t_scale)[i]
        expected += np.log((z1 - z0) / h)
    for name in ("u_0", "rho", "s", "q"):
        low, high = fmap.bounds[name]
        expected += np.log(2 * np.pi / (high - low))
    z = fmap.to_torus(p, t_ref, t_scale)
    np.testing.assert_allclose(fmap.log_abs_det(z), expected, rtol=1e-5)
    # the linear map's slope is constant; inside its range both maps agree on which is inside
    linear = _map()
    assert fmap.inside_linear_range(z) and not fmap.inside_linear_range(
        fmap.to_torus({**p, "t_0": t_ref + 3.5 * t_scale}, t_ref, t_scale)
    )
    assert linear.inside_linear_range(linear.to_torus(p, t_ref, t_scale))
    assert not linear.inside_linear_range(
        linear.to_torus({**p, "t_E": t_scale * np.exp(3.6)}, t_ref, t_scale)
    )


def test_squash_round_trips_through_the_card_and_old_cards_stay_linear():
    fmap = _squashed()
    assert FeatureMap.from_dict(fmap.to_dict()) == fmap
    assert "squash" not in _map().to_dict()
    assert FeatureMap.from_dict(_map().to_dict()).squash == ()
    import pytest

    from mulens_npe.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="only t_0 and t_E"):
        FeatureMap(bounds=_map().bounds, squash=("q",))
    with pytest.raises(ConfigurationError, match="squash must be a list"):
        FeatureMap.from_dict({**_map().to_dict(), "squash": "t_0"})
