"""explain(..., expand_modules=True): each fused op opened into its primitive ops, with the
same gradients as the fused graph, backward() and torch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")


def lines_of(text: str) -> list:
    return [line.strip() for line in text.splitlines()]


def leaf(a):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def grads(e) -> dict:
    return {name: g for name, g, _ in e.leaves}


def mlp_loss():
    rs = np.random.RandomState(0)
    x, W, b = rs.randn(3, 4), rs.randn(2, 4), rs.randn(2)
    target = np.array([0, 1, 1])
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    torch.nn.functional.cross_entropy(torch.nn.functional.linear(tx, tW, tb),
                                      torch.tensor(target)).backward()
    cx, cW, cb = leaf(x), leaf(W), leaf(b)
    loss = F.cross_entropy(F.linear(cx, cW, cb), cr.tensor(target))
    loss.backward()
    return loss, {"x": cx, "W": cW, "b": cb}, {"x": tx.grad, "W": tW.grad, "b": tb.grad}


def test_default_keeps_one_step_per_fused_op():
    loss, names, _ = mlp_loss()
    e = cr.viz.explain(loss, names=names, format="steps")
    assert [s.op for s in e] == ["cross_entropy", "linear"]


def test_linear_and_cross_entropy_open_into_their_primitive_ops_with_the_same_gradients():
    loss, names, expected = mlp_loss()
    fused = grads(cr.viz.explain(loss, names=names, format="steps"))
    e = cr.viz.explain(loss, names=names, format="steps", expand_modules=True)
    ops = [s.op for s in reversed(e)]  # forward order
    assert ops[:3] == ["permute", "matmul", "add"]  # x @ Wᵀ, then + b
    assert "log_softmax" in ops and "getitem" in ops and ops[-1] == "div"  # the mean
    assert "linear" not in ops and "cross_entropy" not in ops
    got = grads(e)
    for name, t in names.items():
        np.testing.assert_allclose(got[name], t.grad.numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got[name], fused[name], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got[name], expected[name].numpy(), rtol=1e-10, atol=1e-12)
    # the bias's share: ∂f/∂c summed over the batch, each example's row written out
    g = expected["b"].numpy()
    rows = [line for line in lines_of(e.text()) if line.startswith("∂f/∂b = Σ over axis 0")]
    assert len(rows) == 1 and rows[0].count(" + ") == 2
    assert rows[0].endswith(f"= {cr.viz.notation.array(g)}")
    # the loss value is the fused one
    assert e[0].value == pytest.approx(float(loss.item()), rel=1e-12)


def test_batch_norm_and_conv_open_into_their_composites():
    rs = np.random.RandomState(1)
    x, W, cb = rs.randn(2, 1, 4, 4), rs.randn(2, 1, 2, 2), rs.randn(2)
    gamma, beta = rs.rand(2) + 0.5, rs.randn(2)
    tx, tW, tcb, tg, tbt = (torch.tensor(a, requires_grad=True) for a in (x, W, cb, gamma, beta))
    th = torch.nn.functional.conv2d(tx, tW, tcb, stride=1)
    th = torch.nn.functional.batch_norm(th, None, None, tg, tbt, training=True)
    (th.tanh() ** 2).sum().backward()
    names = {"x": leaf(x), "W": leaf(W), "cb": leaf(cb), "gamma": leaf(gamma), "beta": leaf(beta)}
    h = F.conv2d(names["x"], names["W"], names["cb"], stride=1)
    h = F.batch_norm(h, None, None, names["gamma"], names["beta"], training=True)
    f = (h.tanh() ** 2).sum()
    e = cr.viz.explain(f, names=names, format="steps", expand_modules=True)
    ops = {s.op for s in e}
    assert not ops & {"conv2d", "batch_norm"} and "unfold" in ops and "mean" in ops
    got = grads(e)
    for name, t in zip(names, (tx, tW, tcb, tg, tbt)):
        np.testing.assert_allclose(got[name], t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_names_and_wrt_follow_into_the_opened_graph():
    loss, names, expected = mlp_loss()
    x, W = names["x"], names["W"]
    h = F.linear(x, W)  # no bias
    f = F.softmax(h, dim=1)[:, 0].sum()
    e = cr.viz.explain(f, wrt={"W": W}, names={"h": h}, format="steps", expand_modules=True)
    assert [n for n, _, _ in e.leaves] == ["W"]
    assert any(s.name == "h" and s.op == "matmul" for s in e)  # h is now x @ Wᵀ
    tW = torch.tensor(W.detach().numpy(), requires_grad=True)
    torch.softmax(torch.tensor(x.detach().numpy()) @ tW.T, 1)[:, 0].sum().backward()
    np.testing.assert_allclose(e.leaves[0][1], tW.grad.numpy(), rtol=1e-10)


def test_draw_graph_opens_modules_too():
    loss, names, expected = mlp_loss()
    dot = cr.viz.draw_graph(loss, names=names, expand_modules=True).source
    assert "a = Wᵀ" in dot and "c = x @ a" in dot and "d = c + b" in dot
    assert "log_softmax(d, dim=1)" in dot and "linear" not in dot
    g = expected["b"].numpy()  # the bias's box shows the gradient summed over the batch
    assert f"∇ {cr.viz.notation.array(g)}" in dot
    fused = cr.viz.draw_graph(loss, names=names).source
    assert "x @ Wᵀ + b" in fused and "cross_entropy" in fused


def test_a_graph_with_an_in_place_op_is_refused_with_the_op_named():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    y = x * 2
    y.relu_()
    with pytest.raises(ValueError, match=r"ReLUBackward|in-place"):
        cr.viz.explain(y.sum(), expand_modules=True, format="steps")


def test_softmax_opens_into_exp_sum_and_divide_with_its_shift_listed_as_a_constant():
    z = leaf([[0.5, -1.0, 2.0], [3.0, 0.0, -2.0]])
    t = cr.tensor(np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]))
    s = F.softmax(z, dim=1)
    e = cr.viz.explain((s * t).sum(), names={"z": z, "s": s, "t": t}, format="steps",
                       expand_modules=True)
    text = e.text()
    assert "a = [[2], [3]]   (the maximum along dim 1, subtracted so that exp cannot overflow" \
        in text
    assert "b = z - a = [[-1.5, -3, 0], [0, -3, -5]]" in text
    assert "s = c / d = " in text and "softmax" not in text
    tz = torch.tensor(z.detach().numpy(), requires_grad=True)
    (torch.softmax(tz, 1) * torch.tensor(t.numpy())).sum().backward()
    np.testing.assert_allclose(grads(e)["z"], tz.grad.numpy(), rtol=1e-12)
    # without expand_modules: one softmax step, and no constant listed
    text = cr.viz.explain((s * t).sum(), names={"z": z, "s": s, "t": t}, format="steps").text()
    assert "s = softmax(z, dim=1) = " in text and "(the maximum" not in text
