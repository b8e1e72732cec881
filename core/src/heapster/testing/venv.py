"""Fresh virtualenvs for testing that a plugin installs, registers and uninstalls cleanly."""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
from pathlib import Path


def overlay_venv(path: Path) -> Path:
    """Create a virtualenv at ``path`` that also sees this environment's packages.

    ``python -m pip --python <path>/bin/python install|uninstall ...`` then changes only the new
    environment, so a test can add and remove a plugin without touching the one it runs in.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    purelib = Path(sysconfig.get_paths(vars={"base": str(path), "platbase": str(path)})["purelib"])
    outer = [p for p in site.getsitepackages() if Path(p).is_dir()]
    # addsitedir (not a plain path line) so the outer environment's own .pth files, e.g. editable installs, apply.
    (purelib / "outer_env.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in outer))
    return path
