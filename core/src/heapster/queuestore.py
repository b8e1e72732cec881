"""Where a sink queue keeps its items: in memory, or on disk in SQLite so they survive a restart.

Both stores keep items in arrival order and hand out the oldest first. An item stays stored
while it is being exported and is removed only once the sink has it, so a crash in the middle
of an export delivers it again after the restart (at least once) rather than losing it.

The disk store is one SQLite database per sink, in WAL mode with ``synchronous=FULL``: every
``append`` is one transaction, and SQLite fsyncs its log before the commit returns. The
database is opened in exclusive locking mode, so a second process pointed at the same file
fails at start instead of exporting the same batches twice.
"""

from __future__ import annotations

import re
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from heapster.batchcodec import Codec
from heapster.errors import RuntimeFailure

if TYPE_CHECKING:
    import sqlite3

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)

SCHEMA_VERSION = 1


@dataclass(slots=True)
class Entry:
    """One stored item: its order number, a label for logs (the window), when it was queued, its size.

    ``item`` is the decoded item where the store has it at hand (memory, or :meth:`QueueStore.head`).
    """

    id: int
    label: str
    queued_at: float
    size: int = 0
    item: Any = None


class QueueStore(Protocol[T_contra]):
    """The storage behind a :class:`heapster.sinkqueue.SinkQueue`."""

    durable: bool
    """Whether items survive a restart of the process."""

    description: str
    """Where the items are, for logs."""

    def append(self, item: T_contra, label: str, queued_at: float) -> Entry:
        """Store an item after every other one; durable once this returns."""
        ...

    def head(self) -> Entry | None:
        """The oldest stored item, decoded (None when empty)."""
        ...

    def oldest(self, skip: int | None = None) -> Entry | None:
        """The oldest entry other than ``skip`` (the one being exported), without decoding it."""
        ...

    def newest(self) -> Entry | None:
        """The newest stored item, decoded (None when empty)."""
        ...

    def remove(self, entry_id: int) -> None:
        """Forget an item (exported or dropped)."""
        ...

    def __len__(self) -> int: ...

    @property
    def bytes(self) -> int:
        """Bytes the stored items take (0 where unknown, as in memory)."""
        ...

    def close(self) -> None:
        """Release the store; a durable store keeps its items for the next open."""
        ...


class MemoryStore(Generic[T]):
    """Items in a deque: lost on restart, sized only by count."""

    durable = False
    description = "memory"

    def __init__(self) -> None:
        self._entries: deque[Entry] = deque()
        self._next_id = 1

    def append(self, item: T, label: str, queued_at: float) -> Entry:
        entry = Entry(self._next_id, label, queued_at, 0, item)
        self._next_id += 1
        self._entries.append(entry)
        return entry

    def head(self) -> Entry | None:
        return self._entries[0] if self._entries else None

    def oldest(self, skip: int | None = None) -> Entry | None:
        for entry in self._entries:
            if entry.id != skip:
                return entry
        return None

    def newest(self) -> Entry | None:
        return self._entries[-1] if self._entries else None

    def remove(self, entry_id: int) -> None:
        for index, entry in enumerate(self._entries):
            if entry.id == entry_id:
                del self._entries[index]
                return

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return 0

    def close(self) -> None:
        """Nothing to release."""


class UndecodableEntry(Exception):
    """A stored item the codec cannot read back (written by another version, or damaged)."""

    def __init__(self, entry: Entry, error: Exception) -> None:
        super().__init__(f"cannot decode queued item {entry.label}: {error}")
        self.entry = entry


class QueueLockedError(RuntimeError):
    """Another process has the queue file open."""


class SqliteStore(Generic[T]):
    """Items as rows of one SQLite table, encoded by ``codec``; survives restarts and crashes."""

    durable = True

    def __init__(self, path: Path, codec: Codec[T]) -> None:
        self.path = path
        self.description = str(path)
        self._codec = codec
        import sqlite3  # here: the eventer and heapster without a queue directory never load SQLite

        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=0.5)
        try:
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._transaction():  # takes the exclusive lock
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                    "queued_at REAL NOT NULL, label TEXT NOT NULL, body BLOB NOT NULL)")
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc):
                msg = f"sink queue {path} is in use by another process"
                raise QueueLockedError(msg) from None
            raise
        count, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM queue").fetchone()
        self._count = int(count)
        self._bytes = int(size)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def append(self, item: T, label: str, queued_at: float) -> Entry:
        body = self._codec.encode(item)
        with self._transaction():
            cursor = self._db.execute("INSERT INTO queue (queued_at, label, body) VALUES (?, ?, ?)",
                                      (queued_at, label, body))
        self._count += 1
        self._bytes += len(body)
        return Entry(int(cursor.lastrowid or 0), label, queued_at, len(body))

    def head(self) -> Entry | None:
        return self._decoded("SELECT id, label, queued_at, body FROM queue ORDER BY id LIMIT 1")

    def newest(self) -> Entry | None:
        return self._decoded("SELECT id, label, queued_at, body FROM queue ORDER BY id DESC LIMIT 1")

    def _decoded(self, query: str) -> Entry | None:
        row = self._db.execute(query).fetchone()
        if row is None:
            return None
        entry_id, label, queued_at, body = row
        try:
            item = self._codec.decode(body)
        except Exception as exc:  # written by another version, or damaged
            raise UndecodableEntry(Entry(entry_id, label, queued_at, len(body)), exc) from exc
        return Entry(entry_id, label, queued_at, len(body), item)

    def oldest(self, skip: int | None = None) -> Entry | None:
        row = self._db.execute(
            "SELECT id, label, queued_at, LENGTH(body) FROM queue WHERE id != ? ORDER BY id LIMIT 1",
            (-1 if skip is None else skip,)).fetchone()
        return None if row is None else Entry(*row)

    def remove(self, entry_id: int) -> None:
        with self._transaction():
            row = self._db.execute("DELETE FROM queue WHERE id = ? RETURNING LENGTH(body)", (entry_id,)).fetchone()
        if row is not None:
            self._count -= 1
            self._bytes -= int(row[0])

    def __len__(self) -> int:
        return self._count

    @property
    def bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        self._db.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def queue_file(directory: str | Path, kind: str, ident: str) -> Path:
    """The database file of one sink's queue: readable, and unique per sink identity.

    ``ident`` should be the sink's masked URI (no secrets), numbered when a URI repeats, so the
    same command line finds the same file after a restart.
    """
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ident).strip("-")[:60] or "sink"
    import hashlib  # only for a queue on disk: hashlib loads OpenSSL

    digest = hashlib.sha256(ident.encode()).hexdigest()[:12]
    return Path(directory) / f"{kind}-{slug}-{digest}.sqlite"


def store_errors() -> tuple[type[Exception], ...]:
    """What storing can raise on a full or broken disk: OSError, and SQLite's errors once SQLite is loaded."""
    sqlite3 = sys.modules.get("sqlite3")
    return (OSError, sqlite3.Error) if sqlite3 is not None else (OSError,)


def open_store(directory: str, kind: str, ident: str, codec: Codec[T]) -> QueueStore[T]:
    """The store of one sink's queue: a SQLite file in ``directory`` (if given), else memory.

    ``kind`` keeps heapster's and the eventer's files apart. :class:`RuntimeFailure` (exit 1)
    when the file cannot be opened or another process holds it.
    """
    if not directory:
        return MemoryStore()
    import sqlite3

    path = queue_file(directory, kind, ident)
    try:
        return SqliteStore(path, codec)
    except (OSError, sqlite3.Error, QueueLockedError) as exc:
        msg = f"cannot open the sink queue of {ident}: {exc}" if isinstance(exc, QueueLockedError) else (
            f"cannot open the sink queue of {ident} at {path}: {exc}")
        raise RuntimeFailure(msg) from None
