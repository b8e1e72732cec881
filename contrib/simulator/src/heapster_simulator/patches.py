"""The three PATCH flavours of the API server: JSON merge patch, strategic merge patch (as merge) and JSON patch."""

from __future__ import annotations

import copy
from typing import Any

MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH_TYPE = "application/json-patch+json"


class PatchError(ValueError):
    """A patch that cannot be applied (the API server answers 422 or 400)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (also used for strategic merge patches of maps-only objects)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):  # strategic-merge directives ($patch, $retainKeys, ...): ignored
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, parts: list[str]) -> tuple[Any, str]:
    node = document
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise PatchError(f"path /{'/'.join(parts)} does not exist")
    return node, parts[-1]


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch: add, remove, replace, test, copy, move."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    result = copy.deepcopy(document)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}")
        kind, parts = op["op"], _pointer(op["path"])
        if not parts:
            if kind in ("add", "replace"):
                result = copy.deepcopy(op.get("value"))
                continue
            raise PatchError(f"unsupported operation {kind!r} on the whole document")
        try:
            if kind in ("add", "replace", "test"):
                _apply_value(result, parts, kind, op.get("value"))
            elif kind == "remove":
                _remove(result, parts)
            elif kind in ("copy", "move"):
                source = _pointer(op["from"])
                parent, last = _parent(result, source)
                value = copy.deepcopy(parent[int(last)] if isinstance(parent, list) else parent[last])
                if kind == "move":
                    _remove(result, source)
                _apply_value(result, parts, "add", value)
            else:
                raise PatchError(f"unknown JSON patch operation {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            if isinstance(exc, PatchError):
                raise
            raise PatchError(f"cannot apply {kind} at {op['path']}: {exc}") from exc
    return result


def _apply_value(document: Any, parts: list[str], kind: str, value: Any) -> None:
    parent, last = _parent(document, parts)
    if kind == "test":
        current = parent[int(last)] if isinstance(parent, list) else parent[last]
        if current != value:
            raise PatchError(f"test failed at /{'/'.join(parts)}")
        return
    if isinstance(parent, list):
        if kind == "add":
            parent.insert(len(parent) if last == "-" else int(last), value)
        else:
            parent[int(last)] = value
    else:
        if kind == "replace" and last not in parent:
            raise PatchError(f"path /{'/'.join(parts)} does not exist")
        parent[last] = value


def _remove(document: Any, parts: list[str]) -> None:
    parent, last = _parent(document, parts)
    if isinstance(parent, list):
        del parent[int(last)]
    else:
        del parent[last]
