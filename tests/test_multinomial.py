"""cr.multinomial: PyTorch's shapes, rules and errors; its draws follow the weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr


def test_shapes_dtype_and_without_replacement_each_category_once():
    cr.manual_seed(0)
    w = cr.tensor([[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 1.0, 1.0]])
    out = cr.multinomial(w, 3)
    assert out.shape == torch.multinomial(torch.tensor(w.numpy()), 3).shape == (2, 3)
    assert out.dtype == cr.int64
    assert all(len(set(row)) == 3 for row in out.tolist())
    assert 1 not in out.tolist()[1]  # weight 0: never drawn
    assert cr.tensor([0.0, 1.0]).multinomial(1).tolist() == [1]


def test_draws_follow_the_weights():
    cr.manual_seed(1)
    w = cr.tensor([0.1, 0.6, 0.3])
    counts = np.bincount(cr.multinomial(w, 20000, replacement=True).numpy(), minlength=3)
    np.testing.assert_allclose(counts / 20000, [0.1, 0.6, 0.3], atol=0.015)


@pytest.mark.parametrize("weights, n, replacement", [
    ([0.5, -0.1], 1, True), ([float("nan"), 1.0], 1, True), ([0.0, 0.0], 1, True),
    ([0.5, 0.5], 3, False), ([[[1.0]]], 1, True)])
def test_bad_distributions_are_refused_as_torch_refuses_them(weights, n, replacement):
    with pytest.raises(RuntimeError):
        torch.multinomial(torch.tensor(weights), n, replacement)
    with pytest.raises(RuntimeError, match="multinomial"):
        cr.multinomial(cr.tensor(weights), n, replacement)
