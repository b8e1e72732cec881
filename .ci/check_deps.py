"""Fails when a distribution imports a module that it does not declare.

For each distribution folder given, every absolute import in ``src/`` must be the standard library, the
distribution's own package, or provided by a distribution listed in ``[project] dependencies``; every import in
``tests/`` may also come from the ``test`` extra. Modules are mapped to distributions through the installed
metadata (``importlib.metadata.packages_distributions`` and, for namespace packages such as ``google``, the
files each distribution installs), so run it in a venv that holds every distribution: ``./dev lint`` does.
Imports guarded by ``except ImportError`` are optional and not checked.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

TEST_EXTRA = "test"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"cannot read requirement {requirement!r}")
    return normalize(match.group(1))


def guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True when the import sits in a ``try`` whose handlers catch ImportError/ModuleNotFoundError."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Try) and node in parent.body:
            for handler in parent.handlers:
                names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                if any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names):
                    return True
        node = parent
    return False


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted module) for every absolute, unguarded import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module != "__future__":
                names += [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        if not guarded(node, parents):
            for name in names:
                yield node.lineno, name


@cache
def top_level_owners() -> dict[str, set[str]]:
    return {module: {normalize(d) for d in dists} for module, dists in md.packages_distributions().items()}


@cache
def module_owners() -> dict[str, set[str]]:
    """Dotted package/module name -> distributions installing files under it (for namespace packages)."""
    owners: dict[str, set[str]] = {}
    for dist in md.distributions():
        name = normalize(dist.metadata["Name"])
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0].endswith((".dist-info", ".data")) or ".." in parts:
                continue
            if file.suffix in {".py", ".pyi", ".so", ".pyd"}:
                stem = (*parts[:-1], parts[-1].split(".")[0])
                for depth in range(1, len(stem) + 1):
                    owners.setdefault(".".join(stem[:depth]), set()).add(name)
    # Editable installs have no files under the package: fall back to the top-level map.
    return owners


def providers(module: str) -> set[str] | None:
    """Distributions that can provide ``module``, most specific first; None when nothing installed does."""
    top = module.split(".", maxsplit=1)[0]
    owners = top_level_owners().get(top)
    if owners is None:
        return None
    if len(owners) == 1:
        return owners
    parts = module.split(".")
    for depth in range(len(parts), 1, -1):
        found = module_owners().get(".".join(parts[:depth]))
        if found:
            return found
    return owners


def own_modules(root: Path) -> set[str]:
    src = root / "src"
    return {p.stem if p.suffix == ".py" else p.name for p in src.iterdir()
            if (p.is_dir() and not p.name.endswith(".egg-info")) or p.suffix == ".py"} if src.is_dir() else set()


def local_test_modules(tests: Path) -> set[str]:
    return {p.stem for p in tests.rglob("*.py")} | {p.name for p in tests.rglob("*") if p.is_dir()} | {"tests"}


def is_test_helper(path: Path, src: Path) -> bool:
    """Modules named ``testing`` (heapster.testing, pkg/testing.py) are test helpers: they may use the test extra."""
    return "testing" in {part.removesuffix(".py") for part in path.relative_to(src).parts}


def check(root: Path) -> list[str]:
    """One line per undeclared distribution: what to add where, and the first import that needs it."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = {requirement_name(r) for r in project.get("dependencies", [])}
    extras = project.get("optional-dependencies", {})
    problems = [f"{root}/pyproject.toml: extra {name!r}: name the test extra {TEST_EXTRA!r}"
                for name in extras if name != TEST_EXTRA and "test" in name]
    tested = declared | {requirement_name(r) for r in extras.get(TEST_EXTRA, [])}
    own = own_modules(root)
    local = local_test_modules(root / "tests") if (root / "tests").is_dir() else set()
    missing: dict[tuple[str, str], str] = {}  # (where, distribution) -> first import needing it
    for path in sorted(root.glob("src/**/*.py")) + sorted(root.glob("tests/**/*.py")):
        in_src = path.is_relative_to(root / "src")
        test_code = not in_src or is_test_helper(path, root / "src")
        allowed = (tested if test_code else declared) | {normalize(project["name"])}
        for line, module in imports(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in own or (not in_src and top in local):
                continue
            owners = providers(module)
            if owners is None:
                if module == top or not any(m == top for _, m in imports(path)):
                    missing.setdefault(("nowhere", top), f"{path}:{line}")
                continue
            if owners & allowed:
                continue
            parent = module.rsplit(".", 1)[0]
            if "." in parent and (providers(parent) or set()) & allowed:
                continue  # "from pkg.sub import name": name is an attribute of a declared pkg.sub
            where = f"optional-dependencies.{TEST_EXTRA}" if test_code else "dependencies"
            missing.setdefault((where, "/".join(sorted(owners))), f"{path}:{line}: import {module}")
    for (where, dist), first in sorted(missing.items()):
        if where == "nowhere":
            problems.append(f"{first}: {dist}: no installed distribution provides it (run in the full .venv)")
        else:
            problems.append(f"{root}/pyproject.toml: add {dist} to [project] {where} (first needed at {first})")
    return problems


def main(argv: list[str]) -> int:
    problems = [p for root in argv for p in check(Path(root))]
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} undeclared dependencies: see .ci/check_deps.py", file=sys.stderr)
        return 1
    print(f"every import of {len(argv)} distributions is declared")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
