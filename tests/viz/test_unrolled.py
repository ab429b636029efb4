"""An RNN unrolled in a Python loop, explained and drawn: the shared weight's gradient as the sum of
one share per time step, against backpropagation through time written in NumPy and torch."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.viz import notation as N

torch = pytest.importorskip("torch")


def hand_rnn(seed=0, steps=3, size=2):
    """h_t = tanh(x_t @ W_xh + h_(t-1) @ W_hh + b), h_0 = 0, L = Σ h_T, in float64."""
    rng = np.random.default_rng(seed)
    w = {"W_xh": rng.normal(size=(size, size)) * 0.7, "W_hh": rng.normal(size=(size, size)) * 0.7,
         "b": rng.normal(size=size) * 0.1}
    xs = [rng.normal(size=(1, size)) for _ in range(steps)]
    return w, xs


def numpy_bptt(w, xs, h0=None):
    """The shares of ∂L/∂W_xh, ∂L/∂W_hh, ∂L/∂b per step (time order), by hand."""
    h = [np.zeros((1, w["W_hh"].shape[0])) if h0 is None else h0]
    for x in xs:
        h.append(np.tanh(x @ w["W_xh"] + h[-1] @ w["W_hh"] + w["b"]))
    shares = {k: [None] * len(xs) for k in w}
    dh = np.ones_like(h[-1])
    for t in range(len(xs), 0, -1):
        da = dh * (1 - h[t] ** 2)
        shares["W_xh"][t - 1] = xs[t - 1].T @ da
        shares["W_hh"][t - 1] = h[t - 1].T @ da
        shares["b"][t - 1] = da.sum(axis=0)
        dh = da @ w["W_hh"].T
    return shares


def unroll_chainrule(w, xs):
    params = {k: cr.tensor(v, requires_grad=True) for k, v in w.items()}
    h = cr.zeros(1, w["W_hh"].shape[0], dtype=cr.float64)
    hs = []
    for x in xs:
        h = (cr.tensor(x) @ params["W_xh"] + h @ params["W_hh"] + params["b"]).tanh()
        hs.append(h)
    return params, hs, h.sum()


def torch_grads(w, xs):
    p = {k: torch.tensor(v, requires_grad=True) for k, v in w.items()}
    h = torch.zeros(1, w["W_hh"].shape[0], dtype=torch.float64)
    for x in xs:
        h = torch.tanh(torch.tensor(x) @ p["W_xh"] + h @ p["W_hh"] + p["b"])
    h.sum().backward()
    return {k: v.grad.numpy() for k, v in p.items()}


# -- explain -------------------------------------------------------------------------------------

def test_explain_writes_the_shared_weights_gradient_as_the_sum_over_the_time_steps():
    w, xs = hand_rnn()
    params, hs, L = unroll_chainrule(w, xs)
    names = {**params, "h1": hs[0], "h2": hs[1], "h3": hs[2], "L": L}
    expl = cr.viz.explain(L, names=names, format="steps")
    by_hand, by_torch = numpy_bptt(w, xs), torch_grads(w, xs)
    for name, g, shares in expl.leaves:
        assert len(shares) == 3
        for got, want in zip(shares, by_hand[name]):  # step 1, 2, 3, in that order
            np.testing.assert_allclose(got, want.reshape(got.shape), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(g, by_torch[name], rtol=1e-12)
    assert expl.time_steps == {k: ["h1", "h2", "h3"] for k in ("W_xh", "W_hh", "b")}
    text = expl.text()
    shares = [N.array(s, 4) for s in by_hand["W_hh"]]
    total = N.array(by_torch["W_hh"], 4)
    line = (f"∂L/∂W_hh = {N.plus(shares)} = {total}   (the sum over its 3 uses: time steps "
            "1, 2, 3, making h1, h2, h3)")
    assert line in text.split("\n  ")
    # each use, in the backward pass, says which step it is
    assert re.search(r"∂L/∂W_hh \+= h2ᵀ @ ∂L/∂\w+ = .*\(time step 3 of 3, making h3\)", text)
    assert re.search(r"∂L/∂W_hh \+= h1ᵀ @ ∂L/∂\w+ = .*\(time step 2 of 3, making h2\)", text)


def test_without_names_a_chain_of_uses_is_still_time_steps_and_side_by_side_uses_branches():
    w, xs = hand_rnn(seed=1)
    params, hs, L = unroll_chainrule(w, xs)
    expl = cr.viz.explain(L, names=params, format="steps")
    # W_hh's (and b's) use at step 2 is computed from its use at step 1: a chain; the x_t @ W_xh
    # run side by side
    assert sorted(expl.time_steps) == ["W_hh", "b"]
    made = expl.time_steps["W_hh"]
    assert len(made) == 3 and len(set(made)) == 3
    assert re.search(r"∂f/∂W_xh = .*\(the sum of its 3 branches\)", expl.text())
    # a weight shared by two branches of a network is not a loop
    W = cr.tensor(np.array([[0.3, -0.2], [0.1, 0.5]]), requires_grad=True)
    a, b = cr.tensor([[1.0, 2.0]], dtype=cr.float64), cr.tensor([[-1.0, 0.5]], dtype=cr.float64)
    f = (a @ W).tanh().sum() + (b @ W).tanh().sum()
    e = cr.viz.explain(f, names={"W": W, "ha": a, "hb": b}, format="steps")
    assert e.time_steps == {} and "(the sum of its 2 branches)" in e.text()


def test_an_rnn_cells_step_is_written_in_maths_and_matches_torch():
    cr.manual_seed(3)
    cell = nn.RNNCell(3, 2, dtype=cr.float64)
    tcell = torch.nn.RNNCell(3, 2, dtype=torch.float64)
    with torch.no_grad():
        for name, p in cell.named_parameters():
            getattr(tcell, name).copy_(torch.tensor(np.asarray(p)))
    xs = np.random.default_rng(3).normal(size=(3, 1, 3))
    h, th, hs = None, None, []
    for x in xs:
        h = cell(cr.tensor(x), h)
        th = tcell(torch.tensor(x), th)
        hs.append(h)
    L = h.sum()
    th.sum().backward()
    names = {"W_hh": cell.weight_hh, "h1": hs[0], "h2": hs[1], "h3": hs[2]}
    expl = cr.viz.explain(L, wrt={"W_hh": cell.weight_hh}, names=names, format="steps")
    (name, g, shares), = expl.leaves
    np.testing.assert_allclose(g, tcell.weight_hh.grad.numpy(), rtol=1e-12)
    text = expl.text()
    assert "h2 = rnn(b, h1, W_hh, bias_hh)" in text or re.search(r"h2 = rnn\(\w, h1, W_hh", text)
    assert re.search(r"h1 = rnn\(\w, h0, W_hh, \w+\)", text)  # the zeros it starts from: h0
    # the one-step rule with the numbers: (∂L/∂h3 ⊙ (1 − h3²))ᵀ @ h2
    share3 = N.array(shares[2], 4)
    assert f"∂f/∂W_hh += (∂f/∂h3 ⊙ (1 − h3²))ᵀ @ h2 = {share3}   (time step 3 of 3, making h3)" \
        in text
    assert "∂f/∂h2 = (∂f/∂h3 ⊙ (1 − h3²)) @ W_hh = " in text
    # the fused loop's long rule is not repeated for a one-step cell
    assert "Backward, from the last step" not in text
    assert "(the sum over its 3 uses: time steps 1, 2, 3, making h1, h2, h3)" in text


def test_a_long_loop_names_its_first_and_last_steps():
    cr.manual_seed(1)
    cell = nn.RNNCell(2, 3, dtype=cr.float64)
    h, names = None, {"W_hh": cell.weight_hh}
    for t in range(1, 9):
        h = cell(cr.randn(1, 2, dtype=cr.float64), h)
        names[f"h{t}"] = h
    expl = cr.viz.explain(h.sum(), wrt={"W_hh": cell.weight_hh}, names=names, format="steps")
    (_, g, shares), = expl.leaves
    np.testing.assert_allclose(sum(shares), g, rtol=1e-12)
    assert "(the sum over its 8 uses: time steps 1 to 8, making h1, h2, …, h8)" in expl.text()
    assert "(time step 5 of 8, making h5)" in expl.text()
    assert "`∂f/∂W_hh = " in expl.markdown()


# -- draw_graph ----------------------------------------------------------------------------------

def test_draw_graph_labels_each_use_of_a_loops_weight_with_its_step_and_share():
    w, xs = hand_rnn()
    params, hs, L = unroll_chainrule(w, xs)
    names = {**params, "h1": hs[0], "h2": hs[1], "h3": hs[2], "L": L}
    before = cr.viz.draw_graph(L, names=names).source
    assert re.findall(r'COLOR="#616161">(step \d)</FONT>', before) == [
        "step 1", "step 1", "step 1", "step 2", "step 2", "step 2", "step 3", "step 3", "step 3"]
    L.backward()
    dot = cr.viz.draw_graph(L, names=names).source
    by_hand = numpy_bptt(w, xs)
    for name in ("W_xh", "W_hh", "b"):
        leaf = re.search(rf"(in\d+) \[label=<.*?<B>{name}</B>.*?used at 3 time steps, ∇: their "
                         r"sum", dot)
        assert leaf, name
        for k, share in enumerate(by_hand[name], 1):
            text = re.escape(f"step {k}: ∇ ") + r"(.*?)</FONT>"
            found = re.findall(rf"{leaf.group(1)} -> \w+ \[label=<.*?{text}", dot)
            assert found == [N.array(share.reshape(params[name].shape), 4)], (name, k)
    # the labels sit on the weights' arrows only: 9 of them
    assert len(re.findall(r"-> \w+ \[label=", dot)) == 9


def lstm_cell_loop(steps=3):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(3, 4, dtype=cr.float64)
            self.head = nn.Linear(4, 1, dtype=cr.float64)

    cr.manual_seed(0)
    net = Net()
    h = c = cr.zeros(2, 4, dtype=cr.float64)
    for t in range(steps):
        h, c = net.cell(cr.randn(2, 3, dtype=cr.float64), (h, c))
    loss = net.head(h).sum()
    loss.backward()
    return net, loss


def boxes(dot):
    """node id -> bold title, and the edges."""
    return (dict(re.findall(r"(\w+) \[label=<.*?<B>(.*?)</B>", dot)),
            re.findall(r"(\w+) -> (\w+)", dot))


@pytest.mark.parametrize("steps", [3, 12])
def test_collapse_modules_draws_an_unrolled_lstm_cell_as_one_box_per_time_step(steps):
    net, loss = lstm_cell_loop(steps)
    params = list(net.named_parameters())
    full = cr.viz.draw_graph(loss, params=params).source
    dot = cr.viz.draw_graph(loss, params=params, collapse_modules=True).source
    titles, edges = boxes(dot)
    cells = [nid for nid, t in titles.items() if t.startswith("cell")]
    assert [titles[n] for n in cells] == [f"cell (step {k} of {steps})"
                                          for k in range(1, steps + 1)]
    assert "head" in titles.values() and "cell.weight_hh" not in dot and "cell.weight_hh" in full
    # step k feeds step k+1 (its h and c: one arrow), the last feeds the head; each step also
    # reads its own input x_t; the first step its zero state h0 (h and c are the same zeros)
    after = {a: [b for x, b in edges if x == a] for a in titles}
    for a, b in zip(cells, cells[1:]):
        assert after[a] == [b]
    head = next(n for n, t in titles.items() if t == "head")
    assert after[cells[-1]] == [head]
    inputs = [n for n in titles if n.startswith("in")]
    assert len(inputs) == steps + 1 and titles[inputs[0]] in ("h0", "a") and "h0" in titles.values()
    # boxes: steps + head + inputs + the loss; every op of the loop is inside a step's box
    assert len(titles) == steps + 1 + len(inputs) + 1
    assert dot.count("label=<") < full.count("label=<") / 2
    # each step's box shows what it passes on: its h and c, (2, 4) each
    assert len(re.findall(r"→ \w+ \(2, 4\), \w+ \(2, 4\)", dot)) == steps - 1


def test_collapse_modules_keeps_an_lstm_layer_to_a_few_boxes():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4, num_layers=2, dtype=cr.float64)
            self.head = nn.Linear(4, 1, dtype=cr.float64)

    cr.manual_seed(0)
    net = Net()
    out, _ = net.lstm(cr.randn(5, 2, 3, dtype=cr.float64))
    loss = net.head(out[-1]).sum()
    loss.backward()
    params = list(net.named_parameters())
    full = cr.viz.draw_graph(loss, params=params).source
    dot = cr.viz.draw_graph(loss, params=params, collapse_modules=True).source
    titles, edges = boxes(dot)
    assert sorted(t for t in titles.values() if t in ("lstm", "head")) == ["head", "lstm"]
    # both layers in one box, whose output is h of every step, (T·N, H); the initial states of
    # the fused loop are named h0 and c0, as the zeros PyTorch's LSTM starts from
    assert "weight_ih_l1 (16, 4)" in dot and re.search(r"→ \w+ \(10, 4\)", dot)
    assert {"h0", "c0", "h0_2", "c0_2"} <= set(titles.values())  # layer 2's: h0_2, c0_2
    assert not any(t.startswith("lstm") for t in titles.values() if t != "lstm")
    assert len(titles) <= 10 < full.count("label=<")
