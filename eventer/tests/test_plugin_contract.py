"""The eventer is a client of core's plugin contract: no import of, or dependency on, a source distribution."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from heapster.checkpoint import FileCheckpointStore
from heapster.errors import UsageError
from heapster.plugins import load_plugins
from heapster_eventer.app import Eventer
from heapster_eventer.flags import parse_args

EVENTER = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_of_the_eventer_imports_a_source_plugin() -> None:
    sources = sorted((EVENTER / "src").rglob("*.py"))
    assert len(sources) > 5
    offenders = {str(p.relative_to(EVENTER)): sorted(m for m in _imported_modules(p)
                                                      if m.split(".")[0] == "heapster_source_kubernetes")
                 for p in sources}
    assert {p: m for p, m in offenders.items() if m} == {}


def test_the_eventer_depends_on_core_alone_among_heapster_distributions() -> None:
    project = tomllib.loads((EVENTER / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [dep.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip() for dep in project["dependencies"]]
    assert [n for n in names if n.startswith("heapster")] == ["heapster-core"]
    assert "kubernetes" not in names


def _without_kubernetes_plugin() -> dict[str, str]:
    return {**os.environ, "HEAPSTER_DISABLE_PLUGINS": "heapster-source-kubernetes"}


def _eventer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heapster_eventer", *args], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


def test_an_unknown_source_key_exits_2_naming_the_package_to_install() -> None:
    done = _eventer("--source=kubernetes:https://kubernetes.default", "--sink=log", "--healthz-port=0",
                    env=_without_kubernetes_plugin())
    assert done.returncode == 2, done.stderr
    assert "no event source 'kubernetes'; installed: static; pip install heapster-source-kubernetes" in done.stderr


def test_a_configmap_checkpoint_without_its_plugin_exits_2_naming_the_package() -> None:
    done = _eventer("--source=static:?events=3", "--sink=log", "--healthz-port=0",
                    "--checkpoint-configmap=default/cp", env=_without_kubernetes_plugin())
    assert done.returncode == 2, done.stderr
    assert "no checkpoint store 'configmap'" in done.stderr
    assert "pip install heapster-source-kubernetes" in done.stderr


def test_checkpoint_stores_come_from_core_and_from_the_plugin_that_registers_them(tmp_path: Path) -> None:
    plugins = load_plugins()
    file_eventer = Eventer(parse_args(["--source=static:", f"--checkpoint-file={tmp_path / 'cp.json'}"]),
                           plugins=plugins)
    built = file_eventer.build()
    assert isinstance(file_eventer.checkpoint_store(built.source_config), FileCheckpointStore)
    # The kubernetes plugin provides "configmap"; it needs a Kubernetes source to know the cluster.
    cm_eventer = Eventer(parse_args(["--source=static:", "--checkpoint-configmap=default/cp"]), plugins=plugins)
    built = cm_eventer.build()
    with pytest.raises(UsageError, match="needs the kubernetes event source"):
        cm_eventer.checkpoint_store(built.source_config)
    k8s = Eventer(parse_args(["--source=kubernetes:http://127.0.0.1:1?inClusterConfig=false",
                              "--checkpoint-configmap=default/cp"]), plugins=plugins)
    built = k8s.build()
    assert k8s.checkpoint_store(built.source_config).description == "configmap default/cp"
