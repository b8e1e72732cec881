"""Logging with structlog: readable on a terminal, JSON otherwise, secrets masked everywhere."""

from __future__ import annotations

import base64
import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import quote, quote_plus

import structlog

from heapster.uri import mask_uri

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_BASIC = re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/]{4,}={0,2}")
_KEYVALUE = re.compile(
    r"(?i)\b(password|passwd|pw|token|secret|esUserSecret|authorization)(['\"]?\s*[:=]\s*['\"]?)([^\s'\",&}]+)"
)
MIN_REGISTERED_SECRET = 4
"""Shorter secrets are not masked by text everywhere (they would blank out ordinary words)."""
_registered: set[str] = set()


def secret_forms(secret: str, user: str | None = None) -> set[str]:
    """``secret`` as it may appear in a message: plain, URL-quoted, and in HTTP Basic credentials."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    if user is not None:
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return {form for form in forms if form}


def register_secret(secret: str, user: str | None = None) -> None:
    """Mask ``secret`` and its derived forms (:func:`secret_forms`) in every log line from now on.

    For secrets a plugin knows (a sink's password): a server that echoes the request's
    ``Authorization`` header, or a client error that quotes the URL, then leaks nothing.
    """
    if len(secret) >= MIN_REGISTERED_SECRET:
        _registered.update(secret_forms(secret, user))


def replace_all(text: str, forms: Iterable[str], mask: str = "xxxxx") -> str:
    """``text`` with every form replaced, longest first (a form may contain a shorter one)."""
    for form in sorted(forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, mask)
    return text



def mask_secrets(text: str) -> str:
    """Hide registered secrets, URL passwords, secret query options, bearer and basic credentials
    and ``password=...`` pairs in text."""
    if _registered:
        text = replace_all(text, _registered)
    text = mask_uri(text)
    text = _BEARER.sub(r"\1xxxxx", text)
    text = _BASIC.sub(r"\1xxxxx", text)
    return _KEYVALUE.sub(r"\1\2xxxxx", text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, list | tuple):
        return type(value)(_mask(v) for v in value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    return value


def mask_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor masking secrets in every value of a log line."""
    for key, value in event_dict.items():
        event_dict[key] = _mask(value)
    return event_dict


def _level(verbosity: int) -> int:
    if verbosity >= 2:
        return logging.DEBUG
    if verbosity >= 0:
        return logging.INFO
    return logging.WARNING


def configure(verbosity: int = 0, fmt: str = "auto", stream: Any = None) -> None:
    """Set up structlog and the standard library's logging (for client libraries) alike.

    ``fmt`` is ``console``, ``json`` or ``auto`` (console when the stream is a terminal).
    ``verbosity`` 0 logs info, 1 adds details, 2 and more logs debug; negative logs warnings only.
    """
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and hasattr(out, "isatty") and out.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer(colors=False) if use_console else structlog.processors.JSONRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_level(verbosity))
    # Client libraries are chatty at INFO; keep them at WARNING unless debugging.
    for noisy in ("aiohttp.access", "urllib3", "elastic_transport", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
