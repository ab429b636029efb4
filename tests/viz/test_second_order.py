"""explain and draw_graph on the graph of a gradient: the chain rule of the chain rule.

``g, = autograd.grad(y, x, create_graph=True)`` is a first derivative whose graph holds y's
backward pass; explaining it gives second derivatives. The numbers are derived here from the
closed forms, and checked against autograd (and PyTorch, where installed).
"""

from __future__ import annotations

import io
import math
import re
import shutil

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.viz import graph as G
from chainrule.viz.notation import number

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")


def explain(output, **kwargs):
    return cr.viz.explain(output, format="steps", **kwargs)


def lines_of(expl) -> list:
    return [line.strip() for line in expl.text().splitlines()]


def leaf(expl, name):
    return {n: g for n, g, _ in expl.leaves}[name]


def first_derivative(fn, value, dtype=cr.float64):
    x = cr.tensor(value, dtype=dtype, requires_grad=True)
    y = fn(x)
    (g,) = cr.autograd.grad(y, x, create_graph=True)
    return x, y, g


# -- x³: g = 3x², ∂g/∂x = 6x -----------------------------------------------------------------------

def test_cube_first_derivative_is_the_recorded_forward_pass_and_second_is_its_backward():
    x, _, g = first_derivative(lambda x: x ** 3, 2.0, cr.float32)
    expl = explain(g, names={"x": x})
    lines = lines_of(expl)
    assert lines[0] == ("g is a first derivative: a backward pass computed it, and "
                        "create_graph=True recorded how.")
    assert "The chain rule through that record gives the gradients of g: second derivatives." in lines
    # the forward pass of g: 3x² = 12, the seed of the first backward written 1
    assert "a = x² = 2² = 4" in lines
    assert "b = 3 · a = 3 · 4 = 12" in lines
    assert ("g = 1 · b = 1 · 12 = 12   (1 = ∂y/∂y: the seed the backward pass started from)"
            in lines)
    assert "in one line: g = 1 · (3 · x²)" in lines
    # its backward pass: ∂g/∂x = 6x = 12
    assert "a = x² = 4;  ∂g/∂x = ∂g/∂a · ∂a/∂x = 3 · 2·x = 3 · 4 = 12" in lines
    assert "Gradients of g (second derivatives)" in lines
    assert "∂g/∂x = 12" in lines
    (h,) = cr.autograd.grad(g, x)
    assert float(leaf(expl, "x")) == h.item() == 6 * 2.0


def test_naming_the_function_names_the_derivatives():
    x, y, g = first_derivative(lambda x: x ** 3, 2.0, cr.float32)
    lines = lines_of(explain(g, names={"x": x, "y": y}))
    assert lines[0].startswith("g = ∂y/∂x is a first derivative: y's backward pass computed it")
    assert "second derivatives of y." in lines[1]
    assert "y's backward pass, as it was recorded (it computes g = ∂y/∂x):" in lines
    assert "∂g/∂x = ∂²y/∂x² = 12" in lines


# -- tanh and sigmoid: the second derivatives of the textbooks ------------------------------------

X = 0.5
TANH = math.tanh(X)
SIG = 1 / (1 + math.exp(-X))


def test_tanh_second_derivative_is_minus_two_tanh_times_its_first():
    x, y, g = first_derivative(cr.tanh, X)
    expl = explain(g, names={"x": x, "y": y})
    lines = lines_of(expl)
    d1 = 1 - TANH ** 2                           # 0.7864
    d2 = -2 * TANH * (1 - TANH ** 2)             # -0.7268
    # y's own forward pass, then what its backward pass recorded: 1 · (1 - y·y)
    assert "y's forward pass (the values its backward pass reuses):" in lines
    assert f"y = tanh(x) = tanh(0.5) = {number(TANH)}" in lines
    assert f"a = y · y = {number(TANH)} · {number(TANH)} = {number(TANH ** 2)}" in lines
    assert f"b = 1 - a = 1 - {number(TANH ** 2)} = {number(d1)}" in lines
    assert "in one line: g = 1 · (1 - tanh(x) · tanh(x))" in lines
    # the product rule through y·y: two branches of -y each
    assert f"∂g/∂y = {number(-TANH)} − {number(TANH)} = {number(-2 * TANH)}" in " ".join(lines)
    # the chain rule through tanh, its local derivative parenthesised
    assert (f"∂g/∂x = ∂g/∂y · ∂y/∂x = {number(-2 * TANH)} · (1 - tanh²(x)) = "
            f"{number(-2 * TANH)} · {number(d1)} = {number(d2)}") in " ".join(lines)
    assert f"∂g/∂x = ∂²y/∂x² = {number(d2)}" in lines
    assert float(leaf(expl, "x")) == pytest.approx(d2, rel=1e-12)


def test_sigmoid_second_derivative():
    x, _, g = first_derivative(cr.sigmoid, X)
    expl = explain(g, names={"x": x})
    lines = lines_of(expl)
    d1 = SIG * (1 - SIG)
    d2 = SIG * (1 - SIG) * (1 - 2 * SIG)
    assert "in one line: g = 1 · σ(x) · (1 - σ(x))" in lines
    assert f"g = b · c = {number(SIG)} · {number(1 - SIG)} = {number(d1)}" in lines
    assert f"∂g/∂x = {number(d2)}" in lines
    assert float(leaf(expl, "x")) == pytest.approx(d2, rel=1e-12)


# -- a small MLP: Linear → tanh → Linear, squared loss -----------------------------------------------

def mlp(dtype=cr.float64):
    cr.manual_seed(0)
    fc1, fc2 = cr.nn.Linear(2, 3).to(dtype), cr.nn.Linear(3, 1).to(dtype)
    x = cr.tensor([[0.5, -1.0]], dtype=dtype)
    t = cr.tensor([[1.0]], dtype=dtype)
    loss = ((fc2(fc1(x).tanh()) - t) ** 2).mean()
    params = {**dict(fc1.named_parameters(prefix="fc1")),
              **dict(fc2.named_parameters(prefix="fc2"))}
    return loss, params, {"x": x, "t": t, "L": loss, **params}


def torch_second_derivatives(params):
    torch = pytest.importorskip("torch")
    p = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in params.items()}
    x = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    h = torch.tanh(x @ p["fc1.weight"].T + p["fc1.bias"])
    loss = ((h @ p["fc2.weight"].T + p["fc2.bias"] - 1.0) ** 2).mean()
    (g,) = torch.autograd.grad(loss, p["fc1.weight"], create_graph=True)
    return dict(zip(p, (t.numpy() for t in torch.autograd.grad(g.sum(), list(p.values())))))


def test_mlp_weight_gradient_splits_into_the_forward_and_the_recorded_backward():
    loss, params, names = mlp()
    (g,) = cr.autograd.grad(loss, params["fc1.weight"], create_graph=True)
    expl = explain(g, names=names)
    lines = lines_of(expl)
    assert lines[0].startswith("g = ∂L/∂fc1.weight is a first derivative: L's backward pass")
    assert "(g is not a scalar: its gradients here are those of Σ g, as g.sum().backward() " \
           "gives them.)" in lines
    assert "L's forward pass (the values its backward pass reuses):" in lines
    assert "L's backward pass, as it was recorded (it computes g = ∂L/∂fc1.weight):" in lines
    forward = [s.name for s in reversed(expl) if s.node in expl.derivative.forward]
    assert forward == ["a", "b", "c", "d"]  # linear, tanh, linear, the residual
    # the first backward's gradients, found in the record and named: ∂L/∂b = ∂L/∂d @ W2, ...
    text = expl.text()
    for line in ("∂L/∂d = ∂L/∂(d²) · e", "∂L/∂b = ∂L/∂d @ fc2.weight", "∂L/∂a = ∂L/∂b · k",
                 "∂L/∂(d²) = 1   (a constant)"):
        assert line in text
    assert "∂g/∂(∂L/∂b) = ∂g/∂(∂L/∂a) ⊙ ∂(∂L/∂a)/∂(∂L/∂b) = ∂g/∂(∂L/∂a) ⊙ k" in text
    # their values are those of the first backward pass
    residual = loss.grad_fn.inputs[0].grad_fn.inputs[0]  # mean((prediction - t)²)
    d = 2 * residual.data  # ∂L/∂(prediction - t), one sample
    assert [s for s in expl if s.name == "∂L/∂d"][0].value == pytest.approx(d)
    # and the second derivatives, those of autograd and of PyTorch
    want = cr.autograd.grad(g.sum(), list(params.values()))
    torch_want = torch_second_derivatives(params)
    for (name, p), w in zip(params.items(), want):
        assert leaf(expl, name) == pytest.approx(w.data, rel=1e-10)
        assert leaf(expl, name) == pytest.approx(torch_want[name], rel=1e-10)
    assert "Gradients of g (second derivatives)" in lines


def test_mlp_gradient_from_backward_is_known_by_its_leaf():
    loss, params, names = mlp()
    loss.backward(create_graph=True)
    g = params["fc1.weight"].grad
    del names["L"]
    expl = explain(g, names=names)
    assert expl.text().startswith("g = fc1.weight.grad is a first derivative")
    (want,) = cr.autograd.grad(g.sum(), params["fc2.weight"])
    assert leaf(expl, "fc2.weight") == pytest.approx(want.data, rel=1e-10)


# -- softmax -------------------------------------------------------------------------------------------

def test_softmax_row_of_the_hessian():
    z = cr.tensor([1.0, 2.0, 0.5], dtype=cr.float64, requires_grad=True)
    w = cr.tensor([1.0, -1.0, 2.0], dtype=cr.float64)
    y = (z.softmax(0) * w).sum()
    (g,) = cr.autograd.grad(y, z, create_graph=True)
    expl = explain(g[0], names={"z": z, "w": w, "y": y})
    lines = lines_of(expl)
    assert lines[0].startswith("f is computed from a first derivative of y")
    # ∂y/∂z = p ⊙ (w - p·w) is in the record, named
    p = np.exp(z.data) / np.exp(z.data).sum()
    grad = p * (w.data - p @ w.data)
    step = [s for s in expl if s.name == "∂y/∂z"][0]
    assert step.value == pytest.approx(grad)
    # the row of the Hessian: ∂²y/∂z0∂z = ∂/∂z [p0 (w0 - p·w)]
    e0 = np.eye(3)[0]
    hess_row = p[0] * (e0 - p) * (w.data[0] - p @ w.data) - p[0] * p * (w.data - p @ w.data)
    assert leaf(expl, "z") == pytest.approx(hess_row, rel=1e-10)
    assert f"∂f/∂z = [{', '.join(number(v) for v in hess_row)}]" in lines


# -- explain's second derivatives agree with autograd, op by op ----------------------------------------

OPS = {
    "pow": lambda x: (x ** 3).sum(),
    "exp_log": lambda x: (x.exp() + 1).log().sum(),
    "softmax": lambda x: (x.softmax(-1) * cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64)).sum(),
    "log_softmax": lambda x: F.log_softmax(x, dim=-1)[..., 0].sum(),
    "cross_entropy": lambda x: F.cross_entropy(x, cr.tensor([0, 2])),
    "mse": lambda x: F.mse_loss(x.tanh(), cr.zeros(x.shape, dtype=cr.float64)),
    "getitem": lambda x: (x[[0, 1, 0]] ** 3).sum(),
    "mean_dim": lambda x: (x.mean(dim=1) ** 3).sum(),
    "matmul": lambda x: (x @ x.T).tanh().sum(),
    "max": lambda x: x.max() ** 3,
    "var": lambda x: x.var() ** 2,
    "cat": lambda x: (cr.cat([x, x * 2], dim=1) ** 3).sum(),
    "div_sqrt": lambda x: (1 / (x ** 2 + 1).sqrt()).sum(),
    "gelu": lambda x: F.gelu(x).sum(),
    "where": lambda x: cr.where(x > 0, x ** 3, x.exp()).sum(),
    "linear": lambda x: F.linear(x, x.tanh(), x[0, :2]).sum() ** 2,
    "conv2d": lambda x: F.conv2d(x.reshape(1, 1, 2, 3), x.reshape(1, 1, 2, 3)[..., :2, :2],
                                 padding=1).tanh().sum(),
    "max_pool": lambda x: (F.max_pool2d(x.reshape(1, 1, 2, 3) ** 3, 2, stride=1)).sum(),
    "batch_norm": lambda x: (F.batch_norm(x.T, None, None, None, None, training=True) ** 3
                             * cr.tensor([1.0, 2.0], dtype=cr.float64)).sum(),
}


@pytest.mark.parametrize("named", [False, True], ids=["anonymous", "named"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_explain_gives_autograds_second_derivatives(op, named):
    x = cr.tensor(np.random.default_rng(0).standard_normal((2, 3)), dtype=cr.float64,
                  requires_grad=True)
    y = OPS[op](x)
    (g,) = cr.autograd.grad(y, x, create_graph=True)
    names = {"x": x, "y": y} if named else {"x": x}
    expl = explain(g, names=names)
    assert not expl.skipped
    (want,) = cr.autograd.grad(g.sum(), x, retain_graph=True)
    assert leaf(expl, "x") == pytest.approx(want.data, rel=1e-9, abs=1e-12)
    if named:  # a named function is always found: g is its gradient
        assert expl.derivative.function is y and expl.derivative.wrt == "x"
        assert expl.text().startswith("g = ∂y/∂x is a first derivative")
    g.sum().backward()
    dot = cr.viz.draw_graph(g, params=names).source
    # anonymous, a gradient is known by its seed, which a mean or a fused loss divides away
    assert ("second derivatives" in dot) == (expl.derivative is not None)


# -- draw_graph ------------------------------------------------------------------------------------------

def test_draw_graph_of_the_cube_shows_the_seed_values_and_second_derivatives():
    x, y, g = first_derivative(lambda x: x ** 3, 2.0, cr.float32)
    before = cr.viz.draw_graph(g, params={"x": x}).source
    assert G.GRAD_COLOR not in before.split("graph [label")[1].split("\n", 1)[1]
    assert "after g.backward()" in before
    g.backward()
    dot = cr.viz.draw_graph(g, params={"x": x}).source
    labels = dict(re.findall(r"  (\w+) \[label=<(.*?)>, shape", dot))
    assert len(labels) == 5  # x, the seed, x², ×3, ×
    seed = [v for v in labels.values() if "<B>seed</B>" in v][0]
    assert "∂y/∂y" in seed and f'<FONT COLOR="{G.VALUE_COLOR}">1</FONT>' in seed
    x_box = [v for v in labels.values() if "<B>x</B>" in v][0]
    # x = 2, and ∂g/∂x = 6x = 12 in red (not x.grad's 12 + 12 of two backward passes)
    assert f'<FONT COLOR="{G.VALUE_COLOR}">2</FONT>' in x_box
    assert f'<FONT COLOR="{G.GRAD_COLOR}">∇ 12</FONT>' in x_box
    for gate, value, grad in (("x²", 4, 3), ("×3", 12, 1), ("×", 12, 1)):
        box = [v for v in labels.values() if f"<B>{gate}</B>" in v][0]
        assert f'<FONT COLOR="{G.VALUE_COLOR}">{value}</FONT>' in box
        assert f'<FONT COLOR="{G.GRAD_COLOR}">∇ {grad}</FONT>' in box
    assert ">g<" in dot and "peripheries=2" in dot
    assert "g is a first derivative" in dot and "Red: ∂g/∂· (second derivatives)." in dot
    assert dot.count(" -> ") == 4
    named = cr.viz.draw_graph(g, params={"x": x, "y": y}).source
    assert "g = ∂y/∂x" in named


def test_draw_graph_after_backward_create_graph_shows_second_derivatives_not_the_sum():
    x = cr.tensor(2.0, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    g = x.grad
    assert "g = x.grad is a first derivative" in cr.viz.draw_graph(g, params={"x": x}).source
    # L.backward(create_graph=True) leaves every parameter's .grad a first derivative; a second
    # backward adds the second derivatives to them (as PyTorch's): the drawing shows ∂g/∂·
    loss, params, names = mlp()
    loss.backward(create_graph=True)
    g = params["fc1.weight"].grad
    (want,) = cr.autograd.grad(g.sum(), params["fc2.weight"], retain_graph=True)
    first = np.array(params["fc2.weight"].grad)
    params["fc1.weight"].grad = None  # else g.backward() adds into g itself
    g.sum().backward(retain_graph=True)
    assert params["fc2.weight"].grad.data == pytest.approx(first + want.data)
    dot = cr.viz.draw_graph(g, params=names).source
    w2 = re.search(r"<B>fc2.weight</B>(.*?)</TABLE>", dot).group(1)
    assert f"[{', '.join(number(v) for v in want.data[0])}]" in w2


def test_draw_graph_of_the_mlp_shades_the_forward_pass_and_names_the_gradients():
    loss, params, names = mlp(cr.float32)
    (g,) = cr.autograd.grad(loss, params["fc1.weight"], create_graph=True)
    (want,) = cr.autograd.grad(g.sum(), params["fc2.weight"], retain_graph=True)
    g.sum().backward()
    dot = cr.viz.draw_graph(g, params=names).source
    assert "rankdir=TB" in dot
    fills = dict(re.findall(r"<B>([^<]+)</B>.*?fillcolor=\"(#\w+)\"", dot))
    assert fills["linear"] == fills["tanh"] == "#eeeeee"  # L's forward pass
    assert fills["@"] == fills["permute"] == "#ffffff"    # its backward pass
    for name in ("∂L/∂a (1, 3)", "∂L/∂b (1, 3)", "∂L/∂d (1, 1)", "g = ∂L/∂fc1.weight (3, 2)"):
        assert name in dot
    assert "<B>∂L/∂(d²)</B>" in dot  # the constant the mean's backward made from the seed
    assert "Grey: L's forward pass. White: its backward pass." in dot
    w2 = re.search(r"<B>fc2.weight</B>(.*?)</TABLE>", dot).group(1)
    assert f"{number(want.data[0, 0])}, {number(want.data[0, 1])}" in w2
    # a module's box holds its ops of L's forward pass only; its weight feeds the backward's @
    boxes = cr.viz.draw_graph(g, params=names, collapse_modules=True).source
    ids = dict((name, nid) for nid, name in re.findall(r"  (\w+) \[label=<.*?<B>([^<]+)</B>", boxes))
    assert "fc2" in ids and "fc2.weight" not in ids
    matmul = re.search(r"  (\w+) \[label=<[^\n]*∂L/∂b \(1, 3\)", boxes).group(1)
    assert f"{ids['fc2']} -> {matmul};" in boxes  # ∂L/∂b = ∂L/∂d @ fc2.weight


@needs_dot
def test_the_graph_of_a_gradient_renders(tmp_path):
    x, y, g = first_derivative(lambda x: x ** 3, 2.0, cr.float32)
    g.backward()
    drawing = cr.viz.draw_graph(g, params={"x": x, "y": y})
    assert open(drawing.render(tmp_path / "g.png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    svg = drawing.pipe("svg").decode()
    assert "second derivatives" in svg and "seed" in svg


# -- the rest --------------------------------------------------------------------------------------------

def test_markdown_of_a_gradient():
    x, y, g = first_derivative(cr.tanh, X)
    md = cr.viz.explain(g, names={"x": x, "y": y}, format="markdown", file=io.StringIO())
    text = md.markdown()
    assert text.startswith("g = ∂y/∂x is a first derivative")
    assert "**Forward pass of g**" in text and "*y's forward pass (the values its backward " \
           "pass reuses):*" in text
    assert "In one line: `g = 1 · (1 - tanh(x) · tanh(x))`" in text
    assert "**Backward pass of g**" in text and "**Gradients of g (second derivatives)**" in text


def test_third_derivative_names_the_second():
    x, y, g = first_derivative(lambda x: x ** 3, 2.0)
    (g2,) = cr.autograd.grad(g, x, create_graph=True)
    expl = explain(g2, names={"x": x, "y": y, "g": g})
    assert expl.text().startswith("f = ∂g/∂x is a second derivative")
    assert "Gradients of f (third derivatives)" in expl.text()
    assert "∂g/∂(x²) = 3   (a constant)" in expl.text()
    assert float(leaf(expl, "x")) == 6


def test_constants_the_backward_pass_made_are_listed():
    x = cr.tensor([[0.5, -1.0, 2.0]], dtype=cr.float64, requires_grad=True)
    y = F.cross_entropy(x, cr.tensor([1]))
    (g,) = cr.autograd.grad(y, x, create_graph=True)
    lines = lines_of(explain(g, names={"x": x, "y": y}))
    assert "c = -1   (a constant)" in lines and "e = [[0, -1, 0]]   (a constant)" in lines
    assert "in one line: g = e - exp(log_softmax(x, dim=1)) · c" in lines


def test_ordinary_graphs_are_not_taken_for_gradients():
    x = cr.tensor(0.5, requires_grad=True)
    h = x * 3
    f = (h.tanh() + 1) * 2
    expl = explain(f, names={"x": x, "h": h})
    assert expl.derivative is None
    text = expl.text()
    assert text.startswith("Forward pass\n") and "\nGradients\n" in text
    # a local derivative that is a sum, parenthesised as a factor
    assert "· (1 - tanh²(h)) =" in text
