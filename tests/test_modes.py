"""Mode finding: degenerate solutions stay apart, one solution stays one, alpha is circular."""

import numpy as np
import pytest
from astropy.table import Table

from mulens_npe.errors import ConfigurationError
from mulens_npe.modes import circular_mean, find_modes
from mulens_npe.parameters import flip_u0
from mulens_npe.simulate.magnification import binary_magnification


def _mode(rng, n, s, q, alpha, ds=0.01, dq=0.05, dalpha=1.0, u_0=0.1):
    """n samples around (s, q, alpha): log-normal in s and q (dex), normal in alpha (deg)."""
    return {
        "t_0": 2461480.0 + rng.normal(0.0, 0.01, n),
        "u_0": np.abs(rng.normal(u_0, 0.005, n)),
        "t_E": 20.0 * 10 ** rng.normal(0.0, 0.01, n),
        "rho": 1e-3 * 10 ** rng.normal(0.0, 0.1, n),
        "s": s * 10 ** rng.normal(0.0, ds, n),
        "q": q * 10 ** rng.normal(0.0, dq, n),
        "alpha": np.mod(rng.normal(alpha, dalpha, n), 360.0),
    }


def _concat(*parts):
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def test_close_wide_pair_gives_two_modes_at_s_and_one_over_s():
    rng = np.random.default_rng(1)
    samples = _concat(_mode(rng, 3000, 0.8, 1e-3, 60.0), _mode(rng, 2000, 1 / 0.8, 1e-3, 60.0))
    modes = find_modes(samples)
    assert len(modes) == 2
    close, wide = modes  # heaviest first
    assert close.label == "close" and wide.label == "wide"
    assert close.center["s"] == pytest.approx(0.8, rel=0.01)
    assert wide.center["s"] == pytest.approx(1.25, rel=0.01)
    assert close.weight == pytest.approx(0.6, abs=0.01) and wide.weight == pytest.approx(
        0.4, abs=0.01
    )
    # every sample lands in the mode it was drawn from
    assert np.all(close.indices < 3000) and np.all(wide.indices >= 3000)


def test_inner_outer_pair_separates_next_to_a_far_close_wide_twin():
    """Modes 0.012 dex apart in s split even when a far mode sets the first histogram's range."""
    rng = np.random.default_rng(2)
    samples = _concat(
        _mode(rng, 3000, 1.05, 1e-4, 30.0, ds=0.002, dalpha=0.3),
        _mode(rng, 2500, 1.08, 1e-4, 30.0, ds=0.002, dalpha=0.3),
        _mode(rng, 2000, 1 / 1.065, 1e-4, 30.0, ds=0.002, dalpha=0.3),
    )
    modes = find_modes(samples)
    assert sorted(round(m.center["s"], 2) for m in modes) == [0.94, 1.05, 1.08]


def test_one_broad_mode_stays_one():
    rng = np.random.default_rng(3)
    samples = _mode(rng, 5000, 1.1, 1e-3, 60.0, ds=0.05, dq=0.3, dalpha=10.0)
    [mode] = find_modes(samples)
    assert mode.weight > 0.99
    assert mode.center["q"] == pytest.approx(1e-3, rel=0.05)


def test_alpha_is_circular():
    """A mode straddling alpha = 0/360 is one mode, centred near 0, not two at 0 and 360."""
    rng = np.random.default_rng(4)
    samples = _mode(rng, 4000, 1.1, 1e-3, 0.0, dalpha=3.0)
    assert np.mean(samples["alpha"] > 180) == pytest.approx(0.5, abs=0.05)
    [mode] = find_modes(samples)
    offset = (mode.center["alpha"] + 180.0) % 360.0 - 180.0
    assert abs(offset) < 0.5
    assert mode.spread["alpha"] == pytest.approx(3.0, rel=0.15)


def test_modes_differing_only_in_alpha_separate():
    rng = np.random.default_rng(5)
    samples = _concat(_mode(rng, 2000, 1.1, 1e-3, 10.0), _mode(rng, 2000, 1.1, 1e-3, 350.0 - 90.0))
    assert len(find_modes(samples)) == 2


def test_mirrored_samples_join_their_canonical_mode_and_the_mirror_has_the_same_light_curve():
    rng = np.random.default_rng(6)
    samples = _mode(rng, 4000, 1.1, 1e-3, 60.0)
    half = np.arange(4000) % 2 == 0
    mirrored = flip_u0({k: v[half] for k, v in samples.items()})
    for name in ("u_0", "alpha"):
        samples[name][half] = mirrored[name]
    [mode] = find_modes(samples)
    assert mode.center["u_0"] > 0 and abs(mode.center["alpha"] - 60.0) < 0.5
    mirror = mode.mirror()
    assert mirror["u_0"] == -mode.center["u_0"]
    times = mode.center["t_0"] + np.linspace(-30.0, 30.0, 300)
    np.testing.assert_allclose(
        binary_magnification(mirror, times), binary_magnification(mode.center, times), rtol=2e-3
    )


def test_light_modes_are_dropped_and_results_are_deterministic():
    rng = np.random.default_rng(7)
    samples = Table(_concat(_mode(rng, 4000, 0.7, 1e-2, 100.0), _mode(rng, 20, 3.0, 1e-5, 250.0)))
    modes = find_modes(samples, min_weight=0.01)
    assert len(modes) == 1 and modes[0].label == "close"
    assert len(find_modes(samples, min_weight=0.001)) == 2
    again = find_modes(samples, min_weight=0.001)
    for a, b in zip(find_modes(samples, min_weight=0.001), again, strict=True):
        np.testing.assert_array_equal(a.indices, b.indices)
    assert len(find_modes(samples, min_weight=0.001, max_modes=1)) == 1


def test_circular_mean():
    wrapped = circular_mean(np.array([350.0, 10.0]))
    assert 0.0 <= wrapped < 360.0 and abs((wrapped + 180.0) % 360.0 - 180.0) < 1e-9
    assert circular_mean(np.array([80.0, 100.0])) == pytest.approx(90.0)


def test_bad_input_raises_library_errors():
    rng = np.random.default_rng(8)
    good = _mode(rng, 100, 1.1, 1e-3, 60.0)
    with pytest.raises(ConfigurationError, match="lack"):
        find_modes({k: v for k, v in good.items() if k != "q"})
    with pytest.raises(ConfigurationError, match="non-finite"):
        find_modes({**good, "s": np.where(np.arange(100) == 3, np.nan, good["s"])})
    with pytest.raises(ConfigurationError, match="> 0"):
        find_modes({**good, "q": -good["q"]})
    with pytest.raises(ConfigurationError, match="equally long"):
        find_modes({**good, "s": good["s"][:50]})
    with pytest.raises(ConfigurationError):
        find_modes(good, saddle_ratio=1.5)
    with pytest.raises(ConfigurationError):
        find_modes(good, min_weight=1.0)
