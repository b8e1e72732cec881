"""The composable index template: mappings current Elasticsearch (7-9) and OpenSearch (1-3) accept."""

from __future__ import annotations

from typing import Any

from heapster.catalogue import FAMILIES as METRIC_FAMILIES
from heapster_sink_elasticsearch.documents import FAMILIES, TIMESTAMP_FIELDS, alias_name

TEMPLATE_PRIORITY = 200
"""Above the built-in ``logs-*-*``/``metrics-*-*`` templates (100), so an overlapping base name still works."""

DATE = {"type": "date", "format": "strict_date_optional_time||epoch_millis"}
KEYWORD = {"type": "keyword", "ignore_above": 1024}
DOUBLE = {"type": "double"}
# Heapster's "analyzed + raw" string fields: exact keyword for filters and aggregations,
# with a full-text sub-field ``<field>.text`` for searching words.
SEARCHABLE = {"type": "keyword", "ignore_above": 1024, "fields": {"text": {"type": "text"}}}
MESSAGE = {"type": "keyword", "ignore_above": 8191, "fields": {"text": {"type": "text"}}}

_TAGS_SEARCHABLE = ("container_base_image", "container_name", "hostname", "labels", "nodename", "pod_name",
                    "namespace_name")
_TAGS_EXACT = ("host_id", "namespace_id", "cluster_name", "pod_id", "resource_id", "type")


def _tags() -> dict[str, Any]:
    props: dict[str, Any] = {name: SEARCHABLE for name in _TAGS_SEARCHABLE}
    props.update({name: KEYWORD for name in _TAGS_EXACT})
    return {"properties": props}


def _events() -> dict[str, Any]:
    return {
        "EventTags": {"properties": {
            "eventID": KEYWORD, "cluster_name": KEYWORD, "pod_id": KEYWORD,
            "hostname": SEARCHABLE, "pod_name": SEARCHABLE,
        }},
        "InvolvedObject": {"properties": {
            "apiVersion": KEYWORD, "kind": KEYWORD, "resourceVersion": KEYWORD, "uid": KEYWORD,
            "fieldPath": SEARCHABLE, "name": SEARCHABLE, "namespace": SEARCHABLE,
        }},
        "FirstOccurrenceTimestamp": DATE,
        "LastOccurrenceTimestamp": DATE,
        "Type": KEYWORD,
        "Reason": KEYWORD,
        "Message": MESSAGE,
        "Count": {"type": "long"},
        # Labels, annotations and owner references stay in _source without growing the mapping.
        "Metadata": {"dynamic": False, "properties": {
            "creationTimestamp": DATE, "name": SEARCHABLE, "namespace": SEARCHABLE,
            "resourceVersion": KEYWORD, "selfLink": KEYWORD, "uid": KEYWORD,
        }},
        "Source": {"properties": {"component": KEYWORD, "host": SEARCHABLE}},
    }


def mappings(data_streams: bool = False) -> dict[str, Any]:
    """One mapping for every document type (indices hold a single type since Elasticsearch 6)."""
    metrics = {name: {"properties": {"value": DOUBLE}} for names in METRIC_FAMILIES.values() for name in names}
    properties: dict[str, Any] = {
        "MetricsTags": _tags(),
        "Metrics": {"properties": metrics},
        "MetricsName": SEARCHABLE,
        "MetricsValue": {"properties": {"value": DOUBLE}},
        **{TIMESTAMP_FIELDS[kind]: DATE for kind in FAMILIES},
        **_events(),
    }
    if data_streams:
        properties["@timestamp"] = DATE
    return {
        # Label values such as "2024-01-01" must stay keywords: a date guess breaks the next value.
        "date_detection": False,
        "dynamic_templates": [
            {"metric_values": {"path_match": "Metrics.*.value", "mapping": DOUBLE}},
            {"strings": {"match_mapping_type": "string", "mapping": KEYWORD}},
        ],
        "properties": properties,
    }


def alias_filter(kind: str) -> dict[str, Any]:
    """The filter that makes alias ``<index>-<kind>`` show only documents of that type."""
    return {"exists": {"field": TIMESTAMP_FIELDS[kind]}}


def aliases(base: str) -> dict[str, Any]:
    """Heapster's six aliases, each filtered to its document type."""
    return {alias_name(base, kind): {"filter": alias_filter(kind)} for kind in FAMILIES}


def index_template(base: str, data_streams: bool = False) -> dict[str, Any]:
    """The body of ``PUT _index_template/<name>``.

    Daily indices: patterns ``<base>-*`` with Heapster's aliases on every index. Data streams:
    one stream per document type named like Heapster's aliases (``<base>-cpu``, ...).
    """
    template: dict[str, Any] = {"mappings": mappings(data_streams)}
    body: dict[str, Any] = {"priority": TEMPLATE_PRIORITY, "template": template,
                            "_meta": {"managed_by": "heapster-sink-elasticsearch"}}
    if data_streams:
        body["index_patterns"] = [alias_name(base, kind) for kind in FAMILIES]
        body["data_stream"] = {}
    else:
        body["index_patterns"] = [f"{base}-*"]
        template["aliases"] = aliases(base)
    return body


def template_name(base: str, data_streams: bool = False) -> str:
    """The template's name: ``<base>`` for daily indices, ``<base>-streams`` for data streams."""
    return f"{base}-streams" if data_streams else base
