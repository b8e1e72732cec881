"""One resource type of the simulated API server: objects in key order, a bounded change history for watches."""

from __future__ import annotations

import asyncio
import base64
import bisect
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from .apiselectors import Predicate

Key = tuple[str, str]  # (namespace or "", name)
WATCH_QUEUE_LIMIT = 50_000


class Versions:
    """The cluster-wide resourceVersion counter (etcd's revision): every change of any object takes the next one."""

    def __init__(self) -> None:
        self.current = 1

    def next(self) -> int:
        """Allocate the next resourceVersion."""
        self.current += 1
        return self.current


class Change:
    """One watch event: type, resourceVersion and the object as it was then."""

    __slots__ = ("_line", "namespace", "obj", "rv", "type")

    def __init__(self, rv: int, kind: str, namespace: str, obj: dict[str, Any]) -> None:
        self.rv = rv
        self.type = kind
        self.namespace = namespace
        self.obj = obj
        self._line: bytes | None = None

    def line(self) -> bytes:
        """The event as one newline-terminated JSON line (serialised once, shared by every watcher)."""
        if self._line is None:
            self._line = orjson.dumps({"type": self.type, "object": self.obj}) + b"\n"
        return self._line


class Watcher:
    """A watch stream's inbox: changes are queued here by the store; None means the stream must close."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self.closed = False

    def offer(self, change: Change | None) -> None:
        """Queue a change; a watcher that falls too far behind is closed, as the API server does."""
        if self.closed:
            return
        if change is None or self.queue.qsize() >= WATCH_QUEUE_LIMIT:
            self.closed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(change)


class ExpiredError(Exception):
    """A resourceVersion or continue token older than the store's history (HTTP 410 Gone)."""


class ResourceStore:
    """The objects of one resource type, their order, their change history and their open watches."""

    def __init__(self, versions: Versions, kind: str, api_version: str, namespaced: bool,
                 render: Callable[[Any], dict[str, Any]], history: int) -> None:
        self.versions = versions
        self.kind = kind
        self.api_version = api_version
        self.namespaced = namespaced
        self.render = render
        self._items: dict[Key, Any] = {}
        self._keys: list[Key] = []
        self._history: deque[Change] = deque()
        self._history_limit = history
        self.min_rv = versions.current
        self._watchers: set[Watcher] = set()

    def __len__(self) -> int:
        return len(self._items)

    @staticmethod
    def _set_rv(obj: Any, rv: int) -> None:
        if isinstance(obj, dict):
            obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
        else:
            obj.rv = rv

    def load(self, key: Key, obj: Any) -> None:
        """Insert an object at start-up (no watch event); call `seal()` once everything is loaded."""
        self._set_rv(obj, self.versions.next())
        if key not in self._items:
            bisect.insort(self._keys, key)
        self._items[key] = obj

    def seal(self) -> None:
        """Watches may start from any resourceVersion from now on."""
        self.min_rv = self.versions.current

    def get(self, key: Key) -> Any | None:
        """The stored object (dict or model state), or None."""
        return self._items.get(key)

    def values(self) -> Iterator[Any]:
        """Every stored object in key order."""
        return (self._items[key] for key in self._keys)

    def values_in(self, namespace: str | None) -> list[Any]:
        """The stored objects of one namespace (every object when None), in key order."""
        if namespace is None:
            return [self._items[key] for key in self._keys]
        start = bisect.bisect_left(self._keys, (namespace, ""))
        end = bisect.bisect_left(self._keys, (namespace + "\x00", ""))
        return [self._items[key] for key in self._keys[start:end]]

    def put(self, key: Key, obj: Any) -> dict[str, Any]:
        """Create or replace an object; returns it rendered (ADDED or MODIFIED event)."""
        self._set_rv(obj, self.versions.next())
        kind = "MODIFIED" if key in self._items else "ADDED"
        if kind == "ADDED":
            bisect.insort(self._keys, key)
        self._items[key] = obj
        return self._record(kind, key, obj)

    def delete(self, key: Key) -> dict[str, Any] | None:
        """Remove an object; returns it rendered with its final resourceVersion (DELETED event), or None."""
        obj = self._items.pop(key, None)
        if obj is None:
            return None
        position = bisect.bisect_left(self._keys, key)
        del self._keys[position]
        self._set_rv(obj, self.versions.next())
        return self._record("DELETED", key, obj)

    def _record(self, kind: str, key: Key, obj: Any) -> dict[str, Any]:
        rendered = self.render(obj)
        # Watch events must show the object as it was at this version: stores that render by identity
        # (events, whose count is bumped in place) would otherwise replay a later version.
        snapshot = orjson.loads(orjson.dumps(rendered)) if rendered is obj else rendered
        change = Change(self.versions.current, kind, key[0], snapshot)
        self._history.append(change)
        while len(self._history) > self._history_limit:
            self.min_rv = max(self.min_rv, self._history.popleft().rv)
        for watcher in self._watchers:
            watcher.offer(change)
        return rendered

    # --- lists -------------------------------------------------------------------------------------------------

    def list_page(self, namespace: str | None, predicate: Predicate | None, limit: int,
                  continue_token: str | None) -> tuple[list[dict[str, Any]], int, str, int | None]:
        """One page of a list: (items, resourceVersion, continue token or "", remainingItemCount or None)."""
        list_rv = self.versions.current
        start = 0
        if continue_token:
            list_rv, after = decode_continue(continue_token)
            if list_rv < self.min_rv:
                raise ExpiredError("The provided continue parameter is too old to display a consistent list "
                                   "result. You can start a new list without the continue parameter.")
            start = bisect.bisect_right(self._keys, after)
        end = len(self._keys)
        if namespace is not None:
            start = max(start, bisect.bisect_left(self._keys, (namespace, "")))
            end = bisect.bisect_left(self._keys, (namespace + "\x00", ""))
        items: list[dict[str, Any]] = []
        position = start
        while position < end and (limit <= 0 or len(items) < limit):
            obj = self.render(self._items[self._keys[position]])
            position += 1
            if predicate is None or predicate(obj):
                items.append(obj)
        if position >= end:
            return items, list_rv, "", None
        token = encode_continue(list_rv, self._keys[position - 1])
        remaining = end - position if predicate is None else None
        return items, list_rv, token, remaining

    # --- watches -----------------------------------------------------------------------------------------------

    def subscribe(self) -> Watcher:
        """Open a watch inbox that receives every change from now on."""
        watcher = Watcher()
        self._watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        """Close a watch inbox."""
        self._watchers.discard(watcher)

    def changes_since(self, rv: int) -> list[Change]:
        """Every recorded change after `rv`; ExpiredError when the history no longer reaches back that far."""
        if rv < self.min_rv:
            raise ExpiredError(f"too old resource version: {rv} ({self.min_rv})")
        position = len(self._history)
        while position > 0 and self._history[position - 1].rv > rv:
            position -= 1
        return [self._history[i] for i in range(position, len(self._history))]

    def snapshot(self, namespace: str | None) -> list[Change]:
        """Synthetic ADDED events for the current objects (a watch without resourceVersion starts with them)."""
        changes = []
        for key in self._keys:
            if namespace is not None and key[0] != namespace:
                continue
            rendered = self.render(self._items[key])
            rv = int(rendered.get("metadata", {}).get("resourceVersion") or 0)
            changes.append(Change(rv, "ADDED", key[0], rendered))
        return changes

    def expire(self, rv: int) -> None:
        """Forget the history: watches and continue tokens from before `rv` get 410 Gone."""
        self._history.clear()
        self.min_rv = rv

    def drop_watches(self) -> int:
        """Close every open watch stream now; returns how many were open."""
        count = len(self._watchers)
        for watcher in list(self._watchers):
            watcher.offer(None)
        return count


def encode_continue(rv: int, after: Key) -> str:
    """An opaque continue token: the list's resourceVersion and the last key returned."""
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(after)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, Key]:
    """Inverse of `encode_continue`; ValueError for a token that is not ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        namespace, name = data["start"]
        return int(data["rv"]), (str(namespace), str(name))
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"invalid continue token: {exc}") from exc
