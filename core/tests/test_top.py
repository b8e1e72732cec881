"""``heapster top``: kubectl-top tables from a real heapster HTTP API; kubectl's flags; clear errors and exit codes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from heapster.cli import main
from heapster.testing.api import ApiServerThread, populated_store
from heapster.testing.net import free_port
from heapster.top import format_cpu, format_memory, format_percent, latest_value, render_table

RESOLUTION = 10


@pytest.fixture(scope="module")
def api_server() -> Iterator[ApiServerThread]:
    # Each container's CPU counter grows by 1 s per 10 s window (100m), its working set is ~7.6 MiB.
    store, cluster = asyncio.run(populated_store(range(3), RESOLUTION))
    server = ApiServerThread(store, cluster, RESOLUTION)
    yield server
    server.stop()


def test_formats_are_kubectls() -> None:
    assert format_cpu(250.7) == "250m" and format_cpu(None) == "<unknown>"
    assert format_memory(512 * 1024 * 1024 + 5) == "512Mi" and format_memory(0) == "0Mi"
    assert format_percent(100, 4000) == "2%" and format_percent(5, 0) == "<unknown>"
    assert render_table(("A", "LONGER"), [("xyz", "1"), ("q", "22")]) == "A     LONGER\nxyz   1\nq     22\n"
    assert latest_value({"metrics": [{"timestamp": "2024-01-01T00:00:10Z", "value": 3},
                                     {"timestamp": "2024-01-01T00:00:00Z", "value": 9}]}) == 3.0
    assert latest_value({"metrics": [], "latestTimestamp": "0001-01-01T00:00:00Z"}) is None


def test_top_nodes(api_server: ApiServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "nodes", "--server", api_server.url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    # Node counters grow like a container's: 100m of 4 cores = 2%; 8 MB working set of 64 MiB = 11%.
    assert [line.split() for line in out[1:]] == [["node-0", "100m", "2%", "7Mi", "11%"],
                                                  ["node-1", "100m", "2%", "7Mi", "11%"]]


def test_top_pods_in_a_namespace_and_everywhere(api_server: ApiServerThread,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "pods", "-n", "default", "--server", api_server.url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    # A pod is the sum of its two containers: 200m, 2 x 8 MB.
    assert [line.split() for line in out[1:]] == [[f"pod-{n}-{p}", "200m", "15Mi"] for n in range(2) for p in range(2)]
    assert main(["top", "pods", "-A", "--server", api_server.url, "--sort-by", "memory", "--no-headers"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 4 and all(r[0] == "default" and r[2] == "200m" for r in rows)


def test_unknown_namespace_is_a_clear_failure(api_server: ApiServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "pods", "-n", "nothing-here", "--server", api_server.url]) == 1
    err = capsys.readouterr().err
    assert err == (f"heapster: namespace 'nothing-here' not found: heapster at {api_server.url} has metrics of "
                   "1 namespaces: default\n")


def test_one_node_by_name(api_server: ApiServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "node", "node-1", "--server", api_server.url, "--no-headers"]) == 0
    assert capsys.readouterr().out.split() == ["node-1", "100m", "2%", "7Mi", "11%"]
    # --show-capacity: percentages of the capacity (8 cores, 128 MiB) instead of the allocatable.
    assert main(["top", "node", "node-1", "--show-capacity", "--server", api_server.url, "--no-headers"]) == 0
    assert capsys.readouterr().out.split() == ["node-1", "100m", "1%", "7Mi", "5%"]


def test_unknown_node_names_the_known_ones(api_server: ApiServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "node", "node-9", "--server", api_server.url]) == 1
    assert capsys.readouterr().err == (f"heapster: node 'node-9' not found: heapster at {api_server.url} has "
                                       "metrics of 2 nodes: node-0, node-1\n")


def test_node_label_selector(api_server: ApiServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "nodes", "-l", "zone in (z1, z7)", "--server", api_server.url, "--no-headers"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["node-1"]
    assert main(["top", "nodes", "-l", "zone=nowhere", "--server", api_server.url]) == 1
    assert "no node matches -l 'zone=nowhere'" in capsys.readouterr().err


def test_one_pod_by_container(api_server: ApiServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "pod", "pod-1-0", "--containers", "--server", api_server.url]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows == [["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"],
                    ["pod-1-0", "c0", "100m", "7Mi"], ["pod-1-0", "c1", "100m", "7Mi"]]
    assert main(["top", "pod", "pod-1-0", "-n", "default", "--containers", "-A", "--server", api_server.url]) == 2
    assert "-A" in capsys.readouterr().err


def test_unknown_pod_is_named(api_server: ApiServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "pod", "pod-7-7", "--server", api_server.url]) == 1
    assert "pod 'pod-7-7' not found in namespace 'default' (heapster has metrics of 4 pods there)" in \
        capsys.readouterr().err


def test_pod_selectors_and_sum(api_server: ApiServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "pods", "-A", "-l", "app=web", "--sum", "--server", api_server.url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split() for line in out] == [
        ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        ["default", "pod-0-0", "200m", "15Mi"], ["default", "pod-1-0", "200m", "15Mi"],
        ["________", "________"], ["400m", "30Mi"]]
    # The totals sit under their columns, as kubectl prints them.
    assert out[-1].index("400m") == out[0].index("CPU(cores)") and out[-2].index("_") == out[0].index("CPU(cores)")
    assert main(["top", "pods", "--field-selector", "metadata.name!=pod-0-0,metadata.namespace=default",
                 "-l", "app", "--containers", "--server", api_server.url, "--no-headers"]) == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()]
    assert rows == [["pod-0-1", "c0"], ["pod-0-1", "c1"], ["pod-1-0", "c0"], ["pod-1-0", "c1"],
                    ["pod-1-1", "c0"], ["pod-1-1", "c1"]]
    assert main(["top", "pods", "-l", "app=none", "--use-protocol-buffers", "--server", api_server.url]) == 1
    assert "no pod in namespace 'default' matches the selectors" in capsys.readouterr().err


def test_unreachable_server_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["top", "nodes", "--server", url]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"heapster: cannot reach heapster at {url}") and "\n" not in err


@pytest.mark.parametrize(("argv", "named"), [
    (["top"], "resource"), (["top", "containers"], "containers"), (["top", "nodes", "--bogus"], "--bogus"),
    (["top", "nodes", "-n", "default"], "-n/--namespace"), (["top", "nodes", "--sum"], "--sum"),
    (["top", "pods", "--show-capacity"], "--show-capacity"),
    (["top", "pods", "--server", "localhost:8082"], "--server"),
    (["top", "pods", "-l", "a in (b"], "-l/--selector"), (["top", "pod", "x", "-l", "a=b"], "NAME"),
    (["top", "pods", "--field-selector", "spec.nodeName=n1"], "metadata.name or metadata.namespace"),
    (["top", "node", "a", "b"], "one NAME at most, got 'a' and 'b'"),
])
def test_usage_errors_exit_2(argv: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("heapster: ") and named in err


def test_a_server_without_the_model_api_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    server = ApiServerThread(None, None)  # as with --disable_metric_sink
    try:
        assert main(["top", "nodes", "--server", server.url]) == 1
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert "serves no metrics.k8s.io API" in err and "--disable_metric_sink" in err
