"""Switching graph recording off and on, per thread: ``no_grad``, ``enable_grad``,
``set_grad_enabled``, ``inference_mode``.

As in PyTorch, grad mode belongs to the thread that sets it: a ``no_grad`` block in one thread
does not stop another thread's training from recording its graph. Every op asks "record?", so
the answer must be cheap: ``state.grad_everywhere`` is True while no thread at all has grad mode
off (one global to read); only when it is False does an op look at its own thread's mode.
"""

from __future__ import annotations

import functools
import inspect
import threading

from . import state


class _Local(threading.local):
    grad_enabled = True  # does this thread record? (its grad mode, unless in inference mode)
    mode = True  # its grad mode, as is_grad_enabled() reports it
    inference = False  # inside inference_mode


_local = _Local()
_lock = threading.Lock()
_threads_off = 0  # threads whose grad mode is off now


def is_grad_enabled() -> bool:
    return _local.mode


def _set(mode: bool) -> bool:
    """Set this thread's grad mode; return the previous one. Inside inference_mode nothing is
    recorded whatever the grad mode (enable_grad does not undo inference mode, as in PyTorch)."""
    global _threads_off
    prev = _local.mode
    _local.mode = mode
    records = mode and not _local.inference
    if records != _local.grad_enabled:
        with _lock:
            _threads_off += -1 if records else 1
            state.grad_everywhere = _threads_off == 0
        _local.grad_enabled = records
    return prev


def recording() -> bool:
    """Does an op in this thread record its node (if an input requires grad)?"""
    return state.grad_everywhere or _local.grad_enabled


class _GradMode:
    """A context manager and decorator that sets this thread's grad mode to ``mode`` inside."""

    mode = True

    def __new__(cls, func=None):
        """``@no_grad`` without parentheses decorates ``func`` directly, as in PyTorch 2."""
        self = super().__new__(cls)
        return self(func) if callable(func) else self

    def __init__(self, func=None):
        pass

    def __enter__(self):
        self.prev = _set(self.mode)
        return self

    def __exit__(self, *exc):
        _set(self.prev)
        return False

    def clone(self):
        return type(self)()

    def __call__(self, func):
        """Decorate ``func``: each call (each step, for a generator) runs in this mode."""
        if inspect.isgeneratorfunction(func):
            return _wrap_generator(self, func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.clone():
                return func(*args, **kwargs)

        return wrapper


def _wrap_generator(mode, func):
    """A generator function whose body runs in ``mode`` each time it is resumed, and whose
    caller's mode is back in force each time it yields (as PyTorch's decorators do)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        gen = func(*args, **kwargs)
        try:
            with mode.clone():
                item = gen.send(None)
            while True:
                try:
                    sent = yield item
                except GeneratorExit:
                    with mode.clone():
                        gen.close()
                    raise
                except BaseException as err:
                    with mode.clone():
                        item = gen.throw(err)
                else:
                    with mode.clone():
                        item = gen.send(sent)
        except StopIteration as stop:
            return stop.value

    return wrapper


class no_grad(_GradMode):
    """Record no graph inside: ``with cr.no_grad(): ...`` or ``@cr.no_grad()``."""

    mode = False


class enable_grad(_GradMode):
    """Record the graph again inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_GradMode):
    """Set graph recording to ``mode``: as a context manager, a decorator, or a plain call."""

    def __new__(cls, mode=True):
        return object.__new__(cls)

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self.prev = _set(self.mode)  # like PyTorch, a plain call switches at once

    def __enter__(self):
        return self

    def clone(self):
        """For each call of a decorated function: a context that sets the mode on entry."""
        clone = object.__new__(_GradMode)
        clone.mode = self.mode
        return clone

    def __call__(self, func):
        _set(self.prev)  # used as a decorator: undo the call-time switch
        return super().__call__(func)


class inference_mode(_GradMode):
    """``no_grad`` for code that will never need gradients (PyTorch's ``inference_mode``):
    inside, no graph is recorded. ``inference_mode(False)`` switches it off inside.

    PyTorch also marks the tensors made inside as *inference tensors*, which autograd refuses
    later, because it does not count their in-place changes. chainrule counts the changes of
    every array (``autograd/versions.py``), so its tensors made here are ordinary tensors."""

    def __new__(cls, mode=True):
        if callable(mode):  # @inference_mode without parentheses
            return cls(True)(mode)
        return object.__new__(cls)

    def __init__(self, mode: bool = True):
        self.mode = not mode  # the grad mode inside
        self.inference = bool(mode)

    def __enter__(self):
        self.prev_inference = _local.inference
        _local.inference = self.inference
        self.prev = _set(self.mode)
        return self

    def __exit__(self, *exc):
        _local.inference = self.prev_inference
        _set(self.prev)
        return False

    def clone(self):
        return type(self)(self.inference)


def is_inference_mode_enabled() -> bool:
    return _local.inference
