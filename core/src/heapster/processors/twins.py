"""Enriched twins of shared label dicts, kept from one batch to the next without GC-tracked objects per entity."""

from __future__ import annotations

from typing import Generic, TypeVar

Note = TypeVar("Note")


class LabelTwins(Generic[Note]):
    """Per input label dict (by identity), the dict an enricher made of it in the last batch, and a note.

    Label sets are shared and read-only (an enricher replaces a row's dict, never changes it), and a source
    hands out the same dict objects while an entity is unchanged: the enriched dict made once is then reused
    batch after batch. ``index[id(labels)]`` is a position in the parallel lists ``inputs`` (the input dicts,
    held so that their ids stay theirs), ``outputs`` and ``notes`` (what the twin was made from: strings,
    ints and tuples of them, so the collector untracks them). Plain lists and dicts instead of a tuple per
    entity: a tuple holding a dict stays tracked, and 150,000 of them would lengthen every full collection.

    The enricher reads the last batch's lists and fills the next ones with :meth:`keep` (entities gone
    from a batch are forgotten), then calls :meth:`turn`.
    """

    __slots__ = ("index", "inputs", "next_index", "next_inputs", "next_notes", "next_outputs", "notes", "outputs")

    def __init__(self) -> None:
        self.index: dict[int, int] = {}
        self.inputs: list[dict[str, str]] = []
        self.outputs: list[dict[str, str]] = []
        self.notes: list[Note] = []
        self.next_index: dict[int, int] = {}
        self.next_inputs: list[dict[str, str]] = []
        self.next_outputs: list[dict[str, str]] = []
        self.next_notes: list[Note] = []

    def find(self, labels: dict[str, str]) -> int:
        """The position of ``labels`` in the last batch's lists, or -1."""
        found = self.index.get(id(labels), -1)
        return found if found >= 0 and self.inputs[found] is labels else -1

    def keep(self, labels: dict[str, str], output: dict[str, str], note: Note) -> None:
        """Remember ``output`` (with ``note``) as the twin of ``labels`` for the next batch."""
        self.next_index[id(labels)] = len(self.next_inputs)
        self.next_inputs.append(labels)
        self.next_outputs.append(output)
        self.next_notes.append(note)

    def turn(self) -> None:
        """The next batch reads what this one kept."""
        self.index, self.inputs, self.outputs, self.notes = (
            self.next_index, self.next_inputs, self.next_outputs, self.next_notes)
        self.next_index, self.next_inputs, self.next_outputs, self.next_notes = {}, [], [], []

    def __len__(self) -> int:
        return len(self.inputs)

