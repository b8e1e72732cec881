"""Shards over HTTPS with client certificates (``--tls_client_ca``): peers present a certificate and verify theirs.

Two real shard APIs (``create_api_app`` with a real store and coordinator, served by ``start_api_server``) on
loopback, certificates from throwaway CAs made at test time (trustme, and ``cryptography`` for the one without
``clientAuth``). The peers' serving certificates name ``*.heapster.ns.svc``: the name each peer is checked
against is its stable DNS name in the headless Service, not the address dialled.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from heapster.api import create_api_app, start_api_server
from heapster.cli import main
from heapster.errors import UsageError
from heapster.model import DataBatch
from heapster.settings import HeapsterSettings
from heapster.shards import MISSING_HEADER
from heapster.shards.client import PeerClient
from heapster.shards.coordinator import ShardCoordinator
from heapster.shards.discovery import Peers, PeerService
from heapster.shards.role import FirstShard
from heapster.shards.tls import peer_ssl_context
from heapster.store import create_metric_store
from heapster.testing.batches import synthetic_batch
from heapster.testing.shards import StaticEndpointSlices, aggregated, shard_of

COUNT = 2
SERVICE = PeerService("ns", "heapster", scheme="https")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def server_auth_only(ca: trustme.CA, path: Path) -> tuple[str, str]:
    """A certificate of ``ca`` for the shards' names whose extended key usage is serverAuth alone."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "heapster")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.heapster.ns.svc")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    (path / "server-only.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (path / "server-only.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(path / "server-only.pem"), str(path / "server-only.key")


def write(cert: trustme.LeafCert, path: Path, name: str) -> tuple[str, str]:
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(path / f"{name}.pem", append=i > 0)
    cert.private_key_pem.write_to_path(path / f"{name}.key")
    return str(path / f"{name}.pem"), str(path / f"{name}.key")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("shard-pki")
    ca, other = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(base / "ca.pem")
    found = {"dir": base, "ca": ca, "ca_file": str(base / "ca.pem"),
             # trustme's leaf certificates carry extended key usage serverAuth and clientAuth
             "serving": write(ca.issue_cert("*.heapster.ns.svc", "127.0.0.1", common_name="heapster"), base, "srv"),
             "by_ip_only": write(ca.issue_cert("127.0.0.1", common_name="heapster"), base, "ip"),
             "client": write(ca.issue_cert("shards@example.com", common_name="shards"), base, "client"),
             "stranger": write(other.issue_cert("x@example.com", common_name="heapster"), base, "stranger"),
             "server_only": server_auth_only(ca, base),
             "user": ca.issue_cert("alice@example.com", common_name="alice")}
    yield found


def shard_settings(pki: dict[str, Any], index: int, serving: str = "serving", **more: Any) -> HeapsterSettings:
    cert, key = pki[serving]
    return HeapsterSettings.from_mapping({
        "listen_ip": "127.0.0.1", "heapster_port": 0, "metric_resolution": 10.0, "shard": (index, COUNT),
        "tls_cert": cert, "tls_key": key, "tls_client_ca": pki["ca_file"], "shard_peer_ca": pki["ca_file"], **more})


# --- the start-up check ----------------------------------------------------------------------------------------
def test_the_serving_certificate_is_the_client_certificate_when_it_may_authenticate_a_client(
        pki: dict[str, Any]) -> None:
    assert isinstance(peer_ssl_context(shard_settings(pki, 0)), ssl.SSLContext)


def test_a_serving_certificate_without_client_auth_needs_a_client_certificate_flag(pki: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match=r"--tls_cert/--tls_key .*(unsuitable|unsupported) certificate purpose.*"
                                         r"--shard_client_cert/--shard_client_key"):
        peer_ssl_context(shard_settings(pki, 0, "server_only"))
    cert, key = pki["client"]
    assert peer_ssl_context(shard_settings(pki, 0, "server_only", shard_client_cert=cert, shard_client_key=key))


def test_heapster_exits_2_naming_the_flags(pki: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = pki["server_only"]
    assert main(["--source=static:", "--shard=0/2", f"--tls_cert={cert}", f"--tls_key={key}",
                 f"--tls_client_ca={pki['ca_file']}", "--heapster_port=0"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("heapster: peer shards would refuse the client certificate of --tls_cert/--tls_key")


def test_a_client_certificate_of_another_ca_or_cn_is_refused_at_start(pki: dict[str, Any]) -> None:
    cert, key = pki["stranger"]
    with pytest.raises(UsageError, match=r"--shard_client_cert/--shard_client_key .*: unable to get local "
                                         r"issuer certificate"):
        peer_ssl_context(shard_settings(pki, 0, shard_client_cert=cert, shard_client_key=key))
    with pytest.raises(UsageError, match=r"CN 'heapster' .* not in --allowed_users"):
        peer_ssl_context(shard_settings(pki, 0, allowed_users=("alice",)))
    assert peer_ssl_context(shard_settings(pki, 0, allowed_users=("alice", "heapster")))
    with pytest.raises(UsageError, match="cannot load --shard_peer_ca"):
        peer_ssl_context(shard_settings(pki, 0, shard_peer_ca=str(pki["dir"] / "missing.pem")))


def test_without_client_certificates_peers_get_a_context_without_one(pki: dict[str, Any]) -> None:
    assert peer_ssl_context(shard_settings(pki, 0, tls_client_ca="")) is not None
    assert peer_ssl_context(HeapsterSettings.from_mapping({"shard": (0, 2)})) is None  # plain HTTP


# --- two shards over HTTPS -------------------------------------------------------------------------------------
def processed(index: int) -> DataBatch:
    return aggregated(shard_of(synthetic_batch(NOW, nodes=6, pods=2, namespaces=("default", "apps")), index, COUNT))


async def start_shards(pki: dict[str, Any], serving: str = "serving",
                       client_tls: bool = True) -> tuple[list[ShardCoordinator], list[Any], list[str]]:
    slices = StaticEndpointSlices()
    coordinators, runners, urls = [], [], []
    for index in range(COUNT):
        settings = shard_settings(pki, index, serving)
        peers = Peers(index, COUNT, slices, SERVICE)
        tls = peer_ssl_context(settings) if client_tls else ssl.create_default_context(cafile=pki["ca_file"])
        coordinator = ShardCoordinator(peers, FirstShard(index), PeerClient(2.0, tls, peers.server_names), 1.0)
        store = create_metric_store({"store_duration": 900.0})
        await store.export(processed(index))
        runner = await start_api_server(create_api_app(store, None, settings, shards=coordinator), settings)
        port = runner.addresses[0][1]
        slices.add(f"heapster-{index}", port)
        coordinators.append(coordinator)
        runners.append(runner)
        urls.append(f"https://127.0.0.1:{port}")
    return coordinators, runners, urls


@pytest.fixture
async def user_session(pki: dict[str, Any]) -> AsyncIterator[aiohttp.ClientSession]:
    context = ssl.create_default_context(cafile=pki["ca_file"])
    pki["user"].configure_cert(context)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        yield session


async def stop(coordinators: list[ShardCoordinator], runners: list[Any]) -> None:
    for coordinator, runner in zip(coordinators, runners, strict=True):
        await coordinator.close()
        await runner.cleanup()


async def nodes_of(session: aiohttp.ClientSession, url: str) -> tuple[list[str], str | None]:
    async with session.get(url + "/api/v1/model/nodes/") as resp:
        assert resp.status == 200
        return await resp.json(), resp.headers.get(MISSING_HEADER)


async def test_shards_with_client_certificates_answer_as_one_and_combine_their_aggregates(
        pki: dict[str, Any], user_session: aiohttp.ClientSession) -> None:
    coordinators, runners, urls = await start_shards(pki)
    try:
        for url in urls:
            nodes, missing = await nodes_of(user_session, url)
            assert (len(nodes), missing) == (6, None)
        results = await asyncio.gather(*(c.finish(processed(i)) for i, c in enumerate(coordinators)))
        assert [r.missing for r in results] == [{}, {}]  # the partials route, too, took the client certificate
    finally:
        await stop(coordinators, runners)


async def test_a_peer_call_without_a_client_certificate_is_refused_and_named(
        pki: dict[str, Any], user_session: aiohttp.ClientSession) -> None:
    coordinators, runners, urls = await start_shards(pki, client_tls=False)  # the behaviour before this change
    try:
        nodes, missing = await nodes_of(user_session, urls[0])
        assert len(nodes) < 6 and missing == "1"
        result = await coordinators[0].finish(processed(0))
        assert "HTTP 401" in result.missing[1]
    finally:
        await stop(coordinators, runners)


async def test_a_peer_whose_certificate_lacks_its_dns_name_is_not_trusted(
        pki: dict[str, Any], user_session: aiohttp.ClientSession) -> None:
    coordinators, runners, urls = await start_shards(pki, serving="by_ip_only")
    try:
        nodes, missing = await nodes_of(user_session, urls[0])
        assert len(nodes) < 6 and missing == "1"
        result = await coordinators[0].finish(processed(0))
        assert "certificate is not valid for 'heapster-1.heapster.ns.svc'" in result.missing[1]
    finally:
        await stop(coordinators, runners)
