"""The columnar batch: conversions both ways, value types, joins, and the two views of a DataBatch."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from heapster.columns import (
    GROW_SPARE,
    MISSING,
    BatchBuilder,
    ColumnBatch,
    PendingBatch,
    ValueColumn,
    cells_in_set_order,
)
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue

T = datetime(2026, 1, 1, tzinfo=UTC)
C, G = MetricType.CUMULATIVE, MetricType.GAUGE


def _sets() -> dict[str, MetricSet]:
    fs = {"resource_id": "/"}
    return {
        "node:n1": MetricSet({"type": "node", "nodename": "n1"},
                             {"cpu/usage": MetricValue(10, C), "custom/x": MetricValue(1.5)},
                             [LabeledMetric("filesystem/usage", fs, 7), LabeledMetric("filesystem/limit", fs, 9)],
                             collection_start=T, scrape_time=T),
        "namespace:d/pod:p": MetricSet({"type": "pod", "namespace_name": "d", "pod_name": "p"},
                                       {"custom/x": MetricValue(2), "memory/usage": MetricValue(3)}),
    }


def test_metric_sets_survive_the_columns_with_every_type_and_time() -> None:
    back = ColumnBatch.from_metric_sets(_sets()).to_metric_sets()
    assert back["node:n1"].values == _sets()["node:n1"].values
    assert back["node:n1"].labeled == _sets()["node:n1"].labeled
    assert back["node:n1"].collection_start == T and back["node:n1"].create_time is None
    pod = back["namespace:d/pod:p"].values
    assert type(pod["custom/x"].value) is int and type(back["node:n1"].values["custom/x"].value) is float


def test_metrics_lists_each_metric_once_with_python_numbers() -> None:
    cols = ColumnBatch.from_metric_sets(_sets())
    found = {name: (kind, rows, values) for name, kind, rows, values in cols.metrics()}
    assert found["custom/x"] == (G, [0, 1], [1.5, 2])
    assert [type(v) for v in found["custom/x"][2]] == [float, int]
    labeled = {name: (rows, values) for name, _, rows, values in cols.labeled_metrics()}
    assert labeled == {"filesystem/usage": ([0], [7]), "filesystem/limit": ([0], [9])}
    assert cols.series_labels[0] == {"resource_id": "/"} and cols.series_entity.tolist() == [0]


def test_concat_keeps_dict_semantics_for_a_key_seen_twice() -> None:
    first = ColumnBatch.from_metric_sets({"node:a": MetricSet({"type": "node"}, {"m": MetricValue(1)}),
                                          "node:b": MetricSet({"type": "node"}, {"m": MetricValue(2)})})
    second = ColumnBatch.from_metric_sets({"node:a": MetricSet({"type": "node"}, {"m": MetricValue(3.5)})})
    joined = ColumnBatch.concat([first, second]).to_metric_sets()
    assert {k: v.values["m"].value for k, v in joined.items()} == {"node:a": 3.5, "node:b": 2}
    assert type(joined["node:b"].values["m"].value) is int


def test_int_blocks_skip_missing_cells() -> None:
    builder = BatchBuilder()
    block = builder.int_block((("a", G), ("b", C)))
    block.extend((builder.entity("x", {"type": "node"}), 5, MISSING))
    block.extend((builder.entity("y", {"type": "node"}), MISSING, MISSING))
    sets = builder.build().to_metric_sets()
    assert sets["x"].values == {"a": MetricValue(5, G)} and sets["y"].values == {}


def test_int_blocks_sharing_a_metric_fill_one_column_and_equal_single_values() -> None:
    def by_blocks() -> ColumnBatch:
        builder = BatchBuilder()
        first = builder.int_block((("a", G), ("b", C), ("c", G)))
        second = builder.int_block((("b", C), ("d", G)))
        rows = [builder.entity(key, {"type": "pod"}) for key in ("p", "q", "r", "s")]
        first.extend((rows[0], 1, 2, MISSING))
        first.extend((rows[2], MISSING, 6, MISSING))
        second.extend((rows[1], 7, 8))  # "b" of q comes from the second block
        second.extend((rows[3], MISSING, 9))
        batch = builder.build()
        batch.values["a"].data[0] = 10  # a column is a view of the block's matrix: writes stay in their column
        return batch

    def by_values() -> ColumnBatch:
        builder = BatchBuilder()
        rows = [builder.entity(key, {"type": "pod"}) for key in ("p", "q", "r", "s")]
        for row, name, value, kind in ((rows[0], "a", 10, G), (rows[0], "b", 2, C), (rows[2], "b", 6, C),
                                       (rows[1], "b", 7, C), (rows[1], "d", 8, G), (rows[3], "d", 9, G)):
            builder.value(row, name, value, kind)
        return builder.build()

    blocks, values = by_blocks(), by_values()
    assert "c" not in blocks.values  # no cell anywhere: no column
    assert {k: ms.values for k, ms in blocks.to_metric_sets().items()} == {
        k: ms.values for k, ms in values.to_metric_sets().items()}
    assert {name: column.data.tolist() for name, column in blocks.values.items()} == {
        name: column.data.tolist() for name, column in values.values.items()}


def test_an_edited_view_is_the_batch_until_sealed_then_both_views_are_kept() -> None:
    batch = DataBatch(T, _sets())
    cols = batch.columns
    batch.metric_sets["node:n1"].values["cpu/usage"] = MetricValue(99, C)  # a processor editing the sets
    assert batch.columns is not cols
    assert batch.columns.values["cpu/usage"].data[0] == 99
    batch.seal()
    sealed_cols = batch.columns
    sets = batch.metric_sets
    assert batch.columns is sealed_cols and batch.metric_sets is sets  # sinks never convert twice
    assert len(batch) == 2


def test_a_nan_is_no_value() -> None:
    cols = ColumnBatch.from_metric_sets({"c": MetricSet({"type": "cluster"}, {"x": MetricValue(float("nan"))})})
    assert np.isnan(cols.values["x"].data[0]) and cols.to_metric_sets()["c"].values == {}


def test_cells_in_set_order_follows_the_per_set_view() -> None:
    sets = {
        "a": MetricSet({"type": "node"}, {"x": MetricValue(1), "y": MetricValue(2.5)},
                       [LabeledMetric("fs", {"resource_id": "/"}, 3), LabeledMetric("fs", {"resource_id": "/d"}, 4)]),
        "b": MetricSet({"type": "pod"}, {"y": MetricValue(5.0)}, []),
        "c": MetricSet({"type": "pod"}, {"x": MetricValue(6), "z": MetricValue(7)},
                       [LabeledMetric("fs", {"resource_id": "/"}, 8)]),
    }
    cols = ColumnBatch.from_metric_sets(sets)
    expected = []
    for row, ms in enumerate(cols.to_metric_sets().values()):
        expected += [(row, name, v.metric_type, v.value, None) for name, v in ms.values.items()]
        expected += [(row, m.name, m.metric_type, m.value, m.labels) for m in ms.labeled]
    cells = cells_in_set_order(cols)
    assert cells == expected
    assert [(c[0], c[1], c[3]) for c in cells] == [(0, "x", 1), (0, "y", 2.5), (0, "fs", 3), (0, "fs", 4),
                                                    (1, "y", 5.0), (2, "x", 6), (2, "z", 7), (2, "fs", 8)]
    assert cells_in_set_order(ColumnBatch()) == []


def _varied_builders() -> list[BatchBuilder]:
    """Builders whose joined columns differ in order, types and presence, with a key seen twice."""
    layout = (("a", G), ("b", C))
    out = []
    for index in range(4):
        builder = BatchBuilder()
        block = builder.int_block(layout)
        labeled = builder.int_block((("fs", G),), labeled=True)
        for name in (f"n{index}", "shared") if index != 1 else (f"n{index}",):
            row = builder.entity(name, {"type": "pod" if index % 2 else "node"}, 10 + index, MISSING, 20 + index)
            block.extend((row, MISSING if index == 0 else 5 + index, 7))  # "a" first seen in the second part
            if index == 2:
                builder.value(row, "custom/x", 1.5, G)
            if index == 3:
                builder.value(row, "custom/x", 4, G)  # an int among floats
                builder.value(row, "custom/y", 9, C)
            series = builder.series(row, {"resource_id": f"/{index}"})
            labeled.extend((series, MISSING if index < 2 else 100 + index))
        out.append(builder)
    return out


def test_merge_builds_what_concat_of_each_build_gives() -> None:
    from heapster.testing.batches import column_batch_differences

    merged = BatchBuilder.merge(_varied_builders())
    joined = ColumnBatch.concat([b.build() for b in _varied_builders()])
    assert column_batch_differences(merged, joined) == []
    assert list(merged.values) == ["b", "a", "custom/x", "custom/y"] and merged.keys == ["n0", "n1", "n2", "n3",
                                                                                         "shared"]
    assert merged.values["custom/x"].values(np.array([2, 3, 4])) == [1.5, 4, 4]


def test_merge_orders_columns_by_each_parts_blocks_of_one_layout_together() -> None:
    """A part with two blocks of one layout has a metric if either block has it; a later part's metrics follow."""
    from heapster.testing.batches import column_batch_differences

    def builders() -> list[BatchBuilder]:
        layout = (("p", G), ("q", C), ("r", G))
        first, second = BatchBuilder(), BatchBuilder()
        for part, (builder, cells) in enumerate(((first, [(MISSING, 1, MISSING), (2, MISSING, MISSING)]),
                                                 (second, [(MISSING, MISSING, 3)]))):
            for index, values in enumerate(cells):  # one block per entity
                row = builder.entity(f"n{part}-{index}", {"type": "node"}, 1, 2, 3)
                builder.int_block(layout).extend((row, *values))
        return [first, second]

    merged = BatchBuilder.merge(builders())
    joined = ColumnBatch.concat([b.build() for b in builders()])
    assert column_batch_differences(merged, joined) == []
    assert list(merged.values) == list(joined.values) == ["p", "q", "r"]


def test_lazy_parts_join_in_one_build_and_read_like_built_batches() -> None:
    from heapster.testing.batches import column_batch_differences

    want = ColumnBatch.concat([b.build() for b in _varied_builders()])
    lazy = [b.lazy() for b in _varied_builders()]
    assert all(type(part) is PendingBatch and part.builder is not None for part in lazy)
    assert column_batch_differences(ColumnBatch.concat(lazy), want) == []
    single = _varied_builders()[2].lazy()
    assert len(single) == 2 and single.row_of("shared") == 1  # read: built on first use
    assert column_batch_differences(single, _varied_builders()[2].build()) == []
    written = _varied_builders()[0].lazy()
    written.scrape_time = np.zeros(2, dtype=np.int64)  # a write builds first, then replaces
    assert written.keys == ["n0", "shared"] and written.scrape_time.tolist() == [0, 0]


def test_an_adopted_entity_table_with_given_rows_equals_entity_by_entity() -> None:
    from heapster.columns import EntityTable
    from heapster.testing.batches import column_batch_differences

    layout = (("a", G), ("b", C))
    by_entity = BatchBuilder()
    block = by_entity.int_block(layout)
    for key in ("x", "y"):
        block.extend((by_entity.entity(key, {"type": "node"}, 1, 2, 3), 4, MISSING))
    adopted = BatchBuilder()
    adopted.adopt(["x", "y"], [{"type": "node"}, {"type": "node"}],
                  EntityTable(np.array([1, 1], dtype=np.int8), np.array([1, 1]), np.array([2, 2]),
                              np.empty(0, dtype=np.int64)), [])
    adopted.scrape_time.extend((3, 3))
    adopted.int_block(layout, rows=np.array([1, 0])).extend((4, MISSING, 4, MISSING))
    assert column_batch_differences(adopted.build(), by_entity.build()) == []


def test_the_length_of_a_lazy_part_needs_no_build() -> None:
    builder = _varied_builders()[0]
    builder.entity("n0", {"type": "node"})  # a key seen twice counts once, as in the built batch
    part = builder.lazy()
    assert len(part) == 2 and type(part) is PendingBatch and part.builder is not None
    assert len(part.keys) == 2


def test_find_is_row_of_without_an_index() -> None:
    cols = ColumnBatch()
    cols.add_entities(["a", "b", "a", "c"], [{}, {}, {}, {}])
    assert [cols.find(key) for key in ("a", "b", "c", "d")] == [2, 1, 3, None]
    assert cols._index is None  # nothing built for it
    assert [cols.row_of(key) for key in ("a", "b", "c", "d")] == [2, 1, 3, None]
    assert [cols.find(key) for key in ("a", "b", "c", "d")] == [2, 1, 3, None]


def test_merge_finds_repeated_keys_of_adopted_tables_every_time() -> None:
    """The same adopted tables again skip the search for repeated keys only when their keys were distinct."""
    from heapster.columns import EntityTable

    def table() -> EntityTable:
        return EntityTable(np.array([1, 1], dtype=np.int8), np.array([1, 1]), np.array([2, 2]),
                           np.empty(0, dtype=np.int64))

    def merged(tables: list[EntityTable], keys: list[list[str]], value: int) -> ColumnBatch:
        builders = []
        for own, names in zip(tables, keys, strict=True):
            b = BatchBuilder()
            b.adopt(list(names), [{"type": "node"}, {"type": "node"}], own, [])
            b.unique_keys = True
            b.scrape_time.extend((3, 3))
            b.int_block((("a", G),), rows=np.array([0, 1])).extend((value, value + 1))
            builders.append(b)
        return BatchBuilder.merge(builders)

    distinct, repeated = [table(), table()], [table(), table()]
    for value in (10, 20):  # the second merge of the same tables reuses the first's verdict
        found = merged(distinct, [["x", "y"], ["z", "w"]], value)
        assert found.keys == ["x", "y", "z", "w"] and found.values["a"].data.tolist() == [value, value + 1] * 2
        found = merged(repeated, [["x", "y"], ["y", "w"]], value)  # "y" twice: the later one stays
        assert found.keys == ["x", "y", "w"] and found.values["a"].data.tolist() == [value, value, value + 1]


def test_a_join_of_int_blocks_gives_the_columns_of_a_join_of_built_parts() -> None:
    """The join fills one (k, rows) matrix part by part and its rows are the block's columns (given rows, and rows
    written in the block): the values, types and order a join of the parts built one by one has."""
    from heapster.columns import EntityTable
    from heapster.testing.batches import column_batch_differences

    layout = (("a", G), ("b", C), ("c", G))

    def part(keys: list[str], values: list[int]) -> BatchBuilder:
        builder = BatchBuilder()
        count = len(keys)
        builder.adopt(list(keys), [{"type": "node"} for _ in keys],
                      EntityTable(np.ones(count, dtype=np.int8), np.arange(count), np.arange(count),
                                  np.empty(0, dtype=np.int64)), [])
        builder.scrape_time.extend([5] * count)
        builder.int_block(layout, rows=np.arange(count)).extend(values)
        builder.int_block((("d", G), ("e", C))).extend((count - 1, 10 * count, MISSING))  # rows in the block
        return builder

    def parts() -> list[BatchBuilder]:
        return [part(["x", "y"], [1, 2, 3, 4, MISSING, 6]), part(["z"], [7, 8, 9])]

    joined = BatchBuilder.merge(parts())
    columns = [joined.values[name].data for name, _ in layout]
    assert [column.tolist() for column in columns] == [[1, 4, 7], [2, MISSING, 8], [3, 6, 9]]
    assert all(column.base is not None and column.base is columns[0].base for column in columns)
    assert joined.values["d"].data.tolist() == [MISSING, 20, 10] and "e" not in joined.values
    assert column_batch_differences(joined, ColumnBatch.concat([b.build() for b in parts()])) == []


def test_grown_columns_take_their_spare_cells_and_keep_their_values() -> None:
    made = ValueColumn.empty(3, False, MetricType.GAUGE)
    made.set(np.array([0, 2]), np.array([5, 7]))
    shared = ValueColumn(made.data, MetricType.GAUGE)  # another column over the same cells
    made.grow(9)
    made.set(np.array([8]), np.array([1]))
    made.grow(10)
    assert made.data.tolist() == [5, MISSING, 7] + [MISSING] * 5 + [1, MISSING]
    assert shared.data.tolist() == [5, MISSING, 7]
    copied = ValueColumn(np.array([1.5, np.nan]), MetricType.GAUGE)  # no spare cells: copied, then spare
    copied.grow(3)
    copied.set(np.array([2]), np.array([2]))  # an int cell among floats
    copied.grow(GROW_SPARE + 3)
    assert copied.data[:3].tolist()[::2] == [1.5, 2.0] and np.isnan(copied.data[3:]).all()
    assert copied.ints is not None and copied.ints.tolist() == [False, False, True] + [False] * GROW_SPARE
    floats = ValueColumn.empty(2, False, MetricType.GAUGE)
    floats.set(np.array([1]), np.array([4]))
    floats.set(np.array([0]), np.array([0.5]))  # the column turns to floats: its spare cells are no longer its data's
    floats.grow(4)
    assert floats.data[:2].tolist() == [0.5, 4.0] and np.isnan(floats.data[2:]).all() and floats.ints is not None


def test_columns_built_by_blocks_grow_without_touching_each_other() -> None:
    for in_order in (True, False):  # every row of the batch in the block (one transposed copy), or some
        builder = BatchBuilder()
        block = builder.int_block((("a", G), ("b", C)))
        for index in range(3):
            block.extend((builder.entity(f"node:n{index}", {"type": "node"}), index, 10 + index))
        if not in_order:
            builder.entity("node:n3", {"type": "node"})
        cols = builder.build()
        size = len(cols)
        for grown in range(2):
            cols.add_entities([f"namespace:{grown}"], [{"type": "ns"}])
            cols.set_values("a", np.array([size + grown], dtype=np.intp), np.array([99 + grown]), G)
        tail = [] if in_order else [MISSING]
        assert cols.values["a"].data.tolist() == [0, 1, 2, *tail, 99, 100]
        assert cols.values["b"].data.tolist() == [10, 11, 12, *tail, MISSING, MISSING]
