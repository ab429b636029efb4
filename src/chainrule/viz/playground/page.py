"""The playground's page: HTML, styles and script in one string (nothing from the network). It
draws what the server computes: the data and the decision boundary, every neuron's output as a
small heat map, every weight as a line, the loss curves, and the backward pass of a batch."""

PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>chainrule playground</title>
<style>
  :root { --pos: #1565c0; --neg: #e65100; --ink: #212121; --muted: #616161; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); }
  header { display: flex; align-items: center; gap: 10px; padding: 8px 14px; background: #263238; color: #fff; flex-wrap: wrap; }
  header h1 { font-size: 17px; margin: 0 14px 0 0; font-weight: 600; }
  header button { font: inherit; font-weight: 600; padding: 5px 14px; border-radius: 4px; border: 0; cursor: pointer; }
  #run { background: #ffb300; min-width: 6.5em; } #step-btn, #reset { background: #eceff1; }
  #counter { font-variant-numeric: tabular-nums; min-width: 6em; }
  #losses { font-variant-numeric: tabular-nums; color: #cfd8dc; }
  form { display: flex; flex-wrap: wrap; gap: 6px 16px; padding: 8px 14px; background: #eceff1; border-bottom: 1px solid #cfd8dc; align-items: end; }
  form label { display: flex; flex-direction: column; font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
  form input, form select { font: 13px system-ui, sans-serif; padding: 3px 5px; margin-top: 2px; border: 1px solid #b0bec5; border-radius: 3px; }
  form input[type=number] { width: 4.8em; } #hidden { width: 7em; }
  fieldset { border: 0; padding: 0; margin: 0; font-size: 11px; color: var(--muted); text-transform: uppercase; }
  fieldset span { display: inline-block; margin-top: 4px; text-transform: none; font-size: 13px; color: var(--ink); }
  fieldset input { margin: 0 2px 0 8px; }
  #apply { font: inherit; padding: 4px 12px; }
  #error { display: none; margin: 8px 14px; padding: 8px 12px; background: #ffebee; border: 1px solid #e57373; color: #b71c1c; border-radius: 4px; font-weight: 600; }
  main { display: flex; gap: 18px; padding: 12px 14px; align-items: flex-start; flex-wrap: wrap; }
  #left { max-width: 800px; min-width: 0; }
  #net-wrap { position: relative; overflow-x: auto; }  /* a network wider than the column scrolls */
  #net-wrap h2, .panel h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 6px; }
  #net { position: relative; }
  #net canvas { position: absolute; width: 44px; height: 44px; image-rendering: pixelated; border: 1px solid #90a4ae; border-radius: 3px; }
  #net .lbl { position: absolute; font: 12px ui-monospace, "DejaVu Sans Mono", monospace; color: var(--ink); white-space: nowrap; }
  #net .col { position: absolute; font-size: 11px; color: var(--muted); text-transform: uppercase; white-space: nowrap; }
  #lines { position: absolute; left: 0; top: 0; }
  #lines text { font: 10px ui-monospace, "DejaVu Sans Mono", monospace; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
  .panel { width: 340px; flex: none; }
  #backward.panel { width: auto; }
  #boundary { width: 320px; height: 320px; border: 1px solid #90a4ae; display: block; }
  #loss { width: 320px; height: 130px; border: 1px solid #cfd8dc; display: block; margin-top: 8px; }
  .key { font-size: 12px; color: var(--muted); margin-top: 4px; }
  .key b.p { color: var(--pos); } .key b.n { color: var(--neg); }
  #backward { max-width: 760px; margin-top: 14px; }
  #bw-body { display: none; }
  #bw-text { font: 12px/1.45 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; white-space: pre-wrap; background: #fff8e1;
             border: 1px solid #ffe0b2; border-radius: 4px; padding: 8px; margin: 6px 0; max-height: 260px; overflow: auto; }
  #bw-all { font: 11px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre; max-height: 240px; overflow: auto; background: #fafafa; padding: 6px; }
  #bw-nav button { font: inherit; padding: 2px 10px; }
  .hint { color: var(--muted); font-size: 13px; }
</style>
</head>
<body>
<header>
  <h1>chainrule playground</h1>
  <button id="run" title="start or pause training">▶ start</button>
  <button id="step-btn" title="one training step, then show its backward pass">step</button>
  <button id="reset" title="new weights, step 0">reset</button>
  <span id="counter">step 0</span>
  <span id="losses"></span>
</header>
<form id="settings" onsubmit="return false">
  <label>data set <select id="dataset"><option>circle</option><option>xor</option><option value="gauss" title="two gaussians">gauss</option><option>spiral</option></select></label>
  <label>noise (0–0.5) <input id="noise" type="number" value="0.1" step="0.05"></label>
  <label>points <input id="points" type="number" value="400" step="50"></label>
  <label>train share <input id="train_ratio" type="number" value="0.5" step="0.1"></label>
  <fieldset id="features">features<br>
    <span><input type="checkbox" value="x1" checked>x1<input type="checkbox" value="x2" checked>x2<input type="checkbox" value="x1sq">x1²<input type="checkbox" value="x2sq">x2²<input type="checkbox" value="x1x2">x1·x2<input type="checkbox" value="sinx1">sin(x1)<input type="checkbox" value="sinx2">sin(x2)</span></fieldset>
  <label>hidden layers <input id="hidden" type="text" value="4, 2" title="units per hidden layer, e.g. 4, 2 (at most 6 layers of 16)"></label>
  <label>activation <select id="activation"><option>tanh</option><option>relu</option><option>sigmoid</option><option>linear</option></select></label>
  <label>learning rate <input id="lr" type="number" value="0.1" step="0.01"></label>
  <label>batch size <input id="batch_size" type="number" value="10"></label>
  <label>L2 <input id="l2" type="number" value="0" step="0.001"></label>
  <label>seed <input id="seed" type="number" value="0"></label>
  <button id="apply" type="button">apply</button>
</form>
<div id="error" role="alert"></div>
<main>
  <div id="left"><div id="net-wrap"><h2 id="net-title">the network</h2><div id="net"><svg id="lines"></svg></div>
    <div class="key" id="net-key">line width: the weight's size; <b class="p">blue, solid</b>: positive; <b class="n">orange, dashed</b>: negative.
      Each square: that neuron's output over the plane.</div></div>
  <div class="panel" id="backward">
    <h2 id="bw-title">backward pass</h2>
    <div id="bw-hint" class="hint">Pause (or press “step”) to see the backward pass of the batch the last step trained on:
      each weight's gradient on its line, and the chain rule step by step.</div>
    <div id="bw-body">
      <label class="hint"><input type="checkbox" id="show-grads" checked> show each weight's gradient on its line</label>
      <div id="bw-nav" style="margin-top:6px"><button id="bw-prev">◀</button> <span id="bw-count"></span> <button id="bw-next">▶</button>
        <a id="bw-explore" href="/explore" target="_blank" style="margin-left:10px">step through it node by node ↗</a></div>
      <div id="bw-text"></div>
      <details><summary class="hint">the whole explanation</summary><div id="bw-all"></div></details>
    </div>
  </div>
</div>
  <div class="panel">
    <h2>output: the decision boundary</h2>
    <canvas id="boundary" width="320" height="320"></canvas>
    <div class="key"><b class="p">blue</b>: class 1, <b class="n">orange</b>: class 0; white rim: training point,
      dark rim: test point<span id="batch-key" style="display:none">; black ring: the batch shown</span>.</div>
    <h2 style="margin-top:10px">loss</h2>
    <canvas id="loss" width="320" height="130"></canvas>
    <div class="key">dark: training loss, grey dashed: test loss (cross-entropy<span id="l2-key"></span>)</div>
  </div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const NS = "http://www.w3.org/2000/svg";
let state = null, data = null, running = false, busy = false, bw = null, bwAt = 0;

async function api(path, body) {
  const opts = body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const r = await fetch(path, opts);
  let j;
  try { j = await r.json(); } catch (e) { j = {error: `the server answered ${r.status}`}; }
  if (!r.ok) throw new Error(j.error || `the server answered ${r.status}`);
  return j;
}
function showError(m) { const e = $("error"); e.textContent = m; e.style.display = "block"; }
function clearError() { $("error").style.display = "none"; $("error").textContent = ""; }

function settings() {
  const s = {};
  for (const k of ["dataset", "activation", "hidden"]) s[k] = $(k).value;
  for (const k of ["noise", "points", "train_ratio", "lr", "batch_size", "l2", "seed"]) s[k] = $(k).value;
  s.features = [...document.querySelectorAll("#features input:checked")].map((c) => c.value);
  return s;
}

let configured = 0;  // answers to earlier settings that arrive late are dropped
async function configure() {
  pause(false);
  const mine = ++configured;
  try {
    const s = await api("/api/config", settings());
    if (mine !== configured) return;
    clearError();
    data = s; bw = null; hideBackward();
    update(s, true);
  } catch (e) { if (mine === configured) showError(e.message); }
}

// -- colours ----------------------------------------------------------------------------------
const POS = [21, 101, 192], NEG = [230, 81, 0];
function mix(t) {  // t in [-1, 1]: orange, white, blue
  const c = t >= 0 ? POS : NEG, a = Math.min(1, Math.abs(t));
  return [255 + (c[0] - 255) * a, 255 + (c[1] - 255) * a, 255 + (c[2] - 255) * a];
}
function paintGrid(canvas, values, n, scale) {
  canvas.width = n; canvas.height = n;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(n, n);
  values.forEach((v, i) => {
    const [r, g, b] = mix(v / scale);
    img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
  });
  ctx.putImageData(img, 0, 0);
}

// -- the network ------------------------------------------------------------------------------
const ROW = 58, SIZE = 44, TOP = 28, LEFT = 70;
let COL = 210;  // the space between layers: narrower for a deep network, so that it fits the column
function pos(c, i) { return [LEFT + c * COL, TOP + i * ROW]; }

function drawNet() {
  const layers = state.layers, net = $("net");
  COL = Math.max(90, Math.min(210, Math.floor((780 - LEFT - SIZE - 20) / Math.max(1, layers.length - 1))));
  net.querySelectorAll("canvas, .lbl, .col").forEach((e) => e.remove());
  const rows = Math.max(...layers.map((l) => l.length));
  const W = LEFT + (layers.length - 1) * COL + SIZE + 20, H = TOP + rows * ROW;
  net.style.width = W + "px"; net.style.height = H + "px";
  const svg = $("lines");
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  svg.innerHTML = "";
  const showGrads = bw && !running && $("show-grads").checked && bw.step === state.step;
  let gmax = 1e-12;
  if (showGrads) bw.grads.forEach((g) => g.W.forEach((r) => r.forEach((v) => { gmax = Math.max(gmax, Math.abs(v)); })));
  $("net-key").innerHTML = showGrads ?
    `Paused: each line shows its weight's gradient ∂L/∂W on this batch (width: its size; <b class="p">blue, solid</b>: ` +
    `positive; <b class="n">orange, dashed</b>: negative; hover a line for its weight). Each square: that neuron's output over the plane.` :
    `Line width: the weight's size; <b class="p">blue, solid</b>: positive; <b class="n">orange, dashed</b>: negative. ` +
    `Each square: that neuron's output over the plane.`;
  const nLines = state.weights.reduce((a, w) => a + w.W.length * w.W[0].length, 0);
  state.weights.forEach((w, c) => {
    const ni = w.W.length, nj = w.W[0].length;
    w.W.forEach((row, i) => row.forEach((v, j) => {
      const [x0, y0] = pos(c, i), [x1, y1] = pos(c + 1, j);
      const a = [x0 + SIZE, y0 + SIZE / 2], b = [x1, y1 + SIZE / 2], m = (a[0] + b[0]) / 2;
      const p = document.createElementNS(NS, "path");
      p.setAttribute("d", `M${a[0]},${a[1]} C${m},${a[1]} ${m},${b[1]} ${b[0]},${b[1]}`);
      const g = showGrads ? bw.grads[c].W[i][j] : null, shown = showGrads ? g : v;
      const width = showGrads ? 0.6 + 7 * Math.abs(g) / gmax : 0.6 + Math.min(7, 2.2 * Math.abs(v));
      p.setAttribute("fill", "none");
      p.setAttribute("stroke", shown >= 0 ? "#1565c0" : "#e65100");
      p.setAttribute("stroke-width", width.toFixed(2));
      if (shown < 0) p.setAttribute("stroke-dasharray", "7 4");
      p.setAttribute("class", "weight");
      p.dataset.layer = c + 1; p.dataset.i = i; p.dataset.j = j;
      const name = `W${c + 1}[${i},${j}]`;
      const t = document.createElementNS(NS, "title");
      t.textContent = `${name} = ${v.toFixed(4)}` + (g !== null ? `;  ∂L/∂${name} = ${g.toPrecision(3)}` : "");
      p.appendChild(t);
      svg.appendChild(p);
      if (showGrads && nLines <= 40) {  // the gradient written on its line
        const k = j * ni + i, f = nj * ni > 1 ? 0.12 + 0.76 * k / (ni * nj - 1) : 0.5;
        const x = (1 - f) ** 3 * a[0] + 3 * (1 - f) ** 2 * f * m + 3 * (1 - f) * f * f * m + f ** 3 * b[0];
        const y = (1 - f) ** 3 * a[1] + 3 * (1 - f) ** 2 * f * a[1] + 3 * (1 - f) * f * f * b[1] + f ** 3 * b[1];
        const tx = document.createElementNS(NS, "text");
        tx.setAttribute("x", x.toFixed(1)); tx.setAttribute("y", (y - 3).toFixed(1));
        tx.setAttribute("text-anchor", "middle"); tx.setAttribute("class", "grad-label");
        tx.setAttribute("fill", g >= 0 ? "#0d47a1" : "#bf360c");
        tx.textContent = Math.abs(g) >= 0.01 ? g.toFixed(3) : g.toPrecision(2);
        svg.appendChild(tx);
      }
    }));
  });
  const n = state.neuronGrid;
  layers.forEach((layer, c) => {
    const col = document.createElement("div");
    col.className = "col";
    col.textContent = c === 0 ? "inputs" : c === layers.length - 1 ? "output" : `hidden ${c} (${layer.length})`;
    col.style.left = (LEFT + c * COL - 10) + "px"; col.style.top = "2px";
    net.appendChild(col);
    const scale = c === 0 || state.activation !== "tanh" ? null : 1;
    layer.forEach((name, i) => {
      const v = state.neurons[c][i], [x, y] = pos(c, i), cv = document.createElement("canvas");
      let s = scale || Math.max(1e-9, ...v.map(Math.abs));
      let vals = v;
      if (c === layers.length - 1) { vals = v.map((p) => 2 * p - 1); s = 1; }
      paintGrid(cv, vals, n, s);
      cv.style.left = x + "px"; cv.style.top = y + "px";
      cv.title = c === layers.length - 1 ? "the output, σ(logit): the probability of class 1" :
        `${name}: its output over the plane (white 0, blue +, orange −)`;
      net.appendChild(cv);
      if (c === 0) {
        const l = document.createElement("div");
        l.className = "lbl"; l.textContent = name;
        l.style.left = "0px"; l.style.top = (y + SIZE / 2 - 8) + "px"; l.style.width = (LEFT - 6) + "px"; l.style.textAlign = "right";
        net.appendChild(l);
      }
    });
  });
}

// -- the data and the boundary ----------------------------------------------------------------
function drawBoundary() {
  const c = $("boundary"), ctx = c.getContext("2d"), n = state.boundaryGrid;
  const off = document.createElement("canvas");
  paintGrid(off, state.boundary.map((p) => 1.6 * (p - 0.5)), n, 1);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, c.width, c.height);
  if (!data) return;
  const px = (v) => (v + 6) / 12 * c.width, py = (v) => (6 - v) / 12 * c.height;
  const train = new Set(data.train), batch = new Set(bw && !running && bw.step === state.step ? bw.batch : []);
  data.points.forEach(([x, y], i) => {
    ctx.beginPath(); ctx.arc(px(x), py(y), 3.2, 0, 2 * Math.PI);
    ctx.fillStyle = data.labels[i] ? "#1565c0" : "#e65100"; ctx.fill();
    ctx.lineWidth = 1; ctx.strokeStyle = train.has(i) ? "#fff" : "#212121"; ctx.stroke();
  });
  batch.forEach((i) => {
    const [x, y] = data.points[i];
    ctx.beginPath(); ctx.arc(px(x), py(y), 6.5, 0, 2 * Math.PI);
    ctx.lineWidth = 2; ctx.strokeStyle = "#000"; ctx.stroke();
  });
  $("batch-key").style.display = batch.size ? "inline" : "none";
}

function drawLoss() {
  const c = $("loss"), ctx = c.getContext("2d"), h = state.history;
  ctx.clearRect(0, 0, c.width, c.height);
  const vals = h.train.concat(h.test).filter((v) => v !== null);
  const top = Math.max(0.1, ...vals) * 1.05, last = Math.max(1, h.step[h.step.length - 1]);
  const X = (s) => 36 + (c.width - 44) * s / last, Y = (v) => c.height - 16 - (c.height - 26) * v / top;
  ctx.strokeStyle = "#cfd8dc"; ctx.fillStyle = "#757575"; ctx.font = "10px sans-serif"; ctx.lineWidth = 1;
  for (const v of [0, top / 2, top]) {
    ctx.beginPath(); ctx.moveTo(36, Y(v)); ctx.lineTo(c.width - 8, Y(v)); ctx.stroke();
    ctx.fillText(short(v), 4, Y(v) + 3);
  }
  ctx.fillText(`step ${last}`, c.width - 60, c.height - 3);
  for (const [key, color, dash] of [["test", "#9e9e9e", [5, 3]], ["train", "#263238", []]]) {
    ctx.beginPath(); ctx.setLineDash(dash); ctx.strokeStyle = color; ctx.lineWidth = 2;
    h[key].forEach((v, i) => { if (v === null) return; const f = i ? "lineTo" : "moveTo"; ctx[f](X(h.step[i]), Y(v)); });
    ctx.stroke(); ctx.setLineDash([]);
  }
}

function fmt(v) {
  if (v === null || v === undefined) return "–";
  return v === 0 || (Math.abs(v) >= 0.001 && Math.abs(v) < 1e4) ? v.toFixed(4) : v.toExponential(2);
}
function short(v) { return v === 0 || (Math.abs(v) >= 0.01 && Math.abs(v) < 1000) ? v.toFixed(2) : v.toExponential(0); }  // an axis label

function update(s, full) {
  state = s;
  $("counter").textContent = `step ${s.step}`;
  $("counter").dataset.step = s.step;
  $("losses").textContent = `training loss ${fmt(s.trainLoss)} · test loss ${fmt(s.testLoss)}`;
  $("losses").dataset.train = s.trainLoss; $("losses").dataset.test = s.testLoss;
  $("l2-key").textContent = data && data.config && data.config.l2 > 0 ? ` + L2 ${data.config.l2}/2 · Σ W²` : "";
  $("net-title").textContent = `the network: ${s.layers.map((l) => l.length).join(" → ")}, ${s.activation}`;
  drawNet(); drawBoundary(); drawLoss();
}

// -- the backward pass of a batch -------------------------------------------------------------
function hideBackward() {
  $("bw-body").style.display = "none"; $("bw-hint").style.display = "block"; $("bw-title").textContent = "backward pass";
}
async function loadBackward() {
  if (!state || state.step === 0) return;
  try { bw = await api("/api/backward"); } catch (e) { showError(e.message); return; }
  bwAt = 0;
  $("bw-title").textContent = `backward pass of step ${bw.step}: its batch of ${bw.batch.length} points, loss ${fmt(bw.loss)}`;
  $("bw-all").textContent = bw.explanation;
  $("bw-body").style.display = "block"; $("bw-hint").style.display = "none";
  showBwStep(); drawNet(); drawBoundary();
}
function showBwStep() {
  $("bw-count").textContent = `step ${bwAt + 1} of ${bw.steps.length} of the chain rule`;
  $("bw-text").textContent = bw.steps[bwAt];
}
$("bw-prev").onclick = () => { if (bw && bwAt > 0) { bwAt--; showBwStep(); } };
$("bw-next").onclick = () => { if (bw && bwAt < bw.steps.length - 1) { bwAt++; showBwStep(); } };
$("show-grads").onchange = () => drawNet();

// -- running ----------------------------------------------------------------------------------
async function loop() {
  if (!running || busy) return;
  busy = true;
  try { update(await api("/api/step", {n: 5})); } catch (e) { showError(e.message); pause(false); await refresh(); }
  busy = false;
  if (running) setTimeout(loop, 20);
}
function start() { running = true; $("run").textContent = "❚❚ pause"; hideBackward(); clearError(); loop(); }
function pause(show) {
  running = false; $("run").textContent = "▶ start";
  if (show !== false) { const wait = () => busy ? setTimeout(wait, 20) : loadBackward(); wait(); }
}
$("run").onclick = () => running ? pause() : start();
$("step-btn").onclick = async () => {
  pause(false);
  while (busy) await new Promise((r) => setTimeout(r, 20));
  try { update(await api("/api/step", {n: 1})); clearError(); await loadBackward(); } catch (e) { showError(e.message); await refresh(); }
};
async function refresh() {  // after a refused step: the steps the server did keep
  try { update(await api("/api/state")); } catch (e) { /* the message shown already says why */ }
}
$("reset").onclick = configure;
$("apply").onclick = configure;
document.querySelectorAll("#settings select, #settings input").forEach((e) => e.addEventListener("change", configure));
configure();
</script>
</body>
</html>
"""
