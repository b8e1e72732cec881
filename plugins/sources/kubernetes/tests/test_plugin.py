"""Registration: keys, declared options, Heapster-compatible kubelet settings, the event source factory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from heapster.errors import UsageError
from heapster.interfaces import OptionKind, PluginContext
from heapster.plugins import EVENT_SOURCE, METRIC_SOURCE, Plugins, load_plugins
from heapster_source_kubernetes.kubelet import KubeletSettings
from heapster_source_kubernetes.plugin import KUBELET_OPTIONS, kubelet_settings

HEAPSTER_OPTIONS = {"inClusterConfig", "insecure", "auth", "useServiceAccount", "kubeletPort", "kubeletHttps",
                    "host_id_annotation"}


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return load_plugins(strict=True)


@pytest.mark.parametrize("key", ["kubernetes", "kubernetes.summary_api"])
def test_metric_source_keys_declare_every_heapster_option(plugins: Plugins, key: str) -> None:
    reg = plugins.get(METRIC_SOURCE, key)
    assert reg.plugin.distribution == "heapster-source-kubernetes"
    names = {o.name for o in reg.options}
    assert names >= HEAPSTER_OPTIONS
    assert {"kubeletTimeout", "kubeletMaxBytes", "kubeletInsecureTLS", "kubeletConcurrency", "kubeletCAFile"} <= names


def test_event_source_declares_api_and_event_options(plugins: Plugins) -> None:
    reg = plugins.get(EVENT_SOURCE, "kubernetes")
    options = {o.name: o for o in reg.options}
    assert {"inClusterConfig", "insecure", "auth", "useServiceAccount"} <= set(options)
    assert (options["export_existing"].kind, options["export_existing"].default) == (OptionKind.BOOL, False)
    assert (options["events_api"].kind, options["events_api"].default) == ("str", "core/v1")
    assert (options["buffer_size"].kind, options["buffer_size"].default) == ("int", 100000)
    # The eventer never talks to kubelets: the metric source's kubelet options are accepted and ignored.
    assert all(options[o.name].ignored for o in KUBELET_OPTIONS)
    assert not any(options[name].ignored for name in ("inClusterConfig", "insecure", "auth", "useServiceAccount",
                                                      "export_existing", "events_api", "buffer_size"))


def test_a_heapster_source_line_configures_the_event_source_naming_its_kubelet_options(plugins: Plugins) -> None:
    """Go's eventer read only the API options of its --source (common/kubernetes/configs.go) and ignored the
    rest, so a line copied from heapster's command line worked; an option neither source has is still an error."""
    line = "kubernetes:https://kubernetes.default?useServiceAccount=true&kubeletHttps=false&kubeletPort=10255&auth="
    _, config = plugins.configure(EVENT_SOURCE, line)
    assert config.ignored == ("kubeletHttps", "kubeletPort")
    assert (config["useServiceAccount"], config["auth"]) == (True, "")
    assert plugins.configure(EVENT_SOURCE, "kubernetes:https://kubernetes.default?insecure=true")[1].ignored == ()
    with pytest.raises(UsageError) as raised:
        plugins.configure(EVENT_SOURCE, "kubernetes:?kubeletPort=10255&nope=1")
    assert "unknown option 'nope'" in str(raised.value) and "kubeletPort" not in str(raised.value)


def _settings(plugins: Plugins, query: str) -> KubeletSettings:
    _, config = plugins.configure(METRIC_SOURCE, f"kubernetes.summary_api:https://api:6443?{query}")
    return kubelet_settings(config)


def test_modern_defaults(plugins: Plugins) -> None:
    assert _settings(plugins, "") == KubeletSettings(https=True, port=None, verify=True, timeout=10.0,
                                                     max_bytes=64 * 1024 * 1024, concurrency=256)


def test_heapster_command_line_keeps_its_meaning(plugins: Plugins) -> None:
    s = _settings(plugins, "inClusterConfig=false&kubeletHttps=false&kubeletPort=10255")
    assert (s.https, s.port) == (False, 10255)
    s = _settings(plugins, "kubeletPort=10255")  # Heapster's kubeletHttps default was false
    assert (s.https, s.port) == (False, 10255)
    s = _settings(plugins, "kubeletHttps=true&kubeletPort=10250")
    assert (s.https, s.port, s.verify) == (True, 10250, True)
    s = _settings(plugins, "kubeletHttps=true")
    assert (s.https, s.port) == (True, None)
    assert not _settings(plugins, "insecure=true").verify
    assert not _settings(plugins, "kubeletInsecureTLS=1").verify
    # Heapster: HTTPS to kubelets with no CA configured (bare URL) is not verified.
    assert not _settings(plugins, "inClusterConfig=false&kubeletHttps=true").verify
    assert _settings(plugins, "kubeletTimeout=2500ms").timeout == 2.5


@pytest.mark.parametrize("query", ["kubeletPort=0", "kubeletPort=70000", "kubeletMaxBytes=0",
                                   "kubeletConcurrency=-1", "kubeletTimeout=0s", "kubeletCAFile=/nonexistent.pem"])
def test_out_of_range_values_are_usage_errors(plugins: Plugins, query: str) -> None:
    with pytest.raises(UsageError, match=query.split("=", maxsplit=1)[0]):
        _settings(plugins, query)


@pytest.mark.parametrize("query", ["kubeletPort=abc", "kubeletHttps=maybe", "bogus=1"])
def test_bad_options_are_rejected_by_the_core(plugins: Plugins, query: str) -> None:
    with pytest.raises(UsageError):
        plugins.configure(METRIC_SOURCE, f"kubernetes:https://api?{query}")


def test_event_source_factory_builds_the_eventers_source(plugins: Plugins) -> None:
    source = plugins.build_event_source(
        "kubernetes:http://127.0.0.1:1?inClusterConfig=false&export_existing=true&buffer_size=5", PluginContext())
    assert type(source).__module__ == "heapster_source_kubernetes.events"
    assert source.name == "kubernetes"


@pytest.mark.parametrize("query", ["events_api=extensions/v1beta1", "buffer_size=0"])
def test_event_source_bad_values(plugins: Plugins, query: str) -> None:
    with pytest.raises(UsageError):
        plugins.build_event_source(f"kubernetes:http://127.0.0.1:1?inClusterConfig=false&{query}", PluginContext())


def test_entry_point_module_imports_no_heavy_client() -> None:
    code = ("import sys, heapster_source_kubernetes.plugin; "
            "print(sorted(m for m in ('kubernetes', 'aiohttp', 'orjson') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("key", ["kubernetes", "kubernetes.summary_api"])
def test_a_lease_elector_is_provided_for_each_source_key(plugins: Plugins, key: str, tmp_path: object) -> None:
    from heapster.interfaces import LeaderElector, LeaseSettings
    from heapster.plugins import LEADER_ELECTOR
    from heapster_source_kubernetes.lease import LeaseElector

    assert plugins.get(LEADER_ELECTOR, key).plugin.distribution == "heapster-source-kubernetes"
    _, config = plugins.configure(METRIC_SOURCE, f"{key}:http://127.0.0.1:1?inClusterConfig=false")
    lease = LeaseSettings("kube-system", "heapster", "me", 15, 10, 2)
    elector = plugins.build_leader_elector(config, lease, PluginContext())
    assert isinstance(elector, LeaderElector) and isinstance(elector, LeaseElector)
    assert (elector.namespace, elector.name, elector.identity) == ("kube-system", "heapster", "me")
    assert elector.api.api_client.configuration.host == "http://127.0.0.1:1"


def test_a_source_without_an_elector_is_a_usage_error(plugins: Plugins) -> None:
    from heapster.interfaces import LeaseSettings

    _, config = plugins.configure(METRIC_SOURCE, "static:?nodes=1")
    with pytest.raises(UsageError, match="no leader elector 'static'"):
        plugins.build_leader_elector(config, LeaseSettings("ns", "n", "me"), PluginContext())
