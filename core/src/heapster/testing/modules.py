"""Importing a script that is not on the import path (a bench, a contrib tool, another test file)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_module(path: Path | str, name: str) -> ModuleType:
    """Execute the Python file at ``path`` as a fresh module called ``name`` and return it.

    The module is put into ``sys.modules`` before it runs, as an import would: dataclasses and pickling
    look their module up there.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
