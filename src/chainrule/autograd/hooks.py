"""Hooks on tensors: ``register_hook`` and ``register_post_accumulate_grad_hook``, with handles."""

from __future__ import annotations

import itertools

import numpy as np

from . import state

_ids = itertools.count()


class RemovableHandle:
    """What registering a hook returns: ``handle.remove()`` takes the hook off again (also usable
    as a context manager, as PyTorch's). ``extra_dict``: dicts (or one) whose entry for this
    hook's id goes too (a module hook's ``with_kwargs`` and ``always_call`` flags)."""

    def __init__(self, hooks_dict: dict, key: int | None = None, *, extra_dict=None):
        self._hooks = hooks_dict
        self.id = next(_ids) if key is None else key
        self._extra = (extra_dict,) if isinstance(extra_dict, dict) else tuple(extra_dict or ())

    def remove(self) -> None:
        self._hooks.pop(self.id, None)
        for d in self._extra:
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def register(owner, slot: str, hook, post: bool = False) -> RemovableHandle:
    """Add ``hook`` to ``owner``'s hooks (a leaf tensor or a node), in the order registered.
    ``owner._hooks`` holds two dicts: gradient hooks, and post-accumulate hooks."""
    if not callable(hook):
        raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
    hooks = getattr(owner, slot, None)
    if hooks is None:
        hooks = ({}, {})
        setattr(owner, slot, hooks)
    table = hooks[1 if post else 0]
    key = next(_ids)
    table[key] = hook
    state.hooks = True
    return RemovableHandle(table, key)


def hooks_of(owner):
    """(gradient hooks, post-accumulate hooks) of a leaf tensor or node; None if it has none."""
    hooks = getattr(owner, "_hooks", None)
    if hooks is None or not (hooks[0] or hooks[1]):
        return None
    return hooks


def run_grad_hooks(hooks, grad):
    """Call each gradient hook on ``grad`` in turn; one that returns a value replaces it (a
    tensor of the same shape and dtype, as PyTorch checks)."""
    for hook in list(hooks.values()):
        out = hook(grad)
        if out is not None:
            grad = checked(getattr(hook, "__name__", type(hook).__name__), out, grad)
    return grad


def checked(name: str, out, grad):
    """``out``, which hook ``name`` returned in place of ``grad``, if it has grad's shape and
    dtype."""
    if not hasattr(out, "shape") or not hasattr(out, "dtype"):
        raise TypeError(f"hook '{name}' returned a {type(out).__name__}: a hook returns a "
                        "Tensor (the new gradient) or None")
    if tuple(out.shape) != tuple(grad.shape):
        raise RuntimeError(f"hook '{name}' has changed the size of value: the gradient has "
                           f"shape {tuple(grad.shape)}, the hook returned {tuple(out.shape)}")
    if out.dtype != grad.dtype:
        raise RuntimeError(f"hook '{name}' has changed the type of value (was {grad.dtype} "
                           f"got {out.dtype})")
    return out


def run_post_hooks(hooks, tensor):
    """Call each post-accumulate-grad hook on the tensor, whose .grad is now up to date."""
    for hook in list(hooks.values()):
        if hook(tensor) is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks "
                               "cannot return anything.")


def through_hooks(hooks, g, graph):
    """Run gradient hooks (they take and return Tensors) on ``g`` (an array, or a Tensor)."""
    out = run_grad_hooks(hooks, g if graph else _make(g, None))
    if graph:
        return out if isinstance(out, Tensor) else _make(np.asarray(out), None)
    return out._data if isinstance(out, Tensor) else np.asarray(out)


class _LeafHooks:
    """Leaves with hooks: their gradient is summed until every edge into them has delivered,
    then it goes through their hooks once, into ``.grad``, then to their post-accumulate hooks
    (as PyTorch's AccumulateGrad node)."""

    def __init__(self, roots):
        self.count = {}  # id(leaf) -> edges still to come
        self.grads = {}  # id(leaf) -> (leaf, gradient so far)
        seen = set()
        stack = [t.grad_fn for t in roots if t.grad_fn is not None]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            for t, need in zip(node.inputs, node.needs_input_grad):
                fn = getattr(t, "grad_fn", None)
                if fn is not None:
                    if fn.seq > node.seq:
                        fn = history_at(fn, node.seq)
                    if fn is not None:
                        stack.append(fn)
                elif need and isinstance(t, Tensor) and hooks_of(t) is not None:
                    self.count[id(t)] = self.count.get(id(t), 0) + 1
        for t in roots:
            if t.grad_fn is None and hooks_of(t) is not None:
                self.count[id(t)] = self.count.get(id(t), 0) + 1

    def arrive(self, t, g, node) -> bool:
        """One edge into leaf ``t`` (``g`` None: it brought nothing); False if t has no hooks."""
        key = id(t)
        left = self.count.get(key)
        if left is None:
            return False
        if g is not None:
            seen = self.grads.get(key)
            self.grads[key] = (t, g if seen is None else seen[1] + g)
        self.count[key] = left - 1
        if left == 1:
            self._fire(key)
        return True

    def _fire(self, key):
        del self.count[key]
        item = self.grads.pop(key, None)
        if item is None:
            return
        t, g = item
        pre, post = hooks_of(t) or ({}, {})
        graph = isinstance(g, Tensor)
        if pre:
            g = through_hooks(pre, g, graph)
        _deliver(t, g, True, None, graph, None)
        run_post_hooks(post, t)

    def finish(self):
        for key in list(self.count):
            self._fire(key)



from .engine import _deliver  # noqa: E402
from .inplace import history_at  # noqa: E402
from ..tensor import Tensor, _make  # noqa: E402
