"""Shared fixtures: real photometry shipped with MulensModel and small seeded light curves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per pytest-xdist worker: the workers already share the cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


# Reading the OB03235 IPAC files with numpy/MulensModel: skip the "\KEY" and "| name |" lines.
IPAC_COMMENTS = ["\\", "|"]


@pytest.fixture(scope="session")
def mulensmodel_data_path() -> Path:
    import MulensModel

    return Path(MulensModel.DATA_PATH)


@pytest.fixture(scope="session")
def ogle_path(mulensmodel_data_path: Path) -> Path:
    """OGLE-2003-BLG-235, OGLE I band: IPAC table of JD, relative magnitude, error (285 rows)."""
    return mulensmodel_data_path / "photometry_files" / "OB03235" / "OB03235_OGLE.tbl.txt"


@pytest.fixture(scope="session")
def moa_path(mulensmodel_data_path: Path) -> Path:
    """The same event seen by MOA: HJD, difference flux (403 of 1250 values <= 0), error."""
    return mulensmodel_data_path / "photometry_files" / "OB03235" / "OB03235_MOA.tbl.txt"


@pytest.fixture(scope="session")
def wfirst_path(mulensmodel_data_path: Path) -> Path:
    """Simulated WFIRST light curve: plain text, 3 columns, full BJD, magnitudes."""
    return mulensmodel_data_path / "WFIRST_1827.dat"


@pytest.fixture(scope="session")
def ogle_columns(ogle_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, mag, mag_err) of the OGLE file, read independently of mulens_npe."""
    return tuple(np.loadtxt(ogle_path, comments=IPAC_COMMENTS, unpack=True))


@pytest.fixture(scope="session")
def moa_columns(moa_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, flux, flux_err) of the MOA file, read independently of mulens_npe."""
    return tuple(np.loadtxt(moa_path, comments=IPAC_COMMENTS, unpack=True))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def simple_mag(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sorted, valid 30-point magnitude light curve (time, mag, mag_err) in full JD."""
    time = 2460000.0 + np.sort(rng.uniform(0.0, 60.0, 30))
    mag = 19.0 + 0.05 * rng.standard_normal(30)
    return time, mag, np.full(30, 0.02)


@pytest.fixture
def make_telescope():
    """Factory for pyLIMA Telescopes; skips the test when pyLIMA (optional) is not installed."""
    pytest.importorskip("pyLIMA", reason="pyLIMA is an optional dependency")
    from pyLIMA import telescopes

    def make(name: str, columns, phot_fmt: str, camera_filter: str = "I"):
        if phot_fmt == "mag":
            names, units = ["time", "mag", "err_mag"], ["JD", "mag", "mag"]
        else:
            names, units = ["time", "flux", "err_flux"], ["JD", "W/m^2", "W/m^2"]
        return telescopes.Telescope(
            name=name,
            camera_filter=camera_filter,
            lightcurve=np.column_stack(columns),
            lightcurve_names=names,
            lightcurve_units=units,
        )

    return make


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A model folder trained for two steps on 48 short simulated events (a few seconds).

    Its posteriors are poor: tests that use it check the machinery (files, tables, exit
    codes), not accuracy.
    """
    from mulens_npe.training import train
    from tests.tiny import TINY_TRAINING, simulate_tiny

    root = tmp_path_factory.mktemp("tiny-model")
    train(simulate_tiny(root / "sim"), root / "model", TINY_TRAINING, progress=False)
    return root / "model"


@pytest.fixture(scope="session")
def tiny_event_file(tmp_path_factory) -> Path:
    """A short simulated binary-lens event (168 hourly epochs) as a 3-column magnitude file."""
    from proposal_helpers import TRUTH, simulated_event

    from mulens_npe.simulate.augment import write_lightcurve

    path = tmp_path_factory.mktemp("events") / "tiny_event.dat"
    write_lightcurve(simulated_event(), path, params=TRUTH)
    return path
