"""Switching graph recording off and on, per thread: ``no_grad``, ``enable_grad``,
``set_grad_enabled``, ``inference_mode``.

As in PyTorch, grad mode belongs to the thread that sets it: a ``no_grad`` block in one thread
does not stop another thread's training from recording its graph. Every op asks "record?", so
the answer must be cheap: ``_State.grad_enabled`` is True while no thread at all has grad mode
off (one class attribute to read); only then does an op need to look at its own thread's mode.
"""

from __future__ import annotations

import functools
import inspect
import threading


class _State:
    """Switches read on every op (class attributes: one lookup, no call). They change rarely:
    writing a class attribute empties Python's lookup caches for the class."""

    grad_enabled = True  # True while no thread has grad mode off (then no thread-local lookup)
    anomaly = False
    retains = False  # has any tensor called retain_grad()? (the engine skips the check until then)
    hooks = False  # has any tensor registered a hook? (likewise)


class _Local(threading.local):
    grad_enabled = True  # this thread's mode
    inference = False  # inside inference_mode


_local = _Local()
_lock = threading.Lock()
_threads_off = 0  # threads whose grad mode is off now


def is_grad_enabled() -> bool:
    return _local.grad_enabled


def _set(mode: bool) -> bool:
    """Set this thread's grad mode; return the previous one."""
    global _threads_off
    prev = _local.grad_enabled
    if prev != mode:
        with _lock:
            _threads_off += -1 if mode else 1
            _State.grad_enabled = _threads_off == 0
        _local.grad_enabled = mode
    return prev


def recording() -> bool:
    """Does an op in this thread record its node (if an input requires grad)?"""
    return _State.grad_enabled or _local.grad_enabled


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
        clone = object.__new__(type(self))
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
        _set(self.prev)
        _local.inference = self.prev_inference
        return False

    def clone(self):
        return type(self)(self.inference)


def is_inference_mode_enabled() -> bool:
    return _local.inference
