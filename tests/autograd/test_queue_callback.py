"""engine.queue_callback, PyTorch's Variable._execution_engine.queue_callback: a callback queued
during backward runs once, after the pass has written every .grad."""
from __future__ import annotations

import pytest

import chainrule as cr
from chainrule.autograd.engine import queue_callback

torch = pytest.importorskip("torch")


def run(lib, queue):
    """y = sum(w1 * (w0 * x)); a callback queued from w1's post-accumulate hook records the
    gradients it sees."""
    w0 = lib.tensor([1.0, 2.0], requires_grad=True)
    w1 = lib.tensor([3.0, -1.0], requires_grad=True)
    seen = []

    def at_end():
        seen.append((w0.grad.tolist(), w1.grad.tolist()))

    w1.register_post_accumulate_grad_hook(lambda p: queue(at_end))
    x = lib.tensor([0.5, 4.0])
    (w1 * (w0 * x)).sum().backward()
    return seen


def test_runs_after_every_grad_like_torch():
    ours = run(cr, queue_callback)
    theirs = run(torch, torch.autograd.Variable._execution_engine.queue_callback)
    # w1's hook fires before w0's gradient exists: the callback still sees both
    assert ours == theirs == [([1.5, -4.0], [0.5, 8.0])]


def test_queued_from_a_function_backward_without_hooks():
    calls = []

    class Scale(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad_output):
            queue_callback(lambda: calls.append(w.grad.tolist()))
            return grad_output * 2

    w = cr.tensor([1.0, 3.0], requires_grad=True)
    Scale.apply(w).sum().backward()
    assert calls == [[2.0, 2.0]]
    (w * 1).sum().backward()  # a later pass does not run it again
    assert calls == [[2.0, 2.0]]


def test_failed_pass_drops_its_callbacks():
    calls = []
    w = cr.tensor([1.0], requires_grad=True)

    def hook(g):
        queue_callback(lambda: calls.append("late"))
        raise ValueError("hook failed")

    h = w.register_hook(hook)
    with pytest.raises(ValueError, match="hook failed"):
        (w * 2).sum().backward()
    h.remove()
    (w * 2).sum().backward()
    assert calls == []
    with pytest.raises(TypeError, match="expected a callable"):
        queue_callback(3)
