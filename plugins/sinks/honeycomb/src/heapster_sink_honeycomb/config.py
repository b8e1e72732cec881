"""The ``honeycomb`` sink's URI options (Heapster's ``common/honeycomb``) and the typed configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.uri import PluginConfig, http_url

DEFAULT_API_HOST = "https://api.honeycomb.io/"
WRITEKEY_ENV = "HONEYCOMB_WRITEKEY"

OPTIONS: tuple[Option, ...] = (
    Option("dataset", default="heapster", help="dataset the events go to"),
    Option("writekey", default="", secret=True, help=f"API write key (default: ${WRITEKEY_ENV}; required)"),
    Option("apihost", default=DEFAULT_API_HOST, help="API base URL"),
    Option("timeout", OptionKind.DURATION, 10.0, help="ours: timeout of one request (Heapster had none)"),
)
"""Every option of the ``honeycomb`` sink, for metrics and events alike."""

SECRETS = ("writekey",)


@dataclass(frozen=True, slots=True)
class HoneycombConfig:
    """Where to send (the batch URL of the dataset) and with which key."""

    batch_url: str
    dataset: str
    writekey: str
    timeout: float = 10.0
    masked_uri: str = ""


def batch_url(api_host: str, dataset: str) -> str:
    """``<apihost>/1/batch/<dataset>`` as Heapster joined it (the API host's own path kept)."""
    parts = urlsplit(api_host)
    path = parts.path.rstrip("/") + "/1/batch/" + quote(dataset, safe="")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def build_config(config: PluginConfig) -> HoneycombConfig:
    """Check and type the options of a ``honeycomb:`` URI; :class:`UsageError` names the bad part."""
    opts = config.options
    writekey = str(opts["writekey"]) or os.environ.get(WRITEKEY_ENV, "")
    if not writekey:
        msg = f"sink 'honeycomb': no API write key; give option 'writekey' or set ${WRITEKEY_ENV}"
        raise UsageError(msg)
    dataset = str(opts["dataset"])
    if not dataset:
        msg = "sink 'honeycomb': option 'dataset' must not be empty"
        raise UsageError(msg)
    api_host = http_url(str(opts["apihost"]), "apihost", "sink 'honeycomb'", DEFAULT_API_HOST)
    if float(opts["timeout"]) <= 0:
        msg = "sink 'honeycomb': option 'timeout' must be positive"
        raise UsageError(msg)
    return HoneycombConfig(batch_url=batch_url(api_host, dataset), dataset=dataset, writekey=writekey,
                           timeout=float(opts["timeout"]), masked_uri=config.uri.masked(SECRETS))
