"""Graphs with in-place ops, written once for chainrule and for PyTorch (``m`` is either module):
each builder takes ``x`` (a float64 tensor of shape (3,) that requires grad) and returns a scalar.
``explain``, ``draw_graph`` and ``check_graph`` must see every node's inputs as that node saw them.
"""

from __future__ import annotations

import numpy as np

X = np.array([0.5, -1.0, 2.0])  # y = x * 2 has a negative entry: relu_ changes it


def relu_after_use(m, x):
    y = x * 2
    z = y * 3  # uses y before the change
    y.relu_()
    return (z + y).sum()


def iadd(m, x):
    y = x * 2
    z = y.exp()
    y += 1
    return (z * y).sum()


def view_add_(m, x):
    y = x * 2
    y[1:].add_(1)  # through a view: changes y
    return (y * x).sum()


def index_iadd(m, x):
    y = x * 2
    z = y.exp()
    y[1] += 1  # y[1] read, changed in place, written back
    return (y * z).sum()


def mul_keeps_a_copy(m, x):
    y = x + 1
    z = y + x
    y.mul_(x)  # mul saves its operands: the in-place op keeps a copy of y's old value
    return (y * z).sum()


def stale_view(m, x):
    y = x * 2
    v = y[1:]
    z = v * 3  # v's values change with y below
    y.add_(x)
    return z.sum() + (y * y).sum()


def twice(m, x):
    y = x * 2
    a = y * 1.5
    y.add_(1)
    b = y * 2
    y.mul_(3)
    return (a * b * y).sum()


def long_chain(m, x):
    y = x * 1
    w = y.exp()
    for _ in range(1200):  # more in-place ops than Python's recursion limit
        y.add_(0.001)
    return (y * w).sum()


def sequential_relu_inplace(m, x):
    rng = np.random.default_rng(0)
    net = m.nn.Sequential(m.nn.Linear(3, 4), m.nn.ReLU(inplace=True), m.nn.Linear(4, 2)).double()
    with m.no_grad():
        for p in net.parameters():
            p.copy_(m.tensor(rng.standard_normal(tuple(p.shape))))
    return (net(x) ** 2).sum()


GRAPHS = [relu_after_use, iadd, view_add_, index_iadd, mul_keeps_a_copy, stale_view, twice,
          long_chain, sequential_relu_inplace]
