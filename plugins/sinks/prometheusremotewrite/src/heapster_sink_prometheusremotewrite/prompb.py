"""The remote-write 1.0 messages of Prometheus' ``prompb`` (``remote.proto`` and ``types.proto``).

Built from a descriptor at import time, so no generated code or ``protoc`` is needed. Only the
fields a writer sends are declared (field numbers as upstream; a receiver ignores nothing we send):

    message WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
    message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    message Label        { string name = 1; string value = 2; }
    message Sample       { double value = 1; int64 timestamp = 2; }
    message MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(name="heapster/prompb/remote.proto", package="prometheus",
                                               syntax="proto3")

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        msg = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            added = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name

    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    metric_type = proto.enum_type.add(name="MetricType")
    for number, name in enumerate(("UNKNOWN", "COUNTER", "GAUGE", "HISTOGRAM", "GAUGEHISTOGRAM", "SUMMARY",
                                   "INFO", "STATESET")):
        metric_type.value.add(name=name, number=number)
    message("WriteRequest", ("timeseries", 1, _F.TYPE_MESSAGE, rep, ".prometheus.TimeSeries"),
            ("metadata", 3, _F.TYPE_MESSAGE, rep, ".prometheus.MetricMetadata"))
    message("TimeSeries", ("labels", 1, _F.TYPE_MESSAGE, rep, ".prometheus.Label"),
            ("samples", 2, _F.TYPE_MESSAGE, rep, ".prometheus.Sample"))
    message("Label", ("name", 1, _F.TYPE_STRING, opt, ""), ("value", 2, _F.TYPE_STRING, opt, ""))
    message("Sample", ("value", 1, _F.TYPE_DOUBLE, opt, ""), ("timestamp", 2, _F.TYPE_INT64, opt, ""))
    message("MetricMetadata", ("type", 1, _F.TYPE_ENUM, opt, ".prometheus.MetricMetadata.MetricType"),
            ("metric_family_name", 2, _F.TYPE_STRING, opt, ""), ("help", 4, _F.TYPE_STRING, opt, ""),
            ("unit", 5, _F.TYPE_STRING, opt, ""))
    # upstream nests MetricType inside MetricMetadata
    proto.message_type[-1].enum_type.add().CopyFrom(metric_type)
    del proto.enum_type[:]
    return proto


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())


def _message(name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"prometheus.{name}"))


WriteRequest: Any = _message("WriteRequest")
TimeSeries: Any = _message("TimeSeries")
Label: Any = _message("Label")
Sample: Any = _message("Sample")
MetricMetadata: Any = _message("MetricMetadata")
