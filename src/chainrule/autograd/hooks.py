"""Hooks on tensors: ``register_hook`` and ``register_post_accumulate_grad_hook``, with handles."""

from __future__ import annotations

import itertools

from . import state

_ids = itertools.count()


class RemovableHandle:
    """What registering a hook returns: ``handle.remove()`` takes the hook off again (also usable
    as a context manager, as PyTorch's)."""

    def __init__(self, hooks: dict, key: int):
        self._hooks, self.id = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

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
        if out is None:
            continue
        name = getattr(hook, "__name__", type(hook).__name__)
        if not hasattr(out, "shape") or not hasattr(out, "dtype"):
            raise TypeError(f"hook '{name}' returned a {type(out).__name__}: a hook returns a "
                            "Tensor (the new gradient) or None")
        if tuple(out.shape) != tuple(grad.shape):
            raise RuntimeError(f"hook '{name}' has changed the size of value: the gradient has "
                               f"shape {tuple(grad.shape)}, the hook returned {tuple(out.shape)}")
        if out.dtype != grad.dtype:
            raise RuntimeError(f"hook '{name}' has changed the type of value (was {grad.dtype} "
                               f"got {out.dtype})")
        grad = out
    return grad


def run_post_hooks(hooks, tensor):
    """Call each post-accumulate-grad hook on the tensor, whose .grad is now up to date."""
    for hook in list(hooks.values()):
        if hook(tensor) is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks "
                               "cannot return anything.")
