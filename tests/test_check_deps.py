""".ci/check_deps.py: an import that no declared distribution provides fails the check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / ".ci" / "check_deps.py"


def distribution(root: Path, pyproject: str, files: dict[str, str]) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def check(*roots: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), *map(str, roots)], capture_output=True, text=True, check=False)


PYPROJECT = """[project]
name = "heapster-sink-demo"
dependencies = ["heapster-core>=1.0,<2", "google-auth>=2.20"{deps}]

[project.optional-dependencies]
{extra} = ["pytest>=8"]
"""

SOURCES = {
    "src/heapster_sink_demo/__init__.py": "",
    "src/heapster_sink_demo/sink.py": (
        "import json\nimport heapster.interfaces\nfrom heapster_sink_demo import helpers\n"
        "from google.auth import credentials\nimport google.protobuf.timestamp_pb2\n"
        "try:\n    import yaml\nexcept ImportError:\n    yaml = None\n"),
    "src/heapster_sink_demo/helpers.py": "def load():\n    import structlog\n    return structlog\n",
    "tests/test_sink.py": "import pytest\nfrom conftest import thing\n",
    "tests/conftest.py": "thing = 1\n",
}


def test_undeclared_imports_fail_with_what_to_add_where(tmp_path: Path) -> None:
    root = distribution(tmp_path / "demo", PYPROJECT.format(deps="", extra="testing"), SOURCES)
    done = check(root)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert f"{root}/pyproject.toml: extra 'testing': name the test extra 'test'" in lines
    # google.protobuf belongs to protobuf, not to the declared google-auth, though both install under google/
    assert any(line.startswith(f"{root}/pyproject.toml: add protobuf to [project] dependencies") for line in lines)
    # a lazy import inside a function counts
    assert any(line.startswith(f"{root}/pyproject.toml: add structlog to [project] dependencies") for line in lines)
    # pytest is declared only in an extra that is not called "test"
    assert any("add pytest to [project] optional-dependencies.test" in line for line in lines)
    # stdlib, own package, heapster (declared), google.auth (declared), yaml (guarded), conftest (local): fine
    assert len(lines) == 4, done.stdout


def test_declared_imports_pass(tmp_path: Path) -> None:
    root = distribution(tmp_path / "demo", PYPROJECT.format(deps=', "protobuf>=4", "structlog"', extra="test"),
                        SOURCES)
    done = check(root)
    assert done.returncode == 0, done.stdout + done.stderr


HELPER_PYPROJECT = """[project]
name = "heapster-sink-helper"
dependencies = ["heapster-core>=1.0,<2"]

[project.optional-dependencies]
test = ["pytest>=8", "PyYAML>=6"]
"""

USER_PYPROJECT = """[project]
name = "heapster-sink-user"
dependencies = ["heapster-core>=1.0,<2"]

[project.optional-dependencies]
test = ["pytest>=8", "{helper}"]
"""


def test_a_test_helper_of_another_distribution_brings_its_test_extra(tmp_path: Path) -> None:
    helper = distribution(tmp_path / "helper", HELPER_PYPROJECT, {
        "src/heapster_sink_helper/__init__.py": "",
        "src/heapster_sink_helper/testing.py": "import pytest\nimport yaml\n"})
    user = distribution(tmp_path / "user", USER_PYPROJECT.format(helper="heapster-sink-helper"), {
        "src/heapster_sink_user/__init__.py": "",
        "tests/conftest.py": "from heapster_sink_helper.testing import thing\n"})
    done = check(helper, user)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{user}/pyproject.toml: add heapster-sink-helper[test] to [project] optional-dependencies.test (first "
        f"needed at {user}/tests/conftest.py:1: import heapster_sink_helper.testing, which needs pyyaml)"]

    (user / "pyproject.toml").write_text(USER_PYPROJECT.format(helper="heapster-sink-helper[test]"))
    assert check(helper, user).returncode == 0
