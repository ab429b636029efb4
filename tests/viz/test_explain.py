"""explain: the chain rule written out step by step, with the numbers of each step."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.examples import sigmoid_graph


def neuron():
    f, names = sigmoid_graph.gates(sigmoid_graph.inputs())
    f.backward()
    return f, names


def lines_of(text: str) -> list:
    return [line.strip() for line in text.splitlines()]


def test_each_step_shows_formula_value_upstream_local_gradient_and_product():
    f, names = neuron()
    text = cr.viz.explain(f, names=names, format="steps").text()
    lines = lines_of(text)
    # the example, character for character
    assert "z = h + 1 = 1.3679;  ∂f/∂h = ∂f/∂z · ∂z/∂h = -0.5344 · 1 = -0.5344" in lines
    # the first step: the output's own local gradient, d(1/z)/dz = -1/z²
    assert "f = 1 / z = 0.7311;  ∂f/∂z = -1/z² = -0.5344" in lines
    # symbolic local gradient, then its value
    assert ("h = exp(e) = 0.3679;  ∂f/∂e = ∂f/∂h · ∂h/∂e = -0.5344 · exp(e) = -0.5344 · 0.3679 "
            "= -0.1966") in lines
    assert "e = -d = -1;  ∂f/∂d = ∂f/∂e · ∂e/∂d = -0.1966 · (-1) = 0.1966" in lines
    # a two-input gate: one line per input, each the upstream times the other input
    assert ("a = w0 · x0 = -2;  ∂f/∂w0 = ∂f/∂a · ∂a/∂w0 = 0.1966 · x0 = 0.1966 · (-1) = -0.1966"
            in lines)
    assert "∂f/∂x0 = ∂f/∂a · ∂a/∂x0 = 0.1966 · w0 = 0.1966 · 2 = 0.3932" in lines
    # the forward pass with numbers
    assert "z = h + 1 = 0.3679 + 1 = 1.3679" in lines
    assert "f = 1 / z = 1 / 1.3679 = 0.7311" in lines


def test_steps_follow_the_backward_pass_in_order():
    f, names = neuron()
    steps = cr.viz.explain(f, names=names, format="steps")
    assert [s.name for s in steps] == ["f", "z", "h", "e", "d", "c", "b", "a"]
    assert [s.op for s in steps] == ["div", "add", "exp", "neg", "add", "add", "mul", "mul"]
    # records for programs: the numbers, not their text
    z_step = steps[1]
    assert z_step.upstream == pytest.approx(-1 / (1 + math.exp(-1)) ** 2)
    (term,) = z_step.grads
    assert term.input == "h" and term.local == "1" and term.local_value == 1
    assert float(term.value) == pytest.approx(z_step.upstream)
    b_step = steps[6]
    assert [t.input for t in b_step.grads] == ["w1", "x1"]
    assert float(b_step.grads[0].value) == pytest.approx(-2 * steps[5].upstream)


def test_gradients_of_the_leaves_are_listed_and_match_backward():
    f, names = neuron()
    expl = cr.viz.explain(f, names=names, format="steps")
    got = {name: float(g) for name, g, _ in expl.leaves}
    for k in sigmoid_graph.VALUES:
        assert got[k] == pytest.approx(names[k].grad.item())
    assert "∂f/∂x1 = -0.5898" in expl.text()


def test_prints_text_or_markdown_and_returns_the_steps(capsys):
    f, names = neuron()
    out = cr.viz.explain(f, names=names)
    printed = capsys.readouterr().out
    assert "Backward pass" in printed and "-0.5344" in printed
    assert len(out) == 8 and str(out) == out.text()
    cr.viz.explain(f, names=names, format="markdown")
    md = capsys.readouterr().out
    assert "**Backward pass**" in md
    assert "2. `z = h + 1 = 1.3679`  \n   `∂f/∂h = ∂f/∂z · ∂z/∂h = -0.5344 · 1 = -0.5344`" in md
    steps = cr.viz.explain(f, names=names, format="steps")
    assert "**Backward pass**" in steps.markdown()
    buf = io.StringIO()
    cr.viz.explain(f, names=names, file=buf)
    assert capsys.readouterr().out == "" and "∂f/∂w2 = 0.1966" in buf.getvalue()


def test_tensor_explain_method():
    x = cr.tensor(3.0, requires_grad=True)
    y = x * x
    expl = y.explain(names={"x": x}, format="steps")
    assert "f = x · x = 9;  ∂f/∂x += x = 3" in expl.text()
    assert "∂f/∂x = 3 + 3 = 6   (the sum of its 2 branches)" in expl.text()


def test_a_value_that_feeds_several_nodes_sums_its_branches():
    u = cr.tensor(0.5, dtype=cr.float64, requires_grad=True)
    c = u * 2
    f = c * c + c.exp()
    text = cr.viz.explain(f, names={"u": u, "c": c}, format="steps").text()
    # ∂f/∂c = 2c (twice c, from c·c) + exp(c), with c = 1
    assert "∂f/∂c = 1 + 1 + 2.7183 = 4.7183   (the sum of its 3 branches: via a, a, b)" in text
    assert "∂f/∂c += ∂f/∂b · ∂b/∂c = 1 · exp(c) = 1 · 2.7183 = 2.7183" in text
    assert "∂f/∂u = ∂f/∂c · ∂c/∂u = 4.7183 · 2 = 9.4366" in text


def test_a_broadcast_bias_is_summed_over_the_batch_axis_and_says_why():
    x = cr.tensor(np.arange(6.0).reshape(3, 2))
    b = cr.tensor([0.5, -0.5], requires_grad=True)
    y = ((x + b) * 2).sum()
    y.backward()
    expl = cr.viz.explain(y, names={"x": x, "b": b, "y": y}, format="steps")
    text = expl.text()
    assert ("∂y/∂b = Σ over axis 0 of (∂y/∂a ⊙ ∂a/∂b) = Σ over axis 0 of (∂y/∂a ⊙ 1) = "
            "[2, 2] + [2, 2] + [2, 2] = [6, 6]" in text)  # the sum over the batch, in numbers
    assert ("(b (2,) was broadcast to (3, 2) in a = x + b: each copy gets a gradient, so b's "
            "gradient is their sum over axis 0 (the batch axis))") in text
    (term,) = [t for s in expl for t in s.grads if t.input == "b"]
    assert term.summed_axes == (0,)
    np.testing.assert_allclose(term.value, b.grad.data)


def test_matmul_steps_name_the_transposes():
    x = cr.tensor(np.ones((4, 3)))
    w = cr.tensor(np.full((3, 2), 0.5), requires_grad=True)
    loss = (x @ w).sum()
    text = cr.viz.explain(loss, names={"x": x, "W": w}, format="steps").text()
    assert "∂f/∂W = xᵀ @ ∂f/∂a = [[4, 4], [4, 4], [4, 4]]" in text


def test_small_tensors_are_shown_in_full_and_large_ones_compactly():
    x = cr.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = (x * x).mean()
    text = cr.viz.explain(y, names={"x": x}, format="steps").text()
    assert "a = x · x = [[0, 1, 4, 9], [16, 25, 36, 49], [64, 81, 100, 121]]" in text
    assert "f = mean(a) = 42.1667;  ∂f/∂a = 1/12, copied to every entry of a (3, 4)" in text
    x = cr.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)  # 16 entries: in full, as its shape
    text = cr.viz.explain((x * 2).sum(), names={"x": x}, format="steps").text()
    assert "∂f/∂x = [[[[2, 2, 2, 2], [2, 2, 2, 2], [2, 2, 2, 2], [2, 2, 2, 2]]]]" in text
    x = cr.tensor(np.arange(30.0).reshape(5, 6), requires_grad=True)  # more than 25: compact
    text = cr.viz.explain((x * x).mean(), names={"x": x}, format="steps").text()
    assert "a = x · x = (5, 6) [0, 1, 4, …]" in text


def test_wrt_limits_the_steps_to_the_paths_to_the_tensors_asked_about():
    f, names = neuron()
    expl = cr.viz.explain(f, wrt={"w2": names["w2"]}, format="steps")
    assert [s.op for s in expl] == ["div", "add", "exp", "neg", "add"]
    assert [name for name, _, _ in expl.leaves] == ["w2"]
    assert "∂f/∂w2 = 0.1966" in expl.text()


def test_precision():
    f, names = neuron()
    text = cr.viz.explain(f, names=names, precision=2, format="steps").text()
    assert "z = h + 1 = 1.37;  ∂f/∂h = ∂f/∂z · ∂z/∂h = -0.53 · 1 = -0.53" in text


def test_unknown_format_is_an_error():
    f, _ = neuron()
    with pytest.raises(ValueError, match="format"):
        cr.viz.explain(f, format="html")


def test_after_an_optimizer_step_the_changed_nodes_are_marked_not_guessed():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    f = (w * w).sum()
    f.backward()
    with cr.no_grad():
        w.sub_(0.1 * w.grad)  # the graph's w is the live parameter: its forward value changed
    expl = cr.viz.explain(f, names={"w": w}, format="steps")
    text = expl.text()
    assert "∂f/∂a = 1, copied to every entry of a (2,) = [1, 1]" in text  # the sum is still fine
    assert "∂f/∂w = unknown" in text
    # found, not guessed, said once, with what to do
    assert ("(unknown: w was changed in place after this step used it, by an optimizer step or "
            "under no_grad, and its old value was not kept; call explain before "
            "optimizer.step())") in text
    assert text.count("changed in place") == 1 and "not shown" not in text
    assert expl[1].grads == []


def test_names_given_are_kept_and_the_rest_get_fresh_letters():
    f = cr.tensor(2.0, requires_grad=True)  # a leaf called f: the output must be called otherwise
    y = (f * 3).exp()
    text = cr.viz.explain(y, names={"f": f}, format="steps").text()
    assert "a = f · 3 = 2 · 3 = 6" in text and "y = exp(a) = 403.4288" in text
    assert "∂y/∂f = ∂y/∂a · ∂a/∂f = 403.4288 · 3 = 1210.2864" in text
