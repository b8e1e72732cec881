"""Parsing of Heapster's ``KEY[:URL[?opts]]`` source and sink URIs, with typed, declared options.

:class:`Option` and :class:`OptionKind` (:mod:`heapster.options`) are importable from here too, as before.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from heapster.errors import UsageError
from heapster.options import Option as Option  # noqa: PLC0414 (re-exported: heapster.uri.Option stays)
from heapster.options import OptionKind as OptionKind  # noqa: PLC0414

_SHELL_SPECIAL = frozenset("*#$@!?-0123456789")
"""The one-character names Go's ``os.Expand`` reads after ``$`` (``$1``, ``$$``, ``$*``...)."""


def _shell_name(text: str) -> tuple[str, int]:
    """Go 1.8's ``os.getShellName``: the variable name at the start of ``text`` (after a ``$``) and how many
    characters it spans (an unclosed ``${`` spans the brace alone)."""
    if text[0] == "{":
        if len(text) > 2 and text[1] in _SHELL_SPECIAL and text[2] == "}":
            return text[1], 3
        end = text.find("}", 1)
        return (text[1:end], end + 1) if end > 0 else ("", 1)
    if text[0] in _SHELL_SPECIAL:
        return text[0], 1
    width = 0
    while width < len(text) and (text[width] == "_" or (text[width].isascii() and text[width].isalnum())):
        width += 1
    return text[:width], width


def expand_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Go's ``os.ExpandEnv`` as Heapster v1.5-v1.6 had it (Go 1.8), exactly: ``$VAR``, ``${VAR}`` and the
    one-character ``$1``, ``$$``, ``$*``... become the variable's value, or "" if unset; a ``$`` before anything
    else is dropped (``$(X)`` -> ``(X)``; Go 1.11 started keeping it), one ending the text kept. Heapster
    expanded every ``--source``/``--sink`` URL so, passwords with a ``$`` included."""
    if "$" not in text:
        return text
    env = os.environ if environ is None else environ
    out: list[str] = []
    start = pos = 0
    while pos < len(text):
        if text[pos] == "$" and pos + 1 < len(text):
            out.append(text[start:pos])
            name, width = _shell_name(text[pos + 1:])
            out.append(env.get(name, "") if name else "")
            pos += width
            start = pos + 1
        pos += 1
    out.append(text[start:])
    return "".join(out)


OPTION_KINDS: tuple[str, ...] = tuple(kind.value for kind in OptionKind)
"""The kinds' names (the deprecated string form of :class:`OptionKind`)."""


@dataclass(frozen=True, slots=True)
class SpecURI:
    """A parsed ``--source`` / ``--sink`` value before its options are checked.

    ``raw`` is the flag value exactly as given (``--historical_source`` compares against it).
    """

    raw: str
    key: str
    url: SplitResult
    query: tuple[tuple[str, str], ...]

    @property
    def has_host(self) -> bool:
        return bool(self.url.scheme and self.url.netloc)

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def masked(self, secrets: Iterable[str] = ()) -> str:
        """The URI with its password and secret options replaced by ``xxxxx``, for logs."""
        return mask_uri(self.raw, secrets)


def parse_uri(raw: str, environ: Mapping[str, str] | None = None) -> SpecURI:
    """Split ``KEY[:URL[?opts]]`` on the first ``:`` and parse the env-expanded rest as a URL."""
    key, sep, rest = raw.partition(":")
    key = key.strip()
    if not key:
        msg = f"missing key in {mask_uri(raw)!r}; expected KEY[:URL[?options]]"
        raise UsageError(msg)
    rest = expand_env(rest, environ) if sep else ""
    if rest in ("''", '""'):
        rest = ""
    try:
        url = urlsplit(rest)
        _ = url.port  # validates the port
    except ValueError as exc:
        msg = f"bad URL in {mask_uri(raw)!r}: {exc}"
        raise UsageError(msg) from None
    query = tuple(parse_qsl(url.query, keep_blank_values=True))
    return SpecURI(raw=raw, key=key, url=url, query=query)


@dataclass(frozen=True, slots=True)
class PluginConfig:
    """What a plugin factory receives: the parsed URI and its options, typed and defaulted."""

    uri: SpecURI
    options: Mapping[str, Any] = field(default_factory=dict)
    queue: Mapping[str, Any] = field(default_factory=dict)
    """A sink's :data:`QUEUE_OPTIONS` that the URI sets (the core's, not the plugin's)."""
    ignored: tuple[str, ...] = ()
    """The options the URI gives that its plugin accepts and ignores (:attr:`Option.ignored`), in URI order."""

    @property
    def key(self) -> str:
        return self.uri.key

    @property
    def url(self) -> SplitResult:
        return self.uri.url

    def __getitem__(self, name: str) -> Any:
        return self.options[name]


QUEUE_OPTIONS = (
    Option("queue_dir", OptionKind.STR, help="keep this sink's queue on disk in this directory (as --sink_queue_dir)"),
    Option("queue_size", OptionKind.INT, help="batches this sink's queue holds (as --sink_queue_size)"),
    Option("queue_max_bytes", OptionKind.SIZE, help="disk this sink's queue may take (as --sink_queue_max_bytes)"),
    Option("queue_max_age", OptionKind.DURATION, help="drop queued batches older than this (as --sink_queue_max_age)"),
)
"""Options every sink URI accepts besides its plugin's own: its queue, which the core runs."""


def without_queue_options(raw: str) -> str:
    """A sink URI without its :data:`QUEUE_OPTIONS`: the sink's identity, which tuning its queue keeps."""
    names = "|".join(opt.name for opt in QUEUE_OPTIONS)
    stripped = re.sub(rf"(?<=[?&])(?:{names})=[^&#]*(?:&|$)", "", raw).rstrip("?&")
    return stripped[:-1] if stripped.endswith(":") else stripped  # "log:" is "log"


def resolve_sink_options(uri: SpecURI, options: Sequence[Option], what: str) -> PluginConfig:
    """:func:`resolve_options` for a sink: its plugin's options plus :data:`QUEUE_OPTIONS`, set apart in ``queue``."""
    own_names = {opt.name for opt in options}
    queue_options = [opt for opt in QUEUE_OPTIONS if opt.name not in own_names]
    config = resolve_options(uri, (*options, *queue_options), what)
    queue_names = {opt.name for opt in queue_options}
    own = {k: v for k, v in config.options.items() if k not in queue_names}
    queue = {k: v for k, v in config.options.items() if k in queue_names and v is not None}
    return PluginConfig(uri=uri, options=own, queue=queue, ignored=config.ignored)


def resolve_options(uri: SpecURI, options: Sequence[Option], what: str) -> PluginConfig:
    """Check the URI's options against the plugin's declared ones and type them.

    ``what`` names the plugin in errors, e.g. ``"sink 'influxdb'"``. An unknown option or a
    value of the wrong type raises :class:`UsageError` naming the option and the valid ones. An
    :attr:`~Option.ignored` option keeps its text, unchecked, and is named in :attr:`PluginConfig.ignored`.
    """
    declared = {opt.name: opt for opt in options if not opt.name.endswith("*")}
    families = {opt.name[:-1]: opt for opt in options if opt.name.endswith("*")}
    seen: dict[str, list[str]] = {}
    for name, value in uri.query:
        seen.setdefault(name, []).append(value)

    def family(name: str) -> str | None:
        return next((p for p in families if name.startswith(p) and len(name) > len(p)), None)

    unknown = sorted(n for n in set(seen) - set(declared) if family(n) is None)
    if unknown:
        used = [name for name, opt in declared.items() if not opt.ignored]
        valid = ", ".join(sorted([*used, *(f"{p}<name>" for p in families)])) or "none"
        msg = f"unknown option {unknown[0]!r} for {what}; valid options: {valid}"
        raise UsageError(msg)
    typed: dict[str, Any] = {}
    for name, opt in declared.items():
        raw_values = seen.get(name)
        if raw_values is None:
            typed[name] = list(opt.default or []) if opt.kind.repeated else opt.default
            continue
        if opt.ignored:
            typed[name] = raw_values[0]
            continue
        try:
            if opt.kind.repeated:
                typed[name] = [opt.convert(v) for v in raw_values]
            else:
                typed[name] = opt.convert(raw_values[0])  # Go's url.Values.Get: first wins
        except ValueError as exc:
            if opt.secret:
                msg = f"bad value for secret option {name!r} of {what} (expected {opt.kind})"
            else:
                msg = f"bad value {raw_values[0]!r} for option {name!r} of {what}: {exc}"
            raise UsageError(msg) from None
    for prefix, opt in families.items():
        members: dict[str, Any] = {}
        for name, raw_values in seen.items():
            if name not in declared and family(name) == prefix:
                try:
                    members[name[len(prefix):]] = opt.convert(raw_values[0])
                except ValueError as exc:
                    msg = f"bad value {raw_values[0]!r} for option {name!r} of {what}: {exc}"
                    raise UsageError(msg) from None
        typed[opt.name] = members
    ignored = tuple(name for name in seen if name in declared and declared[name].ignored)
    return PluginConfig(uri=uri, options=typed, ignored=ignored)


def http_url(value: str, option: str, what: str, example: str = "") -> str:
    """``value`` when it is an http(s) URL with a host; :class:`UsageError` naming the option otherwise."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        hint = f"e.g. {example}" if example else "an http(s) URL"
        msg = f"bad value {value!r} for option {option!r} of {what}: expected {hint}"
        raise UsageError(msg)
    return value


def parse_header(raw: str, option: str, what: str) -> tuple[str, str]:
    """A ``Name: value`` (or ``Name=value``) option value as a header pair.

    :class:`UsageError` naming the option (and at most the header's name: the value may be a token)
    when there is no separator or the name is empty or holds a space.
    """
    for separator in (":", "="):
        name, found, value = raw.partition(separator)
        if found and name.strip() and " " not in name.strip():
            return name.strip(), value.strip()
    shown = raw.partition(":")[0].partition("=")[0].strip()[:40] if ":" in raw or "=" in raw else "(no ':')"
    msg = f"bad value {shown!r} for option {option!r} of {what}: expected 'Name: value'"
    raise UsageError(msg)


_SECRET_WORDS = ("pw", "password", "passwd", "secret", "token", "esUserSecret", "key", "apikey", "writekey")


def mask_uri(raw: str, secrets: Iterable[str] = ()) -> str:
    """Hide a URL password and the values of secret-looking query options."""
    names = {s.lower() for s in (*_SECRET_WORDS, *secrets)}

    def _query(match: re.Match[str]) -> str:
        name = match.group(2)
        if name.lower() in names or any(w in name.lower() for w in ("secret", "token", "password")):
            return f"{match.group(1)}{name}=xxxxx"
        return match.group(0)

    masked = re.sub(r"(//[^/:@?#\s]*:)[^@/?#\s]*@", r"\1xxxxx@", raw)
    return re.sub(r"([?&])([^=&#\s]+)=([^&#\s]*)", _query, masked)


def unique_idents(specs: Sequence[str], mask: Callable[[str], str]) -> list[str]:
    """Stable names of sinks for checkpoints and queue files: their masked URIs, numbered when a URI repeats."""
    seen: dict[str, int] = {}
    out = []
    for spec in specs:
        base = mask(spec)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return out
