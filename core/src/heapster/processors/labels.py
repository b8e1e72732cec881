"""The label copier: Kubernetes object labels -> the joined ``labels`` label and ``--store_label`` copies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from heapster.settings import HeapsterSettings

LABELS_KEY = "labels"


class LabelCopier:
    """Copies object labels onto metric-set labels as Heapster's ``util.LabelCopier`` does.

    Every label not in ``ignore_labels`` is joined, sorted, as ``key:value`` with
    ``separator`` into the ``labels`` label; labels named by ``store_labels`` (``name`` or
    ``newName=name``) are also copied under their own (new) key.
    """

    __slots__ = ("_ignored", "_separator", "_stored")

    def __init__(self, separator: str = ",", store_labels: Iterable[str] = (),
                 ignore_labels: Iterable[str] = ()) -> None:
        self._separator = separator
        self._stored: dict[str, str] = {}
        for spec in store_labels:
            new_name, sep, name = spec.partition("=")
            self._stored[name if sep else new_name] = new_name
        self._ignored = frozenset(ignore_labels)

    @classmethod
    def from_settings(cls, values: HeapsterSettings | Mapping[str, Any]) -> LabelCopier:
        """Build from the daemon settings ``label_separator``, ``store_label`` and ``ignore_label``."""
        settings = HeapsterSettings.of(values)
        return cls(settings.label_separator, settings.store_label, settings.ignore_label)

    def copied(self, labels: Mapping[str, str] | None) -> dict[str, str]:
        """The labels this copier adds for an object with ``labels`` (to be merged into a set's labels)."""
        out: dict[str, str] = {}
        self.copy(labels, out)
        return out

    def copy(self, labels: Mapping[str, str] | None, out: dict[str, str]) -> None:
        """Write the stored labels and the joined ``labels`` label of ``labels`` into ``out``."""
        labels = labels or {}
        stored = self._stored
        ignored = self._ignored
        joined = []
        for key, value in labels.items():
            target = stored.get(key)
            if target is not None:
                out[target] = value
            if key not in ignored:
                joined.append(f"{key}:{value}")
        joined.sort()
        out[LABELS_KEY] = self._separator.join(joined)
