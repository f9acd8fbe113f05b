"""Training under torchrun (DistributedDataParallel, gloo on CPU) writes one consistent model."""

import json
import os
import subprocess
import sys

import pytest

from mulens_npe.artifact import load_model
from tests.test_training import TINY
from tests.tiny import simulate_tiny

pytestmark = pytest.mark.slow


TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")


@pytest.mark.skipif(not os.path.exists(TORCHRUN), reason="torchrun is not installed beside python")
def test_two_process_ddp_training(tmp_path):
    data = simulate_tiny(tmp_path / "sim")
    config = tmp_path / "train.json"
    config.write_text(json.dumps(TINY.to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            TORCHRUN,
            "--nproc_per_node",
            "2",
            "-m",
            "mulens_npe.cli",
            "train",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "model"),
            "--config",
            str(config),
            "--device",
            "cpu",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("model written") == 1  # only rank 0 reports
    model = load_model(tmp_path / "model")
    assert model.card["training"]["steps"] == TINY.max_steps
