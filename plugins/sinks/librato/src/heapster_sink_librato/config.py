"""The ``librato:`` URI (HEAPSTER.md §9.1): ``librato:?username=&token=&api=&prefix=&tags=a,b&tag_a=...``."""

from __future__ import annotations

from dataclasses import dataclass, field

from heapster.errors import UsageError
from heapster.interfaces import Option
from heapster.uri import PluginConfig, http_url

DEFAULT_API = "https://metrics-api.librato.com"

OPTIONS: tuple[Option, ...] = (
    Option("username", default=None, help="Librato user (email); required"),
    Option("token", default=None, secret=True, help="Librato API token; required"),
    Option("api", default=DEFAULT_API, help="base URL of the Librato API"),
    Option("prefix", default="", help="text put before every measurement name ('.' added)"),
    Option("tags", default="", help="comma-separated names of request-level tags, values from tag_<name>"),
    Option("tag_*", default=None, help="value of the request-level tag <name> (when listed in tags)"),
)
"""Every option of the ``librato`` sink, as Heapster's ``common/librato/librato.go``."""


@dataclass(frozen=True, slots=True)
class LibratoConfig:
    """Credentials, API address and naming."""

    username: str
    token: str = field(repr=False)
    api: str = DEFAULT_API
    prefix: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def measurements_url(self) -> str:
        return self.api.rstrip("/") + "/v1/measurements"


def build_config(config: PluginConfig) -> LibratoConfig:
    """Check and type a ``librato:`` URI; :class:`UsageError` naming what is missing or bad."""
    opts = config.options
    for name in ("username", "token"):
        if not opts[name]:
            msg = f"sink 'librato' needs the option {name!r} (librato:?username=<user>&token=<api token>)"
            raise UsageError(msg)
    api = http_url(str(opts["api"]), "api", "sink 'librato'")
    prefix = str(opts["prefix"])
    if prefix and not prefix.endswith("."):
        prefix += "."
    values: dict[str, str] = opts["tag_*"]
    tags = {name: values[name] for name in filter(None, str(opts["tags"]).split(",")) if name in values}
    return LibratoConfig(username=str(opts["username"]), token=str(opts["token"]), api=api, prefix=prefix,
                         tags=tags)
