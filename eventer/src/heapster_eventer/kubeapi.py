"""A ``kubernetes`` client ``ApiClient`` for Leases and ConfigMaps, from the ``--source`` URI options."""

from __future__ import annotations

from typing import Any

from heapster.uri import PluginConfig


def api_client_for(config: PluginConfig) -> Any:
    """An ``ApiClient`` for the cluster the event source reads, with the same access options.

    Uses the Kubernetes source's own loader (``inClusterConfig``, ``auth``, ``insecure``,
    ``useServiceAccount`` as in Heapster), so Leases and the checkpoint ConfigMap live in
    the cluster the events come from.
    """
    from heapster_source_kubernetes.config import load_api_access

    access = load_api_access(config.options, config.url)
    client = access.api_client()
    if access.extra_token:
        client.configuration.api_key = {"BearerToken": f"Bearer {access.extra_token}"}
    return client
