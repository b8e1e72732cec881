"""The ``kafka`` sink's URI options (Heapster's ``common/kafka``) and the typed configuration built from them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.uri import PluginConfig

METRICS_TOPIC = "heapster-metrics"
EVENTS_TOPIC = "heapster-events"
COMPRESSIONS = ("none", "gzip", "snappy", "lz4")

OPTIONS: tuple[Option, ...] = (
    Option("brokers", OptionKind.LIST, help="broker host:port; repeat for several (required)"),
    Option("timeseriestopic", default=METRICS_TOPIC, help="topic of the metric messages"),
    Option("eventstopic", default=EVENTS_TOPIC, help="topic of the event messages"),
    Option("compression", default="none", help="none, gzip, snappy or lz4"),
    Option("user", default="", help="SASL PLAIN user (with password)"),
    Option("password", default="", secret=True, help="SASL PLAIN password (with user)"),
    Option("cacert", default="", help="CA certificate file; enables TLS"),
    Option("cert", default="", help="client certificate file (with key); enables TLS"),
    Option("key", default="", help="client key file (with cert)"),
    Option("insecuressl", OptionKind.BOOL, False, help="with TLS: skip certificate verification"),
    Option("timeout", OptionKind.DURATION, 10.0,
           help="ours: how long a send may wait for the brokers before the batch is retried (default 10s)"),
)
"""Every option of the ``kafka`` sink, for metrics and events alike (one URI serves both)."""

SECRETS = ("password",)


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """Where and how to produce: brokers, topic, compression, SASL and TLS."""

    brokers: tuple[str, ...]
    topic: str
    compression: str = "none"
    user: str = ""
    password: str = ""
    cacert: str = ""
    cert: str = ""
    key: str = ""
    insecure_ssl: bool = False
    timeout: float = 10.0
    masked_uri: str = ""

    @property
    def tls(self) -> bool:
        """Heapster enabled TLS when a CA file, or a certificate with its key, was given."""
        return bool(self.cacert or (self.cert and self.key))

    @property
    def sasl(self) -> bool:
        return bool(self.user and self.password)

    @property
    def security_protocol(self) -> str:
        if self.sasl:
            return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
        return "SSL" if self.tls else "PLAINTEXT"


def _fail(message: str) -> UsageError:
    return UsageError(f"sink 'kafka': {message}")


def build_config(config: PluginConfig, *, events: bool) -> KafkaConfig:
    """Check and type the options of a ``kafka:`` URI; :class:`UsageError` names the bad option."""
    opts = config.options
    brokers = tuple(b.strip() for b in opts["brokers"] if b.strip())
    if not brokers:
        raise _fail("option 'brokers' is required, e.g. kafka:?brokers=kafka-0:9092&brokers=kafka-1:9092")
    compression = str(opts["compression"])
    if compression not in COMPRESSIONS:
        raise _fail(f"bad value {compression!r} for option 'compression'; use one of {', '.join(COMPRESSIONS)}")
    topic = str(opts["eventstopic" if events else "timeseriestopic"])
    if not topic:
        raise _fail("the topic must not be empty")
    if bool(opts["user"]) != bool(opts["password"]):
        raise _fail("options 'user' and 'password' (SASL PLAIN) go together")
    if bool(opts["cert"]) != bool(opts["key"]):
        raise _fail("options 'cert' and 'key' go together")
    for name in ("cacert", "cert", "key"):
        path = str(opts[name])
        if path and not os.path.isfile(path):
            raise _fail(f"option {name!r}: no such file {path!r}")
    if float(opts["timeout"]) <= 0:
        raise _fail("option 'timeout' must be positive")
    return KafkaConfig(
        brokers=brokers, topic=topic, compression=compression, user=str(opts["user"]),
        password=str(opts["password"]), cacert=str(opts["cacert"]), cert=str(opts["cert"]), key=str(opts["key"]),
        insecure_ssl=bool(opts["insecuressl"]), timeout=float(opts["timeout"]),
        masked_uri=config.uri.masked(SECRETS),
    )
