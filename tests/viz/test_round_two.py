"""Issue 17's list of wrong, confusing and missing output in explain and draw_graph: each item,
with the output a learner now sees."""

from __future__ import annotations

import inspect
import pkgutil
import re
import sys
import types

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.viz import graph as G


def titles(dot: str) -> list:
    return re.findall(r"<B>([^<]*)</B>", dot)


# -- wrong -----------------------------------------------------------------------------------------

def test_a_graph_never_backwarded_shows_no_stale_gradient_of_another_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()  # x.grad = [2, 4], from this first graph
    y = (x * 3).sum()
    dot = cr.viz.draw_graph(y, names={"x": x}).source
    assert G.GRAD_COLOR not in dot.split("label=<")[-1] or "∇" not in dot
    assert "[2, 4]" not in dot and "∇" not in dot
    y.backward()  # x.grad is now [5, 7]: drawn is this graph's ∂y/∂x = [3, 3]
    dot = cr.viz.draw_graph(y, names={"x": x}).source
    assert "∇ [3, 3]" in dot and "[5, 7]" not in dot


def test_y_times_y_draws_two_arrows_as_explain_counts_two_branches():
    a = cr.tensor(3.0, requires_grad=True)
    y = a.tanh()
    z = y * y
    z.backward()
    dot = cr.viz.draw_graph(z, names={"a": a}).source
    assert dot.count("op1 -> op2;") == 2
    assert "(the sum of its 2 branches: via f, f)" in cr.viz.explain(z, format="steps").text()


# -- confusing -------------------------------------------------------------------------------------

def test_a_local_derivative_of_several_terms_is_bracketed():
    z = cr.tensor([0.5, -1.0], requires_grad=True)
    text = cr.viz.explain(z.tanh().sum(), names={"z": z}, format="steps").text()
    assert "∂f/∂z = ∂f/∂a ⊙ ∂a/∂z = ∂f/∂a ⊙ (1 - tanh²(z))" in text
    q = cr.tensor(3.0, requires_grad=True)
    text = cr.viz.explain(q ** -1, names={"q": q}, format="steps").text()
    assert "∂f/∂q = 1 · (-1·q⁻²)" in text or "∂f/∂q = -1·q⁻² = -0.1111" in text


def test_automatic_letters_never_clash_with_the_names_given():
    x = cr.tensor([[1.0, 2.0]])
    W1, b1 = cr.tensor([[0.5, -0.2], [0.1, 0.3]], requires_grad=True), cr.tensor([0.1, 0.0],
                                                                                  requires_grad=True)
    W2, b2 = cr.tensor([[0.4, 0.6]], requires_grad=True), cr.tensor([0.05], requires_grad=True)
    f = (F.linear(F.linear(x, W1, b1).sigmoid(), W2, b2)).sum()
    names = {"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2}
    steps = cr.viz.explain(f, names=names, format="steps")
    auto = {s.name for s in steps} - set(names)
    assert auto == {"a", "c", "d", "f"}  # b and w are stems of b1, W... (lower-case w is free)
    dot = cr.viz.draw_graph(f, names=names).source
    assert "a = x @ W1ᵀ + b1" in titles(dot) and not any(t.startswith("b =") for t in titles(dot))


def test_a_sequentials_parameters_read_as_one_term():
    net = cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.Tanh(), cr.nn.Linear(2, 1))
    f = net(cr.tensor([[1.0, -1.0]])).sum()
    text = cr.viz.explain(f, names=net.named_parameters(), format="steps").text()
    assert "∂f/∂(2.weight) = (∂f/∂d)ᵀ @ c" in text
    assert "d = c @ (2.weight)ᵀ + (2.bias)" in text
    assert "∂f/∂2.weight" not in text


def test_op_labels_are_written_as_in_maths_with_the_names_given():
    q, out = cr.tensor(3.0, requires_grad=True), cr.tensor(0.2, requires_grad=True)
    f = q ** 2 + (0.5 - out)
    f.backward()
    assert titles(cr.viz.draw_graph(f, names={"q": q, "out": out}).source) == [
        "q", "out", "a = q²", "b = 0.5 - out", "f = a + b"]
    text = cr.viz.explain(f, names={"q": q, "out": out}, format="steps").text()
    assert "a = q² = 3² = 9" in text and "b = 0.5 - out = 0.5 - 0.2 = 0.3" in text


def test_no_section_comment_or_benchmark_shows_in_help():
    import pydoc
    for info in pkgutil.walk_packages(cr.__path__, "chainrule."):
        if info.name.endswith("__main__") or info.name.startswith(("chainrule.onnx", "chainrule.distributed",
                                 "chainrule.utils.tensorboard", "chainrule.viz.playground")):
            continue  # optional extras
        module = __import__(info.name, fromlist=["_"])
        for _, obj in inspect.getmembers(module):
            methods = [m for m in vars(obj).values() if inspect.isfunction(m)] \
                if inspect.isclass(obj) else []
            for member in [obj] + methods:
                if getattr(member, "__module__", None) == info.name:
                    comment = inspect.getcomments(member) or ""
                    assert not comment.startswith("# --"), (info.name, member)
    assert "benchmark" not in pydoc.render_doc(cr.autograd.Function.apply)


def test_after_an_optimizer_step_explain_says_why_once_and_what_to_do():
    w = cr.tensor([0.5, -1.0], requires_grad=True)
    x = cr.tensor([1.0, 2.0])
    f = (w * x).sum()
    f.backward()
    cr.optim.SGD([w], lr=0.1).step()
    text = cr.viz.explain(f, names={"w": w, "x": x}, format="steps").text()
    assert text.count("changed in place") == 1 and "call explain before optimizer.step()" in text
    assert "∂f/∂w = unknown" in text and "not shown" not in text


def test_in_a_notebook_explain_shows_once(monkeypatch):
    shown = []
    display_mod = types.ModuleType("IPython.display")
    display_mod.Markdown = lambda text: ("markdown", text)
    display_mod.display = shown.append
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell
    ipython.display = display_mod
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_mod)
    x = cr.tensor(2.0, requires_grad=True)
    expl = cr.viz.explain(x * x, names={"x": x})
    assert len(shown) == 1 and "**Backward pass**" in shown[0][1]
    expl._ipython_display_()  # the cell's value, the same explanation: nothing more
    assert len(shown) == 1
    expl._ipython_display_()  # shown again in a later cell: it shows
    assert len(shown) == 2


# -- missing ---------------------------------------------------------------------------------------

def test_the_bias_sum_over_the_batch_is_written_with_its_numbers():
    lin = cr.nn.Linear(2, 2)
    with cr.no_grad():
        lin.weight.copy_(cr.tensor([[0.5, -0.5], [0.25, 1.0]]))
        lin.bias.copy_(cr.tensor([0.0, 0.1]))
    x = cr.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]])
    t = cr.tensor([0, 1, 1])
    loss = F.cross_entropy(lin(x), t)
    text = cr.viz.explain(loss, names=dict(lin.named_parameters()) | {"x": x},
                          format="steps").text()
    z = x.numpy() @ lin.weight.detach().numpy().T + lin.bias.detach().numpy()
    s = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    g = (s - np.eye(2)[[0, 1, 1]]) / 3  # softmax − one-hot, over N
    rows = " + ".join(cr.viz.notation.array(r) for r in g)
    assert f"∂f/∂bias = Σ over the batch of ∂f/∂a = {rows} = {cr.viz.notation.array(g.sum(0))}" \
        in text
    assert f"∂f/∂weight = (∂f/∂a)ᵀ @ x = {cr.viz.notation.array(g.T @ x.numpy())}" in text
    assert (f"∂f/∂a = (softmax(a) − one-hot(b)) / N, N the batch size = "
            f"({cr.viz.notation.array(s)} − [[1, 0], [0, 1], [0, 1]]) / 3") in text


def test_softmax_shows_its_jacobian_as_a_matrix():
    z = cr.tensor([[1.0, 2.0, 0.5]], requires_grad=True)
    f = (F.softmax(z, 1) * cr.tensor([[1.0, 0.0, 2.0]])).sum()
    text = cr.viz.explain(f, names={"z": z}, format="steps").text()
    s = np.exp([1.0, 2.0, 0.5]) / np.exp([1.0, 2.0, 0.5]).sum()
    J = np.diag(s) - np.outer(s, s)
    assert f"with J = {cr.viz.notation.array(J)}" in text
    assert "J = diag(s) − s sᵀ" in text


def test_conv_and_pooling_notes_speak_maths_not_implementation():
    x = cr.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    w = cr.tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    f = F.max_pool2d(F.conv2d(x, w, padding=1), 2).sum()
    text = cr.viz.explain(f, names={"x": x, "w": w}, format="steps").text()
    assert "∂f/∂w = the cross-correlation of x with ∂f/∂a" in text
    assert "∂f/∂x = ∂f/∂a convolved with the flipped kernel w" in text
    assert "routed to the max of each window" in text
    assert "im2col" not in text and "col2im" not in text and "rest" not in text


def test_heat_maps_are_grids_of_the_tensors_shape_on_one_log_scale_with_a_legend():
    big = cr.tensor(np.full((4, 10), 0.1), requires_grad=True)
    tiny = cr.tensor(np.full((4, 10), 1e-10), requires_grad=True)
    f = (big * 1.0).sum() + (tiny * 1.0).sum()
    f.backward()
    dot = cr.viz.draw_graph(f, names={"big": big, "tiny": tiny}).source
    grids = {name: re.search(rf'<B>{name}</B>.*?<TABLE BORDER="1"[^>]*>(.*?)</TABLE>',
                             dot).group(1) for name in ("big", "tiny")}
    assert grids["big"].count("<TR>") == 4 and grids["big"].count("<TD") == 40  # 4 × 10
    shades = {k: set(re.findall(r'BGCOLOR="(#\w+)"', g)) for k, g in grids.items()}
    assert shades["big"] == {G.VALUE_COLOR}  # the largest entry of the drawing: full colour
    assert shades["tiny"] == {"#ffffff"}  # 1e-10, nine decades below: white, not full colour
    assert "one log scale for the drawing" in dot and "∇" in dot
    assert G._shade(0.1, 0.1, G.VALUE_COLOR) == G.VALUE_COLOR
    assert G._shade(1e-4, 0.1, G.VALUE_COLOR) not in ("#ffffff", G.VALUE_COLOR)  # half way


# -- from a learner's review -----------------------------------------------------------------------

def test_small_numbers_keep_their_significant_digits():
    from chainrule.viz.notation import number
    assert number(-0.0001657432) == "-0.0001657" and number(0.1966) == "0.1966"
    assert number(0.00987654) == "0.009877" and number(1.36787944) == "1.3679"


def test_automatic_letters_skip_l_and_o_and_a_seed_of_ones_is_not_circular():
    x = cr.tensor(np.ones(2), requires_grad=True)
    h = x
    for _ in range(12):  # enough ops to reach the letters after k
        h = h * 1.5
    steps = cr.viz.explain(h, names={"x": x}, format="steps")
    assert not {"l", "o"} & {s.name for s in steps}
    text = steps.text()
    assert "∂f/∂f ⊙" not in text  # the output's own gradient is the seed: ones


def test_binary_cross_entropy_and_softmax_notes():
    z = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    t = cr.tensor([1.0, 0.0, 1.0])
    text = cr.viz.explain(F.binary_cross_entropy_with_logits(z, t), names={"z": z, "t": t},
                          format="steps").text()
    assert "∂f/∂z = (σ(z) − t) / N, N the number of entries" in text
    assert "backward of" not in text
    s = F.softmax(z, 0)
    text = cr.viz.explain((s * t).sum(), names={"z": z, "s": s}, format="steps").text()
    assert "for s = s" not in text and "J = diag(s) − s sᵀ:" in text


def test_the_legend_scale_comes_from_the_heat_maps_drawn_only():
    small = cr.tensor(np.full((3, 4), 50.0), requires_grad=True)  # 12 numbers: written as text
    big = cr.tensor(np.full((4, 10), 0.5), requires_grad=True)    # a heat map
    f = (small.sum() + big.sum())
    f.backward()
    dot = cr.viz.draw_graph(f, names={"small": small, "big": big}).source
    assert "(values 0.5, gradients 1)" in dot


# -- round two, last items: getitem in maths, options as keywords ----------------------------------

def test_getitem_is_written_as_indexing_and_its_backward_as_maths():
    s = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    a = s[0, 1]
    r = s[1:]
    text = cr.viz.explain(a * 3 + r.sum(), names={"s": s, "a": a, "r": r}, format="steps").text()
    lines = [line.strip() for line in text.splitlines()]
    assert "a = s[0, 1] = 2" in lines and "r = s[1:] = [[3, 4]]" in lines
    assert "∂f/∂s += ∂f/∂a at s[0, 1], 0 elsewhere = [[0, 3], [0, 0]]" in text
    assert "∂f/∂s += ∂f/∂r at s[1:], 0 elsewhere = [[0, 0], [1, 1]]" in text
    assert "getitem" not in text
    # an entry picked twice gets the sum of its two shares
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    text = cr.viz.explain((x[[0, 2, 0]] ** 2).sum(), names={"x": x}, format="steps").text()
    assert "at x[[0, 2, 0]], 0 elsewhere (an entry picked twice gets the sum)" in text
    assert "∂f/∂x = [4, 0, 6]" in text  # 2·1 + 2·1 at x[0]


def test_options_are_keywords_and_running_statistics_get_no_letters():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    W = cr.tensor(rng.standard_normal((2, 1, 2, 2)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(2), requires_grad=True)
    bn = cr.nn.BatchNorm2d(2).double()
    h = bn(F.conv2d(x, W, b, stride=1))
    z = h.flatten(1)
    f = F.softmax(z, dim=1)[0, 1] + z.max(1)[0].sum()
    names = {"x": x, "W": W, "b": b, "gamma": bn.weight, "beta": bn.bias, "z": z}
    text = cr.viz.explain(f, names=names, format="steps").text()
    assert "= conv2d(x, W, b, stride=1) = " in text
    assert "= batch_norm(a, gamma, beta) = " in text  # training: no running statistics, no eps
    assert "= softmax(z, dim=1) = " in text and "= max(z, dim=1) = " in text
    assert "const" not in text
    bn.eval()
    f = bn(F.conv2d(x, W, b, stride=2, padding=1)).sum()
    e = cr.viz.explain(f, names=names, format="steps")
    assert "= conv2d(x, W, b, stride=2, padding=1) = " in e.text()
    assert "= batch_norm(a, gamma, beta, training=False) = " in e.text()
    letters = {n for n, _, _ in e.leaves}
    assert letters == {"x", "W", "b", "gamma", "beta"}  # the running statistics are not leaves
    # and no letter went to them: a is the conv's output, then c (b is taken), not e
    assert "c = batch_norm(a, gamma, beta, training=False) = " in e.text()
    assert {s.name for s in e} == {"a", "c", "f"}


def test_tanh_shows_its_jacobian_as_a_diagonal_matrix():
    z = cr.tensor([0.5, -1.0], requires_grad=True)
    text = cr.viz.explain(z.tanh().sum(), names={"z": z}, format="steps").text()
    d = 1 - np.tanh([0.5, -1.0]) ** 2
    matrix = cr.viz.notation.array(np.diag(d))
    assert f"(the Jacobian ∂a/∂z is diagonal, diag(1 - tanh²(z)) = {matrix}" in text
