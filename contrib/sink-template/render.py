"""Render the sink template into a new package: ``python render.py NAME [DEST]`` (e.g. NAME=webhook)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).resolve().parent / "template"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def names(key: str) -> dict[str, str]:
    """Every name the template uses, derived from the sink key (``webhook`` -> ``heapster-sink-webhook``...)."""
    if not NAME.match(key):
        msg = f"sink name {key!r} must be lowercase letters, digits and '_', starting with a letter"
        raise ValueError(msg)
    title = "".join(part.capitalize() for part in key.split("_"))
    return {"key": key, "dist": f"heapster-sink-{key.replace('_', '-')}", "package": f"heapster_sink_{key}",
            "cls": f"{title}Sink", "title": title}


def render(key: str, dest: Path) -> Path:
    """Write the package for sink ``key`` into ``dest`` (created; must not exist or be empty)."""
    values = names(key)
    if dest.exists() and any(dest.iterdir()):
        msg = f"{dest} exists and is not empty"
        raise FileExistsError(msg)
    for source in sorted(TEMPLATE.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(TEMPLATE).as_posix().replace("PACKAGE", values["package"])
        target = dest / relative.removesuffix(".tmpl")
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        target.write_text(Template(text).substitute(values) if source.suffix == ".tmpl" else text, encoding="utf-8")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="the sink key users will write in --sink=NAME:..., e.g. webhook")
    parser.add_argument("dest", nargs="?", help="output folder (default ./heapster-sink-NAME)")
    args = parser.parse_args(argv)
    try:
        values = names(args.name)
        dest = render(args.name, Path(args.dest or values["dist"]))
    except (ValueError, FileExistsError) as exc:
        sys.stderr.write(f"render.py: {exc}\n")
        return 2
    sys.stdout.write(f"wrote {values['dist']} to {dest}/; next: pip install -e '{dest}[test]' && "
                     f"pytest {dest}/tests\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
