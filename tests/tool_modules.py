"""Import a script of the repository's ``tools/`` or ``benchmarks/`` folder (not packages)."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(folder: str, name: str) -> ModuleType:
    """The module ``<folder>/<name>.py``, importable by its siblings (which import each other)."""
    directory = ROOT / folder
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    spec = importlib.util.spec_from_file_location(name, directory / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_tool(name: str) -> ModuleType:
    """The module ``tools/<name>.py``."""
    return load_script("tools", name)
