"""``./dev dist`` builds installable distributions: their wheels install into a fresh virtualenv and the
``heapster`` command they bring works from there (not from this checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
BUILT = ("core", "plugins/sources/kubernetes")


def test_wheels_from_dev_dist_install_and_run(fresh_venv: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    env = {**os.environ, "HEAPSTER_DIST": str(out), "HEAPSTER_VENV": sys.prefix}
    built = subprocess.run([str(REPO / "dev"), "dist", *BUILT], capture_output=True, text=True, env=env,
                           timeout=600, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["heapster_core-1.0.0-py3-none-any.whl", "heapster_core-1.0.0.tar.gz",
                     "heapster_source_kubernetes-1.0.0-py3-none-any.whl", "heapster_source_kubernetes-1.0.0.tar.gz"]

    python = fresh_venv / "bin" / "python"
    # The README's command; --no-deps and --force-reinstall because the fixture's venv already sees this
    # environment's packages (the dependencies, and the checkout's editable heapster it must not use).
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
                    "--find-links", str(out), "--no-deps", "--force-reinstall", "heapster-core",
                    "heapster-source-kubernetes"], check=True, timeout=300)
    located = subprocess.run([str(python), "-c", "import heapster, heapster_source_kubernetes as k; "
                                                 "print(heapster.__file__); print(k.__file__)"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert all(path.startswith(str(fresh_venv)) for path in located), located
    static = Path(located[0]).parent / "static"
    assert {p.name for p in static.iterdir()} >= {"index.html", "dashboard.js", "dashboard.css"}
    checked = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "check"], capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stdout  # every declared dependency is there

    command = fresh_venv / "bin" / "heapster"
    help_text = subprocess.run([str(command), "--help"], capture_output=True, text=True, check=True).stdout
    assert help_text.startswith("usage: heapster") and "--metric-resolution" in help_text
    listing = subprocess.run([str(command), "plugins"], capture_output=True, text=True, check=True).stdout
    rows = {line.split()[0]: line.split() for line in listing.splitlines()[1:]}
    assert rows["kubernetes"][1:3] == ["heapster-source-kubernetes", "1.0.0"]
    assert rows["log"][1:3] == ["heapster-core", "1.0.0"]
