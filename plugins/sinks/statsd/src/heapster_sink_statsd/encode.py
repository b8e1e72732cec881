"""A batch as statsd gauge lines in Heapster's two formats (``metrics/sinks/statsd/*_formatter.go``).

etsystatsd (Graphite-style names; user labels become path parts)::

    [<prefix>.]node.<host>.namespace.<ns>.pod.<pod>.container.<c>.[<userlabels>.]<metric>[.<resource>]:<v>|g
    ...node.<host>.sys-container.<c>..., node.<host>.namespace.<ns>.pod.<pod>..., namespace.<ns>...,
    node.<host>..., cluster...

influxstatsd (InfluxDB's statsd tags; user labels ``k:v,...`` become tags)::

    <prefix><metric>,<label>=<value>,...:<v>|g

Values are Go's ``%v`` (see :mod:`.gofmt`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from heapster import keys
from heapster.columns import cells_in_set_order
from heapster.errors import Rejections
from heapster.model import DataBatch
from heapster_sink_statsd.config import StatsdConfig
from heapster_sink_statsd.gofmt import format_v

USER_LABELS = "labels"
"""The label holding the pod's own labels as ``k:v,k2:v2``."""

_ETSY_ESCAPE = str.maketrans({".": "_", "=": "_", "|": "_"})
_INFLUX_ESCAPE = str.maketrans({",": "_", ":": "_", "=": "_", "|": "_"})


@dataclass(slots=True)
class Encoded(Rejections):
    """The lines of one batch, and the values that could not be written."""

    lines: list[str] = field(default_factory=list)


def title(word: str) -> str:
    """Go's ``strings.Title``: upper-case every letter that follows a separator (or starts the word)."""
    out, after_separator = [], True
    for ch in word:
        out.append(ch.upper() if after_separator else ch)
        after_separator = not (ch.isalnum() or ch == "_")
    return "".join(out)


def label_customizer(config: StatsdConfig) -> Callable[[str], str]:
    """Heapster's LabelCustomizer: rename, then apply ``labelStyle``."""

    def customize(label: str) -> str:
        label = config.rename_labels.get(label, label)
        if config.label_style:
            label = "".join(title(w) for w in label.split("_"))
            if config.label_style == "lowerCamelCase" and label:
                label = label[0].lower() + label[1:]
        return label

    return customize


def user_labels(text: str) -> dict[str, str]:
    """``k:v,k2:v2`` as a dict; a pair keeps what lies between its first and second ``:``, as Heapster."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) >= 2:
            pairs[parts[0]] = parts[1]
    return pairs


Render = Callable[[str, str], "str | None"]
"""Makes one line from a metric name and a formatted value, for the labels it was made for."""


class EtsyFormatter:
    """Heapster's ``EtsystatsdFormatter``."""

    def __init__(self, config: StatsdConfig) -> None:
        self.customize = label_customizer(config)
        self.prefix = config.prefix.translate(_ETSY_ESCAPE) + "." if config.prefix else ""

    def _user_labels(self, text: str) -> str:
        pairs = user_labels(text)
        return ".".join(f"{self.customize(k.translate(_ETSY_ESCAPE))}.{pairs[k].translate(_ETSY_ESCAPE)}"
                        for k in sorted(pairs) if pairs[k])

    def _head(self, labels: Mapping[str, str]) -> str | None:
        """Everything before the metric name, or None for a type Heapster could not place."""

        def part(label: str) -> str:
            return labels.get(label, "").translate(_ETSY_ESCAPE)

        kind = labels.get("type")
        if kind == keys.POD_CONTAINER:
            head = (f"node.{part('hostname')}.namespace.{part('namespace_name')}"
                    f".pod.{part('pod_name')}.container.{part('container_name')}.")
        elif kind == keys.SYS_CONTAINER:
            head = f"node.{part('hostname')}.sys-container.{part('container_name')}."
        elif kind == keys.POD:
            head = f"node.{part('hostname')}.namespace.{part('namespace_name')}.pod.{part('pod_name')}."
        elif kind == keys.NAMESPACE:
            head = f"namespace.{part('namespace_name')}."
        elif kind == keys.NODE:
            head = f"node.{part('hostname')}."
        elif kind == keys.CLUSTER:
            head = "cluster."
        else:
            return None
        own = self._user_labels(labels.get(USER_LABELS, ""))
        return f"{self.prefix}{head}{own}." if own else f"{self.prefix}{head}"

    def renderer(self, labels: Mapping[str, str]) -> Render:
        """Lines for these labels (computed once per metric set).

        A ``:`` in the name (volume ids such as ``Volume:kube-api-access-x``) becomes ``_``: Heapster
        sent it as is, and statsd cut the name there, counting a bad line.
        """
        head = self._head(labels)
        resource = labels.get("resource_id")
        tail = "" if resource is None else "." + resource.translate(_ETSY_ESCAPE)

        def render(name: str, value: str) -> str | None:
            if head is None:
                return None
            return f"{head}{name.translate(_ETSY_ESCAPE)}{tail}".replace(":", "_") + f":{value}|g"

        return render

    def format(self, name: str, labels: Mapping[str, str], value: str) -> str | None:
        """One line, or None for a metric set type Heapster could not place."""
        return self.renderer(labels)(name, value)


class InfluxFormatter:
    """Heapster's ``InfluxstatsdFormatter``."""

    def __init__(self, config: StatsdConfig) -> None:
        self.customize = label_customizer(config)
        self.prefix = config.prefix.translate(_INFLUX_ESCAPE)

    def renderer(self, labels: Mapping[str, str]) -> Render:
        """Lines for these labels (the tag text is computed once per metric set)."""
        tags = {k: v for k, v in labels.items() if k != USER_LABELS}
        tags.update(user_labels(labels.get(USER_LABELS, "")))
        text = "".join(f",{self.customize(k.translate(_INFLUX_ESCAPE))}={tags[k].translate(_INFLUX_ESCAPE)}"
                       for k in sorted(tags) if tags[k])
        prefix = self.prefix

        def render(name: str, value: str) -> str | None:
            return f"{prefix}{name.translate(_INFLUX_ESCAPE)}{text}:{value}|g"

        return render

    def format(self, name: str, labels: Mapping[str, str], value: str) -> str | None:
        return self.renderer(labels)(name, value)


def _line_problem(line: str) -> str | None:
    """Why the statsd daemon would not read ``line`` as the one gauge we meant, if it would not."""
    if "\n" in line or "\r" in line:
        return "line break"
    key = line.rsplit(":", 1)[0]
    if ":" in key:
        return "':' in the name"
    if "|#" in key:
        return "'|#' in the name"
    return None


def encode_batch(batch: DataBatch, config: StatsdConfig) -> Encoded:
    """Every value and labeled metric of the batch as gauge lines (``allowedLabels`` applied first)."""
    formatter = InfluxFormatter(config) if config.protocol == "influxstatsd" else EtsyFormatter(config)
    allowed = config.allowed_labels
    out = Encoded()

    def add(render: Render, name: str, labels: Mapping[str, str], raw: int | float) -> None:
        if isinstance(raw, float) and not math.isfinite(raw):
            out.reject(f"{name} = {raw!r}")
            return
        line = render(name, format_v(raw))
        if line is None:
            out.reject(f"{name} of metric set type {labels.get('type')!r}")
            return
        problem = _line_problem(line)
        if problem:
            out.reject(f"{line!r} ({problem})")
            return
        out.lines.append(line)

    cols = batch.columns
    row_labels: dict[int, tuple[Mapping[str, str], Render]] = {}
    for row, name, _, raw, own in cells_in_set_order(cols):
        found = row_labels.get(row)
        if found is None:
            labels: Mapping[str, str] = cols.labels[row]
            if allowed:
                labels = {k: v for k, v in labels.items() if k in allowed}
            found = row_labels[row] = (labels, formatter.renderer(labels))
        labels, render = found
        if own is None:
            add(render, name, labels, raw)
        else:
            extra = own if not allowed else {k: v for k, v in own.items() if k in allowed}
            merged = {**labels, **extra}
            add(formatter.renderer(merged), name, merged, raw)
    return out


def datagrams(lines: list[str], per_message: int) -> list[bytes]:
    """``per_message`` newline-terminated lines per datagram, as Heapster's statsd client packed them."""
    return ["".join(f"{line}\n" for line in lines[i:i + per_message]).encode()
            for i in range(0, len(lines), per_message)]
