"""tools/pack_simulations.py: a packed dataset unpacks into an equivalent dataset folder."""

import numpy as np

from mulens_npe.simulate.dataset import SimulationDataset
from tests.tiny import simulate_tiny
from tests.tool_modules import load_tool


def test_pack_round_trip_keeps_parameters_exactly_and_magnification_to_its_step(tmp_path):
    tool = load_tool("pack_simulations")
    source = simulate_tiny(tmp_path / "sim")
    packed, unpacked = tmp_path / "packed", tmp_path / "unpacked"
    packed.mkdir()
    unpacked.mkdir()
    for name in ("manifest.json", "grid.h5"):
        (packed / name).write_bytes((source / name).read_bytes())
        (unpacked / name).write_bytes((source / name).read_bytes())
    chunks = sorted(source.glob("chunk_*.h5"))
    for chunk in chunks:
        tool.pack_chunk(chunk, packed / f"{chunk.stem}.npz")
    for index, chunk in enumerate(sorted(packed.glob("chunk_*.npz"))):
        tool.unpack_chunk(chunk, unpacked, index)
    original, restored = SimulationDataset(source), SimulationDataset(unpacked)
    assert len(restored) == len(original)
    a, b = original[:], restored[:]
    assert np.array_equal(a.params, b.params) and np.array_equal(a.log_weight, b.log_weight)
    # ln A quantised in steps of STEP: the relative error is at most STEP / 2 (+ float32)
    relative = np.abs(b.magnification / a.magnification - 1.0)
    assert relative.max() <= tool.STEP / 2 + 1e-6
    assert sum(f.stat().st_size for f in packed.glob("*.npz")) < sum(
        f.stat().st_size for f in chunks
    )
