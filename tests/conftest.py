"""Shared helpers for the cross-package end-to-end tests."""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_venv(tmp_path: Path) -> Path:
    """A new virtualenv that sees this environment's packages, so pip can add and remove plugins in it alone."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    outer = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "outer_env.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in outer))
    return venv
