"""draw_graph: nodes, values in green and gradients in red, names, module boxes, rendering, and
the fallback to DOT text without Graphviz."""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import graph as G
from chainrule.examples import sigmoid_graph

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
GREEN, RED = G.VALUE_COLOR, G.GRAD_COLOR


def neuron():
    f, names = sigmoid_graph.gates(sigmoid_graph.inputs())
    f.backward()
    return f, names


def texts(svg: str, color: str) -> set:
    """The text of every SVG <text> drawn in ``color``."""
    found = re.findall(rf'<text[^>]*fill="{color}"[^>]*>([^<]*)</text>', svg)
    # Graphviz writes "-" as &#45;; a gradient is marked ∇, told from a value without colour
    return {html.unescape(t).removeprefix("∇ ") for t in found}


# the numbers of CS231n's circuit, computed here from the math, not from chainrule
DOT_PRODUCT = 2 * -1 + -3 * -2 + -3                    # 1
Z = 1 + math.exp(-DOT_PRODUCT)
F = 1 / Z                                              # 0.7311
LOCAL = F * (1 - F)                                    # 0.1966


def four(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".")


@needs_dot
def test_svg_of_the_sigmoid_neuron_shows_its_values_in_green_and_gradients_in_red():
    f, names = neuron()
    svg = cr.viz.draw_graph(f, params=names).pipe("svg").decode()
    values = texts(svg, GREEN)
    grads = texts(svg, RED)
    # forward: inputs, the dot product, exp(-1), 1 + exp(-1), the output
    for v in (2, -1, -3, -2, -3, DOT_PRODUCT, math.exp(-1), Z, F):
        assert four(v) in values
    # backward: ∂f/∂z = -1/z², ∂f/∂e = -exp(-1)/z², and the five inputs
    for g in (1, -1 / Z ** 2, -math.exp(-1) / Z ** 2, LOCAL, -1 * LOCAL, 2 * LOCAL,
              -2 * LOCAL, -3 * LOCAL):
        assert four(g) in grads
    assert four(-0.5344) in grads and "0.7311" in values
    for name in ("w0", "x0", "w1", "x1", "w2"):
        assert f">{name}<" in svg


def test_one_node_per_op_and_per_leaf_labelled_as_in_maths_with_explains_names():
    f, names = neuron()
    dot = cr.viz.draw_graph(f, names=names).source
    assert dot.count("[label=<") == 8 + 5  # 8 ops, 5 leaves
    titles = re.findall(r"<B>([^<]*)</B>", dot)
    assert titles == ["w0", "x0", "w1", "x1", "w2", "a = w0 · x0", "b = w1 · x1", "c = a + b",
                      "d = c + w2", "e = -d", "h = exp(e)", "z = h + 1", "f = 1 / z"]
    steps = cr.viz.explain(f, names=names, format="steps")  # the same names, the same formulas
    assert {f"{s.name} = {s.formula}" for s in steps} == set(titles[5:])
    assert dot.count(" -> ") == 12
    assert "peripheries=2" in dot  # the output


def test_gradients_appear_only_after_backward_and_can_be_hidden():
    f, _ = sigmoid_graph.gates(sigmoid_graph.inputs())
    before = cr.viz.draw_graph(f).source
    assert RED not in before and GREEN in before
    f.backward()
    assert RED in cr.viz.draw_graph(f).source
    assert RED not in cr.viz.draw_graph(f, show_grads=False).source
    assert GREEN not in cr.viz.draw_graph(f, show_values=False).source


def test_small_tensors_show_their_numbers_large_ones_stats_and_a_heat_map():
    x = cr.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    big = cr.tensor(np.linspace(-1, 1, 60).reshape(6, 10), requires_grad=True)
    y = (x * 2).sum() + (big ** 2).sum()
    y.backward()
    dot = cr.viz.draw_graph(y).source
    assert "[1, -2]" in dot and "[3, 4]" in dot  # each row of a small matrix
    assert "min -1  mean 0  max 1" in dot
    assert "BGCOLOR" in dot  # the heat-map's cells
    assert "(6, 10)" in dot


def test_parameters_are_named_by_their_module_path():
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    loss = model(cr.randn(5, 3)).pow(2).mean()
    loss.backward()
    dot = cr.viz.draw_graph(loss, params=model.named_parameters()).source
    for name in ("0.weight", "0.bias", "2.weight", "2.bias"):
        assert f"<B>{name}</B>" in dot


class MLP(cr.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = cr.nn.Linear(6, 5)
        self.fc2 = cr.nn.Linear(5, 4)
        self.fc3 = cr.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc3(self.fc2(self.fc1(x).relu()).tanh())


class SmallCNN(cr.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = cr.nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = cr.nn.Conv2d(4, 8, 3, padding=1)
        self.pool = cr.nn.MaxPool2d(2)
        self.fc1 = cr.nn.Linear(8 * 2 * 2, 16)
        self.fc2 = cr.nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(self.conv1(x).relu())
        x = self.pool(self.conv2(x).relu())
        return self.fc2(self.fc1(x.flatten(1)).relu())


def boxes_and_edges(dot):
    """module name -> node id, and the edges between node ids."""
    ids = {name: nid for nid, name in re.findall(r"(mod\d+) \[label=<.*?<B>([\w.]+)</B>", dot)}
    return ids, re.findall(r"(\w+) -> (\w+);", dot)


def check_collapsed(model, loss, modules):
    params = list(model.named_parameters())
    full = cr.viz.draw_graph(loss, params=params).source
    boxes = cr.viz.draw_graph(loss, params=params, collapse_modules=True).source
    ids, edges = boxes_and_edges(boxes)
    assert sorted(ids) == sorted(modules)
    for module in modules:
        assert f"<B>{module}.weight</B>" in full and f"{module}.weight" not in boxes
        outgoing = [b for a, b in edges if a == ids[module]]
        incoming = [a for a, b in edges if b == ids[module]]
        assert len(outgoing) == 1 and len(incoming) == 1  # one value in, one value out
    assert boxes.count("label=<") < full.count("label=<")
    return boxes, ids, edges


def test_collapse_modules_draws_each_module_as_one_box():
    cr.manual_seed(0)
    model = MLP()
    loss = model(cr.randn(7, 6)).pow(2).mean()
    loss.backward()
    boxes, ids, edges = check_collapsed(model, loss, ["fc1", "fc2", "fc3"])
    assert "weight (5, 6), bias (5,)" in boxes
    # fc1 -> relu -> fc2 -> tanh -> fc3: each box feeds one op that feeds the next box
    after = {a: b for a, b in edges}
    assert after[after[ids["fc1"]]] == ids["fc2"] and after[after[ids["fc2"]]] == ids["fc3"]
    assert re.search(r"<B>\w = relu\(\w\)</B>", boxes)
    assert re.search(r"<B>\w = tanh\(\w\)</B>", boxes)


def test_collapse_modules_keeps_an_mnist_style_cnn_readable():
    pytest.importorskip("chainrule.ops.conv")
    cr.manual_seed(0)
    model = SmallCNN()
    loss = cr.nn.functional.cross_entropy(model(cr.randn(3, 1, 8, 8)), cr.tensor([1, 2, 3]))
    loss.backward()
    boxes, _, _ = check_collapsed(model, loss, ["conv1", "conv2", "fc1", "fc2"])
    assert "weight (4, 1, 3, 3), bias (4,)" in boxes
    assert boxes.count("label=<") <= 20


def test_without_graphviz_render_writes_the_dot_text_and_says_how_to_install(tmp_path, monkeypatch):
    f, names = neuron()
    g = cr.viz.draw_graph(f, params=names)
    monkeypatch.setattr(G.shutil, "which", lambda _: None)
    with pytest.warns(UserWarning, match="apt-get install graphviz"):
        written = g.render(tmp_path / "neuron.svg")
    assert written.endswith("neuron.dot")
    assert (tmp_path / "neuron.dot").read_text(encoding="utf-8") == g.source
    assert not (tmp_path / "neuron.svg").exists()
    assert g._repr_svg_() is None
    assert "Install Graphviz" in repr(g)
    with pytest.raises(G.GraphvizNotFound, match="brew install graphviz"):
        g.pipe("png")


@needs_dot
def test_render_to_svg_png_and_dot_by_suffix(tmp_path):
    f, names = neuron()
    g = cr.viz.draw_graph(f, params=names)
    assert open(g.render(tmp_path / "g.png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in open(g.render(tmp_path / "g.svg"), encoding="utf-8").read()
    assert open(g.render(tmp_path / "g.dot"), encoding="utf-8").read() == g.source
    assert open(g.save(tmp_path / "s.gv"), encoding="utf-8").read() == g.source
    assert g._repr_svg_().lstrip().startswith("<?xml")
    assert g.source.startswith("digraph")


def test_a_leaf_alone_is_one_node():
    x = cr.tensor(3.0, requires_grad=True)
    dot = cr.viz.draw_graph(x, params={"x": x}).source
    assert dot.count("label=<") == 1 and "<B>x</B>" in dot


def test_chainrule_and_viz_import_without_graphviz_and_matplotlib():
    code = ("import sys; sys.modules['graphviz'] = None; sys.modules['matplotlib'] = None\n"
            "import chainrule as cr\n"
            "x = cr.tensor(2.0, requires_grad=True); y = x * x; y.backward()\n"
            "print(cr.viz.draw_graph(y).source.startswith('digraph'))\n"
            "from chainrule.examples import run_demo\n"
            "print('no plot' in run_demo('xor-sigmoid', out_dir=sys.argv[1]).lower())\n")
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        done = subprocess.run([sys.executable, "-c", code, d], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
