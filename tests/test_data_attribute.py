"""``Tensor.data``: the same memory as a tensor outside the graph, as PyTorch's, so the ``.data``
habits of PyTorch code run unchanged and give torch's numbers."""

import numpy as np
import pytest
import torch

import chainrule as cr


def twins(seed=0):
    """A chainrule Linear(3, 2) and a torch one with the same weights, and a batch."""
    rng = np.random.default_rng(seed)
    w, b, x = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal((4, 3))
    ours, theirs = cr.nn.Linear(3, 2).double(), torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    ours.weight.data.copy_(cr.tensor(w))
    ours.bias.data.copy_(cr.tensor(b))
    return ours, theirs, x


def test_data_is_a_tensor_outside_the_graph_sharing_the_memory():
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0, 3.0]))
    d = p.data
    assert type(d) is cr.Tensor and not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.asarray(d) is np.asarray(p)  # the same array, not a copy
    assert p.data is not d  # a new tensor each time, as PyTorch's
    y = (p * 2).sum()
    assert y.data.item() == 12.0 and y.data.grad_fn is None and y.grad_fn is not None


def test_in_place_habits_change_the_parameter_as_in_torch():
    ours, theirs, _ = twins()
    for m in (ours, theirs):
        m.bias.data.zero_()
        m.weight.data.mul_(3).add_(0.5)
        m.weight.data.clamp_(-1.0, 2.0)
        m.bias.data.fill_(0.25)
        m.bias.data.sub_(m.weight.data[:, 0])
    np.testing.assert_array_equal(np.asarray(ours.weight), theirs.weight.detach().numpy())
    np.testing.assert_array_equal(np.asarray(ours.bias), theirs.bias.detach().numpy())
    assert ours.weight.requires_grad and ours.weight.is_leaf


def test_normal_and_init_through_data_fill_the_weight_in_place():
    cr.manual_seed(0)
    m = cr.nn.Linear(300, 200)
    before = np.asarray(m.weight)
    m.weight.data.normal_(0, 0.02)
    assert np.asarray(m.weight) is before  # written into the parameter's own memory
    assert abs(float(m.weight.std()) - 0.02) < 5e-4 and abs(float(m.weight.mean())) < 5e-4
    cr.nn.init.xavier_uniform_(m.weight.data)
    bound = np.sqrt(6 / (300 + 200))
    w = np.asarray(m.weight)
    assert w is before and w.max() <= bound and w.max() > 0.95 * bound  # uniform(-b, b) now


def test_hand_written_sgd_through_data_follows_torchs_trajectory():
    ours, theirs, x = twins(1)
    target = np.linspace(-1, 1, 8).reshape(4, 2)
    for step in range(5):
        for m, lib in ((ours, cr), (theirs, torch)):
            loss = ((m(lib.tensor(x)) - lib.tensor(target)) ** 2).mean()
            for p in m.parameters():
                p.grad = None
            loss.backward()
            for p in m.parameters():
                p.data.add_(p.grad, alpha=-0.1)  # the first tutorials' update
            if step == 4:
                m.weight.data -= 0.1 * m.weight.grad.data  # and its augmented form
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(np.asarray(p), q.detach().numpy(), rtol=1e-13, atol=1e-13)


def test_assigning_data_replaces_the_values_and_keeps_the_parameter():
    p = cr.nn.Parameter(cr.zeros(3))
    p.data = cr.tensor([1.0, 2.0])  # another shape, as PyTorch allows
    assert p.shape == (2,) and p.tolist() == [1.0, 2.0] and p.requires_grad and p.is_leaf
    p.data = p.data * 2
    assert p.tolist() == [2.0, 4.0]
    with pytest.raises(TypeError, match="data has to be a tensor, but got list"):
        p.data = [1.0, 2.0]


def test_a_change_through_data_before_backward_is_caught_not_silently_used():
    """PyTorch does not count changes made through ``.data``, so its backward then uses the new
    values (d(x·x)/dx = 2·2 below, where 2·1 is right). chainrule counts them and raises."""
    xt = torch.ones(3, requires_grad=True)
    yt = (xt * xt).sum()
    xt.data.add_(1)
    yt.backward()
    assert xt.grad.tolist() == [4.0, 4.0, 4.0]  # torch: silently from the changed values

    x = cr.ones(3, requires_grad=True)
    y = (x * x).sum()
    x.data.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
