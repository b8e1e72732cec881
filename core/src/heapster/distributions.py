"""Entry points and versions of the installed distributions, read from their metadata directories.

What ``importlib.metadata.entry_points(group=...)`` and ``version(...)`` return, found the same way
(every ``*.dist-info`` and ``*.egg-info`` directory of each ``sys.path`` directory, the first
distribution of a normalized name winning, ``entry_points.txt`` read as importlib reads it), without
loading ``importlib.metadata``: with the ``email`` package (for ``METADATA``), ``zipfile``, ``csv`` and
the rest it imports, that is 1.6 MiB of a fresh eventer's 28 MiB, and nothing else on the eventer's
path needs them. Where this reader does not look (a zip or ``.egg`` on ``sys.path``, a meta path
finder that adds distributions of its own), it hands the question to ``importlib.metadata``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

_STANDARD_FINDERS = ("BuiltinImporter", "FrozenImporter", "PathFinder")
"""Meta path finders whose distributions this reader finds itself (PathFinder: the ``sys.path`` scan)."""


class PackageNotFoundError(ModuleNotFoundError):
    """No distribution of that name is installed (importlib.metadata's error, as a lighter class)."""

    @property
    def name(self) -> str:  # type: ignore[override]
        return str(self.args[0])

    def __str__(self) -> str:
        return f"No package metadata was found for {self.name}"


@dataclass(frozen=True)
class Distribution:
    """One installed distribution: its project name and version as its metadata file states them."""

    name: str
    version: str
    path: str = field(repr=False)
    """Its ``.dist-info``/``.egg-info`` directory."""

    @property
    def metadata(self) -> dict[str, str]:
        """The two metadata fields read: ``Name`` and ``Version``."""
        return {"Name": self.name, "Version": self.version}


@dataclass(frozen=True)
class EntryPoint:
    """An entry point as importlib.metadata describes it: ``name = value`` in section ``group``."""

    name: str
    value: str
    group: str
    dist: Distribution | None = None

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    @property
    def attr(self) -> str:
        return self.value.partition(":")[2].partition("[")[0].strip()

    def load(self) -> Any:
        """Import the module and return the attribute the entry point names (the module without one)."""
        module = importlib.import_module(self.module.partition("[")[0].strip())
        return reduce(getattr, filter(None, self.attr.split(".")), module)


def normalize(name: str) -> str:
    """PEP 503 normalization with dashes as underscores (how importlib.metadata compares names)."""
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _scannable() -> bool:
    """Whether every distribution importlib.metadata would find sits in a directory this reader scans."""
    for finder in sys.meta_path:
        name = getattr(finder, "__name__", type(finder).__name__)
        if name not in _STANDARD_FINDERS and hasattr(finder, "find_distributions"):
            return False
    return not any(entry and (os.path.isfile(entry) or entry.lower().endswith(".egg")) for entry in sys.path)


def _metadata_directories() -> Iterator[str]:
    """Each distribution's metadata directory, in importlib.metadata's order, first of each name only."""
    seen: set[str] = set()
    for entry in sys.path:
        try:
            children = os.listdir(entry or ".")
        except OSError:
            continue
        first: dict[str, str] = {}  # importlib.metadata groups a directory's entries by name, keeps the first
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                first.setdefault(normalize(low.rpartition(".")[0].partition("-")[0]), child)
        for key, child in first.items():
            if key not in seen:
                seen.add(key)
                yield os.path.join(entry, child)


def _read(path: str, filename: str) -> str | None:
    try:
        with open(os.path.join(path, filename), encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


def _distribution(path: str) -> Distribution:
    """Name and version from the metadata file's headers (the lines before the first empty one)."""
    text = _read(path, "METADATA") or _read(path, "PKG-INFO") or ""
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            headers.setdefault(key.strip().lower(), value.strip())
    return Distribution(headers.get("name", ""), headers.get("version", ""), path)


def _entry_points_of(path: str, group: str) -> Iterator[EntryPoint]:
    """The entries of section ``group`` in ``entry_points.txt``, read as importlib.metadata reads them."""
    text = _read(path, "entry_points.txt")
    if not text:
        return
    section = None
    dist: Distribution | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section != group:
            continue
        name, _, value = line.partition("=")
        dist = dist or _distribution(path)
        yield EntryPoint(name.strip(), value.strip(), group, dist)


def entry_points(group: str) -> list[Any]:
    """Every entry point of ``group`` of the installed distributions (``importlib.metadata.entry_points``)."""
    if not _scannable():
        from importlib.metadata import entry_points as metadata_entry_points

        return list(metadata_entry_points(group=group))
    return [ep for path in _metadata_directories() for ep in _entry_points_of(path, group)]


def version(distribution_name: str) -> str:
    """The installed version of a distribution; :class:`PackageNotFoundError` if there is none."""
    if not _scannable():
        from importlib.metadata import PackageNotFoundError as NotFound
        from importlib.metadata import version as metadata_version

        try:
            return metadata_version(distribution_name)
        except NotFound:
            raise PackageNotFoundError(distribution_name) from None
    wanted = normalize(distribution_name)
    for path in _metadata_directories():
        if normalize(os.path.basename(path).rpartition(".")[0].partition("-")[0]) == wanted:
            return _distribution(path).version
    raise PackageNotFoundError(distribution_name)
