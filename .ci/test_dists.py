"""Runs each distribution's tests in a venv that holds only it, its dependencies and its ``test`` extra.

    python .ci/test_dists.py [--cross PATH ...] [--only DIST_FOLDER ...] DIST_FOLDER ...

Every folder is built into a wheel (``uv build``), then installed non-editable with ``uv pip install
'NAME[test] @ wheel'`` into its own fresh venv under ``.venvs/`` (the heapster-* distributions it needs come
from the wheels just built, everything else from the package index), and its ``tests/`` run there. So an
undeclared dependency, a missing package-data file or entry point fails here, not on a user's machine.
``--template`` renders the sink template and tests the rendered distribution the same way. ``--cross`` paths
(the cross-distribution suites) run first in the current environment, which holds everything, while the
venvs are being built. Venvs are built two at a time ahead of the tests; the tests run one suite at a time
(``HEAPSTER_DIST_JOBS=N``: N at a time, on a bigger machine).
Exits 1 if any suite failed, after running all of them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("HEAPSTER_DIST_VENVS", REPO / ".venvs"))
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv") or "uv"
BUILDERS = int(os.environ.get("HEAPSTER_DIST_BUILDERS", "2"))
JOBS = int(os.environ.get("HEAPSTER_DIST_JOBS", "1"))  # suites at a time; above 1 each suite's output is buffered


@dataclass
class Dist:
    folder: Path
    name: str
    requires: set[str]  # normalized names in dependencies
    test_requires: set[str]  # ... and in the test extra

    @classmethod
    def read(cls, folder: Path) -> Dist:
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        requires = {name_of(r) for r in project.get("dependencies", [])}
        test = {name_of(r) for r in project.get("optional-dependencies", {}).get("test", [])}
        return cls(folder, project["name"], requires, requires | test)

    @property
    def venv(self) -> Path:
        inside = self.folder.is_relative_to(REPO) and not self.folder.is_relative_to(WORK)
        return WORK / (self.folder.relative_to(REPO).as_posix().replace("/", "-") if inside else self.folder.name)

    @property
    def tests(self) -> str:
        tests = self.folder / "tests"
        return str(tests.relative_to(REPO) if tests.is_relative_to(REPO) else tests)


def name_of(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]).lower()


def needed(tested: list[Dist], dists: list[Dist]) -> list[Dist]:
    """The distributions whose wheels the tested ones install: themselves and what they require, recursively."""
    by_name = {d.name: d for d in dists}
    todo = [by_name[n] for d in tested for n in d.test_requires if n in by_name] + tested
    seen: dict[str, Dist] = {}
    while todo:
        dist = todo.pop()
        if dist.name not in seen:
            seen[dist.name] = dist
            todo += [by_name[n] for n in dist.requires if n in by_name]
    return [d for d in dists if d.name in seen]


def run(cmd: list[str | Path]) -> None:
    """Runs a build step quietly; on failure prints its output and raises."""
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stdout.write(done.stdout + done.stderr)
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {done.returncode}")


def wheel_of(dist: Dist) -> Path:
    return next((WORK / "wheels").glob(dist.name.replace("-", "_") + "-*.whl"))


def build_wheel(dist: Dist) -> None:
    run([UV, "build", "--quiet", "--wheel", "--out-dir", WORK / "wheels", dist.folder])


def build_venv(dist: Dist, constraints: Path) -> float:
    """Fresh venv with ``dist[test]`` from its wheel; returns the seconds it took."""
    start = time.monotonic()
    run([UV, "venv", "--quiet", "--clear", "--python", sys.executable, dist.venv])
    own = constraints.with_name(f"constraints-{dist.venv.name}.txt")  # the other local wheels, never this one
    own.write_text("".join(line for line in constraints.read_text().splitlines(keepends=True)
                           if not line.startswith(dist.name + " ")))
    run([UV, "pip", "install", "--quiet", "--python", dist.venv / "bin" / "python", "--constraint", own,
         f"{dist.name}[test] @ {wheel_of(dist).as_uri()}"])
    return time.monotonic() - start


def pytest(python_bin: Path, paths: list[str], buffered: bool = False) -> int:
    """Runs pytest of that environment from the repository root (its setup.cfg); buffered: prints when done."""
    bin_dir = python_bin.parent
    env = dict(os.environ, VIRTUAL_ENV=str(bin_dir.parent), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    # The slowest tests of each suite in the log: CI's time (well under 90 min on 2 cores) is watched from there.
    command = [str(bin_dir / "pytest"), "--durations=10", "--durations-min=20", *paths]
    done = subprocess.run(command, cwd=REPO, env=env, check=False, text=True,
                          stdout=subprocess.PIPE if buffered else None, stderr=subprocess.STDOUT if buffered else None)
    if buffered:
        sys.stdout.write(done.stdout)
        sys.stdout.flush()
    return done.returncode


def test_alone(dist: Dist, venv: Future[float]) -> str | None:
    """Waits for the distribution's venv and runs its tests there; returns what failed, if anything."""
    try:
        seconds = venv.result()
    except (RuntimeError, StopIteration) as error:
        print(f"==> {dist.name}: cannot install alone: {error!r}", flush=True)
        return f"{dist.name} (install)"
    where = dist.venv.relative_to(REPO) if dist.venv.is_relative_to(REPO) else dist.venv
    if JOBS <= 1:
        print(f"==> {dist.name}: tests in {where} (venv built in {seconds:.1f} s)", flush=True)
    code = pytest(dist.venv / "bin" / "python", [dist.tests], buffered=JOBS > 1)
    if JOBS > 1:
        print(f"==> {dist.name}: tests above ran in {where} (venv built in {seconds:.1f} s)", flush=True)
    return dist.name if code != 0 else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cross", nargs="*", default=[], help="paths to run in the current (full) environment")
    parser.add_argument("--only", nargs="*", default=None, help="test only these folders")
    parser.add_argument("--template", help="also render this sink template (render.py) and test the result alone")
    parser.add_argument("folders", nargs="+", help="every distribution folder (the heapster-* ones tests may need)")
    args = parser.parse_args()
    dists = [Dist.read(REPO / f) for f in args.folders if (REPO / f / "pyproject.toml").is_file()]
    only = None if args.only is None else {(REPO / f).resolve() for f in args.only}
    tested = [d for d in dists if (d.folder / "tests").is_dir() and (only is None or d.folder.resolve() in only)]
    if args.template and (only is None or (REPO / args.template).resolve() in only):
        rendered = WORK / "sink-template" / "heapster-sink-templatecheck"
        shutil.rmtree(rendered.parent, ignore_errors=True)
        run([sys.executable, REPO / args.template / "render.py", "templatecheck", rendered])
        tested.append(Dist.read(rendered))
        dists.append(tested[-1])
    wheeled = needed(tested, dists)
    shutil.rmtree(WORK / "wheels", ignore_errors=True)
    (WORK / "wheels").mkdir(parents=True)
    started = time.monotonic()
    constraints = WORK / "constraints.txt"

    def build_wheels() -> str:
        with ThreadPoolExecutor(max(BUILDERS, 1) * 2) as wheels:
            for future in [wheels.submit(build_wheel, d) for d in wheeled]:
                future.result()
        constraints.write_text("".join(f"{d.name} @ {wheel_of(d).as_uri()}\n" for d in wheeled))
        return f"==> {len(wheeled)} wheels built in {time.monotonic() - started:.0f} s"

    failed: list[str] = []
    with ThreadPoolExecutor(max(BUILDERS, 1)) as pool:
        built = pool.submit(build_wheels)  # wheels, then venvs, in the background while the tests run

        def venv_after_wheels(dist: Dist) -> float:
            built.result()  # raises if a wheel failed to build
            return build_venv(dist, constraints)

        venvs: list[Future[float]] = [pool.submit(venv_after_wheels, d) for d in tested]
        if args.cross:
            print(f"==> cross-distribution tests in {sys.prefix}: {' '.join(args.cross)}", flush=True)
            if pytest(Path(sys.executable), args.cross) != 0:
                failed.append("cross-distribution: " + " ".join(args.cross))
        try:
            print(built.result(), flush=True)  # after the cross suites: not in the middle of their output
        except RuntimeError as error:
            print(f"==> wheels: {error}", flush=True)
        with ThreadPoolExecutor(max(JOBS, 1)) as suites:
            failed += [f for f in suites.map(test_alone, tested, venvs) if f]
    print(f"==> {len(tested)} distributions tested alone in {time.monotonic() - started:.0f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
