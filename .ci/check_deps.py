"""Fails when a distribution imports a module that it does not declare.

For each distribution folder given, every absolute import in ``src/`` must be the standard library, the
distribution's own package, or provided by a distribution listed in ``[project] dependencies``; every import in
``tests/`` (and in test helpers: modules named ``testing``) may also come from the ``test`` extra; a test that
imports another distribution's test helper needs what that helper imports from its own test extra (simplest:
ask for ``that-distribution[test]``). Modules are mapped to distributions through the installed
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
    """True when the import sits in a ``try`` whose handlers catch ImportError/ModuleNotFoundError, or under
    ``if TYPE_CHECKING:`` (not imported at run time)."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.If) and node in parent.body and "TYPE_CHECKING" in ast.unparse(parent.test):
            return True
        if isinstance(parent, ast.Try) and node in parent.body:
            for handler in parent.handlers:
                names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                if any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names):
                    return True
        node = parent
    return False


def lazy(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True when the import runs only when a function is called."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return True
    return False


def imports(path: Path, module_level: bool = False) -> Iterator[tuple[int, str]]:
    """(line, dotted module) for every absolute, unguarded import in a file (only those run on import if
    ``module_level``)."""
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
        if not guarded(node, parents) and not (module_level and lazy(node, parents)):
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


LOCAL: dict[str, str] = {}  # top-level module -> distribution, for the folders checked (installed or not)


def providers(module: str) -> set[str] | None:
    """Distributions that can provide ``module``, most specific first; None when nothing installed does."""
    top = module.split(".", maxsplit=1)[0]
    if top in LOCAL:
        return {LOCAL[top]}
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


def module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def requirements(root: Path) -> tuple[str, set[str], set[str], dict[str, set[str]]]:
    """Name, dependencies, test extra, and {distribution: extras asked for} of the test extra."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    test = project.get("optional-dependencies", {}).get(TEST_EXTRA, [])
    asked = {requirement_name(r): set(re.findall(r"[A-Za-z0-9_-]+", r.split("[", 1)[1].split("]")[0]))
             for r in test if "[" in r.split(";")[0]}
    return (normalize(project["name"]), {requirement_name(r) for r in project.get("dependencies", [])},
            {requirement_name(r) for r in test}, asked)


def testing_needs(roots: list[Path]) -> dict[str, tuple[str, set[str]]]:
    """For each test-helper module of the distributions given (``pkg.testing``): its distribution and what its
    module-level imports need from that distribution's test extra, which a user of the module must install too."""
    needs: dict[str, tuple[str, set[str]]] = {}
    for root in roots:
        name, declared, test, _ = requirements(root)
        own = own_modules(root)
        for path in root.glob("src/**/*.py"):
            if not is_test_helper(path, root / "src"):
                continue
            wanted = set()
            for _, module in imports(path, module_level=True):
                top = module.split(".", maxsplit=1)[0]
                if top not in sys.stdlib_module_names and top not in own:
                    wanted |= (providers(module) or set()) & (test - declared)
            needs[module_name(path, root / "src")] = (name, wanted)
    return needs


def check(root: Path, helpers: dict[str, tuple[str, set[str]]]) -> list[str]:
    """One line per undeclared distribution: what to add where, and the first import that needs it."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = {requirement_name(r) for r in project.get("dependencies", [])}
    extras = project.get("optional-dependencies", {})
    problems = [f"{root}/pyproject.toml: extra {name!r}: name the test extra {TEST_EXTRA!r}"
                for name in extras if name != TEST_EXTRA and "test" in name]
    tested = declared | {requirement_name(r) for r in extras.get(TEST_EXTRA, [])}
    asked = requirements(root)[3]
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
                helper = next((helpers[m] for m in prefixes(module) if m in helpers), None)
                if helper and helper[1] - allowed and TEST_EXTRA not in asked.get(helper[0], set()):
                    missing.setdefault((f"optional-dependencies.{TEST_EXTRA}", f"{helper[0]}[{TEST_EXTRA}]"),
                                       f"{path}:{line}: import {module}, which needs "
                                       f"{', '.join(sorted(helper[1] - allowed))}")
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


def prefixes(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:depth]) for depth in range(len(parts), 0, -1)]


def main(argv: list[str]) -> int:
    LOCAL.update({module: requirements(Path(root))[0] for root in argv for module in own_modules(Path(root))})
    helpers = testing_needs([Path(root) for root in argv])
    problems = [p for root in argv for p in check(Path(root), helpers)]
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} undeclared dependencies: see .ci/check_deps.py", file=sys.stderr)
        return 1
    print(f"every import of {len(argv)} distributions is declared")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
