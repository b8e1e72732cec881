"""The ``stackdriver`` sink's URI options (Heapster's ``CreateStackdriverSink``) and the typed configuration.

Project, zone and cluster come from the options or, as in Heapster, from the environment
(``GOOGLE_PROJECT_ID``, the ``GOOGLE_APPLICATION_CREDENTIALS`` file) or the GCE metadata server; those
look-ups happen when the sink starts, not when the command line is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.uri import PluginConfig

OPTIONS: tuple[Option, ...] = (
    Option("use_old_resources", OptionKind.BOOL, True,
           help="write the old model: container.googleapis.com metrics on gke_container"),
    Option("use_new_resources", OptionKind.BOOL, False,
           help="write the new model: kubernetes.io metrics on k8s_container, k8s_pod, k8s_node"),
    Option("min_interval_sec", OptionKind.INT,
           0, help="skip batches less than this many seconds after the last export"),
    Option("batch_export_timeout_sec", OptionKind.INT, 60, help="time allowed to send one batch's requests"),
    Option("initial_delay_sec", OptionKind.INT, 3, help="random delay, up to this, before each sender's first request"),
    Option("cluster_name", default="", help="cluster_name resource label (new model: GCE metadata if empty)"),
    Option("cluster_location", default="", help="location resource label (new model; default the zone)"),
    Option("zone", default="", help="zone resource label of the old model (GCE metadata if empty)"),
    Option("project", default="", help="ours: project ID (default: $GOOGLE_PROJECT_ID, credentials, metadata)"),
    Option("endpoint", default="", help="ours: API endpoint host:port (default monitoring.googleapis.com)"),
    Option("insecure", OptionKind.BOOL, False, help="ours: plaintext gRPC without credentials, for emulators only"),
)
"""Every option of the ``stackdriver`` sink."""


@dataclass(frozen=True, slots=True)
class StackdriverConfig:
    """The options, typed."""

    use_old_resources: bool = True
    use_new_resources: bool = False
    min_interval: float = 0.0
    batch_export_timeout: float = 60.0
    initial_delay: float = 3.0
    cluster_name: str = ""
    cluster_location: str = ""
    zone: str = ""
    project: str = ""
    endpoint: str = ""
    insecure: bool = False
    masked_uri: str = ""


def build_config(config: PluginConfig) -> StackdriverConfig:
    """Check and type the options of a ``stackdriver:`` URI; :class:`UsageError` names the bad part."""
    url = config.url
    if url.scheme:
        msg = "sink 'stackdriver': scheme should not be set (use stackdriver:?options)"
        raise UsageError(msg)
    if url.netloc:
        msg = "sink 'stackdriver': host should not be set (use stackdriver:?options)"
        raise UsageError(msg)
    opts = config.options
    for name in ("min_interval_sec", "initial_delay_sec"):
        if int(opts[name]) < 0:
            msg = f"sink 'stackdriver': option {name!r} must not be negative"
            raise UsageError(msg)
    if int(opts["batch_export_timeout_sec"]) < 1:
        msg = "sink 'stackdriver': option 'batch_export_timeout_sec' must be at least 1"
        raise UsageError(msg)
    if opts["insecure"] and not opts["endpoint"]:
        msg = "sink 'stackdriver': option 'insecure' needs 'endpoint' (an emulator's host:port)"
        raise UsageError(msg)
    return StackdriverConfig(
        use_old_resources=bool(opts["use_old_resources"]), use_new_resources=bool(opts["use_new_resources"]),
        min_interval=float(opts["min_interval_sec"]), batch_export_timeout=float(opts["batch_export_timeout_sec"]),
        initial_delay=float(opts["initial_delay_sec"]), cluster_name=str(opts["cluster_name"]),
        cluster_location=str(opts["cluster_location"]), zone=str(opts["zone"]), project=str(opts["project"]),
        endpoint=str(opts["endpoint"]), insecure=bool(opts["insecure"]), masked_uri=config.uri.masked(),
    )
