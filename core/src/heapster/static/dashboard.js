// heapster dashboard: cluster, node and pod CPU and memory over the last 15 minutes, from the Model API.
// Plain JavaScript and hand-drawn SVG; every URL is relative, so the page also works behind a proxy path.
"use strict";

const MODEL = "api/v1/model";
const WINDOW_MS = 15 * 60 * 1000;
const REFRESH_MS = 10 * 1000;
const MAX_NODES = 100;          // nodes fetched per refresh (the largest lines are drawn)
const MAX_LINES = 10;
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

async function refresh() {
  const now = Date.now();
  const since = new Date(now - WINDOW_MS).toISOString();
  const status = document.getElementById("status");
  try {
    const [clusterCpu, clusterMemory, nodeNames, namespaces] = await Promise.all([
      entitySeries("", "cpu/usage_rate", since), entitySeries("", "memory/usage", since),
      getJSON(`${MODEL}/nodes/`), getJSON(`${MODEL}/namespaces/`)]);
    draw(document.getElementById("chart-cluster-cpu"), [{ name: "cluster", points: clusterCpu }], now);
    draw(document.getElementById("chart-cluster-memory"), [{ name: "cluster", points: clusterMemory }], now);

    const nodes = (nodeNames || []).slice().sort().slice(0, MAX_NODES);
    const nodeData = await pool(nodes, async (name) => {
      const path = `/nodes/${encodeURIComponent(name)}`;
      const [cpu, memory] = await Promise.all([entitySeries(path, "cpu/usage_rate", since),
        entitySeries(path, "memory/usage", since)]);
      return { name, cpu, memory };
    });
    draw(document.getElementById("chart-node-cpu"), byLatest(nodeData.map((n) => ({ name: n.name, points: n.cpu }))), now);
    draw(document.getElementById("chart-node-memory"),
      byLatest(nodeData.map((n) => ({ name: n.name, points: n.memory }))), now);

    const podLists = await pool(namespaces || [], async (ns) => {
      const pods = (await getJSON(`${MODEL}/namespaces/${encodeURIComponent(ns)}/pods/`)) || [];
      const rows = [];
      for (let i = 0; i < pods.length; i += 100) {
        const chunk = pods.slice(i, i + 100);
        const base = `${MODEL}/namespaces/${encodeURIComponent(ns)}/pod-list/${chunk.map(encodeURIComponent).join(",")}`;
        const [cpu, memory] = await Promise.all([getJSON(`${base}/metrics/cpu/usage_rate?start=${since}`),
          getJSON(`${base}/metrics/memory/usage?start=${since}`)]);
        chunk.forEach((pod, j) => rows.push({ name: `${ns}/${pod}`, cpu: points(cpu.items[j]),
          memory: points(memory.items[j]) }));
      }
      return rows;
    });
    const pods = podLists.flat();
    draw(document.getElementById("chart-pod-cpu"), byLatest(pods.map((p) => ({ name: p.name, points: p.cpu }))), now);
    draw(document.getElementById("chart-pod-memory"), byLatest(pods.map((p) => ({ name: p.name, points: p.memory }))), now);

    document.getElementById("sum-nodes").textContent = String((nodeNames || []).length);
    document.getElementById("sum-pods").textContent = String(pods.length);
    const cpuNow = clusterCpu.length ? clusterCpu[clusterCpu.length - 1].v : null;
    const memoryNow = clusterMemory.length ? clusterMemory[clusterMemory.length - 1].v : null;
    document.getElementById("sum-cpu").textContent = cpuNow === null ? "–" : formatValue(cpuNow, "cpu");
    document.getElementById("sum-memory").textContent = memoryNow === null ? "–" : formatValue(memoryNow, "bytes");
    status.className = "status";
    status.textContent = `updated ${new Date(now).toLocaleTimeString()}`;
    document.body.dataset.loaded = "true";
  } catch (err) {
    status.className = "status error";
    status.textContent = `cannot read the Model API: ${err.message}`;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
