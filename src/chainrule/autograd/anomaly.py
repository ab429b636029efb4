"""``detect_anomaly``: stop at the first NaN or Inf and name the op and the line that made it."""

from __future__ import annotations

import traceback

import numpy as np

from . import state


class AnomalyError(RuntimeError):
    """A NaN or Inf appeared; the message names the op and where the user's code created it."""


class detect_anomaly:
    """Context manager (and decorator): check every op's output in the forward pass and every
    gradient in the backward pass for NaN/Inf; raise an ``AnomalyError`` naming the op and the
    line of user code that created the node (its forward traceback), as PyTorch's anomaly mode."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        self.prev = state.anomaly
        state.anomaly = self.check_nan
        return self

    def __exit__(self, *exc):
        state.anomaly = self.prev
        return False

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return func(*args, **kwargs)

        return wrapper


def is_anomaly_enabled() -> bool:
    return state.anomaly


def _user_frames(stack):
    """Frames outside chainrule itself: the user's code."""
    pkg = __file__.rsplit("autograd", 1)[0]
    return [f for f in stack if not f.filename.startswith(pkg)]


def _where(frames, depth: int = 3) -> str:
    """The innermost ``depth`` frames of the user's code, outermost first, as a traceback."""
    if not frames:
        return "unknown location"
    lines = []
    for f in frames[-depth:]:
        lines.append(f'  File "{f.filename}", line {f.lineno}, in {f.name}')
        if f.line:
            lines.append(f"    {f.line}")
    return "\n".join(lines)


def _bad(a) -> str | None:
    a = np.asarray(a)
    if a.dtype.kind not in "fc":
        return None
    if np.isnan(a).any():
        return "nan"
    if np.isinf(a).any():
        return "inf"
    return None


def check_forward(cls, out) -> None:
    kind = _bad(out)
    if kind:
        frames = _user_frames(traceback.extract_stack())
        raise AnomalyError(
            f"{cls.op_name()}: the forward pass produced {kind.upper()} "
            f"(output shape {tuple(np.shape(out))}).\nThe op was called at:\n{_where(frames)}"
        )


def remember_stack(ctx) -> None:
    ctx._stack = _user_frames(traceback.extract_stack())


def check_backward(node, grads) -> None:
    for i, g in enumerate(grads):
        if g is None:
            continue
        kind = _bad(g)
        if kind:
            where = _where(node._stack) if node._stack else (
                "unknown location (the node was created outside detect_anomaly())")
            raise AnomalyError(
                f"{type(node).op_name()}: {node.name()} returned {kind.upper()} in its gradient "
                f"for input {i} (shape {tuple(np.shape(g))}).\n"
                f"The forward op that created this node was called at:\n{where}"
            )
