"""Riemann's protocol buffers (``proto.proto`` of riemann-java-client and riemann-go-client), declared in code.

Only the messages a client sends and receives are declared: ``Msg``, ``Event``, ``Attribute``,
``Query`` and ``State``, with Riemann's field numbers and proto2 rules (``Attribute.key`` is required).
Declaring the descriptor here avoids a generated ``_pb2`` module tied to one protoc version.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REQUIRED, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REQUIRED, _F.LABEL_REPEATED
_TYPES = {"int64": _F.TYPE_INT64, "sint64": _F.TYPE_SINT64, "string": _F.TYPE_STRING, "bool": _F.TYPE_BOOL,
          "float": _F.TYPE_FLOAT, "double": _F.TYPE_DOUBLE}

_MESSAGES: dict[str, list[tuple[str, int, Any, str]]] = {
    "State": [("time", 1, _OPTIONAL, "int64"), ("state", 2, _OPTIONAL, "string"),
              ("service", 3, _OPTIONAL, "string"), ("host", 4, _OPTIONAL, "string"),
              ("description", 5, _OPTIONAL, "string"), ("once", 6, _OPTIONAL, "bool"),
              ("tags", 7, _REPEATED, "string"), ("ttl", 8, _OPTIONAL, "float")],
    "Event": [("time", 1, _OPTIONAL, "int64"), ("state", 2, _OPTIONAL, "string"),
              ("service", 3, _OPTIONAL, "string"), ("host", 4, _OPTIONAL, "string"),
              ("description", 5, _OPTIONAL, "string"), ("tags", 7, _REPEATED, "string"),
              ("ttl", 8, _OPTIONAL, "float"), ("attributes", 9, _REPEATED, ".riemann.Attribute"),
              ("time_micros", 10, _OPTIONAL, "int64"), ("metric_sint64", 13, _OPTIONAL, "sint64"),
              ("metric_d", 14, _OPTIONAL, "double"), ("metric_f", 15, _OPTIONAL, "float")],
    "Query": [("string", 1, _OPTIONAL, "string")],
    "Msg": [("ok", 2, _OPTIONAL, "bool"), ("error", 3, _OPTIONAL, "string"),
            ("states", 4, _REPEATED, ".riemann.State"), ("query", 5, _OPTIONAL, ".riemann.Query"),
            ("events", 6, _REPEATED, ".riemann.Event")],
    "Attribute": [("key", 1, _REQUIRED, "string"), ("value", 2, _OPTIONAL, "string")],
}


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(name="heapster_riemann.proto", package="riemann", syntax="proto2")
    for name, fields in _MESSAGES.items():
        message = proto.message_type.add(name=name)
        for field_name, number, label, kind in fields:
            field = message.field.add(name=field_name, number=number, label=label)
            if kind.startswith("."):
                field.type, field.type_name = _F.TYPE_MESSAGE, kind
            else:
                field.type = _TYPES[kind]
    return proto


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())

Msg: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("riemann.Msg"))
Event: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("riemann.Event"))
Attribute: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("riemann.Attribute"))
