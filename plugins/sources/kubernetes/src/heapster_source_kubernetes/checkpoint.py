"""The eventer's checkpoint in a ConfigMap (``--checkpoint-configmap=NAMESPACE/NAME``), a ``checkpoint store`` plugin.

It lives in the cluster the events come from and is reached with the ``--source`` URI's access options.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from heapster.checkpoint import Checkpoint
from heapster.errors import CheckpointConflict, RuntimeFailure, UsageError

if TYPE_CHECKING:
    from heapster.interfaces import PluginContext
    from heapster.uri import PluginConfig

CONFIGMAP_KEY = "checkpoint.json"


class ConfigMapCheckpointStore:
    """A ConfigMap (key ``checkpoint.json``) written with optimistic concurrency.

    Each save sends the resourceVersion last read or written; a 409 Conflict means another
    replica wrote it meanwhile and raises :class:`CheckpointConflict`, which fences a leader
    that lost its Lease without noticing.
    """

    def __init__(self, api_client: Any, namespace: str, name: str) -> None:
        from kubernetes import client

        self.api = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.description = f"configmap {namespace}/{name}"
        self._resource_version: str | None = None
        self._exists = False

    async def load(self) -> Checkpoint | None:
        from kubernetes.client.exceptions import ApiException

        try:
            cm = await asyncio.to_thread(self.api.read_namespaced_config_map, self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                self._exists = False
                self._resource_version = None
                return None
            msg = f"cannot read checkpoint {self.description}: {exc.status} {exc.reason}"
            raise RuntimeFailure(msg) from None
        self._exists = True
        self._resource_version = cm.metadata.resource_version if cm.metadata else None
        text = (cm.data or {}).get(CONFIGMAP_KEY)
        if not text:
            return None
        return Checkpoint.from_stored(text, f"checkpoint {self.description}")

    async def save(self, checkpoint: Checkpoint) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        meta = client.V1ObjectMeta(name=self.name, namespace=self.namespace,
                                   resource_version=self._resource_version)
        body = client.V1ConfigMap(metadata=meta, data={CONFIGMAP_KEY: checkpoint.to_json()})
        try:
            if self._exists:
                cm = await asyncio.to_thread(self.api.replace_namespaced_config_map, self.name, self.namespace, body)
            else:
                cm = await asyncio.to_thread(self.api.create_namespaced_config_map, self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                msg = f"checkpoint {self.description} was changed by another writer"
                raise CheckpointConflict(msg) from None
            msg = f"cannot write checkpoint {self.description}: {exc.status} {exc.reason}"
            raise RuntimeFailure(msg) from None
        self._exists = True
        self._resource_version = cm.metadata.resource_version if cm.metadata else None


def configmap_store(location: str, source_config: PluginConfig, context: PluginContext) -> ConfigMapCheckpointStore:
    """The factory behind ``--checkpoint-configmap=NAMESPACE/NAME``; :class:`UsageError` for a bad name."""
    namespace, slash, name = location.partition("/")
    if not slash or not namespace or not name or "/" in name:
        msg = f"--checkpoint-configmap {location!r} is not NAMESPACE/NAME"
        raise UsageError(msg)
    if "inClusterConfig" not in source_config.options:
        msg = ("--checkpoint-configmap needs the kubernetes event source (the cluster to keep it in), "
               f"not {source_config.key!r}")
        raise UsageError(msg)
    from heapster_source_kubernetes.config import load_api_access

    access = load_api_access(source_config.options, source_config.url)
    return ConfigMapCheckpointStore(access.authorized_api_client(), namespace, name)
