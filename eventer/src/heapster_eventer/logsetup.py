"""Logging for the eventer: core's structlog setup when present, else a plain one on standard error."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import structlog


def configure_logging(verbose: int = 0) -> None:
    """Log readable lines to a terminal and JSON otherwise, to standard error."""
    try:
        logs: Any = importlib.import_module("heapster.logs")
    except ImportError:
        logs = None
    setup = (getattr(logs, "configure", None) or getattr(logs, "setup", None)) if logs is not None else None
    if setup is not None:
        try:
            setup(verbose=verbose)
            return
        except TypeError:
            pass
    level = logging.DEBUG if verbose else logging.INFO
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False) if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                    renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
