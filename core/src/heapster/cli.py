"""The ``heapster`` command: run the daemon, list plugins, or show kubectl-top style tables."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from heapster import __version__
from heapster.errors import HeapsterError
from heapster.flags import heapster_parser, parse_flags, validate_heapster
from heapster.logs import configure, mask_secrets
from heapster.plugins import load_plugins


def print_version() -> None:
    """Heapster's ``--version`` output."""
    print(f"version: {__version__}\ncommit: python")


def plugins_command(argv: Sequence[str]) -> int:
    """``heapster plugins``: every plugin with its distribution, version and keys."""
    strict = "--strict-plugins" in argv or "--strict_plugins" in argv
    plugins = load_plugins(strict=strict)
    for info in plugins.plugins:
        keys = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in sorted(info.keys.items())) or "no keys"
        print(f"{info.name:<16} {info.distribution} {info.version:<10} {keys}")
    for failure in plugins.failures:
        print(f"{failure.name:<16} {failure.distribution} FAILED: {failure.error}")
    return 0


def run(argv: Sequence[str]) -> int:
    """Parse flags and run the daemon until it is told to stop."""
    settings = parse_flags(heapster_parser(), argv, validate_heapster)
    if settings["version"]:
        print_version()
        return 0
    configure(max(settings["verbose"], settings["glog_v"]), settings["log_format"])
    from heapster.app import build_daemon

    async def _main() -> None:
        daemon = await build_daemon(settings)
        await daemon.run()

    asyncio.run(_main())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``heapster`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "plugins":
            return plugins_command(args[1:])
        if args and args[0] == "top":
            from heapster.top import top_command

            return top_command(args[1:])
        return run(args)
    except HeapsterError as exc:
        print(f"heapster: {mask_secrets(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
