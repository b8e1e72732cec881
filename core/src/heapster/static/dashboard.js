// heapster dashboard: cluster, node, pod and container CPU and memory over the last 15 minutes, from the Model API.
// Plain JavaScript and hand-drawn SVG; every URL is relative, so the page also works behind a proxy path.
// Memory is the working set (what kubectl top shows) except in the cluster chart, which is the Model API's
// cluster memory/usage. The view (namespace, node, pod) lives in the URL fragment: #namespace=a&node=b&pod=a/p.
"use strict";

const MODEL = "api/v1/model";
const WINDOW_MS = 15 * 60 * 1000;
const REFRESH_MS = 10 * 1000;
const MAX_NODES = 100;          // nodes fetched per refresh (the largest lines are drawn)
const MAX_LINES = 10;
const MAX_POD_ROWS = 200;       // rows of the pod table
const MIB = 1024 * 1024;
const WORKING_SET = "memory/working_set";
const CONCURRENCY = 8;
const COLOURS = ["#326ce5", "#e5533d", "#2ca58d", "#f2a541", "#8e5ce5", "#d64f9a", "#3db1e5", "#7a8b2a",
                 "#b5651d", "#5a6275"];
const SVG_NS = "http://www.w3.org/2000/svg";

async function getJSON(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json" } });
  if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
  return resp.json();
}

async function pool(items, worker) {
  const results = new Array(items.length);
  let next = 0;
  async function run() {
    while (next < items.length) {
      const index = next++;
      results[index] = await worker(items[index]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, run));
  return results;
}

function points(result) {
  return ((result && result.metrics) || [])
    .map((p) => ({ t: Date.parse(p.timestamp), v: Number(p.value) }))
    .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v))
    .sort((a, b) => a.t - b.t);
}

function latest(series) {
  return series.points.length ? series.points[series.points.length - 1].v : 0;
}

function formatValue(value, unit) {
  if (unit === "cpu") return value >= 1000 ? `${(value / 1000).toFixed(2)} cores` : `${Math.round(value)}m`;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
  return `${value.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function el(name, attrs, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Draw line series [{name, points: [{t, v}]}] into a <figure class="chart">.
function draw(figure, seriesList, now) {
  const unit = figure.dataset.unit;
  const width = 560, height = 220, left = 70, right = 10, top = 10, bottom = 24;
  const start = now - WINDOW_MS;
  const shown = seriesList.filter((s) => s.points.length).slice(0, MAX_LINES);
  const max = Math.max(1, ...shown.flatMap((s) => s.points.map((p) => p.v))) * 1.1;
  const x = (t) => left + ((t - start) / WINDOW_MS) * (width - left - right);
  const y = (v) => top + (1 - v / max) * (height - top - bottom);
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img" });
  const hasData = shown.some((s) => s.points.some((p) => p.t >= start));
  for (let i = 0; i <= 4 && hasData; i++) {
    const value = (max * i) / 4;
    svg.appendChild(el("line", { class: "axis", x1: left, x2: width - right, y1: y(value), y2: y(value) }));
    svg.appendChild(el("text", { class: "tick", x: left - 6, y: y(value) + 3, "text-anchor": "end" },
      formatValue(value, unit)));
  }
  for (let m = 0; m <= 15; m += 5) {
    const t = start + m * 60 * 1000;
    svg.appendChild(el("text", { class: "tick", x: x(t), y: height - 6, "text-anchor": "middle" },
      m === 15 ? "now" : `-${15 - m}m`));
  }
  let drawn = 0;
  shown.forEach((s, i) => {
    const inWindow = s.points.filter((p) => p.t >= start);
    if (!inWindow.length) return;
    const colour = COLOURS[i % COLOURS.length];
    const coords = inWindow.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    const line = el(inWindow.length > 1 ? "polyline" : "circle", inWindow.length > 1
      ? { points: coords, fill: "none", stroke: colour, "stroke-width": 2 }
      : { cx: x(inWindow[0].t), cy: y(inWindow[0].v), r: 3, fill: colour });
    line.setAttribute("class", "series");
    line.setAttribute("data-name", s.name);
    line.setAttribute("data-points", String(inWindow.length));
    line.setAttribute("data-latest", String(latest({ points: inWindow })));
    line.appendChild(el("title", {}, `${s.name}: ${formatValue(latest({ points: inWindow }), unit)}`));
    svg.appendChild(line);
    drawn += inWindow.length;
  });
  if (!drawn) {
    svg.appendChild(el("text", { class: "empty", x: width / 2, y: height / 2, "text-anchor": "middle" },
      "no data yet: the first values arrive one resolution after heapster starts"));
  }
  const legend = document.createElement("div");
  legend.className = "legend";
  shown.forEach((s, i) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = COLOURS[i % COLOURS.length];
    item.append(swatch, `${s.name} ${formatValue(latest(s), unit)}`);
    legend.appendChild(item);
  });
  figure.querySelectorAll("svg, .legend").forEach((old) => old.remove());
  figure.append(svg, legend);
  figure.dataset.series = String(shown.length);
  figure.dataset.points = String(drawn);
}

function byLatest(seriesList) {
  return seriesList.filter((s) => s.points.length).sort((a, b) => latest(b) - latest(a) || a.name.localeCompare(b.name));
}

async function entitySeries(path, metric, since) {
  return points(await getJSON(`${MODEL}${path}/metrics/${metric}?start=${since}`));
}

function newest(series) {
  return series.length ? series[series.length - 1].v : null;
}

// kubectl top's cells: whole millicores, whole mebibytes, percentages rounded down.
function cpuCell(millicores) { return millicores === null ? "<unknown>" : `${Math.floor(millicores)}m`; }
function memoryCell(bytes) { return bytes === null ? "<unknown>" : `${Math.floor(bytes / MIB)}Mi`; }
function percentCell(used, total) {
  return used === null || !total ? "<unknown>" : `${Math.floor((used * 100) / total)}%`;
}

// --- the view in the URL fragment ---------------------------------------------------------------------------
function view() {
  const params = new URLSearchParams(location.hash.slice(1));
  return { namespace: params.get("namespace") || "", node: params.get("node") || "", pod: params.get("pod") || "" };
}

function show(changes) {
  const next = { ...view(), ...changes };
  const params = new URLSearchParams();
  for (const key of ["namespace", "node", "pod"]) if (next[key]) params.set(key, next[key]);
  location.hash = params.toString();
}

function fillTable(id, rows, onClick) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    for (const [key, value] of Object.entries(row.data || {})) tr.dataset[key] = value;
    if (row.selected) tr.className = "selected";
    for (const cell of row.cells) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.appendChild(td);
    }
    if (onClick) {
      tr.tabIndex = 0;
      tr.addEventListener("click", () => onClick(row));
      tr.addEventListener("keydown", (event) => { if (event.key === "Enter") onClick(row); });
    }
    return tr;
  }));
}

function fillNamespaces(namespaces, selected) {
  const select = document.getElementById("namespace");
  const names = [...new Set([...(namespaces || []), ...(selected ? [selected] : [])])].sort();
  const options = [["", "all namespaces"], ...names.map((n) => [n, n])].map(([value, text]) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = text;
    return option;
  });
  select.replaceChildren(...options);
  select.value = selected;
}

// --- data ---------------------------------------------------------------------------------------------------
async function nodeData(names, since) {
  return pool(names, async (name) => {
    const path = `/nodes/${encodeURIComponent(name)}`;
    const [cpu, memory, cpuAllocatable, memoryAllocatable] = await Promise.all([
      entitySeries(path, "cpu/usage_rate", since), entitySeries(path, WORKING_SET, since),
      entitySeries(path, "cpu/node_allocatable", since), entitySeries(path, "memory/node_allocatable", since)]);
    return { name, cpu, memory, cpuAllocatable: newest(cpuAllocatable), memoryAllocatable: newest(memoryAllocatable) };
  });
}

async function podData(namespaces, since) {
  const lists = await pool(namespaces, async (ns) => {
    const pods = (await getJSON(`${MODEL}/namespaces/${encodeURIComponent(ns)}/pods/`)) || [];
    const rows = [];
    for (let i = 0; i < pods.length; i += 100) {
      const chunk = pods.slice(i, i + 100);
      const base = `${MODEL}/namespaces/${encodeURIComponent(ns)}/pod-list/${chunk.map(encodeURIComponent).join(",")}`;
      const [cpu, memory] = await Promise.all([getJSON(`${base}/metrics/cpu/usage_rate?start=${since}`),
        getJSON(`${base}/metrics/${WORKING_SET}?start=${since}`)]);
      chunk.forEach((pod, j) => rows.push({ namespace: ns, pod, name: `${ns}/${pod}`, cpu: points(cpu.items[j]),
        memory: points(memory.items[j]) }));
    }
    return rows;
  });
  return lists.flat();
}

async function containerData(ns, pod, since) {
  const base = `/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(pod)}`;
  const names = (await getJSON(`${MODEL}${base}/containers/`)) || [];
  return pool(names.slice().sort(), async (name) => {
    const path = `${base}/containers/${encodeURIComponent(name)}`;
    const [cpu, memory] = await Promise.all([entitySeries(path, "cpu/usage_rate", since),
      entitySeries(path, WORKING_SET, since)]);
    return { name, cpu: newest(cpu), memory: newest(memory) };
  });
}

async function podsOnNode(node) {
  // Placement comes from heapster's cluster state (the Model API has no node-to-pod index).
  const found = await getJSON(`dashboard/nodes/${encodeURIComponent(node)}/pods`);
  return found.available ? new Set((found.pods || []).map((p) => `${p.namespace}/${p.name}`)) : null;
}

function sum(values) {
  const known = values.filter((v) => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}

// --- drawing ------------------------------------------------------------------------------------------------
let generation = 0;

async function refresh() {
  const mine = ++generation;
  const now = Date.now();
  const since = new Date(now - WINDOW_MS).toISOString();
  const status = document.getElementById("status");
  const current = view();
  try {
    const [clusterCpu, clusterMemory, nodeNames, namespaces] = await Promise.all([
      entitySeries("", "cpu/usage_rate", since), entitySeries("", "memory/usage", since),
      getJSON(`${MODEL}/nodes/`), getJSON(`${MODEL}/namespaces/`)]);
    const nodes = await nodeData((nodeNames || []).slice().sort().slice(0, MAX_NODES), since);
    const shownNamespaces = current.namespace ? [current.namespace] : (namespaces || []);
    let pods = await podData(shownNamespaces, since);
    const placed = current.node ? await podsOnNode(current.node) : null;
    if (placed) pods = pods.filter((p) => placed.has(p.name));
    const [podNs, podName] = current.pod.split("/");
    const containers = podName ? await containerData(podNs, podName, since) : [];
    if (mine !== generation) return; // a newer refresh (another view) is under way

    fillNamespaces(namespaces, current.namespace);
    draw(document.getElementById("chart-cluster-cpu"), [{ name: "cluster", points: clusterCpu }], now);
    draw(document.getElementById("chart-cluster-memory"), [{ name: "cluster", points: clusterMemory }], now);
    draw(document.getElementById("chart-node-cpu"), byLatest(nodes.map((n) => ({ name: n.name, points: n.cpu }))), now);
    draw(document.getElementById("chart-node-memory"),
      byLatest(nodes.map((n) => ({ name: n.name, points: n.memory }))), now);
    draw(document.getElementById("chart-pod-cpu"), byLatest(pods.map((p) => ({ name: p.name, points: p.cpu }))), now);
    draw(document.getElementById("chart-pod-memory"), byLatest(pods.map((p) => ({ name: p.name, points: p.memory }))), now);

    fillTable("nodes", nodes.map((n) => ({
      data: { node: n.name }, selected: n.name === current.node,
      cells: [n.name, cpuCell(newest(n.cpu)), percentCell(newest(n.cpu), n.cpuAllocatable),
        memoryCell(newest(n.memory)), percentCell(newest(n.memory), n.memoryAllocatable)],
    })), (row) => show({ node: row.data.node === current.node ? "" : row.data.node, pod: "" }));
    const allNodes = (nodeNames || []).length;
    document.getElementById("nodes-more").textContent =
      allNodes > nodes.length ? `the first ${nodes.length} of ${allNodes} nodes by name` : "";
    const podRows = pods.slice().sort((a, b) => a.name.localeCompare(b.name));
    fillTable("pods", podRows.slice(0, MAX_POD_ROWS).map((p) => ({
      data: { pod: p.name }, selected: p.name === current.pod,
      cells: [p.namespace, p.pod, cpuCell(newest(p.cpu)), memoryCell(newest(p.memory))],
    })), (row) => show({ pod: row.data.pod === current.pod ? "" : row.data.pod }));
    document.getElementById("pods-more").textContent =
      podRows.length > MAX_POD_ROWS ? `${podRows.length - MAX_POD_ROWS} more pods not listed` : "";
    const where = [current.namespace ? `namespace ${current.namespace}` : "all namespaces",
      ...(current.node ? [placed ? `node ${current.node}` : `node ${current.node} (placement unknown: no cluster state)`]
        : [])].join(", ");
    document.getElementById("pods-title").textContent = `Pods (${where}): click a pod for its containers`;
    document.querySelectorAll(".scope").forEach((span) => { span.textContent = `of pods in ${where}`; });

    const panel = document.getElementById("containers-panel");
    panel.hidden = !podName;
    document.getElementById("containers-title").textContent = podName ? `Containers of pod ${current.pod}` : "Containers";
    fillTable("containers", containers.map((c) => ({
      data: { container: c.name }, cells: [podName, c.name, cpuCell(c.cpu), memoryCell(c.memory)],
    })));
    document.getElementById("selection").textContent = current.node || current.pod
      ? `showing ${[current.node && `node ${current.node}`, current.pod && `pod ${current.pod}`].filter(Boolean).join(", ")}`
      : "";

    document.getElementById("sum-nodes").textContent = String((nodeNames || []).length);
    document.getElementById("sum-pods").textContent = String(pods.length);
    document.getElementById("label-pods").textContent = `pods (${where})`;
    const nodeCpu = sum(nodes.map((n) => newest(n.cpu)));
    const nodeMemory = sum(nodes.map((n) => newest(n.memory)));
    const podCpu = sum(pods.map((p) => newest(p.cpu)));
    const podMemory = sum(pods.map((p) => newest(p.memory)));
    document.getElementById("label-node-cpu").textContent = `CPU used, sum over ${nodes.length} nodes`;
    document.getElementById("label-node-memory").textContent = `memory working set, sum over ${nodes.length} nodes`;
    document.getElementById("label-pod-cpu").textContent = `CPU used, sum over ${pods.length} pods`;
    document.getElementById("label-pod-memory").textContent = `memory working set, sum over ${pods.length} pods`;
    document.getElementById("sum-cpu").textContent = nodeCpu === null ? "–" : formatValue(nodeCpu, "cpu");
    document.getElementById("sum-memory").textContent = nodeMemory === null ? "–" : formatValue(nodeMemory, "bytes");
    document.getElementById("sum-pod-cpu").textContent = podCpu === null ? "–" : formatValue(podCpu, "cpu");
    document.getElementById("sum-pod-memory").textContent = podMemory === null ? "–" : formatValue(podMemory, "bytes");
    status.className = "status";
    status.textContent = `updated ${new Date(now).toLocaleTimeString()}`;
    document.body.dataset.view = location.hash.slice(1);
    document.body.dataset.loaded = "true";
  } catch (err) {
    if (mine !== generation) return;
    status.className = "status error";
    status.textContent = `cannot read the Model API: ${err.message}`;
  }
}

document.getElementById("namespace").addEventListener("change", (event) => {
  show({ namespace: event.target.value, pod: "" });
});
window.addEventListener("hashchange", refresh);
refresh();
setInterval(refresh, REFRESH_MS);
