"""The documentation builds with mkdocs-material, strictly: no broken link, no bad docstring."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs need the [dev] extra (mkdocs-material)")
    pytest.importorskip("mkdocstrings", reason="the docs need the [dev] extra (mkdocstrings)")
    site = tmp_path / "site"
    process = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert process.returncode == 0, process.stderr[-4000:]
    for page in ("index.html", "cli/index.html", "api/initializer/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "initializer" / "index.html").read_text()
    assert "propose_many" in api and "emcee_walkers" in api  # rendered from the docstrings
    assert (site / "figures" / "fit_example.png").is_file()
