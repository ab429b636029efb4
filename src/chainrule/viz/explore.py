"""``explore``: step through a backward pass in the browser, one node at a time.

``cr.viz.explore(f)`` makes one self-contained HTML page (scripts and styles inline, nothing
fetched from the network): the graph of ``f`` with every node's value; buttons and keys (→ / ←,
or n / p) step forward node by node, then backward node by node. Each step lights its node and
the edges its value or gradient flows along, and shows that step's chain-rule line with its
numbers, the same text ``explain`` prints. Clicking a node shows its value, gradient, shape and
local derivative. A graph too large to draw whole opens collapsed by module (name the
parameters: ``names=model.named_parameters()``), and at most ``MAX_DRAWN`` boxes are drawn.

The layout is Graphviz's (``dot -Tplain`` gives the positions; the page draws the boxes itself),
or, without Graphviz, a simple layered one computed here.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess

import numpy as np

from .._io import atomic_write_text
from ..autograd import replay as R
from . import notation as N
from . import recorded
from .explain import explain

MAX_DRAWN = 250    # boxes drawn at most in one view; the earliest nodes beyond it are one box
OPEN_WHOLE = 40    # more boxes than this, and modules named: the page opens collapsed
MAX_STEP_TEXT = 4000  # characters of one step's text kept
FULL = 25          # a tensor with at most this many entries is shown in full

CHAR_W, LINE_H, PAD = 7.2, 16, 8  # the page's monospace 12px font: the size of a box's text


class Explorer:
    """The page ``explore`` made: ``html`` holds it, ``save(path)`` writes it, Jupyter shows it
    inline."""

    def __init__(self, html_text: str, title: str = ""):
        self.html = html_text
        self.title = title

    def save(self, path) -> str:
        """Write the page to ``path`` (atomically) and return the path."""
        atomic_write_text(path, self.html)
        return str(path)

    def _repr_html_(self) -> str:
        # an iframe keeps the page's script, styles and keys apart from the notebook's
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;'
                f'height:640px;border:1px solid #ddd" title="{html.escape(self.title)}"></iframe>')

    def __str__(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<Explorer: {self.title}, {len(self.html)} characters of HTML in .html>"


def explore(output, path=None, names=None, precision: int = 4, title: str | None = None):
    """Step through the forward and backward pass of ``output`` in a browser.

    ``names``: a dict name -> tensor or ``model.named_parameters()``, as ``explain`` takes it
    (others get letters; the output is ``f``). With ``path``, write the page there (atomically)
    and return the path; else return an ``Explorer`` holding the page (``.html``), which shows
    inline in Jupyter. The gradients are those ``output.backward()`` computes (seeded with
    ones); call it before an optimizer step, as ``explain``.

        w, x = cr.tensor(2.0, requires_grad=True), cr.tensor(-1.0, requires_grad=True)
        f = (w * x).sigmoid()
        cr.viz.explore(f, "neuron.html", names={"w": w, "x": x})  # open it in a browser
    """
    data = page_data(output, names, precision)
    data["title"] = title or f"The backward pass of {data['output']}, step by step"
    from ._explore_page import PAGE
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    page = PAGE.replace("__TITLE__", html.escape(data["title"])).replace("__DATA__", text)
    shown = Explorer(page, data["title"])
    return shown.save(path) if path is not None else shown


# -- what the page shows, as data ------------------------------------------------------------------

def page_data(output, names=None, precision: int = 4) -> dict:
    """The nodes, the steps and the drawings (views) of ``output``'s graph, as the page reads
    them: plain lists, dicts and strings."""
    if names is not None and not hasattr(names, "grad_fn") and not isinstance(names, dict):
        names = list(names)  # named_parameters() is a generator: read it once
    steps = list(explain(output, names=names, precision=precision, format="steps"))
    graph = R.Graph(output)
    forward = list(reversed(graph.order))
    by_node = {s.node: s for s in steps}
    pairs = N.named(names)[0]
    given = {id(t): n for n, t in pairs}

    ids, leaves = {}, []  # node or id(leaf) -> "n3" / "l2"; leaves in order of first use
    first_use = {}
    for k, node in enumerate(forward):
        ids[node] = f"n{k}"
    for node in forward:
        for i, t in enumerate(graph.inputs(node)):
            if hasattr(t, "grad_fn") and t.grad_fn is None and id(t) not in ids:
                ids[id(t)] = f"l{len(leaves)}"
                first_use[id(t)] = (node, i)
                leaves.append(t)
    if output.grad_fn is None:  # a leaf alone
        ids[id(output)] = "l0"
        leaves = [output]

    name = _names(output, graph, steps, pairs)
    p = precision
    nodes, reveal, grads = {}, {}, {}
    if steps:
        reveal[steps[0].node] = 0  # the seed, ∂f/∂f = 1
        grads[steps[0].node] = steps[0].upstream
    for k, s in enumerate(steps):  # a gradient is final once its last consumer has run
        for term in s.grads:
            t = graph.inputs(s.node)[term.index]
            key = graph.key(t)
            reveal[key] = k
            if t.grad_fn is None:
                grads[key] = grads[key] + term.value if key in grads else term.value
    for s in steps:
        grads.setdefault(s.node, s.upstream)
    f = name(output)

    for node in forward:
        s, t = by_node.get(node), graph.made[node]
        value = s.value if s is not None else graph.value(node)
        nodes[ids[node]] = _node_info(
            "op", name(t), N.op_of(node), value, grads.get(node) if node in reveal else None,
            f, p, formula=s.formula if s else None,
            locals_=_locals(s, name(t), f, p) if s else [], rule=N.rule(node),
            grad_at=reveal.get(node))
    for t in leaves:
        key = id(t)
        value = graph.input_value(*first_use[key]) if key in first_use else t._data
        kind = "leaf" if t.requires_grad else "input"
        nodes[ids[key]] = _node_info(kind, name(t), None, value,
                                     grads.get(key) if key in reveal else None, f, p,
                                     grad_at=reveal.get(key))

    edges = []  # (from, to): one per use, y · y gives two
    for node in forward:
        for t in graph.inputs(node):
            if hasattr(t, "grad_fn"):
                edges.append((ids[graph.key(t)], ids[node]))

    step_list = []
    for node in forward:
        s = by_node.get(node)
        text = s.forward_text if s else f"{name(graph.made[node])} = {N.op_of(node)}(…)"
        step_list.append({"phase": "forward", "node": ids[node], "text": _cut(text),
                          "edges": [[ids[graph.key(t)], ids[node]] for t in graph.inputs(node)
                                    if hasattr(t, "grad_fn")]})
    for s in steps:
        step_list.append({"phase": "backward", "node": ids[s.node], "text": _cut(s.text),
                          "edges": [[ids[graph.key(graph.inputs(s.node)[g.index])], ids[s.node]]
                                    for g in s.grads]})
    if not forward:
        only = ids[id(output)]
        step_list.append({"phase": "forward", "node": only, "edges": [],
                          "text": f"{name(output)} = {N.array(output._data, p)}   (a leaf: no "
                                  "operation made it, there is no backward pass)"})

    # the drawings: the whole graph, and collapsed by module where parameters are named
    member = _modules(forward, graph, given, ids)
    order = []  # the forward order: each leaf just before its first use
    for node in forward:
        order += [ids[k] for k, (n, _) in first_use.items() if n is node] + [ids[node]]
    if not forward:
        order = [ids[id(output)]]
    views = []
    whole = _view("whole graph", order, nodes, edges, {}, set(), f)
    if member:
        hidden = {ids[id(t)] for t in leaves if id(t) in given
                  and given[id(t)].rpartition(".")[0] in set(member.values())}
        views.append(_view("collapsed by module", order, nodes, edges, member, hidden, f))
        if len(whole["boxes"]) <= OPEN_WHOLE:
            views.insert(0, whole)
        else:
            views.append(whole)
    else:
        views.append(whole)
    for v in views:
        _layout(v, order)
    out_id = ids[graph.order[0]] if graph.order else ids[id(output)]
    return {"output": f, "outputId": out_id, "nodes": nodes, "steps": step_list,
            "forwardCount": len(forward),
            "backwardCount": len(steps), "views": views, "precision": p}


def _names(output, graph, steps, pairs):
    """name(tensor): explain's names (its steps name every op's output and every input that
    gets a gradient); the others as explain names them, in the order of the forward pass."""
    known = {}
    for s in steps:
        known[s.node] = s.name
        for term in s.grads:
            known[graph.key(graph.inputs(s.node)[term.index])] = term.input
    deriv = recorded.derivative(graph, output, pairs)
    nm = N.Names(pairs, output, ("g", "f", "y") if deriv is not None and deriv.direct
                 else ("f", "y", "L"))
    seeds = deriv.seeds if deriv is not None else ()
    recorded.name_tensors(nm, graph, deriv, seeds)
    for tid in seeds:  # written 1 in the steps: the seed of the backward pass that recorded it
        known[tid] = f"1 (the seed ∂{deriv.L}/∂{deriv.L})"

    def name(t) -> str:
        key = graph.key(t) if getattr(t, "grad_fn", None) is not None else id(t)
        return known.get(key) or nm(t)
    return name


def _node_info(kind, name, op, value, grad, f, p, formula=None, locals_=(), rule=None,
               grad_at=None) -> dict:
    value = None if value is None else np.asarray(value)
    info = {"kind": kind, "name": name, "op": op, "formula": formula,
            "title": f"{name} = {formula}" if formula else name,
            "shape": N.shape(value.shape) if value is not None else "?",
            "value": _full(value, p), "short": _short(value, p),
            "gradLabel": N.partial(f, name), "grad": None, "gradShort": None,
            "gradAt": grad_at, "locals": list(locals_), "rule": rule}
    if grad is not None:
        info["grad"], info["gradShort"] = _full(np.asarray(grad), p), _short(np.asarray(grad), p)
    return info


def _locals(s, y, f, p) -> list:
    """The node's local derivatives, one line per input: '∂h/∂e = exp(e) = 0.3679'."""
    lines = []
    for term in s.grads:
        head = N.partial(y, term.input)
        if term.local_value is not None:
            value = np.asarray(term.local_value)
            flat = value.reshape(-1)
            shown = N.number(flat[0], p) if flat.size and np.all(flat == flat[0]) else \
                _short(value, p)
            rule = f" = {term.local}" if term.local and term.local != shown else ""
            lines.append(f"{head}{rule} = {shown}")
        elif term.local and "∂" in term.local:  # a rule in gradients: ∂f/∂y @ Wᵀ
            lines.append(f"{N.partial(f, term.input)} = {term.local}")
        elif term.local:
            lines.append(f"{head} = {term.local}")
    return lines


def _short(a, p) -> str:
    """A value in a box: all entries when at most 4, else the shape and min/max."""
    if a is None:
        return "?"
    if a.size <= 4:
        return N.array(a, p)
    if a.dtype.kind not in "fiub":
        return N.shape(a.shape)
    a = a.astype(np.float64)
    return f"{N.shape(a.shape)} {N.number(a.min(), 3)}…{N.number(a.max(), 3)}"


def _full(a, p) -> str:
    """A value in the details panel: every entry up to ``FULL`` of them, else the shape, its
    statistics and the first entries."""
    if a is None:
        return "? (changed in place since, and not kept)"
    if a.size <= FULL:
        return _nested(a, p)
    flat = a.reshape(-1).astype(np.float64)
    head = ", ".join(N.number(v, p) for v in flat[:8])
    return (f"{N.shape(a.shape)}: min {N.number(flat.min(), p)}, mean {N.number(flat.mean(), p)}"
            f", max {N.number(flat.max(), p)}\nfirst entries [{head}, …]")


def _nested(a, p) -> str:
    if a.ndim == 0:
        return N.number(a, p)
    if a.ndim == 1:
        return "[" + ", ".join(N.number(v, p) for v in a) + "]"
    return "[" + ",\n ".join(_nested(r, p).replace("\n", "\n ") for r in a) + "]"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_STEP_TEXT else text[:MAX_STEP_TEXT] + " …"


def _modules(forward, graph, given, ids) -> dict:
    """id of an op -> the module it belongs to (``fc1`` for ``fc1.weight``), as draw_graph's
    ``collapse_modules`` groups them."""
    from .graph import _leaves_and_consumers, _modules as groups_of
    groups = groups_of(forward, given, _leaves_and_consumers(forward, graph)[1], graph)
    return {ids[node]: prefix for prefix, nodes in groups.items() for node in nodes}


def _view(label, order, nodes, edges, member, hidden, f) -> dict:
    """One drawing: its boxes (a node each, or a module's ops, or the earliest nodes beyond
    ``MAX_DRAWN``), the edges between them, and which box shows each node."""
    box_of, boxes = {}, {}
    for nid in order:
        if nid in hidden:
            prefix = next((m for m in set(member.values()) if nodes[nid]["name"].startswith(
                m + ".")), None)
            box_of[nid] = f"m:{prefix}"
        elif nid in member:
            box_of[nid] = f"m:{member[nid]}"
        else:
            box_of[nid] = nid
        boxes.setdefault(box_of[nid], []).append(nid)
    keys = list(boxes)
    if len(keys) > MAX_DRAWN:  # the nodes nearest the output are drawn; the rest are one box
        cut = keys[:len(keys) - MAX_DRAWN + 1]
        n_more = sum(len(boxes[k]) for k in cut)
        rest = [m for k in cut for m in boxes.pop(k)]
        boxes = {"more": rest, **boxes}
        for m in rest:
            box_of[m] = "more"
        keys = list(boxes)
    out = []
    for key in keys:
        members = boxes[key]
        if key == "more":
            box = {"id": key, "kind": "more", "lines": [
                [f"… {n_more} earlier nodes", "title"],
                ["not drawn: too many to show", "sub"]], "rep": members[-1]}
        elif key.startswith("m:"):
            prefix = key[2:]
            ops = [m for m in members if nodes[m]["kind"] == "op"]
            last = nodes[ops[-1]] if ops else nodes[members[-1]]
            params = ", ".join(f"{nodes[m]['name'].rpartition('.')[2]} {nodes[m]['shape']}"
                               for m in members if nodes[m]["kind"] != "op")
            box = {"id": key, "kind": "module", "rep": ops[-1] if ops else members[-1],
                   "lines": [[f"{prefix}  ({len(ops)} op{'s' * (len(ops) != 1)})", "title"],
                             [params or last["shape"], "sub"],
                             [f"{last['name']} = {last['short']}", "value"],
                             [f"{last['gradLabel']} = {last['gradShort']}", "grad"]]}
        else:
            n = nodes[key]
            lines = [[_clip(n["title"]), "title"]]
            sub = " ".join(filter(None, [n["op"], n["shape"] if n["shape"] != "()" else ""]))
            if n["kind"] != "op":
                sub = "input (no gradient)" if n["kind"] == "input" else \
                    ("leaf " + n["shape"] if n["shape"] != "()" else "leaf")
            lines.append([sub, "sub"])
            lines.append([_clip(n["short"]), "value"])
            if n["grad"] is not None:
                lines.append([_clip(f"{n['gradLabel']} = {n['gradShort']}"), "grad"])
            box = {"id": key, "kind": n["kind"], "rep": key, "lines": lines}
        box["members"] = members
        width = max(len(t) for t, _ in box["lines"]) * CHAR_W + 2 * PAD
        box["w"], box["h"] = round(max(width, 60), 1), len(box["lines"]) * LINE_H + 2 * PAD - 4
        out.append(box)
    pairs = []
    seen = {}
    for a, b in edges:
        a, b = box_of[a], box_of[b]
        if a == b:
            continue
        k = seen[a, b] = seen.get((a, b), -1) + 1
        if member and k:  # collapsed: one edge between two boxes
            continue
        pairs.append({"a": a, "b": b, "k": k})
    scalars = all(nodes[m]["shape"] in ("()", "(1,)") for m in order)
    return {"label": label, "boxes": out, "edges": pairs, "boxOf": box_of,
            "rankdir": "LR" if scalars or len(out) <= 6 else "TB"}


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


# -- layout ---------------------------------------------------------------------------------------

def _layout(view, order) -> None:
    """Positions for the boxes (centres, in pixels) and a path for each edge: Graphviz's
    ``dot`` where installed, else layers by longest path."""
    try:
        if shutil.which("dot") is None:
            raise OSError("no dot")
        _dot_layout(view)
    except (OSError, ValueError, RuntimeError, subprocess.SubprocessError):
        _layered_layout(view)


def _dot_layout(view) -> None:
    boxes = view["boxes"]
    index = {b["id"]: k for k, b in enumerate(boxes)}
    lines = ["digraph g {", f"rankdir={view['rankdir']}; nodesep=0.25; ranksep=0.35;",
             'node [shape=box, fixedsize=true, label=""];']
    for k, b in enumerate(boxes):
        lines.append(f'b{k} [width={b["w"] / 72:.3f}, height={b["h"] / 72:.3f}];')
    for e in view["edges"]:
        lines.append(f'b{index[e["a"]]} -> b{index[e["b"]]};')
    lines.append("}")
    done = subprocess.run(["dot", "-Tplain"], input="\n".join(lines).encode(),
                          capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode(errors="replace"))
    height = 0.0
    pending = {}  # (tail, head) -> its edges not yet placed, in order
    for e in view["edges"]:
        pending.setdefault((f"b{index[e['a']]}", f"b{index[e['b']]}"), []).append(e)
    rows = [line.split() for line in done.stdout.decode().splitlines()]
    for r in rows:
        if r[0] == "graph":
            view["width"], height = float(r[2]) * 72, float(r[3]) * 72
            view["height"] = height
    for r in rows:
        if r[0] == "node":
            b = boxes[int(r[1][1:])]
            b["x"], b["y"] = round(float(r[2]) * 72, 1), round(height - float(r[3]) * 72, 1)
        elif r[0] == "edge":  # not always in the order given: matched by their ends
            n = int(r[3])
            pts = [(float(r[4 + 2 * i]) * 72, height - float(r[5 + 2 * i]) * 72) for i in range(n)]
            d = f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"
            for i in range(1, n - 2, 3):
                d += " C" + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts[i:i + 3])
            pending[r[1], r[2]].pop(0)["d"] = d


def _layered_layout(view) -> None:
    """Each box one layer after the latest of its inputs; boxes in a layer ordered by the mean
    position of their inputs; straight edges."""
    boxes = view["boxes"]
    by_id = {b["id"]: b for b in boxes}
    inputs = {b["id"]: [] for b in boxes}
    for e in view["edges"]:
        inputs[e["b"]].append(e["a"])
    layer = {}
    for b in boxes:  # boxes come in forward order: inputs first
        layer[b["id"]] = 1 + max((layer.get(a, 0) for a in inputs[b["id"]]), default=-1)
    users = {}
    for e in view["edges"]:
        users.setdefault(e["a"], []).append(layer[e["b"]])
    for b in boxes:  # a leaf: just before its first use
        if not inputs[b["id"]] and b["id"] in users:
            layer[b["id"]] = min(users[b["id"]]) - 1
    layers = {}
    for b in boxes:
        layers.setdefault(layer[b["id"]], []).append(b["id"])
    lr = view["rankdir"] == "LR"
    pos = {}
    along, gap_along, gap_across = 20.0, 40.0, 16.0
    width = height = 0.0
    for k in sorted(layers):
        ids = sorted(layers[k], key=lambda i: np.mean([pos[a] for a in inputs[i]])
                     if inputs[i] else 0.0)
        size = max((by_id[i]["w"] if lr else by_id[i]["h"]) for i in ids)
        across = 20.0
        for rank, i in enumerate(ids):
            b = by_id[i]
            extent = b["h"] if lr else b["w"]
            c_across = across + extent / 2
            c_along = along + size / 2
            b["x"], b["y"] = (c_along, c_across) if lr else (c_across, c_along)
            pos[i] = rank
            across += extent + gap_across
        along += size + gap_along
        width, height = (max(width, across), along) if not lr else (along, max(height, across))
    if lr:
        view["width"], view["height"] = along, height
    else:
        view["width"], view["height"] = width, along
    for e in view["edges"]:
        a, b = by_id[e["a"]], by_id[e["b"]]
        if lr:
            x0, y0, x1, y1 = a["x"] + a["w"] / 2, a["y"], b["x"] - b["w"] / 2 - 6, b["y"]
        else:
            x0, y0, x1, y1 = a["x"], a["y"] + a["h"] / 2, b["x"], b["y"] - b["h"] / 2 - 6
        e["d"] = f"M{x0:.1f},{y0:.1f} L{x1:.1f},{y1:.1f}"

