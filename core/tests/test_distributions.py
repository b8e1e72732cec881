"""heapster.distributions finds what importlib.metadata finds: entry points, their distributions, versions."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from heapster import distributions


def listing(eps: list) -> list[tuple[str, str, str, str, str]]:
    return sorted((ep.group, ep.name, ep.value, ep.dist.metadata["Name"], ep.dist.version) for ep in eps)


def dist_info(root: Path, directory: str, name: str, version: str, entry_points: str) -> None:
    info = root / directory
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not a header\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    importlib.invalidate_caches()
    return tmp_path


@pytest.mark.parametrize("group", ["heapster", "console_scripts", "pytest11"])
def test_the_installed_entry_points_are_importlib_metadatas(group: str) -> None:
    assert listing(distributions.entry_points(group)) == listing(list(importlib.metadata.entry_points(group=group)))


def test_versions_are_importlib_metadatas() -> None:
    for name in ("heapster-core", "heapster_core", "structlog", "pluggy"):
        assert distributions.version(name) == importlib.metadata.version(name)
    with pytest.raises(distributions.PackageNotFoundError, match="No package metadata was found for no-such-thing"):
        distributions.version("no-such-thing")


def test_the_first_distribution_of_a_name_on_the_path_wins(site: Path) -> None:
    dist_info(site / "first", "Acme_Plugin-2.0.dist-info", "acme-plugin", "2.0",
              "# a comment\n[heapster]\nacme = acme_mod:register [extra]\n\n[other]\nx = y\n")
    dist_info(site / "second", "acme.plugin-1.0.dist-info", "acme.plugin", "1.0", "[heapster]\nold = acme_old\n")
    dist_info(site / "second", "beta-3.egg-info", "beta", "3", "[heapster]\n  beta=beta_mod:a.b  \n")
    ours = listing(distributions.entry_points("heapster"))
    assert ours == listing(list(importlib.metadata.entry_points(group="heapster")))
    assert ("heapster", "acme", "acme_mod:register [extra]", "acme-plugin", "2.0") in ours
    assert not [ep for ep in ours if ep[1] == "old"]
    assert ("heapster", "beta", "beta_mod:a.b", "beta", "3") in ours
    assert distributions.version("ACME_plugin") == "2.0" == importlib.metadata.version("ACME_plugin")


def test_an_entry_point_loads_its_module_and_attribute(site: Path) -> None:
    (site / "first" / "acme_mod.py").write_text("class a:\n    class b:\n        pass\n")
    dist_info(site / "first", "acme-1.dist-info", "acme", "1", "[heapster]\nmod = acme_mod\nattr = acme_mod:a.b [x]\n")
    loaded = {ep.name: ep.load() for ep in distributions.entry_points("heapster") if ep.dist.name == "acme"}
    assert loaded["mod"] is sys.modules["acme_mod"]
    assert loaded["attr"] is sys.modules["acme_mod"].a.b


def test_a_zip_on_the_path_is_left_to_importlib_metadata(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = site / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped-1.0.dist-info/METADATA", "Name: zipped\nVersion: 1.0\n")
        zipped.writestr("zipped-1.0.dist-info/entry_points.txt", "[heapster]\nzipped = zipped_mod\n")
    monkeypatch.syspath_prepend(str(archive))
    importlib.invalidate_caches()
    assert [ep.value for ep in distributions.entry_points("heapster") if ep.name == "zipped"] == ["zipped_mod"]
    assert distributions.version("zipped") == "1.0"


def test_heapster_finds_its_plugins_without_importlib_metadata() -> None:
    code = ("import sys, heapster, heapster.plugins\nfrom heapster.distributions import entry_points\n"
            "assert heapster.__version__ != '0.0.0'\n"
            "assert [ep for ep in entry_points('heapster') if ep.name == 'log']\n"
            "print(sorted(m for m in sys.modules if m.startswith(('importlib.metadata', 'email', 'zipfile'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

