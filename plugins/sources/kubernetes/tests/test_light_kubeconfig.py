"""The common kubeconfig read without the ``kubernetes`` client, as that client's loader reads it."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme

from heapster.errors import RuntimeFailure
from heapster_source_kubernetes.config import LightConfiguration, _light_kubeconfig, load_api_access


def _client_loader(path: Path) -> Any:
    from kubernetes import client
    from kubernetes.config import kube_config

    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(path), client_configuration=configuration, persist_config=False)
    return configuration


def _content(name: str | None) -> bytes | None:
    return Path(name).read_bytes() if name else None


def _seen(configuration: Any) -> tuple[Any, ...]:
    """What :class:`ApiAccess` reads of a configuration: host, TLS switch and files' contents, the token header."""
    token = (configuration.auth_settings().get("BearerToken") or {}).get("value")
    return (configuration.host, bool(configuration.verify_ssl), _content(configuration.ssl_ca_cert),
            _content(configuration.cert_file), _content(configuration.key_file), token)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("heapster")
    (tmp_path / "pki").mkdir()
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "pki" / "client.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "pki" / "client.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "pki" / "ca.crt"))
    (tmp_path / "pki" / "token").write_text("file-token\n")
    return {"ca_data": base64.b64encode(ca.cert_pem.bytes()).decode(),
            "cert_data": base64.b64encode(cert.cert_chain_pems[0].bytes()).decode(),
            "key_data": base64.b64encode(cert.private_key_pem.bytes()).decode()}


def _kubeconfig(cluster: str, user: str, current: str = "ctx", extra_contexts: str = "") -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {cluster}
- name: other
  cluster: {{server: "https://other:6443"}}
users:
- name: u
  user: {user}
contexts:
- name: ctx
  context: {{cluster: c, user: u, namespace: kube-system}}
- name: nouser
  context: {{cluster: c}}
- name: ghost
  context: {{cluster: c, user: nobody}}
{extra_contexts}current-context: {current}
"""


LIGHT_CASES = {
    "token and CA data": ('{server: "https://api:6443/", certificate-authority-data: %(ca_data)s}',
                          '{token: kc-token}'),
    "relative CA file, token file": ('{server: "https://api:6443", certificate-authority: pki/ca.crt}',
                                     '{tokenFile: pki/token}'),
    "client certificate files": ('{server: "https://api:6443", certificate-authority: pki/ca.crt}',
                                 '{client-certificate: pki/client.crt, client-key: pki/client.key}'),
    "client certificate data": ('{server: "https://api:6443", insecure-skip-tls-verify: true}',
                                '{client-certificate-data: %(cert_data)s, client-key-data: %(key_data)s}'),
    "plain HTTP ignores TLS files": ('{server: "http://api:8080", certificate-authority: pki/missing.crt}',
                                     '{token: t, client-certificate: pki/missing.crt}'),
    "empty data wins over a file": ('{server: "https://api", certificate-authority-data: "", '
                                    'certificate-authority: pki/missing.crt}', '{token: ""}'),
    "no user": ('{server: "https://api:6443", insecure-skip-tls-verify: false}', '{}'),
}


@pytest.mark.parametrize("case", sorted(LIGHT_CASES))
@pytest.mark.parametrize("current", ["ctx", "nouser", "ghost"])
def test_the_light_reader_gives_what_the_client_loader_gives(tmp_path: Path, pki: dict[str, str], case: str,
                                                             current: str) -> None:
    cluster, user = LIGHT_CASES[case]
    path = tmp_path / "kubeconfig"
    path.write_text(_kubeconfig(cluster % pki, user % pki, current))
    light = _light_kubeconfig(str(path))
    assert isinstance(light, LightConfiguration)
    loaded = _seen(_client_loader(path))
    assert _seen(light) == loaded
    assert _seen(light.client_configuration()) == loaded  # the typed client's (Lease, ConfigMap) too


FALLBACK_CASES = {
    "exec plugin": ('{server: "https://api:6443"}', '{exec: {command: /bin/true, apiVersion: v1}}'),
    "basic auth": ('{server: "https://api:6443"}', '{username: admin, password: secret}'),
    "proxy": ('{server: "https://api:6443", proxy-url: "http://proxy:3128"}', '{token: t}'),
    "server name": ('{server: "https://api:6443", tls-server-name: api.example}', '{token: t}'),
    "missing CA file": ('{server: "https://api:6443", certificate-authority: pki/missing.crt}', '{token: t}'),
    "empty token file name": ('{server: "https://api:6443"}', '{tokenFile: ""}'),
}


@pytest.mark.parametrize("case", sorted(FALLBACK_CASES))
def test_other_kubeconfigs_go_to_the_client_loader(tmp_path: Path, pki: dict[str, str], case: str) -> None:
    cluster, user = FALLBACK_CASES[case]
    path = tmp_path / "kubeconfig"
    path.write_text(_kubeconfig(cluster % pki, user % pki))
    assert _light_kubeconfig(str(path)) is None


def test_broken_kubeconfigs_are_worded_by_the_client_loader(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    for text in ("current-context: missing\n", _kubeconfig('{server: "https://a"}', "{}", current="nope"),
                 _kubeconfig('{server: "https://a"}', "{}", extra_contexts="- context: {cluster: c}\n")):
        path.write_text(text)
        assert _light_kubeconfig(str(path)) is None
        with pytest.raises(RuntimeFailure, match="cannot load kubeconfig"):
            load_api_access({"inClusterConfig": False, "auth": str(path)}, urlsplit(""))


def test_the_first_of_two_entries_of_one_name_is_read(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(_kubeconfig('{server: "https://a"}', "{token: t}",
                                extra_contexts="- name: ctx\n  context: {cluster: other}\n"))
    light = _light_kubeconfig(str(path))
    assert light is not None and light.host == "https://a"
    assert _seen(light) == _seen(_client_loader(path))


PROBE = """
import sys
from urllib.parse import urlsplit
from heapster_source_kubernetes.config import load_api_access
access = load_api_access({"inClusterConfig": False, "auth": sys.argv[1]}, urlsplit(""))
print(access.base_url, access.headers()["Authorization"], open(access.ca_file).read() == open(sys.argv[2]).read())
print("loaded" if "kubernetes" in sys.modules else "not loaded")
client = access.api_client()
print(client.configuration.host, client.configuration.api_key)
"""


def test_a_token_kubeconfig_does_not_import_the_kubernetes_client(tmp_path: Path, pki: dict[str, str]) -> None:
    path = tmp_path / "kubeconfig"
    cluster = '{server: "https://api:6443", certificate-authority-data: %(ca_data)s}'
    path.write_text(_kubeconfig(cluster % pki, "{token: kc-token}"))
    done = subprocess.run([sys.executable, "-c", PROBE, str(path), str(tmp_path / "pki" / "ca.crt")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    access, imported, typed = done.stdout.splitlines()
    assert access == "https://api:6443 Bearer kc-token True"
    assert imported == "not loaded"
    assert typed == "https://api:6443 {'BearerToken': 'Bearer kc-token'}"  # as the client's loader sets it
