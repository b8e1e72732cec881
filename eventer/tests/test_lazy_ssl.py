"""OpenSSL is loaded only once something speaks TLS (:mod:`heapster_eventer.lazyssl`), and TLS then works as
before: through asyncio (an ``SSLContext``, or ``ssl=True`` as the first use), heapster's HTTP client, and the
eventer process against an ``https`` API server."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from heapster_eventer.testing import EventerProcess
from heapster_simulator.testing import simulator_process

OPENSSL_MAPPED = """
def openssl_mapped():
    return sorted({line.split()[-1].rsplit("/", 1)[-1] for line in open("/proc/self/maps")
                   if "/libssl" in line or "/libcrypto" in line})
"""

HTTP_PATH = OPENSSL_MAPPED + """
import sys
from heapster_eventer.lazyssl import defer_ssl
assert defer_ssl()
import asyncio
from heapster_eventer.app import Eventer
from heapster_eventer.flags import parse_args
from heapster.http1.client import Client, FetchError, Origin

async def main():
    eventer = Eventer(parse_args(["--source=kubernetes:http://127.0.0.1:1?inClusterConfig=false", "--sink=log",
                                  "--healthz-ip=127.0.0.1", "--healthz-port=0"]))
    built = eventer.build()
    server = await eventer.serve_health()
    await built.source.start()
    try:  # a plain connection failing, through heapster's client as the informer's
        await Client(None, max_bytes=1024).get(Origin.of_url("http://127.0.0.1:1"), b"GET / HTTP/1.1\\r\\n\\r\\n")
    except FetchError:
        pass
    else:
        raise AssertionError("a refused connection answered")
    await built.source.close()
    await server.cleanup()

asyncio.run(main())
print(type(sys.modules["ssl"]).__name__, openssl_mapped())
"""

TLS_FIRST_THROUGH_ASYNCIO = OPENSSL_MAPPED + """
import sys
from heapster_eventer.lazyssl import defer_ssl
assert defer_ssl()
import asyncio
import asyncio.base_events, asyncio.selector_events, asyncio.sslproto, socket
import ssl  # lazy: costs nothing
port, ca = int(sys.argv[1]), sys.argv[2]
assert openssl_mapped() == [], openssl_mapped()

async def main():
    try:  # the first use of ssl at all: asyncio makes its default context (the test CA is not in it)
        await asyncio.open_connection("127.0.0.1", port, ssl=True, server_hostname="localhost")
    except ssl.SSLCertVerificationError:
        print("verification failed")
    assert asyncio.base_events.ssl is asyncio.selector_events.ssl is asyncio.sslproto.ssl is sys.modules["ssl"]
    context = ssl.create_default_context(cafile=ca)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
    writer.write(b"ping\\n")
    print((await reader.readline()).decode().strip())
    writer.close()
    await writer.wait_closed()
    raw = ssl.create_default_context(cafile=ca).wrap_socket(socket.socket(), server_hostname="localhost")
    try:  # asyncio still refuses an ssl socket in its sock_* methods
        await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", port))
    except TypeError:
        print("ssl socket refused")
    raw.close()

asyncio.run(main())
print(type(sys.modules["ssl"]).__name__, bool(openssl_mapped()))
"""

HTTP1_CLIENT_OVER_TLS = """
import sys
from heapster_eventer.lazyssl import defer_ssl
assert defer_ssl()
import asyncio
from heapster.http1 import Client, Origin, get_request
import ssl
port, ca = int(sys.argv[1]), sys.argv[2]

async def main():
    client = Client(ssl.create_default_context(cafile=ca), max_bytes=1 << 20)
    answer = await client.get(Origin("https", "localhost", port), get_request(f"https://localhost:{port}/hello"))
    print(answer.status, bytes(answer.body).decode())
    untrusting = Client(ssl.create_default_context(), max_bytes=1 << 20)
    try:
        await untrusting.get(Origin("https", "localhost", port), get_request(f"https://localhost:{port}/hello"))
    except Exception as exc:
        print(type(exc).__name__, "certificate verification failed" in str(exc))

asyncio.run(main())
"""


def run_probe(code: str, *args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A TLS server on loopback (a test CA's certificate for ``localhost``): answers a line with ``pong`` and an
    HTTP GET with ``200 hello``. Yields its port and the CA file."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    stopping = threading.Event()

    def serve(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls, tls.makefile("rwb") as stream:
                line = stream.readline()
                if line.startswith(b"GET "):
                    while stream.readline() not in (b"\r\n", b""):
                        pass
                    stream.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
                else:
                    stream.write(b"pong\n")
                stream.flush()
        except (OSError, ssl.SSLError):
            pass  # a client that refused our certificate

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], str(ca_file)
    finally:
        stopping.set()
        listener.close()
        thread.join(10)


def test_the_eventer_with_an_http_api_server_never_loads_openssl() -> None:
    assert run_probe(HTTP_PATH)[-1] == "_LazyModule []"


def test_asyncio_speaks_tls_when_ssl_is_first_used_through_it(tls_server: tuple[int, str]) -> None:
    port, ca = tls_server
    lines = run_probe(TLS_FIRST_THROUGH_ASYNCIO, str(port), ca)
    assert lines == ["verification failed", "pong", "ssl socket refused", "module True"]


def test_heapsters_http_client_speaks_tls_after_the_deferred_import(tls_server: tuple[int, str]) -> None:
    port, ca = tls_server
    assert run_probe(HTTP1_CLIENT_OVER_TLS, str(port), ca) == ["200 hello", "FetchError True"]


def test_the_eventer_process_exports_from_an_https_api_server(tmp_path: Path) -> None:
    with simulator_process(tmp_path, nodes=1, pods_per_node=2, events_per_second=20, api_scheme="https",
                           token="tls") as ready:
        assert str(ready["api"]).startswith("https://")
        kubeconfig = tmp_path / "simulator" / "kubeconfig"
        eventer = EventerProcess([f"--source=kubernetes:?inClusterConfig=false&auth={kubeconfig}", "--sink=log",
                                  "--frequency=5s"], tmp_path / "eventer.log").start()
        try:
            eventer.wait_for(lambda: any(r.get("events", 0) > 0 for r in eventer.logs("eventer.exporting")), 60,
                             "events exported from the https API server")
            assert eventer.process is not None
            maps = Path(f"/proc/{eventer.process.pid}/maps").read_text()
            assert "/libssl" in maps  # loaded on demand, by the API server's TLS
        finally:
            assert eventer.stop() == 0
