"""A plugin's declared URI options: :class:`Option` and the kinds that type its value (:class:`OptionKind`).

Plugins import both from :mod:`heapster.interfaces`::

    from heapster.interfaces import Option, OptionKind

    OPTIONS = (Option("timeout", OptionKind.DURATION, 10.0, "longest one POST may take"),)
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from heapster.durations import parse_bool, parse_duration, parse_size


class OptionKind(enum.StrEnum):
    """How a URI option's raw text becomes its value; :meth:`parse` does it (``ValueError`` on a bad value).

    A member equals its old string name (``OptionKind.INT == "int"``), so code that read ``option.kind`` as a
    string keeps working; declaring an option with the string itself is deprecated (see :class:`Option`).
    """

    STR = "str"
    """The text as given."""
    BOOL = "bool"
    """Go's ``strconv.ParseBool``: ``1 t T TRUE true True 0 f F FALSE false False``."""
    INT = "int"
    """A base-10 integer."""
    FLOAT = "float"
    """A float."""
    DURATION = "duration"
    """A Go duration (``10s``, ``1m30s``), in seconds."""
    SIZE = "size"
    """Bytes: ``512Mi``, ``1Gi``, ``1000``."""
    LIST = "list"
    """Every repeated value as text, in order (``nodes=a&nodes=b`` -> ``["a", "b"]``)."""

    @property
    def repeated(self) -> bool:
        """True when the option's value is the list of every occurrence, not the first one."""
        return self is OptionKind.LIST

    def parse(self, raw: str) -> Any:
        """One raw value typed by this kind; ``ValueError`` when it is not one."""
        return _PARSERS[self](raw)

    @classmethod
    def coerce(cls, kind: OptionKind | str, option: str) -> OptionKind:
        """``kind`` as an :class:`OptionKind`; a string (the deprecated form) is converted with a warning.

        An unknown string is a plugin's mistake, found when the option is declared: ``ValueError``.
        """
        if isinstance(kind, OptionKind):
            return kind
        try:
            member = cls(kind)
        except ValueError:
            msg = f"option {option!r} has unknown kind {kind!r}; kinds: {', '.join(k.value for k in cls)}"
            raise ValueError(msg) from None
        warnings.warn(f"option {option!r}: the string kind {kind!r} is deprecated; "
                      f"use heapster.interfaces.OptionKind.{member.name}", DeprecationWarning, stacklevel=3)
        return member


def _text(raw: str) -> str:
    return raw


def _int(raw: str) -> int:
    return int(raw, 10)


_PARSERS: dict[OptionKind, Callable[[str], Any]] = {
    OptionKind.STR: _text,
    OptionKind.BOOL: parse_bool,
    OptionKind.INT: _int,
    OptionKind.FLOAT: float,
    OptionKind.DURATION: parse_duration,
    OptionKind.SIZE: parse_size,
    OptionKind.LIST: _text,
}


@dataclass(frozen=True, slots=True, init=False)
class Option:
    """One declared URI option of a plugin: its kind, default, help, and whether it is secret.

    ``kind`` is an :class:`OptionKind` (default ``OptionKind.STR``). A string kind (``"int"``) is
    still accepted and converted, with a ``DeprecationWarning``; an unknown one raises ``ValueError``
    when the option is declared.

    A name ending in ``*`` declares a family of options sharing a prefix (Librato's ``tag_*`` for
    ``tag_cluster=prod&tag_env=x``): its value is a dict from the rest of each name to its (first)
    value typed by ``kind``, ``{"cluster": "prod", "env": "x"}``.

    ``ignored`` declares an option accepted only so that a command line written for another program keeps
    working (the eventer's source takes Heapster's kubelet options, which Go's eventer ignored): its value is
    kept as text, unchecked, errors leave it out of the valid options they list, and
    :attr:`heapster.uri.PluginConfig.ignored` names it when given, for the one warning the program logs.
    """

    name: str
    kind: OptionKind
    default: Any
    help: str
    secret: bool
    ignored: bool

    def __init__(self, name: str, kind: OptionKind | str = OptionKind.STR, default: Any = None, help: str = "",
                 secret: bool = False, ignored: bool = False) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", OptionKind.coerce(kind, name))
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "help", help)
        object.__setattr__(self, "secret", secret)
        object.__setattr__(self, "ignored", ignored)

    def convert(self, raw: str) -> Any:
        """Turn one raw value into the option's type; ``ValueError`` on a bad value."""
        return self.kind.parse(raw)
