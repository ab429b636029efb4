"""explore: the page's content without a browser: self-contained, the numbers of every node and
step (CS231n's sigmoid neuron, computed here from the maths), the same step text as explain,
edges per use, collapsed modules and a cap on what is drawn, the layout without Graphviz."""

from __future__ import annotations

import html
import importlib
import json
import math
import re

import numpy as np

import chainrule as cr
from chainrule.examples import sigmoid_graph

E = importlib.import_module("chainrule.viz.explore")  # the module; cr.viz.explore is the function

# CS231n's neuron, from the maths
D = 2 * -1 + -3 * -2 + -3          # w0·x0 + w1·x1 + w2 = 1
Z = 1 + math.exp(-D)               # 1.3679
F = 1 / Z                          # 0.7311
DZ = -1 / Z ** 2                   # ∂f/∂z = -0.5344
DE = DZ * math.exp(-D)             # ∂f/∂e = -0.1966
LOCAL = F * (1 - F)                # ∂f/∂d = 0.1966
INPUT_GRADS = {"w0": -1 * LOCAL, "x0": 2 * LOCAL, "w1": -2 * LOCAL, "x1": -3 * LOCAL,
               "w2": LOCAL}


def neuron():
    return sigmoid_graph.gates(sigmoid_graph.inputs())


def data_of(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def by_name(data) -> dict:
    return {n["name"]: n for n in data["nodes"].values()}


def close(text: str, value: float, tol: float = 5e-5) -> bool:
    return abs(float(text) - value) <= tol


def test_page_is_self_contained():
    f, names = neuron()
    page = cr.viz.explore(f, names=names).html
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|<img\b|@import|url\(\s*['\"]?http", page)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace, not a download


def test_every_node_value_and_gradient():
    f, names = neuron()
    nodes = by_name(data_of(cr.viz.explore(f, names=names).html))
    assert close(nodes["f"]["value"], F) and close(nodes["z"]["value"], Z)
    assert close(nodes["d"]["value"], D) and close(nodes["h"]["value"], math.exp(-D))
    assert close(nodes["z"]["grad"], DZ) and close(nodes["e"]["grad"], DE)
    assert nodes["f"]["grad"] == "1"
    for k, g in INPUT_GRADS.items():
        assert nodes[k]["kind"] == "leaf" and close(nodes[k]["grad"], g), k
    # local derivatives, as formulas with their values: ∂h/∂e = exp(e), ∂b/∂w1 = x1
    (h,) = nodes["h"]["locals"]
    assert h.startswith("∂h/∂e = ") and h.endswith(f" = {math.exp(-D):.4f}")
    (z,) = nodes["f"]["locals"]
    assert z.startswith("∂f/∂z = ") and z.endswith(f" = {DZ:.4f}")
    w1, x1 = nodes["b"]["locals"]
    assert w1.startswith("∂b/∂w1 = ") and w1.endswith(" = -2")
    assert x1.startswith("∂b/∂x1 = ") and x1.endswith(" = -3")
    assert nodes["z"]["shape"] == "()" and nodes["z"]["op"] == "add"


def test_steps_forward_then_backward_with_explains_text():
    f, names = neuron()
    data = data_of(cr.viz.explore(f, names=names).html)
    steps = data["steps"]
    assert data["forwardCount"] == 8 and data["backwardCount"] == 8 and len(steps) == 16
    assert [s["phase"] for s in steps] == ["forward"] * 8 + ["backward"] * 8
    explained = cr.viz.explain(f, names=names, format="steps")
    assert [s["text"] for s in steps[:8]] == [s.forward_text for s in reversed(explained)]
    assert [s["text"] for s in steps[8:]] == [s.text for s in explained]
    nodes = data["nodes"]
    assert nodes[steps[7]["node"]]["name"] == "f" and steps[7]["text"].endswith("= 0.7311")
    assert nodes[steps[8]["node"]]["name"] == "f"
    # the first backward step's edge: from z into f, along which ∂f/∂z flows
    assert [[nodes[a]["name"], nodes[b]["name"]] for a, b in steps[8]["edges"]] == [["z", "f"]]
    last = steps[-1]  # a = w0 · x0: gradients to w0 and x0
    assert sorted(nodes[a]["name"] for a, _ in last["edges"]) == ["w0", "x0"]
    # gradients show once their last consumer has run: z at the first backward step, x0 last
    assert nodes[steps[8]["node"]]["gradAt"] == 0
    named = by_name(data)
    assert named["z"]["gradAt"] == 0 and named["x0"]["gradAt"] == 7 and named["w2"]["gradAt"] == 4


def test_one_edge_per_use():
    y = cr.tensor(3.0, requires_grad=True)
    f = y * y
    data = data_of(cr.viz.explore(f, names={"y": y}).html)
    edges = data["views"][0]["edges"]
    assert len(edges) == 2 and {e["k"] for e in edges} == {0, 1}
    assert close(by_name(data)["y"]["grad"], 6.0)


def test_path_written_atomically_and_returned(tmp_path, monkeypatch):
    f, names = neuron()
    calls = []
    real = E.atomic_write_text
    monkeypatch.setattr(E, "atomic_write_text", lambda p, t: (calls.append(p), real(p, t)))
    out = cr.viz.explore(f, tmp_path / "sub" / "neuron.html", names=names)
    target = tmp_path / "sub" / "neuron.html"
    assert out == str(target) and calls == [target]
    assert (tmp_path / "sub" / "neuron.html").read_text(encoding="utf-8") == \
        cr.viz.explore(f, names=names).html
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["neuron.html"]


def test_jupyter_shows_it_in_an_iframe():
    f, names = neuron()
    shown = cr.viz.explore(f, names=names)
    frame = shown._repr_html_()
    assert frame.startswith("<iframe srcdoc=\"") and "</iframe>" in frame
    src = re.search(r'srcdoc="([^"]*)"', frame).group(1)
    assert html.unescape(src) == shown.html


def test_layout_boxes_do_not_overlap_with_and_without_graphviz(monkeypatch):
    f, names = neuron()
    for dot in ("dot" if E.shutil.which("dot") else None, None):
        monkeypatch.setattr(E.shutil, "which", lambda exe, dot=dot: dot and "/usr/bin/dot")
        view = E.page_data(f, names)["views"][0]
        boxes = view["boxes"]
        assert len(boxes) == 13 and len(view["edges"]) == 12
        for i, a in enumerate(boxes):
            assert -1 <= a["x"] - a["w"] / 2 and a["x"] + a["w"] / 2 <= view["width"] + 1
            for b in boxes[:i]:
                apart = (abs(a["x"] - b["x"]) >= (a["w"] + b["w"]) / 2 - 0.5
                         or abs(a["y"] - b["y"]) >= (a["h"] + b["h"]) / 2 - 0.5)
                assert apart, (a["id"], b["id"], dot)
        edges_join_their_boxes(view)


def edges_join_their_boxes(view):
    """Each edge's path starts at its source box and ends (less the arrow) at its target."""
    boxes = {b["id"]: b for b in view["boxes"]}

    def near(point, box, gap):
        return (abs(point[0] - box["x"]) <= box["w"] / 2 + gap
                and abs(point[1] - box["y"]) <= box["h"] / 2 + gap)
    for e in view["edges"]:
        points = [tuple(map(float, p.split(","))) for p in re.findall(r"-?[\d.]+,-?[\d.]+", e["d"])]
        assert near(points[0], boxes[e["a"]], 3), e
        assert near(points[-1], boxes[e["b"]], 14), e
        assert not near(points[-1], boxes[e["a"]], 3) or e["a"] == e["b"], e


def test_edges_of_a_network_graph_join_their_boxes():
    cr.manual_seed(1)
    x = cr.randn(5, 2)
    W1, W2 = cr.randn(2, 4, requires_grad=True), cr.randn(4, 1, requires_grad=True)
    b1, b2 = cr.zeros(4, requires_grad=True), cr.zeros(1, requires_grad=True)
    loss = ((x @ W1 + b1).tanh() @ W2 + b2).sigmoid().mean()
    view = E.page_data(loss, {"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2})["views"][0]
    assert len(view["edges"]) == 11
    edges_join_their_boxes(view)


def test_large_network_opens_collapsed_by_module():
    cr.manual_seed(0)
    model = cr.nn.Sequential(*[m for _ in range(12) for m in (cr.nn.Linear(4, 4), cr.nn.Tanh())],
                             cr.nn.Linear(4, 1))
    loss = model(cr.randn(3, 4)).pow(2).mean()
    params = dict(model.named_parameters())
    data = E.page_data(loss, params)
    collapsed, whole = data["views"]
    assert collapsed["label"] == "collapsed by module" and whole["label"] == "whole graph"
    assert len(whole["boxes"]) > E.OPEN_WHOLE >= len(collapsed["boxes"])
    modules = [b for b in collapsed["boxes"] if b["kind"] == "module"]
    assert [b["id"] for b in modules] == [f"m:{k}" for k in range(0, 25, 2)]
    # every parameter is inside its module's box, not drawn alone
    names = {data["nodes"][b["id"]]["name"] for b in collapsed["boxes"] if b["id"] in data["nodes"]}
    assert not names & set(params)
    # a step on an op of module 24 lights module 24's box
    F = data["forwardCount"]  # backward: mean, pow, then the last linear
    assert collapsed["boxOf"][data["steps"][F + 2]["node"]] == "m:24"
    assert collapsed["boxOf"][data["steps"][-1]["node"]] == "m:0"
    grad = params["24.weight"]
    loss.backward()
    assert np.allclose(_array(by_name(data)["24.weight"]["grad"]), grad.grad._data, atol=1e-4)


def _array(text: str) -> np.ndarray:
    return np.array(json.loads(text))


def test_a_long_chain_draws_at_most_max_drawn_boxes():
    x = cr.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(600):
        y = y * 1.001
    data = E.page_data(y, {"x": x})
    view = data["views"][0]
    assert len(view["boxes"]) == E.MAX_DRAWN
    more = view["boxes"][0]
    assert more["kind"] == "more"
    assert more["lines"][0][0] == f"… {601 - E.MAX_DRAWN + 1} earlier nodes"
    assert len(data["steps"]) == 1200  # every step is kept; the earliest show on the "more" box
    assert view["boxOf"][data["steps"][0]["node"]] == "more"
    assert close(by_name(data)["x"]["grad"], 1.001 ** 600, 1e-3)


def test_a_leaf_alone():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    data = E.page_data(x, {"x": x})
    assert len(data["steps"]) == 1 and "a leaf" in data["steps"][0]["text"]
    assert data["views"][0]["boxes"][0]["lines"][0][0] == "x"


def test_small_tensors_in_full_larger_ones_summarised():
    W = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    big = cr.tensor(np.arange(40.0).reshape(4, 10), requires_grad=True)
    f = (W.sum() * big).sum()
    nodes = by_name(E.page_data(f, {"W": W, "big": big}))
    assert nodes["W"]["value"] == "[[0, 1, 2],\n [3, 4, 5]]"
    assert nodes["W"]["grad"] == "[[780, 780, 780],\n [780, 780, 780]]"  # Σ big = 780
    assert nodes["big"]["value"].startswith("(4, 10): min 0, mean 19.5, max 39")
    assert nodes["big"]["short"] == "(4, 10) 0…39"


def test_the_graph_of_a_gradient():
    x = cr.tensor(2.0, requires_grad=True)
    (g,) = cr.autograd.grad(x ** 3, x, create_graph=True)  # g = 3x² = 12, ∂g/∂x = 6x = 12
    data = E.page_data(g, {"x": x})
    explained = cr.viz.explain(g, names={"x": x}, format="steps")
    assert [s["text"] for s in data["steps"][data["forwardCount"]:]] == [s.text for s in explained]
    nodes = by_name(data)
    assert close(nodes["g"]["value"], 12) and close(nodes["x"]["grad"], 12)
    assert "1 (the seed ∂y/∂y)" in nodes and nodes["1 (the seed ∂y/∂y)"]["kind"] == "input"
