"""Heapster's documents: family documents merged by tags, general documents, event documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster_sink_elasticsearch.documents import (
    daily_index,
    document_id,
    event_document,
    event_time,
    metric_documents,
)

T = datetime(2016, 11, 2, 12, 33, tzinfo=UTC)
POD_CONTAINER = {
    "type": "pod_container", "namespace_name": "default", "pod_name": "abc-1", "container_name": "abc",
    "nodename": "n1", "hostname": "n1", "host_id": "h1", "pod_id": "p1", "namespace_id": "ns1",
    "labels": "app:abc", "container_base_image": "abc:v0",
}


def _batch() -> DataBatch:
    cumulative = MetricType.CUMULATIVE
    container = MetricSet(
        labels=dict(POD_CONTAINER),
        values={
            "cpu/usage": MetricValue(123, cumulative),
            "cpu/usage_rate": MetricValue(12),
            "cpu/request": MetricValue(100),
            "cpu/limit": MetricValue(0),
            "memory/usage": MetricValue(2048),
            "memory/page_faults_rate": MetricValue(0.5),
            "uptime": MetricValue(3_600_000, cumulative),
            "restart_count": MetricValue(2),
        },
        labeled=[
            LabeledMetric("filesystem/usage", {"resource_id": "/"}, 10),
            LabeledMetric("filesystem/limit", {"resource_id": "/"}, 100),
            LabeledMetric("filesystem/usage", {"resource_id": "logs"}, 3),
            LabeledMetric("disk/io_read_bytes_rate", {"resource_id": "sda"}, 1.5),
        ],
    )
    cluster = MetricSet(labels={"type": "cluster"}, values={"cpu/usage_rate": MetricValue(50)})
    return DataBatch(T, {"namespace:default/pod:abc-1/container:abc": container, "cluster": cluster})


def _by_family(docs: list[Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        found.setdefault(doc.family, []).append(doc.source)
    return found


def test_family_metrics_with_identical_tags_make_one_document() -> None:
    docs, skipped = metric_documents(_batch(), "default")
    assert skipped == 0
    cpu = _by_family(docs)["cpu"]
    assert cpu[0] == {
        "CpuMetricsTimestamp": "2016-11-02T12:33:00Z",
        "MetricsTags": {**POD_CONTAINER, "cluster_name": "default"},
        "Metrics": {"cpu/usage": {"value": 123}, "cpu/usage_rate": {"value": 12}, "cpu/request": {"value": 100},
                    "cpu/limit": {"value": 0}},
    }
    assert cpu[1] == {"CpuMetricsTimestamp": "2016-11-02T12:33:00Z",
                      "MetricsTags": {"type": "cluster", "cluster_name": "default"},
                      "Metrics": {"cpu/usage_rate": {"value": 50}}}
    assert len(cpu) == 2


def test_labeled_metrics_get_one_document_per_label_set() -> None:
    docs, _ = metric_documents(_batch(), "prod")
    filesystem = _by_family(docs)["filesystem"]
    assert [d["MetricsTags"]["resource_id"] for d in filesystem] == ["/", "logs"]
    assert filesystem[0]["Metrics"] == {"filesystem/usage": {"value": 10}, "filesystem/limit": {"value": 100}}
    assert filesystem[1]["Metrics"] == {"filesystem/usage": {"value": 3}}
    assert filesystem[0]["FilesystemMetricsTimestamp"] == "2016-11-02T12:33:00Z"
    assert all(d["MetricsTags"]["cluster_name"] == "prod" for d in filesystem)
    assert filesystem[0]["MetricsTags"]["pod_name"] == "abc-1"


def test_every_general_metric_is_its_own_document_and_values_keep_their_type() -> None:
    docs, _ = metric_documents(_batch(), "default")
    general = _by_family(docs)["general"]
    assert {d["MetricsName"]: d["MetricsValue"]["value"] for d in general} == {
        "uptime": 3_600_000, "restart_count": 2, "disk/io_read_bytes_rate": 1.5,
    }
    uptime = next(d for d in general if d["MetricsName"] == "uptime")
    assert uptime == {"GeneralMetricsTimestamp": "2016-11-02T12:33:00Z",
                      "MetricsTags": {**POD_CONTAINER, "cluster_name": "default"},
                      "MetricsName": "uptime", "MetricsValue": {"value": 3_600_000}}
    disk = next(d for d in general if d["MetricsName"] == "disk/io_read_bytes_rate")
    assert disk["MetricsTags"]["resource_id"] == "sda"
    memory = _by_family(docs)["memory"][0]["Metrics"]
    assert isinstance(memory["memory/usage"]["value"], int)
    assert isinstance(memory["memory/page_faults_rate"]["value"], float)


def test_the_metric_set_labels_are_not_changed() -> None:
    batch = _batch()
    metric_documents(batch, "default")
    assert "cluster_name" not in batch.metric_sets["cluster"].labels


def test_not_finite_values_are_skipped_and_counted() -> None:
    batch = DataBatch(T, {"cluster": MetricSet(labels={"type": "cluster"}, values={
        "cpu/usage_rate": MetricValue(float("nan")), "memory/usage": MetricValue(float("inf")),
        "cpu/limit": MetricValue(5)})})
    docs, skipped = metric_documents(batch, "default")
    assert skipped == 1  # the infinity; a NaN is "no value" in the columnar batch
    assert [(d.family, d.source["Metrics"]) for d in docs] == [("cpu", {"cpu/limit": {"value": 5}})]


def test_document_ids_are_deterministic_and_distinct() -> None:
    first, _ = metric_documents(_batch(), "default")
    again, _ = metric_documents(_batch(), "default")
    assert [d.id for d in first] == [d.id for d in again]
    assert len({d.id for d in first}) == len(first)
    later, _ = metric_documents(DataBatch(datetime(2016, 11, 2, 12, 34, tzinfo=UTC), _batch().metric_sets),
                                "default")
    assert not {d.id for d in later} & {d.id for d in first}
    assert document_id("a", 1) != document_id("a", 2)


def test_daily_index_uses_the_utc_day() -> None:
    assert daily_index("heapster", T) == "heapster-2016.11.02"
    assert daily_index("k8s", datetime(2019, 1, 5, 23, 59, tzinfo=UTC)) == "k8s-2019.01.05"


def test_event_document_is_heapsters(fixture_event: dict[str, Any]) -> None:
    doc = event_document(fixture_event, "default", T)
    assert doc.family == "events"
    assert doc.timestamp == datetime(2019, 8, 30, 20, 43, 5, tzinfo=UTC)
    assert doc.source == {
        "Count": 1,
        "Metadata": {
            "creationTimestamp": "2019-08-30T20:43:05Z", "name": "hello-1567197780-mn4mv.15bfce150bd764dd",
            "namespace": "default", "resourceVersion": "590733",
            "selfLink": "/api/v1/namespaces/default/events/hello-1567197780-mn4mv.15bfce150bd764dd",
            "uid": "c443d4b3-cb66-11e9-990f-42010a800218",
        },
        "InvolvedObject": {
            "apiVersion": "v1", "fieldPath": "spec.containers{c1}", "kind": "Pod", "name": "hello-1567197780-mn4mv",
            "namespace": "default", "resourceVersion": "49798867", "uid": "c31fdeb8-cb66-11e9-990f-42010a800218",
        },
        "Source": {"component": "kubelet", "host": "gke-k9s-default-pool-0fa2fb89-qnkc"},
        "FirstOccurrenceTimestamp": "2019-08-30T20:43:05Z",
        "LastOccurrenceTimestamp": "2019-08-30T20:43:05Z",
        "Message": 'Successfully pulled image "blang/busybox-bash"',
        "Reason": "Pulled",
        "Type": "Normal",
        "EventTags": {
            "eventID": "c443d4b3-cb66-11e9-990f-42010a800218", "cluster_name": "default",
            "pod_id": "c31fdeb8-cb66-11e9-990f-42010a800218", "pod_name": "hello-1567197780-mn4mv",
            "hostname": "gke-k9s-default-pool-0fa2fb89-qnkc",
        },
    }


def test_event_of_a_node_has_no_pod_tags_and_managed_fields_are_left_out(fixture_event: dict[str, Any]) -> None:
    fixture_event["involvedObject"] = {"kind": "Node", "name": "n1", "uid": "n1"}
    fixture_event["metadata"]["managedFields"] = [{"manager": "kubelet", "fieldsV1": {"f:count": {}}}]
    doc = event_document(fixture_event, "c1", T)
    assert doc.source["EventTags"] == {"eventID": "c443d4b3-cb66-11e9-990f-42010a800218", "cluster_name": "c1",
                                       "hostname": "gke-k9s-default-pool-0fa2fb89-qnkc"}
    assert "managedFields" not in doc.source["Metadata"]
    assert "managedFields" in fixture_event["metadata"]


def test_an_updated_event_is_a_new_document_and_a_repeat_is_the_same(fixture_event: dict[str, Any]) -> None:
    first = event_document(fixture_event, "default", T)
    assert event_document(dict(fixture_event), "default", T).id == first.id
    updated = {**fixture_event, "count": 2, "lastTimestamp": "2019-08-30T20:44:05Z"}
    assert event_document(updated, "default", T).id != first.id


def test_event_time_falls_back_when_last_timestamp_is_missing(fixture_event: dict[str, Any]) -> None:
    modern = {**fixture_event, "lastTimestamp": None, "firstTimestamp": None,
              "eventTime": "2024-03-01T10:00:00.123456Z"}
    assert event_time(modern, T) == datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    doc = event_document(modern, "default", T)
    assert doc.source["LastOccurrenceTimestamp"] == "2024-03-01T10:00:00.123456Z"
    assert doc.source["FirstOccurrenceTimestamp"] == "2024-03-01T10:00:00.123456Z"
    bare = {"metadata": {"uid": "u"}, "message": "m"}
    assert event_time(bare, T) == T
    assert event_document(bare, "default", T).source["Count"] == 0
