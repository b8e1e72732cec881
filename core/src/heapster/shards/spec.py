"""The ``--shard`` flag: ``I/N``, or ``auto/N`` taking I from a StatefulSet pod name (``heapster-2`` -> 2)."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping

_ORDINAL = re.compile(r"-(\d+)$")


class ShardSpecError(ValueError):
    """A ``--shard`` value that cannot be used; the message names the bad part and the valid forms."""


def ordinal_of(pod_name: str) -> int | None:
    """The StatefulSet ordinal at the end of a pod name (``heapster-2`` -> 2), or None."""
    found = _ORDINAL.search(pod_name)
    return int(found.group(1)) if found else None


def parse_shard(text: str, environ: Mapping[str, str] | None = None,
                hostname: Callable[[], str] = socket.gethostname) -> tuple[int, int]:
    """``(index, count)`` of ``I/N`` or ``auto/N``; ``auto`` reads ``$POD_NAME``, else the hostname."""
    forms = "use I/N (e.g. 0/3) or auto/N (index from $POD_NAME or the hostname, e.g. heapster-2)"
    index_text, slash, count_text = text.partition("/")
    if not slash:
        raise ShardSpecError(f"invalid shard {text!r}: missing /N ({forms})")
    try:
        count = int(count_text)
    except ValueError:
        raise ShardSpecError(f"invalid shard {text!r}: N must be an integer ({forms})") from None
    if count < 1:
        raise ShardSpecError(f"invalid shard {text!r}: need N >= 1 ({forms})")
    if index_text == "auto":
        env = os.environ if environ is None else environ
        name = env.get("POD_NAME") or hostname()
        index = ordinal_of(name)
        if index is None:
            raise ShardSpecError(f"invalid shard {text!r}: pod name {name!r} (from "
                                 f"{'$POD_NAME' if env.get('POD_NAME') else 'the hostname'}) does not end in "
                                 f"-<ordinal> as a StatefulSet pod's does ({forms})")
        if index >= count:
            raise ShardSpecError(f"invalid shard {text!r}: pod {name!r} has ordinal {index}, not below N={count} "
                                 f"(is the StatefulSet larger than N?)")
        return index, count
    try:
        index = int(index_text)
    except ValueError:
        raise ShardSpecError(f"invalid shard {text!r}: I must be an integer or 'auto' ({forms})") from None
    if not 0 <= index < count:
        raise ShardSpecError(f"invalid shard {text!r}: need 0 <= I < N ({forms})")
    return index, count
