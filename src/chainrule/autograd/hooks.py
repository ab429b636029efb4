"""Hooks on tensors: ``register_hook`` and ``register_post_accumulate_grad_hook``, with handles."""

from __future__ import annotations

import itertools

from .grad_mode import _State

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
    _State.hooks = True
    return RemovableHandle(table, key)


def hooks_of(owner):
    """(gradient hooks, post-accumulate hooks) of a leaf tensor or node; None if it has none."""
    hooks = getattr(owner, "_hooks", None)
    if hooks is None or not (hooks[0] or hooks[1]):
        return None
    return hooks


def run_grad_hooks(hooks, grad):
    """Call each gradient hook on ``grad`` in turn; one that returns a value replaces it."""
    for hook in list(hooks.values()):
        out = hook(grad)
        if out is not None:
            grad = out
    return grad
