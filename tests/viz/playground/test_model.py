"""The playground's maths: settings checked with clear messages, the data sets and features, and
SGD steps whose gradients (and the backward pass kept for the page) are PyTorch's."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from chainrule.viz.playground.model import (DATASETS, MAX_UNITS, Config, ConfigError, Session,
                                            features, grid, make_data)


@pytest.mark.parametrize("given, message", [
    ({"hidden": [4, 10000]},
     "hidden layer 2: 10000 units is too many; give 1 to 16 units per layer"),
    ({"hidden": "4, 0"}, "hidden layer 2: 0 units is too few"),
    ({"hidden": "4, two"}, "hidden layer 2: 'two' is not a whole number of units"),
    ({"hidden": "1 1 1 1 1 1 1"}, "hidden: 7 layers is too many; give at most 6"),
    ({"lr": "fast"}, "lr: 'fast' is not a number"),
    ({"lr": ""}, "lr: empty (or not a number); give a number from 1e-05 to 10"),  # as the page
    ({"seed": " "}, "seed: empty (or not a number); give a whole number from 0 to"),  # sends them
    ({"lr": "nan"}, "lr: nan is out of range; give a number from 1e-05 to 10"),
    ({"noise": 3}, "noise: 3 is out of range"),
    ({"dataset": "moons"}, "dataset: 'moons' is not one of circle, xor, gauss, spiral"),
    ({"features": []}, "features: choose at least one input feature"),
    ({"features": ["x3"]}, "features: 'x3' unknown"),
    ({"batch_size": 300, "points": 400, "train_ratio": 0.5},
     "batch_size: 300 is more than the 200 training points; give at most 200"),
    ({"epochs": 3}, "unknown setting 'epochs'"),
    ([1, 2], "the settings must be a JSON object"),
])
def test_bad_settings_say_what_is_wrong(given, message):
    with pytest.raises(ConfigError) as err:
        Config.parse(given)
    assert message in str(err.value)


def test_several_mistakes_are_all_named():
    with pytest.raises(ConfigError) as err:
        Config.parse({"lr": -1, "activation": "swish"})
    assert "lr: -1 is out of range" in str(err.value)
    assert "activation: 'swish' is not one of tanh, relu, sigmoid, linear" in str(err.value)


def test_good_settings_as_the_page_sends_them():
    c = Config.parse({"dataset": "xor", "lr": "0.3", "batch_size": "5", "hidden": "8, 3",
                      "features": ["x1", "x1x2", "x1"], "l2": "0.001"})
    assert (c.dataset, c.lr, c.batch_size, c.hidden, c.l2) == ("xor", 0.3, 5, [8, 3], 0.001)
    assert c.features == ["x1", "x1x2"]
    assert Config.parse({"hidden": ""}).hidden == []  # no hidden layer: logistic regression
    assert Config.parse({"hidden": [MAX_UNITS]}).hidden == [MAX_UNITS]


@pytest.mark.parametrize("name", DATASETS)
def test_data_sets_two_balanced_classes_in_the_plane(name):
    x, y = make_data(name, 300, 0.1, np.random.default_rng(0))
    assert x.shape == (300, 2) and set(np.unique(y)) == {0.0, 1.0}
    assert y.sum() == 150 if name != "xor" else 120 < y.sum() < 180
    assert np.abs(x).max() <= 6
    if name == "circle":  # class 1 inside radius 2.5 (plus noise), class 0 outside 3.5
        r = np.hypot(*x.T)
        assert r[y == 1].mean() < 2 < 4 < r[y == 0].mean()
    if name == "xor":
        clean, labels = make_data(name, 300, 0.0, np.random.default_rng(1))
        assert np.array_equal(labels, (clean[:, 0] * clean[:, 1] > 0).astype(float))


def test_features_and_grid():
    p = np.array([[1.0, -2.0], [0.5, 3.0]])
    f = features(p, ["x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2"])
    expected = [[1, -2, 1, 4, -2, np.sin(1), np.sin(-2)],
                [0.5, 3, 0.25, 9, 1.5, np.sin(0.5), np.sin(3)]]
    assert np.allclose(f, expected)
    g = grid(4)  # centres of a 4 × 4 grid over [-6, 6]², from the top left
    assert np.allclose(g[0], [-4.5, 4.5]) and np.allclose(g[-1], [4.5, -4.5]) and len(g) == 16


def torch_loss(session, idx, weights):
    """The same network and loss in PyTorch, on the weights given (arrays)."""
    c = session.config
    act = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[c.activation]
    params = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
              for W, b in weights]
    h = torch.tensor(session.inputs[idx])
    for k, (W, b) in enumerate(params):
        h = h @ W + b
        if k < len(params) - 1:
            h = act(h)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        h.reshape(-1), torch.tensor(session.labels[idx]))
    loss = loss + c.l2 / 2 * sum((W * W).sum() for W, _ in params)
    loss.backward()
    return loss, params


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_a_step_is_sgd_with_pytorchs_gradients(activation):
    s = Session(Config.parse({"dataset": "spiral", "hidden": "5, 3", "activation": activation,
                              "features": ["x1", "x2", "sinx1"], "l2": 0.01, "lr": 0.2,
                              "batch_size": 7, "seed": 3}))
    s.step(4)
    before = [(W._data.copy(), b._data.copy()) for W, b in s.params]
    s.step()
    idx, kept = s.last
    assert len(idx) == 7 and all(np.array_equal(a, b) for p, q in zip(kept, before)
                                 for a, b in zip(p, q))
    loss, params = torch_loss(s, idx, before)
    for (W, b), (tW, tb), (W0, b0) in zip(s.params, params, before):
        assert np.allclose(W._data, W0 - 0.2 * tW.grad.numpy(), atol=1e-12)
        assert np.allclose(b._data, b0 - 0.2 * tb.grad.numpy(), atol=1e-12)
    shown = s.last_backward()
    assert shown["step"] == 5 and shown["batch"] == [int(i) for i in idx]
    assert np.isclose(shown["loss"], loss.item(), rtol=1e-12)
    for g, (tW, tb) in zip(shown["grads"], params):
        assert np.allclose(g["W"], tW.grad.numpy(), atol=1e-12)
        assert np.allclose(g["b"], tb.grad.numpy(), atol=1e-12)
    text = shown["explanation"]
    assert "L = " in text and "∂L/∂W1 = " in text and "∂L/∂b3 = " in text
    assert shown["steps"] and all(line in text for t in shown["steps"] for line in t.split("\n"))
    line = text.splitlines()[text.splitlines().index("Gradients") + 2]  # W1, b1, ...
    assert line.startswith("  ∂L/∂b1 = [")
    numbers = [float(v) for v in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", line.split("=")[-1])]
    assert np.allclose(numbers, params[0][1].grad.numpy(), atol=1e-4)


def test_training_lowers_the_loss_and_moves_the_boundary():
    s = Session(Config.parse({"dataset": "gauss", "noise": 0.0, "seed": 1}))
    first = s.state(full=True)
    s.step(150)
    after = s.state()
    assert after["step"] == 150 and len(after["history"]["train"]) == 151
    assert after["trainLoss"] < 0.5 * first["trainLoss"]
    assert after["testLoss"] < 0.5 * first["testLoss"]
    assert np.abs(np.array(after["boundary"]) - np.array(first["boundary"])).max() > 0.2
    # the two gaussians at (2, 2) (class 1) and (-2, -2): the boundary says so
    p = np.array(after["boundary"]).reshape(64, 64)
    assert p[10, 53] > 0.9 and p[53, 10] < 0.1  # top right, bottom left
    assert [len(layer) for layer in after["neurons"]] == [2, 4, 2, 1]
    assert len(after["neurons"][1][0]) == 24 * 24
    assert first["points"] and len(first["labels"]) == 400 and len(first["train"]) == 200


def test_explore_page_of_the_last_batch():
    s = Session(Config.parse({"hidden": "3"}))
    assert s.explore_page() is None and s.last_backward() is None
    s.step(2)
    page = s.explore_page()
    assert page.startswith("<!DOCTYPE html>") and "Playground step 2" in page and "W1" in page


# -- found by reading the playground as a learner (review R2) ---------------------------------

DIVERGES = {"dataset": "xor", "hidden": "16 16 16 16 16 16", "activation": "linear", "lr": 10,
            "batch_size": 1, "features": ["x1", "x2", "x1sq", "x2sq", "x1x2"]}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to diverging
def test_a_diverging_step_is_undone_and_named():
    from chainrule.viz.playground.model import Diverged
    s = Session(Config.parse(DIVERGES))
    with pytest.raises(Diverged) as err:
        s.step(200)  # the weights overflow within a few dozen steps
    done = s.step_count
    assert 0 < done < 200
    assert (f"training diverged at step {done + 1}" in str(err.value)
            and "Lower the learning rate (now 10)" in str(err.value))
    assert all(np.isfinite(p._data).all() for pair in s.params for p in pair)
    # what the page is sent is plain JSON: no NaN or Infinity, whatever the network computes
    import json
    json.dumps(s.state(full=True), allow_nan=False)


def test_the_explanation_is_written_as_maths():
    """The batch's explanation holds no reshape (the labels are a column, as the logits) and the
    L2 penalty is Σ W1² + Σ W2², not 0 + Σ W1 · W1 + ..."""
    s = Session(Config.parse({"hidden": "3", "l2": 0.01, "batch_size": 4, "seed": 2}))
    s.step()
    text = s.last_backward()["explanation"]
    assert "view" not in text and "reshape" not in text and "0 + " not in text
    assert re.search(r"= W1²", text) and re.search(r"= W2²", text)
    assert re.search(r"∂L/∂W1 \+?= ∂L/∂\w ⊙ ∂\w/∂W1 = ∂L/∂\w ⊙ 2·W1", text)
    loss, params = torch_loss(s, s.last[0], s.last[1])
    for g, (tW, tb) in zip(s.last_backward()["grads"], params):
        assert np.allclose(g["W"], tW.grad.numpy(), atol=1e-12)
