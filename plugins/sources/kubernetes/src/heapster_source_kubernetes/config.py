"""Kubernetes API access from the source URI: in-cluster config, a kubeconfig, or a bare URL.

In-cluster access, a bare URL and the common kubeconfig (a server, its CA, a token or a client
certificate) are built by :class:`LightConfiguration` without importing the ``kubernetes`` client
(+38 MiB of RSS: its modules, pydantic, cryptography, requests, ...); other kubeconfigs (exec
plugins, auth providers, basic auth, proxies) are read by the client's loader, and the client is
loaded only when a typed client is asked for (the Lease, the ConfigMap checkpoint). :class:`ApiAccess`
turns either into what both the watch code and the kubelet client need (base URL, auth header, SSL
context).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import contextlib
import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult

from heapster.errors import RuntimeFailure, UsageError
from heapster.http1 import Client, Origin
from heapster.logs import register_secret

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_TTL = 1.0
"""Seconds a token read from the client configuration is reused before it is read again."""



class ConfigError(Exception):
    """The in-cluster environment is incomplete (the ``kubernetes`` client's ``ConfigException``)."""


def join_host_port(host: str, port: str) -> str:
    """Go's ``net.JoinHostPort``: IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host or "%" in host else f"{host}:{port}"


@dataclass
class LightConfiguration:
    """The part of ``kubernetes.client.Configuration`` :class:`ApiAccess` uses, built without that client.

    ``token_file`` (in-cluster) is read again at every :meth:`auth_settings`, so a rotating projected
    token is followed; :class:`ApiAccess` calls it at most once a second.
    """

    host: str
    verify_ssl: bool = True
    ssl_ca_cert: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str = ""
    password: str = ""
    token_file: str | None = None
    _token: str = field(default="", repr=False)

    @classmethod
    def in_cluster(cls, environ: Mapping[str, str], token_file: str, cert_file: str) -> LightConfiguration:
        """The pod's service account, as the client's ``InClusterConfigLoader`` (same checks and messages)."""
        host, port = environ.get("KUBERNETES_SERVICE_HOST", ""), environ.get("KUBERNETES_SERVICE_PORT", "")
        if not host or not port:
            msg = "Service host/port is not set."
            raise ConfigError(msg)
        for path, what in ((token_file, "Service token file"), (cert_file, "Service certification file")):
            if not os.path.isfile(path):
                msg = f"{what} does not exist."
                raise ConfigError(msg)
        configuration = cls(f"https://{join_host_port(host, port)}", ssl_ca_cert=cert_file, token_file=token_file)
        if not configuration.read_token():
            msg = "Token file exists but empty."
            raise ConfigError(msg)
        with open(cert_file, encoding="utf-8") as fh:
            if not fh.read().strip():
                msg = "Cert file exists but empty."
                raise ConfigError(msg)
        return configuration

    def read_token(self) -> str:
        """The service-account token as the file holds it now (the last one read if it cannot be read)."""
        if self.token_file:
            try:
                with open(self.token_file, encoding="utf-8") as fh:
                    self._token = fh.read().strip() or self._token
            except OSError:
                pass
        return self._token

    def auth_settings(self) -> dict[str, Any]:
        """As the client's: ``{"BearerToken": {"value": "Bearer <token>"}}`` when there is a token."""
        token = self.read_token()
        return {"BearerToken": {"value": f"Bearer {token}"}} if token else {}

    def get_basic_auth_token(self) -> str | None:
        return None

    def client_configuration(self) -> Any:
        """The equivalent ``kubernetes.client.Configuration`` (imports the client), following the token file."""
        from kubernetes import client

        configuration: Any = client.Configuration()
        configuration.host = self.host
        configuration.verify_ssl = self.verify_ssl
        configuration.ssl_ca_cert = self.ssl_ca_cert
        configuration.cert_file = self.cert_file
        configuration.key_file = self.key_file
        if self.token_file:
            def refresh(config: Any) -> None:
                config.api_key["authorization"] = f"bearer {self.read_token()}"

            configuration.api_key["authorization"] = f"bearer {self.read_token()}"
            configuration.refresh_api_key_hook = refresh
        elif self._token:  # a kubeconfig's token, as the client's kubeconfig loader sets it
            configuration.api_key["BearerToken"] = f"Bearer {self._token}"
        return configuration


API_MAX_BYTES = 1 << 30
"""Cap of one API list page body (and of the unread part of a watch stream)."""
API_CONNECT_TIMEOUT = 10.0
"""Seconds to make a connection to the API server."""


@dataclass
class ApiAccess:
    """How to talk to the API server: base URL, TLS settings and the credentials to send.

    ``configuration`` is the ``kubernetes.client.Configuration`` a kubeconfig was loaded into, or a
    :class:`LightConfiguration` (in-cluster, bare URL); it refreshes rotating tokens (in-cluster)
    when :meth:`headers` is called.
    """

    configuration: Any
    base_url: str
    verify: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    extra_token: str | None = None
    extra_token_file: str | None = None
    _token_mtime: float = field(default=-1.0, repr=False)
    _registered_token: str | None = field(default=None, repr=False)
    _ssl: ssl.SSLContext | None = field(default=None, repr=False)
    _config_token: tuple[float, str | None] = field(default=(-TOKEN_TTL, None), repr=False)
    _clients: dict[asyncio.AbstractEventLoop, Client] = field(default_factory=dict, repr=False, compare=False)

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https:")

    def bearer_token(self) -> str | None:
        """The bearer token to send (no ``Bearer`` prefix), or None; registered to be masked in logs."""
        token = self._current_token()
        if token and token != self._registered_token:
            register_secret(token)  # also without its "Bearer " prefix, e.g. echoed in an error
            self._registered_token = token
        return token

    def _current_token(self) -> str | None:
        if self.extra_token_file:
            self._reload_token()
        if self.extra_token:
            return self.extra_token
        read_at, token = self._config_token
        now = time.monotonic()
        if now - read_at >= TOKEN_TTL:
            token = self._config_bearer_token()
            self._config_token = (now, token)
        return token

    def _config_bearer_token(self) -> str | None:
        # auth_settings() runs the client's refresh hook (it re-reads rotating tokens): one call per
        # TOKEN_TTL rather than one per kubelet request (3.7% of heapster's CPU at 300 nodes x 10 s).
        auth = self.configuration.auth_settings().get("BearerToken")
        value = auth.get("value") if auth else None
        if not value:
            return None
        scheme, _, token = str(value).partition(" ")
        return token.strip() if token and scheme.lower() == "bearer" else str(value).strip()

    def _reload_token(self) -> None:
        """Re-read ``useServiceAccount``'s token file when it changed (projected tokens rotate)."""
        assert self.extra_token_file is not None
        try:
            mtime = os.stat(self.extra_token_file).st_mtime
            if mtime != self._token_mtime:
                with open(self.extra_token_file, encoding="utf-8") as fh:
                    self.extra_token = fh.read().strip() or None
                self._token_mtime = mtime
        except OSError:
            pass  # keep the last token; Heapster ignored an unreadable file

    def headers(self) -> dict[str, str]:
        """Request headers with the current credentials."""
        headers = {"Accept": "application/json", "User-Agent": "heapster-python"}
        token = self.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.configuration.username or self.configuration.password:
            register_secret(self.configuration.password or "", self.configuration.username or "")
            basic = self.configuration.get_basic_auth_token()
            if basic:
                headers["Authorization"] = basic
        return headers

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for the API server (CA, client certificate, verification)."""
        if self._ssl is None:
            self._ssl = make_ssl_context(self.verify, self.ca_file, self.cert_file, self.key_file)
        return self._ssl

    def http_client(self) -> tuple[Client, Origin]:
        """The running loop's kept-alive client for API requests (list pages and watches), and the API's origin."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for old in [old for old in self._clients if old.is_closed()]:
                self._clients.pop(old).close()
            tls = self.ssl_context() if self.https else None  # no OpenSSL context (~1.2 MiB) for plain HTTP
            client = self._clients[loop] = Client(tls, max_bytes=API_MAX_BYTES, connect_timeout=API_CONNECT_TIMEOUT)
        return client, Origin.of_url(self.base_url)

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` with this configuration (for typed API calls; imports the client)."""
        from kubernetes import client

        configuration = self.configuration
        if isinstance(configuration, LightConfiguration):
            configuration = configuration.client_configuration()
        return client.ApiClient(configuration)

    def authorized_api_client(self) -> Any:
        """:meth:`api_client` that also sends the ``useServiceAccount`` token, as the source's own requests do.

        Public: the eventer's Lease and the ConfigMap checkpoint store use it to reach the cluster the
        events come from with the same access options (``inClusterConfig``, ``auth``, ``insecure``,
        ``useServiceAccount``).
        """
        client = self.api_client()
        if self.extra_token:
            client.configuration.api_key = {"BearerToken": f"Bearer {self.extra_token}"}
        return client


def make_ssl_context(verify: bool, ca_file: str | None, cert_file: str | None = None,
                     key_file: str | None = None) -> ssl.SSLContext:
    """A client TLS context: the CA file (else the system store), optional client cert, verification.

    Without verification no CA is loaded (the system store costs ~1.3 MiB and would never be read).
    """
    if verify:
        ctx = ssl.create_default_context(cafile=ca_file)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file or None)
    return ctx


def load_api_access(options: Mapping[str, Any], url: SplitResult, *,
                    environ: Mapping[str, str] | None = None,
                    service_account_dir: str = SERVICE_ACCOUNT_DIR) -> ApiAccess:
    """Build API access as Heapster's ``GetKubeClientConfig`` did (HEAPSTER.md §2.1).

    Raises :class:`UsageError` for contradictory options and :class:`RuntimeFailure` when the
    credentials the options ask for are missing (no in-cluster environment, unreadable kubeconfig).
    """
    env = os.environ if environ is None else environ
    override = f"{url.scheme}://{url.netloc}" if url.scheme and url.netloc else ""
    if override and url.scheme not in ("http", "https"):
        msg = f"unsupported scheme {url.scheme!r} in the kubernetes source URL; use http or https"
        raise UsageError(msg)
    insecure = bool(options.get("insecure"))
    auth = options.get("auth") or ""
    token_file = os.path.join(service_account_dir, "token")
    configuration: Any

    if options.get("inClusterConfig", True):
        if auth:
            msg = "option 'auth' needs inClusterConfig=false"
            raise UsageError(msg)
        try:
            configuration = LightConfiguration.in_cluster(env, token_file, os.path.join(service_account_dir, "ca.crt"))
        except (ConfigError, OSError) as exc:
            msg = (f"cannot use the in-cluster configuration ({exc}); run inside a pod with a service "
                   "account, or pass inClusterConfig=false with auth=<kubeconfig> or an API URL")
            raise RuntimeFailure(msg) from None
        if override:
            configuration.host = override
        if insecure:
            configuration.ssl_ca_cert = None
    elif auth:
        configuration = _load_kubeconfig(auth)
        if override:
            configuration.host = override
    else:
        if not override:
            msg = "invalid kubernetes master url specified: give an API URL or set auth=<kubeconfig>"
            raise UsageError(msg)
        configuration = LightConfiguration(override)
    if insecure:
        configuration.verify_ssl = False
    if not configuration.host:
        msg = "invalid kubernetes master url specified"
        raise UsageError(msg)

    extra_token_file = token_file if options.get("useServiceAccount") else None
    return ApiAccess(
        configuration=configuration,
        base_url=configuration.host.rstrip("/"),
        verify=bool(configuration.verify_ssl),
        ca_file=configuration.ssl_ca_cert or None,
        cert_file=configuration.cert_file or None,
        key_file=configuration.key_file or None,
        extra_token_file=extra_token_file,
    )


def _load_kubeconfig(path: str) -> Any:
    """The configuration of a kubeconfig's current context: a :class:`LightConfiguration` for the common forms
    (:func:`_light_kubeconfig`), else a ``kubernetes.client.Configuration`` from the client's loader."""
    if not os.path.isfile(path):
        msg = f"kubeconfig {path!r} (option 'auth') does not exist or is not a file"
        raise RuntimeFailure(msg)
    light = _light_kubeconfig(path)
    if light is not None:
        return light
    import yaml
    from kubernetes import client
    from kubernetes.config import kube_config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    load_kube_config: Any = kube_config.load_kube_config
    try:
        load_kube_config(config_file=path, client_configuration=configuration, persist_config=False)
    except (ConfigException, OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        # yaml.YAMLError: a file that is not YAML (the light reader left it to the client, which raises it)
        msg = f"cannot load kubeconfig {path!r}: {' '.join(str(exc).split())}"  # one line (yaml's spans several)
        raise RuntimeFailure(msg) from None
    return configuration


_LIGHT_CLUSTER_KEYS = frozenset({"server", "certificate-authority", "certificate-authority-data",
                                 "insecure-skip-tls-verify", "extensions"})
_LIGHT_USER_KEYS = frozenset({"token", "tokenFile", "client-certificate", "client-certificate-data", "client-key",
                              "client-key-data", "extensions"})
"""What :func:`_light_kubeconfig` reads; a cluster or user with any other key goes to the client's loader."""
_data_files: dict[bytes, str] = {}
"""Content -> private temporary file, for a kubeconfig's ``*-data`` fields (TLS contexts load files)."""


def _light_kubeconfig(path: str) -> LightConfiguration | None:
    """The current context of a kubeconfig that only needs a server, its CA (file or data), a TLS switch and a
    token (or token file) or client certificate, read as the ``kubernetes`` client's loader reads it (the
    same host, TLS files and token) without importing that client; None for anything else (exec plugins, auth
    providers, basic auth, proxies, several files) and for a kubeconfig it would reject: the client's loader
    then reads it and words the error."""
    import yaml  # the kubeconfig format; the client's loader uses the same library

    if os.pathsep in path:  # the client's loader reads a list of files
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            document = yaml.safe_load(fh)
        context = _named(document["contexts"], document["current-context"], "context")
        cluster = _named(document["clusters"], context["cluster"], "cluster")
        user: Any = {}
        if context.get("user") and document.get("users"):
            user = _named(document["users"], context["user"], "user", missing_ok=True) or {}
        server = cluster["server"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None
    if (not isinstance(server, str) or not isinstance(cluster, dict) or not isinstance(user, dict)
            or not cluster.keys() <= _LIGHT_CLUSTER_KEYS or not user.keys() <= _LIGHT_USER_KEYS
            or not all(isinstance(value, str) for key, value in {**cluster, **user}.items()
                       if key not in ("insecure-skip-tls-verify", "extensions"))):
        return None
    base = os.path.abspath(os.path.dirname(path))
    try:
        token = user["token"] if "token" in user else _read(base, user.get("tokenFile"))
        host = server.rstrip("/")
        configuration = LightConfiguration(host, _token=token or "")  # ApiAccess strips the header's token
        if host.startswith("https"):
            configuration.ssl_ca_cert = _file_or_data(base, cluster, "certificate-authority")
            configuration.cert_file = _file_or_data(base, user, "client-certificate")
            configuration.key_file = _file_or_data(base, user, "client-key")
    except (OSError, UnicodeDecodeError, ValueError, binascii.Error):
        return None
    if "insecure-skip-tls-verify" in cluster:
        configuration.verify_ssl = not cluster["insecure-skip-tls-verify"]
    return configuration


def _named(entries: Any, name: Any, field: str, missing_ok: bool = False) -> Any:
    """``field`` of the first entry called ``name`` (as the client's loader merges a list); KeyError when there
    is none, or an entry without a name."""
    found = [entry for entry in entries if entry["name"] == name]  # every entry needs a name, as there
    if found:
        return found[0][field]
    if missing_ok:
        return None
    raise KeyError(name)


def _read(base: str, name: str | None) -> str | None:
    """The text of file ``name`` (relative to the kubeconfig's directory); None without a name."""
    if name is None:
        return None
    if not name:  # the client's loader would open the directory
        raise ValueError(name)
    with open(os.path.normpath(os.path.join(base, name)), encoding="utf-8") as fh:
        return fh.read()


def _file_or_data(base: str, entry: Mapping[str, str], key: str) -> str | None:
    """The file of ``key`` (relative to the kubeconfig's directory), or a private temporary file holding the
    base64-decoded ``key-data`` (which wins), as the client's loader makes; OSError when the file is missing."""
    if f"{key}-data" in entry:
        data = entry[f"{key}-data"]
        if not data:
            return None
        content = base64.standard_b64decode(data)
        name = _data_files.get(content)
        if name is None or not os.path.isfile(name):
            import tempfile  # only for ``*-data`` fields: tempfile loads shutil, bz2 and lzma (eventer start-up RSS)

            if not _data_files:
                atexit.register(_remove_data_files)
            fd, name = tempfile.mkstemp()
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            _data_files[content] = name
        return name
    if key not in entry:
        return None
    name = os.path.normpath(os.path.join(base, entry[key]))
    if not os.path.isfile(name):
        msg = f"File does not exist: {name}"
        raise OSError(msg)
    return name


def _remove_data_files() -> None:
    for name in _data_files.values():
        with contextlib.suppress(OSError):
            os.remove(name)
    _data_files.clear()
