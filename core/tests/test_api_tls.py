"""HTTPS with client certificates: 401 without one, 403 for a CN outside --allowed_users, /healthz open."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import trustme

from heapster.api import create_api_app, start_api_server
from heapster.api.security import common_name
from heapster.errors import UsageError
from heapster.model import DataBatch, MetricSet, MetricValue
from heapster.store import MetricStore
from heapster.testing import FakeClock

STAMP = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("pki")
    server_ca, client_ca, other_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(base / "server.pem")
    for pem in server.cert_chain_pems[1:]:
        pem.write_to_path(base / "server.pem", append=True)
    server.private_key_pem.write_to_path(base / "server.key")
    client_ca.cert_pem.write_to_path(base / "client-ca.pem")
    yield {
        "dir": base, "server_ca": server_ca, "client_ca": client_ca,
        "alice": client_ca.issue_cert("alice@example.com", common_name="alice"),
        "mallory": client_ca.issue_cert("mallory@example.com", common_name="mallory"),
        "stranger": other_ca.issue_cert("alice2@example.com", common_name="alice"),
    }


def client_context(pki: dict[str, Any], who: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    pki["server_ca"].configure_trust(context)
    if who is not None:
        pki[who].configure_cert(context)
    return context


def settings(pki: dict[str, Any], allowed: list[str], client_ca: bool = True) -> dict[str, Any]:
    base = pki["dir"]
    return {"listen_ip": "127.0.0.1", "heapster_port": 0, "tls_cert": str(base / "server.pem"),
            "tls_key": str(base / "server.key"), "tls_client_ca": str(base / "client-ca.pem") if client_ca else "",
            "allowed_users": allowed}


@pytest.fixture
def store() -> MetricStore:
    store = MetricStore()
    store.ingest(DataBatch(STAMP, {"node:n1": MetricSet({"type": "node", "hostname": "n1"},
                                                         {"cpu/usage_rate": MetricValue(5)})}))
    return store


async def start(store: MetricStore, config: dict[str, Any]) -> tuple[Any, str]:
    app = create_api_app(store, None, config, clock=FakeClock(STAMP.timestamp() + 30))
    runner = await start_api_server(app, config)
    host, port = runner.addresses[0][:2]
    return runner, f"https://{host}:{port}"


@pytest.fixture
async def secured(pki: dict[str, Any], store: MetricStore) -> AsyncIterator[str]:
    runner, url = await start(store, settings(pki, ["alice", "bob"]))
    yield url
    await runner.cleanup()


async def status(url: str, context: ssl.SSLContext) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("path", ["/api/v1/model/nodes/", "/metrics", "/apis/metrics.k8s.io/v1beta1/nodes",
                                  "/api/v1/metric-export"])
async def test_no_certificate_is_401(pki: dict[str, Any], secured: str, path: str) -> None:
    assert (await status(secured + path, client_context(pki, None)))[0] == 401


async def test_user_outside_allowed_users_is_403(pki: dict[str, Any], secured: str) -> None:
    code, body = await status(secured + "/api/v1/model/nodes/", client_context(pki, "mallory"))
    assert code == 403 and "mallory" in body
    assert (await status(secured + "/metrics", client_context(pki, "mallory")))[0] == 403


async def test_allowed_user_gets_through(pki: dict[str, Any], secured: str) -> None:
    # go-restful's json.MarshalIndent(v, " ", " ")
    assert await status(secured + "/api/v1/model/nodes/", client_context(pki, "alice")) == (200, '[\n  "n1"\n ]')


async def test_healthz_needs_no_certificate(pki: dict[str, Any], secured: str) -> None:
    assert await status(secured + "/healthz", client_context(pki, None)) == (200, "ok")
    assert await status(secured + "/healthz/healthz", client_context(pki, None)) == (200, "ok")


async def test_certificate_from_another_ca_is_refused(pki: dict[str, Any], secured: str) -> None:
    with pytest.raises(aiohttp.ClientError):
        await status(secured + "/api/v1/model/nodes/", client_context(pki, "stranger"))


async def test_empty_allowed_users_admits_any_authenticated_user(pki: dict[str, Any], store: MetricStore) -> None:
    runner, url = await start(store, settings(pki, []))
    try:
        assert (await status(url + "/api/v1/model/nodes/", client_context(pki, "mallory")))[0] == 200
        assert (await status(url + "/api/v1/model/nodes/", client_context(pki, None)))[0] == 401
    finally:
        await runner.cleanup()


async def test_tls_without_client_ca_is_open(pki: dict[str, Any], store: MetricStore) -> None:
    runner, url = await start(store, settings(pki, [], client_ca=False))
    try:
        assert (await status(url + "/api/v1/model/nodes/", client_context(pki, None)))[0] == 200
        with pytest.raises(aiohttp.ClientError):   # plain HTTP on the HTTPS port does not work
            async with aiohttp.ClientSession() as session, session.get(url.replace("https", "http") + "/healthz"):
                pass
    finally:
        await runner.cleanup()


def test_allowed_users_without_a_client_ca_is_refused(pki: dict[str, Any], store: MetricStore) -> None:
    with pytest.raises(UsageError, match="--allowed_users needs --tls_client_ca"):
        create_api_app(store, None, settings(pki, ["alice"], client_ca=False))


def test_the_last_of_several_common_names_is_the_user() -> None:
    subject = ((("organizationName", "org"),), (("commonName", "first"),), (("commonName", "last"),))
    assert common_name({"subject": subject}) == "last"
    assert common_name({"subject": ((("organizationName", "org"),),)}) is None


async def test_a_certificate_with_two_common_names_is_authorised_by_the_last(
        pki: dict[str, Any], store: MetricStore, tmp_path: Any) -> None:
    """A real certificate whose subject is CN=alice, CN=mallory: Go's x509 (Heapster) sees mallory."""
    runner, url = await start(store, settings(pki, ["alice"]))
    try:
        context = client_context(pki, None)
        cert, key = _two_cn_certificate(pki["client_ca"], tmp_path)
        context.load_cert_chain(cert, key)
        code, body = await status(url + "/api/v1/model/nodes/", context)
        assert code == 403 and "mallory" in body
    finally:
        await runner.cleanup()


def _two_cn_certificate(ca: trustme.CA, tmp_path: Any) -> tuple[str, str]:
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, "mallory")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    cert_path, key_path = tmp_path / "two-cn.pem", tmp_path / "two-cn.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
