"""explain and draw_graph on graphs with in-place ops: each node shown with its inputs as it saw
them (the history and the values before the change), gradients equal to autograd's and PyTorch's,
and a value that cannot be known said to be unknown, never the new one shown in its place."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function

from .inplace_graphs import GRAPHS, X

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")


def lines_of(text: str) -> list:
    return [line.strip() for line in text.splitlines()]


def labelled_edges(dot: str) -> list:
    """The edges of a drawing, as (label of the source, label of the destination), sorted."""
    labels = dict(re.findall(r"(\w+) \[label=<<TABLE[^>]*><TR><TD><B>([^<]*)</B>", dot))
    return sorted((labels[a], labels[b]) for a, b in re.findall(r"(\w+) -> (\w+);", dot))


def green(dot: str, label: str) -> list:
    """The values (green) drawn in the node labelled ``label``."""
    row = re.search(rf"<B>{re.escape(label)}</B>(.*?)</TABLE>", dot).group(1)
    return re.findall(rf'<FONT COLOR="{cr.viz.graph.VALUE_COLOR}">([^<]*)</FONT>', row)


@pytest.mark.parametrize("build", GRAPHS, ids=lambda b: b.__name__)
def test_explain_gives_autograds_and_torchs_gradients(build):
    torch = pytest.importorskip("torch")
    x = cr.tensor(X, requires_grad=True)
    loss = build(cr, x)
    expl = cr.viz.explain(loss, wrt={"x": x}, format="steps")
    (name, grad, _), = expl.leaves
    assert not expl.skipped and grad is not None
    loss.backward()
    xt = torch.tensor(X, requires_grad=True)
    build(torch, xt).backward()
    np.testing.assert_allclose(grad, x.grad.data, rtol=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("build", GRAPHS, ids=lambda b: b.__name__)
def test_every_edge_of_the_drawing_runs_forward_in_time(build):
    """Ops are numbered in the order they ran (op1, op2, ...); an edge from an op to one that ran
    before it is one that does not exist (relu_ drawn feeding the ×3 that used y before it)."""
    x = cr.tensor(X, requires_grad=True)
    dot = cr.viz.draw_graph(build(cr, x)).source
    for a, b in re.findall(r"op(\d+) -> op(\d+);", dot):
        assert int(a) < int(b)


def test_the_reviewers_relu_example_explained():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    y = x * 2
    z = y * 3  # uses y before the change
    y.relu_()
    loss = (z + y).sum()
    text = cr.viz.explain(loss, wrt=x, format="steps").text()
    lines = lines_of(text)
    # the values each node saw: b before relu_ (not [2, 0]), c made from it
    assert "b = a · 2 = [2, -4]" in lines
    assert "c = b · 3 = [6, -12]" in lines
    assert "d = relu(b) = [2, 0]   (in place: d overwrites b)" in lines
    assert "e = c + d = [8, -12]" in lines
    # b's two consumers: ×3 (3 everywhere) and relu ([b > 0]), added
    assert "∂f/∂b = [3, 3] + [1, 0] = [4, 3]   (the sum of its 2 branches: via c, d)" in lines
    assert "∂f/∂a = [8, 6]" in lines
    loss.backward()
    assert x.grad.tolist() == [8.0, 6.0]


def test_the_reviewers_relu_example_drawn():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    y = x * 2
    z = y * 3
    y.relu_()
    loss = (z + y).sum()
    loss.backward()
    dot = cr.viz.draw_graph(loss).source
    # the same names and formulas as explain's lines above
    assert labelled_edges(dot) == sorted([
        ("a", "b = a · 2"), ("b = a · 2", "c = b · 3"), ("b = a · 2", "d = relu(b)"),
        ("c = b · 3", "e = c + d"), ("d = relu(b)", "e = c + d"), ("e = c + d", "f = Σ e")])
    assert green(dot, "b = a · 2") == ["[2, -4]"]  # the value ×3 and relu used, not relu's
    assert green(dot, "d = relu(b)") == ["[2, 0]"]
    assert "in place" in dot


def test_an_in_place_op_through_a_view():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y[1:].add_(1)  # an index_put node on y (this raised KeyError in explain)
    loss = (y * x).sum()
    lines = lines_of(cr.viz.explain(loss, wrt=x, format="steps").text())
    assert "c = b[1:] = [4, 6]" in lines  # the view's value then, not [5, 7]
    assert "∂f/∂b += ∂f/∂c at b[1:], 0 elsewhere = [0, 2, 3]" in " ".join(lines)
    assert "e = index_put(b, d) = [2, 5, 7]   (in place: e overwrites b)" in lines
    assert "∂f/∂a = [2, 4, 6] + [2, 5, 7] = [4, 9, 13]   (the sum of its 2 branches)" in lines
    dot = cr.viz.draw_graph(loss).source
    assert labelled_edges(dot) == sorted([
        ("a", "b = a · 2"), ("a", "g = e · a"), ("b = a · 2", "c = b[1:]"),
        ("b = a · 2", "e = index_put(b, d)"), ("c = b[1:]", "d = c + 1"),
        ("d = c + 1", "e = index_put(b, d)"), ("e = index_put(b, d)", "g = e · a"),
        ("g = e · a", "f = Σ g")])
    assert green(dot, "b = a · 2") == ["[2, 4, 6]"]
    loss.backward()
    assert x.grad.tolist() == [4.0, 9.0, 13.0]


def test_an_element_changed_with_plus_equals():
    x = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y.exp()
    y[1] += 1  # y[1] read (a view), changed, and written back into y
    loss = (y * z).sum()
    dot = cr.viz.draw_graph(loss).source
    assert labelled_edges(dot) == sorted([
        ("a", "b = a · 2"), ("b = a · 2", "c = exp(b)"), ("b = a · 2", "d = b[1]"),
        ("b = a · 2", "g = index_put(b, e)"), ("c = exp(b)", "m = k · c"),
        ("d = b[1]", "e = d + 1"), ("e = d + 1", "g = index_put(b, e)"),
        ("g = index_put(b, e)", "h = g[1]"), ("g = index_put(b, e)", "k = index_put(g, h)"),
        ("h = g[1]", "k = index_put(g, h)"), ("k = index_put(g, h)", "m = k · c"),
        ("m = k · c", "f = Σ m")])
    lines = lines_of(cr.viz.explain(loss, format="steps").text())
    assert "b = a · 2 = [1, -2, 4]" in lines  # y before the change, not [1, -1, 4]
    assert "c = exp(b) = [2.7183, 0.1353, 54.5981]" in lines
    assert "d = b[1] = -2" in lines  # y[1] as it was read


def test_a_sequential_with_relu_inplace_shows_the_values_before_relu():
    rng = np.random.default_rng(0)
    net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(inplace=True), cr.nn.Linear(4, 2))
    x = cr.tensor(rng.standard_normal((5, 3)), dtype=np.float32)
    loss = net(x).sum()
    before = net[0](x).data  # the first layer's output before relu_ overwrote it
    assert (before < 0).any()
    steps = cr.viz.explain(loss, wrt=net.named_parameters(), format="steps")
    (first,) = [s for s in steps if s.formula == "a @ (0.weight)ᵀ + (0.bias)"]
    np.testing.assert_array_equal(first.value, before)
    loss.backward()
    for (name, grad, _), p in zip(steps.leaves, net.parameters()):
        np.testing.assert_allclose(grad, p.grad.data, rtol=1e-6, err_msg=name)
    dot = cr.viz.draw_graph(loss, params=net.named_parameters(), collapse_modules=True).source
    assert labelled_edges(dot) == sorted([("a", "0"), ("0", "c = relu(b)"), ("c = relu(b)", "2"),
                                          ("2", "f = Σ d")])
    assert "weight (4, 3), bias (4,) → b" in dot  # the box says what its output is called


class Noisy(Function):
    """y = a + noise (a random forward);  dL/da = dL/dy"""

    @staticmethod
    def forward(ctx, a):
        return a + np.random.standard_normal(a.shape)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def test_a_value_overwritten_and_not_kept_is_said_to_be_unknown():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = Noisy.apply(x * 2)
    z = y * 3
    y.add_(1)  # add keeps no copy, and noisy cannot be run again to get y back
    loss = (z * y).sum()
    expl = cr.viz.explain(loss, wrt=x, format="steps")
    text = expl.text()
    assert "c = noisy(b) = ?   (changed in place afterwards, and not kept)" in lines_of(text)
    assert "∂f/∂a = unknown" in text and "a random op" in text
    assert expl.leaves[0][1] is None
    assert "changed in place since" in cr.viz.draw_graph(loss).source


def test_a_copy_the_in_place_op_kept_gives_the_old_value():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = Noisy.apply(x * 2)
    was = np.array(y)
    z = y + x
    y.mul_(x)  # mul saves its operands, so y's old value is kept: it need not be made again
    loss = (y * z).sum()
    steps = cr.viz.explain(loss, wrt=x, format="steps")
    noisy, add = ([s for s in steps if s.op == op][0] for op in ("noisy", "add"))
    np.testing.assert_array_equal(noisy.value, was)
    xs = x.data
    np.testing.assert_allclose(add.value, was + xs)  # what z was made from
    # both consumers of y's old value run again on it; only noisy itself cannot (random)
    assert add.grads and [s for s in steps if s.formula == "c · a"][0].grads
    assert not noisy.grads and steps.skipped == []  # said in noisy's own step, once
    assert ("(noisy: running its forward again does not give the value the graph recorded (an "
            "option of the op not kept on the node, or a random forward))") in noisy.text


def test_a_step_that_backward_refuses_is_marked():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * x  # saves y for its backward
    y.add_(1)
    loss = (z * y).sum()
    text = cr.viz.explain(loss, wrt=x, format="steps").text()
    assert "backward() raises here" in text
    assert "backward() raises on this graph instead: MulBackward saved a value" in text
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


@needs_dot
def test_an_in_place_graph_renders_to_png(tmp_path):
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    y = x * 2
    z = y * 3
    y.relu_()
    loss = (z + y).sum()
    loss.backward()
    path = cr.viz.draw_graph(loss, params={"x": x, "y": y}).render(tmp_path / "relu_.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
