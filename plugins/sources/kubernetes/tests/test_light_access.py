"""In-cluster and bare-URL access without the ``kubernetes`` client; a typed client only when asked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trustme

from heapster.plugins import CHECKPOINT_STORE, EVENT_SOURCE, load_plugins

PROBE = """
import sys
from urllib.parse import urlsplit
from heapster.interfaces import PluginContext
from heapster.plugins import EVENT_SOURCE, load_plugins
plugins = load_plugins()
env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
from heapster_source_kubernetes.config import load_api_access
access = load_api_access({"inClusterConfig": True}, urlsplit(""), environ=env, service_account_dir=sys.argv[1])
assert access.headers()["Authorization"] == "Bearer sa-token", access.headers()
source = plugins.build_event_source("kubernetes:http://127.0.0.1:1?inClusterConfig=false", PluginContext())
print("loaded" if "kubernetes" in sys.modules else "not loaded")
client = access.api_client()
print(client.configuration.host, client.configuration.api_key, client.configuration.ssl_ca_cert.endswith("ca.crt"))
print("loaded" if "kubernetes" in sys.modules else "not loaded")
"""


def test_the_event_source_and_in_cluster_access_do_not_import_the_kubernetes_client(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    before, typed, after = done.stdout.splitlines()
    assert before == "not loaded"
    # The typed client (the eventer's Lease, the ConfigMap store) gets the same host, CA and token.
    assert typed == "https://10.96.0.1:443 {'authorization': 'bearer sa-token'} True"
    assert after == "loaded"


def test_the_plugin_registers_the_event_source_and_the_configmap_checkpoint_store() -> None:
    plugins = load_plugins()
    assert plugins.get(EVENT_SOURCE, "kubernetes").plugin.distribution == "heapster-source-kubernetes"
    assert plugins.get(CHECKPOINT_STORE, "configmap").plugin.distribution == "heapster-source-kubernetes"
