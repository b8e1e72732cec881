"""A ``kubernetes`` client ``ApiClient`` for Leases and ConfigMaps, from the ``--source`` URI options."""

from __future__ import annotations

from typing import Any

from heapster.errors import UsageError
from heapster.uri import PluginConfig

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def api_client_for(config: PluginConfig) -> Any:
    """An ``ApiClient`` for the cluster the event source reads, honouring Heapster's API options.

    ``inClusterConfig`` (default true) uses the pod's service account; otherwise ``auth`` names
    a kubeconfig, else the URL alone is used. A URL host overrides the server address;
    ``insecure`` skips TLS verification; ``useServiceAccount`` adds the pod's token.
    """
    from kubernetes import client
    from kubernetes import config as kube_config

    options = config.options
    configuration = client.Configuration()
    in_cluster = _option(options, "inClusterConfig", True)
    auth = _option(options, "auth", "")
    try:
        if in_cluster:
            kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        elif auth:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=auth, client_configuration=configuration)
    except Exception as exc:
        msg = f"cannot configure Kubernetes API access from the source URI: {exc}"
        raise UsageError(msg) from None
    url = config.url
    if url.scheme and url.netloc:
        configuration.host = f"{url.scheme}://{url.netloc}"
    elif not configuration.host or configuration.host == "http://localhost":
        msg = "invalid kubernetes master url specified"
        raise UsageError(msg)
    if _option(options, "insecure", False):
        configuration.verify_ssl = False
    if _option(options, "useServiceAccount", False):
        try:
            with open(SERVICE_ACCOUNT_TOKEN, encoding="utf-8") as handle:
                configuration.api_key = {"authorization": f"Bearer {handle.read().strip()}"}
        except OSError:
            pass
    return client.ApiClient(configuration)


def _option(options: Any, name: str, default: Any) -> Any:
    value = options.get(name, default)
    return default if value is None else value
