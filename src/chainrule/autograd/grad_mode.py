"""Switching graph recording off and on: ``no_grad``, ``enable_grad``, ``set_grad_enabled``."""

from __future__ import annotations

import functools


class _State:
    """Global switches read on every op (class attributes: one lookup, no call)."""

    grad_enabled = True
    anomaly = False
    retains = False  # has any tensor called retain_grad()? (the engine skips the check until then)


def is_grad_enabled() -> bool:
    return _State.grad_enabled


class _GradMode:
    mode = True

    def __new__(cls, func=None):
        """``@no_grad`` without parentheses decorates ``func`` directly, as in PyTorch 2."""
        self = super().__new__(cls)
        return self(func) if callable(func) else self

    def __init__(self, func=None):
        pass

    def __enter__(self):
        self.prev = _State.grad_enabled
        _State.grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        _State.grad_enabled = self.prev
        return False

    def __call__(self, func):
        mode = self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            prev = _State.grad_enabled
            _State.grad_enabled = mode
            try:
                return func(*args, **kwargs)
            finally:
                _State.grad_enabled = prev

        return wrapper


class no_grad(_GradMode):
    """Record no graph inside: ``with cr.no_grad(): ...`` or ``@cr.no_grad()``."""

    mode = False


class enable_grad(_GradMode):
    """Record the graph again inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_GradMode):
    """Set graph recording to ``mode``: as a context manager, a decorator, or a plain call."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self.prev = _State.grad_enabled
        _State.grad_enabled = self.mode  # like PyTorch, a plain call switches at once

    def __enter__(self):
        return self

    def __call__(self, func):
        _State.grad_enabled = self.prev  # used as a decorator: undo the call-time switch
        return super().__call__(func)
