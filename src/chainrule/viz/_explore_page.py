"""The page ``explore`` writes: HTML, styles and script in one string, the graph's data put in for
``__DATA__`` (JSON) and ``__TITLE__``. Nothing is fetched from the network."""

PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  :root { --value: #2e7d32; --grad: #c62828; --lit: #ef6c00; --ink: #212121; --muted: #616161; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
         color: var(--ink); display: flex; flex-direction: column; height: 100vh; }
  header { display: flex; align-items: center; gap: 10px; padding: 8px 12px; border-bottom: 1px solid #ddd;
           background: #fafafa; flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0 12px 0 0; font-weight: 600; }
  button, select { font: inherit; padding: 4px 10px; border: 1px solid #bbb; border-radius: 4px;
                   background: #fff; cursor: pointer; }
  button:hover { background: #f0f0f0; }
  button:disabled { color: #aaa; cursor: default; }
  #count { color: var(--muted); min-width: 14em; }
  .legend { margin-left: auto; color: var(--muted); font-size: 12px; }
  .legend b.v { color: var(--value); } .legend b.g { color: var(--grad); } .legend b.l { color: var(--lit); }
  main { flex: 1; display: flex; min-height: 0; }
  #canvas { flex: 1; overflow: auto; background: #fff; position: relative; }
  aside { width: 440px; border-left: 1px solid #ddd; display: flex; flex-direction: column; min-height: 0;
          background: #fcfcfc; }
  aside section { padding: 10px 12px; border-bottom: 1px solid #e6e6e6; }
  aside h2 { font-size: 13px; margin: 0 0 6px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
  pre { font: 12.5px/1.45 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; margin: 0;
        white-space: pre-wrap; word-break: break-word; }
  #step-text { background: #fff8e1; border: 1px solid #ffe0b2; padding: 8px; border-radius: 4px; min-height: 3em;
               max-height: 32vh; overflow: auto; }  /* a long step scrolls; the panels below stay in view */
  #phase { font-weight: 600; margin-bottom: 6px; }
  #phase.forward { color: var(--value); } #phase.backward { color: var(--grad); }
  #details { overflow: auto; max-height: 34vh; }
  #details .k { color: var(--muted); font-size: 12px; margin-top: 6px; }
  #details .value { color: var(--value); } #details .grad { color: var(--grad); }
  #details a { color: #1565c0; cursor: pointer; }
  #list-wrap { flex: 1; overflow: auto; min-height: 80px; }
  #steps { margin: 0; padding: 0; list-style: none; font: 12px/1.5 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
  #steps li { cursor: pointer; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding-right: 8px; }
  #steps li.forward { color: #1b5e20; } #steps li.backward { color: #8e0000; }
  #steps li.cur { background: #ffe0b2; }
  svg text { font: 12px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
  svg .title { font-weight: bold; fill: var(--ink); }
  svg .sub { fill: #757575; font-size: 11px; }
  svg .value { fill: var(--value); }
  svg .grad { fill: var(--grad); }
  svg .grad.pending { fill: #bdbdbd; }
  .box rect { fill: #fff; stroke: #9e9e9e; stroke-width: 1; }
  .box.leaf rect { fill: #e3f2fd; } .box.input rect { fill: #f5f5f5; }
  .box.module rect { fill: #fff8e1; } .box.more rect { fill: #eeeeee; stroke-dasharray: 4 3; }
  .box.output rect { stroke-width: 2.5; }
  .box { cursor: pointer; }
  .box.done rect { fill: #fdecea; }
  .box.lit rect { stroke: var(--lit); stroke-width: 3.5; fill: #fff3e0; }
  .box.picked rect { stroke: #1565c0; stroke-width: 2.5; }
  .edge { fill: none; stroke: #9e9e9e; stroke-width: 1.3; }
  .edge.fwd { stroke: var(--value); stroke-width: 3.5; }
  .edge.bwd { stroke: var(--grad); stroke-width: 3.5; stroke-dasharray: 9 5; animation: flow 0.8s linear infinite; }
  @keyframes flow { to { stroke-dashoffset: 28; } }
  .hint { color: var(--muted); font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1>__TITLE__</h1>
  <button id="first" title="back to the start (Home)">start</button>
  <button id="prev" title="previous step (← or p)">◀ back</button>
  <button id="next" title="next step (→ or n)">next ▶</button>
  <button id="last" title="to the end (End)">end</button>
  <span id="count"></span>
  <label id="view-label">view <select id="view"></select></label>
  <button id="zoom-out" title="smaller">−</button><button id="zoom-in" title="larger">+</button>
  <span class="legend"><b class="v">green</b>: values · <b class="g">red ∂f/∂·</b>: gradients, shown once
    the backward pass reaches them · <b class="l">orange</b>: this step</span>
</header>
<main>
  <div id="canvas"></div>
  <aside>
    <section>
      <h2>This step</h2>
      <div id="phase"></div>
      <pre id="step-text"></pre>
    </section>
    <section>
      <h2>Node <span class="hint">(click a box)</span></h2>
      <div id="details"><span class="hint">Click a box in the graph to see its value, gradient, shape and
        local derivative.</span></div>
    </section>
    <section id="list-wrap">
      <h2>All steps</h2>
      <ol id="steps"></ol>
    </section>
  </aside>
</main>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const S = D.steps, F = D.forwardCount, B = D.backwardCount;
const NS = "http://www.w3.org/2000/svg";
let cur = -1, view = 0, scale = 1, picked = null;
const $ = (id) => document.getElementById(id);

function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function gradKnown(nodeId) {  // has the backward pass reached this node's gradient at step cur?
  const n = D.nodes[nodeId];
  return n && n.gradAt !== null && n.gradAt !== undefined && cur >= F + n.gradAt;
}

function draw() {
  const V = D.views[view], c = $("canvas");
  c.innerHTML = "";
  const svg = el("svg", {id: "graph", width: V.width * scale + 40, height: V.height * scale + 40});
  const defs = el("defs", {}, svg);
  // arrow-bwd sits at an edge's start, pointing back at the input: the way the gradient flows
  for (const [id, color, refX] of [["arrow", "#9e9e9e", "1"], ["arrow-fwd", "#2e7d32", "1"], ["arrow-bwd", "#c62828", "10"]]) {
    const m = el("marker", {id, viewBox: "0 0 10 10", refX, refY: "5", markerWidth: "9",
                            markerHeight: "9", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse"}, defs);
    el("path", {d: "M0,0 L10,5 L0,10 z", fill: color}, m);
  }
  const g = el("g", {transform: `translate(20,20) scale(${scale})`}, svg);
  for (const e of V.edges) {
    const p = el("path", {d: e.d, class: "edge", "marker-end": "url(#arrow)"}, g);
    p.dataset.a = e.a; p.dataset.b = e.b;
  }
  for (const b of V.boxes) {
    const box = el("g", {class: "box " + b.kind + (b.members.includes(D.outputId) ? " output" : ""),
                         transform: `translate(${b.x - b.w / 2},${b.y - b.h / 2})`}, g);
    box.dataset.id = b.id;
    box.dataset.rep = b.rep;
    el("rect", {width: b.w, height: b.h, rx: 6}, box);
    b.lines.forEach(([text, cls], i) => {
      const t = el("text", {x: 8, y: 8 + 16 * i + 11, class: cls}, box);
      t.textContent = text;
      if (cls === "grad") { t.dataset.known = text; t.dataset.pending = text.split(" = ")[0] + " = ?"; }
    });
    box.addEventListener("click", () => show(b));
  }
  c.appendChild(svg);
  paint();
}

function paint() {
  const V = D.views[view], step = S[cur];
  document.querySelectorAll(".box").forEach((g) => {
    g.classList.remove("lit", "done");
    const rep = g.dataset.rep, known = gradKnown(rep);
    g.querySelectorAll("text.grad").forEach((t) => {
      t.textContent = known ? t.dataset.known : t.dataset.pending;
      t.classList.toggle("pending", !known);
    });
    if (cur >= F && known && D.nodes[rep] && D.nodes[rep].kind === "op") g.classList.add("done");
    if (picked === g.dataset.id) g.classList.add("picked"); else g.classList.remove("picked");
  });
  document.querySelectorAll(".edge").forEach((p) => {
    p.classList.remove("fwd", "bwd"); p.setAttribute("marker-end", "url(#arrow)"); p.removeAttribute("marker-start");
  });
  const phase = $("phase"), text = $("step-text");
  if (!step) {
    phase.className = ""; phase.textContent = "Start";
    text.textContent = F === 0 ? `${D.output} is a leaf: no operation made it, so there is no forward or backward pass to step through.` :
      `The graph of ${D.output}, every node with its value. Press → (or n, or "next") to step ` +
      `forward through the ${F} operation${F === 1 ? "" : "s"}, then backward through the chain rule, one node at a time.`;
  } else {
    const fwd = step.phase === "forward";
    phase.className = step.phase;
    phase.textContent = F === 0 ? "A leaf: nothing to step through" :
                        fwd ? `Forward pass: operation ${cur + 1} of ${F}` :
                              `Backward pass: step ${cur - F + 1} of ${B}`;
    text.textContent = step.text;
    const boxId = V.boxOf[step.node];
    const lit = document.querySelector(`.box[data-id="${CSS.escape(boxId)}"]`);
    if (lit) { lit.classList.add("lit"); reveal(lit); }
    for (const [a, b] of step.edges) {
      const A = V.boxOf[a], Bx = V.boxOf[b];
      document.querySelectorAll(`.edge[data-a="${CSS.escape(A)}"][data-b="${CSS.escape(Bx)}"]`).forEach((p) => {
        p.classList.add(fwd ? "fwd" : "bwd");
        if (fwd) p.setAttribute("marker-end", "url(#arrow-fwd)");
        else { p.removeAttribute("marker-end"); p.setAttribute("marker-start", "url(#arrow-bwd)"); }
      });
    }
  }
  $("count").textContent = `step ${cur + 1} of ${S.length}`;
  $("prev").disabled = $("first").disabled = cur < 0;
  $("next").disabled = $("last").disabled = cur >= S.length - 1;
  document.querySelectorAll("#steps li.cur").forEach((li) => li.classList.remove("cur"));
  const li = $("steps").children[cur];
  if (li) { li.classList.add("cur"); li.scrollIntoView({block: "nearest"}); }
  if (picked) { const b = D.views[view].boxes.find((x) => x.id === picked); if (b) show(b, true); }
}

function reveal(g) {  // scroll the lit box into view
  const c = $("canvas"), r = g.getBoundingClientRect(), cr = c.getBoundingClientRect();
  if (r.left < cr.left || r.right > cr.right || r.top < cr.top || r.bottom > cr.bottom) {
    c.scrollLeft += (r.left + r.right) / 2 - (cr.left + cr.right) / 2;
    c.scrollTop += (r.top + r.bottom) / 2 - (cr.top + cr.bottom) / 2;
  }
}

function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]); }

function nodeHtml(id) {
  const n = D.nodes[id];
  const kind = n.kind === "op" ? `operation <b>${esc(n.op)}</b>` :
               n.kind === "leaf" ? "a leaf (requires grad)" : "an input (no gradient asked)";
  let h = `<pre><b>${esc(n.title)}</b></pre><div class="k">${kind}, shape ${esc(n.shape)}</div>`;
  h += `<div class="k">value</div><pre class="value">${esc(n.value)}</pre>`;
  if (n.grad !== null) {
    const when = gradKnown(id) ? "" : ` <span class="hint">(the backward pass reaches it at step ${F + n.gradAt + 1})</span>`;
    h += `<div class="k">gradient ${esc(n.gradLabel)}${when}</div><pre class="grad">${esc(n.grad)}</pre>`;
  } else if (n.kind !== "input") {
    h += `<div class="k">gradient</div><pre>none: no gradient flows back here</pre>`;
  }
  if (n.locals.length) h += `<div class="k">local derivative</div><pre>${esc(n.locals.join("\n"))}</pre>`;
  if (n.rule && n.kind === "op") h += `<div class="k">rule</div><pre>${esc(n.rule)}</pre>`;
  return h;
}

function show(b, quiet) {
  picked = b.id;
  if (!quiet) paint();
  let h;
  if (b.kind === "module" || b.kind === "more") {
    h = `<pre><b>${esc(b.lines[0][0])}</b></pre><div class="k">${b.members.length} nodes:</div>`;
    h += b.members.map((m) => `<div><a data-node="${esc(m)}">${esc(D.nodes[m].title)}</a>: ` +
      `<span class="value">${esc(D.nodes[m].short)}</span></div>`).join("");
  } else {
    h = nodeHtml(b.rep);
  }
  $("details").innerHTML = h;
  $("details").querySelectorAll("a[data-node]").forEach((a) =>
    a.addEventListener("click", () => { $("details").innerHTML = nodeHtml(a.dataset.node); }));
}

function go(i) { cur = Math.max(-1, Math.min(S.length - 1, i)); paint(); }

$("next").onclick = () => go(cur + 1);
$("prev").onclick = () => go(cur - 1);
$("first").onclick = () => go(-1);
$("last").onclick = () => go(S.length - 1);
$("zoom-in").onclick = () => { scale = Math.min(3, scale * 1.25); draw(); };
$("zoom-out").onclick = () => { scale = Math.max(0.1, scale / 1.25); draw(); };
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "ArrowRight" || e.key === "n") { go(cur + 1); e.preventDefault(); }
  else if (e.key === "ArrowLeft" || e.key === "p") { go(cur - 1); e.preventDefault(); }
  else if (e.key === "Home") { go(-1); e.preventDefault(); }
  else if (e.key === "End") { go(S.length - 1); e.preventDefault(); }
});
D.views.forEach((v, i) => {
  const o = document.createElement("option");
  o.value = i; o.textContent = `${v.label} (${v.boxes.length} boxes)`;
  $("view").appendChild(o);
});
if (D.views.length < 2) $("view-label").style.display = "none";
$("view").onchange = (e) => { view = +e.target.value; picked = null; fit(); draw(); };
const list = $("steps");
S.forEach((s, i) => {
  const li = document.createElement("li");
  li.className = s.phase;
  li.textContent = `${i + 1}. ${s.text.split("\n")[0]}`;
  li.title = s.text;
  li.onclick = () => go(i);
  list.appendChild(li);
});
function fit() {
  const V = D.views[view], c = $("canvas");
  // the whole drawing where it fits; a large one readable, scrolled
  scale = Math.max(0.6, Math.min(1.3, (c.clientWidth - 40) / V.width, (c.clientHeight - 40) / V.height));
}
fit();
draw();
</script>
</body>
</html>
"""
