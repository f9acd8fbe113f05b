"""Flow coordinates: physical parameters <-> torus, exact round trip inside the bounds."""

import numpy as np

from mulens_npe.features import FeatureMap
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
