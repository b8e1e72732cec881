"""The ``heapster`` command: run the daemon, list plugins, or show kubectl-top style tables."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence

from heapster import __version__
from heapster.errors import HeapsterError
from heapster.flags import FlagParser, normalize_argv, parse_heapster_settings
from heapster.logs import configure, mask_secrets
from heapster.plugins import load_plugins
from heapster.rlimits import raise_open_file_limit
from heapster.tables import render_table


def version_text(version: str) -> str:
    """Heapster's ``--version`` output (``version: X`` and ``commit: Y`` lines), shared by the eventer."""
    return f"version: {version}\ncommit: python"


def print_version() -> None:
    """Print heapster's ``--version``."""
    print(version_text(__version__))


def plugins_parser() -> FlagParser:
    """``heapster plugins`` flags."""
    p = FlagParser(prog="heapster plugins", allow_abbrev=False,
                   description="List the installed plugins: distribution, version and the keys they register.")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument("--strict-plugins", action="store_true", help="fail (exit 1) when a plugin does not load")
    return p


def plugins_command(argv: Sequence[str]) -> int:
    """``heapster plugins``: every plugin with its distribution, version and keys, as a table or JSON."""
    options = plugins_parser().parse_args(normalize_argv(argv))
    plugins = load_plugins(strict=options.strict_plugins)
    if options.format == "json":
        body = {"plugins": [{"name": p.name, "module": p.module, "distribution": p.distribution,
                             "version": p.version, "keys": {kind: list(names) for kind, names in
                                                            sorted(p.keys.items())}} for p in plugins.plugins],
                "failures": [{"name": f.name, "distribution": f.distribution, "error": f.error}
                             for f in plugins.failures]}
        print(json.dumps(body, indent=2))
        return 0
    rows = [(p.name, p.distribution, p.version,
             "; ".join(f"{kind}: {', '.join(names)}" for kind, names in sorted(p.keys.items())) or "no keys")
            for p in plugins.plugins]
    rows += [(f.name, f.distribution, "-", f"FAILED: {f.error}") for f in plugins.failures]
    sys.stdout.write(render_table(("PLUGIN", "DISTRIBUTION", "VERSION", "KEYS"), rows))
    return 0


def run(argv: Sequence[str]) -> int:
    """Parse flags and run the daemon until it is told to stop."""
    settings = parse_heapster_settings(argv)
    if settings.version:
        print_version()
        return 0
    configure(max(settings.verbose, settings.glog_v), settings.log_format)
    raise_open_file_limit()  # one kept-alive connection per kubelet
    from heapster.app import build_daemon

    async def _main() -> None:
        daemon = await build_daemon(settings)
        await daemon.run()

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(_main())
    return 0


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop with ``HEAPSTER_UVLOOP=1`` when it is installed (``heapster-core[uvloop]``); else None.

    Opt-in, measured (bench/README.md): at 300 kubelets over HTTPS it saved 0-7% of the CPU, within the noise,
    while its TLS transport keeps a 256 KiB read buffer per connection (asyncio's is capped at 64 KiB by
    :func:`heapster.memory.shrink_tls_read_buffers`): about +140 MiB of RSS at 1000 kept-alive kubelets.
    None means asyncio's own loop.
    """
    if os.environ.get("HEAPSTER_UVLOOP", "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


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
