"""API access from the URI: in-cluster service account, kubeconfig, bare URL, and their errors."""

from __future__ import annotations

import base64
import os
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme

from heapster.errors import RuntimeFailure, UsageError
from heapster.logs import mask_secrets
from heapster_source_kubernetes.config import load_api_access

DEFAULTS: dict[str, Any] = {"inClusterConfig": True, "insecure": False, "auth": "", "useServiceAccount": False}
IN_CLUSTER_ENV = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def _opts(**changes: Any) -> dict[str, Any]:
    return {**DEFAULTS, **changes}


@pytest.fixture
def service_account(tmp_path: Path) -> Path:
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text("sa-token-123\n")
    trustme.CA().cert_pem.write_to_path(str(sa / "ca.crt"))
    return sa


def test_in_cluster(service_account: Path) -> None:
    access = load_api_access(_opts(), urlsplit(""), environ=IN_CLUSTER_ENV, service_account_dir=str(service_account))
    assert access.base_url == "https://10.96.0.1:443"
    assert access.bearer_token() == "sa-token-123"
    assert access.headers()["Authorization"] == "Bearer sa-token-123"
    assert access.ca_file == str(service_account / "ca.crt")
    assert access.verify and access.https
    assert access.ssl_context().verify_mode == ssl.CERT_REQUIRED


def test_in_cluster_with_url_override_and_insecure(service_account: Path) -> None:
    access = load_api_access(_opts(insecure=True), urlsplit("https://kubernetes.default"), environ=IN_CLUSTER_ENV,
                             service_account_dir=str(service_account))
    assert access.base_url == "https://kubernetes.default"
    assert access.ca_file is None and not access.verify  # Heapster: insecure clears the CA
    assert access.ssl_context().verify_mode == ssl.CERT_NONE
    assert not access.ssl_context().check_hostname
    assert access.ssl_context().cert_store_stats()["x509_ca"] == 0  # the system store is not loaded for nothing
    assert access.bearer_token() == "sa-token-123"


def test_in_cluster_ipv6_service_host(service_account: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    access = load_api_access(_opts(), urlsplit(""), environ=env, service_account_dir=str(service_account))
    assert access.base_url == "https://[fd00::1]:6443"


def test_in_cluster_outside_a_cluster_is_a_runtime_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match=r"in-cluster configuration.*inClusterConfig=false"):
        load_api_access(_opts(), urlsplit(""), environ={}, service_account_dir=str(tmp_path))
    with pytest.raises(RuntimeFailure, match="token"):
        load_api_access(_opts(), urlsplit(""), environ=IN_CLUSTER_ENV, service_account_dir=str(tmp_path))


def test_auth_needs_in_cluster_off(service_account: Path) -> None:
    with pytest.raises(UsageError, match="inClusterConfig=false"):
        load_api_access(_opts(auth="/x"), urlsplit(""), environ=IN_CLUSTER_ENV,
                        service_account_dir=str(service_account))


def test_kubeconfig_with_token_ca_data_and_client_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    client_cert = ca.issue_cert("heapster")
    client_cert.cert_chain_pems[0].write_to_path(str(tmp_path / "client.crt"))
    client_cert.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    ca_data = base64.b64encode(ca.cert_pem.bytes()).decode()
    (tmp_path / "kubeconfig").write_text(f"""
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "https://api.example:6443", certificate-authority-data: {ca_data}}}
- name: other
  cluster: {{server: "https://other:6443"}}
users:
- name: u
  user:
    token: kc-token
    client-certificate: {tmp_path / "client.crt"}
    client-key: {tmp_path / "client.key"}
contexts:
- name: ctx
  context: {{cluster: c, user: u}}
- name: other
  context: {{cluster: other, user: u}}
current-context: ctx
""")
    access = load_api_access(_opts(inClusterConfig=False, auth=str(tmp_path / "kubeconfig")), urlsplit(""))
    assert access.base_url == "https://api.example:6443"
    assert access.bearer_token() == "kc-token"
    assert access.cert_file and Path(access.cert_file).read_bytes() == client_cert.cert_chain_pems[0].bytes()
    assert access.ca_file and Path(access.ca_file).read_bytes() == ca.cert_pem.bytes()
    assert access.ssl_context().verify_mode == ssl.CERT_REQUIRED
    override = load_api_access(_opts(inClusterConfig=False, auth=str(tmp_path / "kubeconfig")),
                               urlsplit("https://10.0.0.1:443"))
    assert override.base_url == "https://10.0.0.1:443"


def test_missing_or_broken_kubeconfig_is_a_runtime_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match="does not exist"):
        load_api_access(_opts(inClusterConfig=False, auth=str(tmp_path / "nope")), urlsplit(""))
    (tmp_path / "broken").write_text("apiVersion: v1\nkind: Config\ncurrent-context: missing\n")
    with pytest.raises(RuntimeFailure, match="cannot load kubeconfig"):
        load_api_access(_opts(inClusterConfig=False, auth=str(tmp_path / "broken")), urlsplit(""))
    (tmp_path / "not-yaml").write_text("not: [yaml")  # the client's loader raises yaml's ParserError
    with pytest.raises(RuntimeFailure, match=r"cannot load kubeconfig .*: while parsing a flow sequence") as failed:
        load_api_access(_opts(inClusterConfig=False, auth=str(tmp_path / "not-yaml")), urlsplit(""))
    assert "\n" not in str(failed.value)  # one line, as every start-up failure


def test_bare_url_has_no_credentials() -> None:
    access = load_api_access(_opts(inClusterConfig=False), urlsplit("http://127.0.0.1:8080"))
    assert access.base_url == "http://127.0.0.1:8080"
    assert "Authorization" not in access.headers()
    assert not access.https


def test_bare_url_missing_or_bad_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="invalid kubernetes master url"):
        load_api_access(_opts(inClusterConfig=False), urlsplit(""))
    with pytest.raises(UsageError, match="unsupported scheme"):
        load_api_access(_opts(inClusterConfig=False), urlsplit("ftp://host"))


def test_use_service_account_adds_the_token_to_a_bare_url(service_account: Path) -> None:
    access = load_api_access(_opts(inClusterConfig=False, useServiceAccount=True), urlsplit("https://api:6443"),
                             service_account_dir=str(service_account))
    assert access.headers()["Authorization"] == "Bearer sa-token-123"
    token = service_account / "token"
    token.write_text("rotated-token\n")
    os.utime(token, (1, 1))  # a new mtime, as the kubelet's projected-token rotation gives
    assert access.bearer_token() == "rotated-token"
    none = load_api_access(_opts(inClusterConfig=False, useServiceAccount=True), urlsplit("https://api:6443"),
                           service_account_dir=str(service_account / "missing"))
    assert none.bearer_token() is None  # unreadable token: ignored, as Heapster


def test_the_tokens_sent_are_masked_in_logs_even_without_their_bearer_prefix(service_account: Path) -> None:
    access = load_api_access(_opts(inClusterConfig=False, useServiceAccount=True), urlsplit("https://api:6443"),
                             service_account_dir=str(service_account))
    assert access.bearer_token() == "sa-token-123"
    token = service_account / "token"
    token.write_text("rotated-token-456\n")
    os.utime(token, (2, 2))
    access.headers()
    echoed = "401 for token sa-token-123, then rotated-token-456"
    assert mask_secrets(echoed) == "401 for token xxxxx, then xxxxx"
