"""The pod enricher's cache holds each equal layout, number tuple and label dict once (replicas share them)."""

from __future__ import annotations

from typing import Any

from heapster.columns import MISSING
from heapster.processors.labels import LabelCopier
from heapster.processors.pod_enricher import PodInfo, Shared


def _pod(name: str, labels: dict[str, str], memory: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "1",
                     "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx:1",
                                 "resources": {"requests": {"cpu": "100m", "memory": memory}}}]},
        "status": {"startTime": "2026-01-01T00:00:00Z",
                   "containerStatuses": [{"name": "app", "restartCount": 2}]},
    }


def test_replicas_share_layouts_numbers_and_labels() -> None:
    shared, copier = Shared(), LabelCopier()
    first = PodInfo(_pod("web-1", {"app": "web"}, "128Mi"), copier, shared)
    second = PodInfo(_pod("web-2", {"app": "web"}, "128Mi"), copier, shared)
    other = PodInfo(_pod("db-1", {"app": "db"}, "256Mi"), copier, shared)
    web1, web2, db1 = (info.container("app") for info in (first, second, other))
    assert web1 is not None and web2 is not None and db1 is not None
    assert first.container("sidecar") is None
    assert web1.values is web2.values and web1.values is not db1.values  # one values object per equal spec
    a, b, c = web1.values, web2.values, db1.values
    assert a.layout is b.layout and a.numbers is b.numbers and a.stub_numbers is b.stub_numbers
    assert first.copied_labels is second.copied_labels == {"labels": "app:web"}
    assert a.layout is c.layout  # same resource names
    values = dict(zip((name for name, _ in c.layout), c.numbers, strict=True))
    assert c.numbers is not a.numbers and values["memory/request"] == 256 * 2**20
    assert other.copied_labels == {"labels": "app:db"}
    assert web1 is web2 and first.containers is second.containers  # replicas: one container object, one tuple
    assert (first.container_key(web1), second.container_key(web2)) == (
        "namespace:default/pod:web-1/container:app", "namespace:default/pod:web-2/container:app")
    assert a.numbers[-1] == 2 and a.layout[-1][0] == "restart_count"
    assert first.create_ns(web1) == first.start_ns  # listed in the status: created when the pod started
    unlisted = PodInfo({**_pod("web-3", {"app": "web"}, "128Mi"), "status": {"startTime": "2026-01-01T00:00:00Z"}},
                       copier, shared)
    app = unlisted.container("app")
    assert app is not None and app is not web1 and unlisted.create_ns(app) == MISSING


def test_the_shared_table_is_bounded() -> None:
    shared = Shared()
    for n in range(Shared.LIMIT + 10):
        assert shared.tuple((n,)) == (n,)
    assert len(shared._tuples) <= Shared.LIMIT
