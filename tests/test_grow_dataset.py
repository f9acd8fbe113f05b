"""tools/grow_dataset.py: a grown dataset is the larger simulation, reusing the old chunks."""

from dataclasses import replace

import numpy as np
import pytest

from mulens_npe.errors import ConfigurationError
from mulens_npe.simulate.dataset import SimulationDataset
from mulens_npe.simulate.runner import simulate
from tests.tiny import TINY_SIMULATION, simulate_tiny
from tests.tool_modules import load_tool


def test_grown_dataset_equals_the_larger_simulation_and_leaves_the_old_one_alone(tmp_path):
    tool = load_tool("grow_dataset")
    source = simulate_tiny(tmp_path / "small")  # 48 curves, 2 chunks
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    pending = tool.grow(source, tmp_path / "grown", 96)
    assert pending == [2, 3]  # only the new chunks are left to compute
    larger = replace(TINY_SIMULATION, n=96)
    # the resume (`mulens-npe simulate --out grown`) with the config its manifest records
    simulate(larger, tmp_path / "grown", workers=1, progress=False)
    simulate(larger, tmp_path / "fresh", workers=1, progress=False)
    grown, direct = (
        SimulationDataset(tmp_path / "grown")[:],
        SimulationDataset(tmp_path / "fresh")[:],
    )
    assert grown.params.shape == (96, 7)
    np.testing.assert_array_equal(grown.params, direct.params)
    np.testing.assert_array_equal(grown.log_weight, direct.log_weight)
    np.testing.assert_array_equal(grown.magnification, direct.magnification)
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before


def test_grow_refuses_a_smaller_n_and_a_used_directory(tmp_path):
    tool = load_tool("grow_dataset")
    source = simulate_tiny(tmp_path / "small")
    with pytest.raises(ConfigurationError, match="larger than the 48"):
        tool.grow(source, tmp_path / "grown", 48)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigurationError, match="not empty"):
        tool.grow(source, tmp_path / "used", 96)
    assert (tmp_path / "used" / "notes.txt").read_text() == "mine"
