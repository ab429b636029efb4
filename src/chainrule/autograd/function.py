"""``Function``: one differentiable op, with forward and backward on NumPy arrays.

An instance is both PyTorch's ``ctx`` and the graph node (``tensor.grad_fn``): it keeps the op's
inputs (so the graph can be walked and drawn) and the arrays its backward needs.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..dtypes import _Default
from .grad_mode import _State


class SavedFreedError(RuntimeError):
    """Raised when backward needs saved arrays that an earlier backward released."""


class _Freed:
    """Stands in for ``ctx.saved`` once backward has released it (one shared instance)."""

    __slots__ = ()

    def _fail(self, *_):
        raise SavedFreedError(
            "Trying to backward through the graph a second time (or directly access saved "
            "tensors after they have already been freed). Saved intermediate values of the graph "
            "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if "
            "you need to backward through the graph a second time or if you need to access saved "
            "tensors after calling backward.")

    __iter__ = __getitem__ = __len__ = _fail


FREED = _Freed()


_ONE_INPUT = object()  # apply's marker for "no second input"


class Function:
    """Base class of every op; subclass it to write your own.

    ``forward(ctx, *arrays, **options)`` returns one array; ``backward(ctx, grad_output)`` returns
    one gradient per positional input (``None`` where none is needed), as NumPy arrays.
    """

    # inputs: the positional arguments; needs_input_grad: one bool each (does it need a
    # gradient?); saved: the arrays backward needs; seq: creation order
    __slots__ = ("inputs", "needs_input_grad", "saved", "seq", "__dict__", "__weakref__")
    _retained = None  # weakref to the output tensor, when it called retain_grad()
    torch_promotion = True  # False for ops whose float64 output is asked for (casts)
    _stack = None  # where the user's code created the node (anomaly mode)

    # -- the contract --------------------------------------------------------------------------
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError

    def save_for_backward(self, *arrays) -> None:
        self.saved = arrays

    @property
    def saved_tensors(self):
        return getattr(self, "saved", ())


    # -- the graph -------------------------------------------------------------------------------
    @classmethod
    def op_name(cls) -> str:
        return cls.__dict__.get("op", cls.__name__.lower())

    def name(self) -> str:
        """``MulBackward``: the node's name, as in ``grad_fn=<MulBackward>``."""
        return type(self).__name__ + "Backward"

    @property
    def next_functions(self):
        """The nodes that made this node's inputs (``None`` for leaves and constants)."""
        return tuple(getattr(t, "grad_fn", None) for t in self.inputs)

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    # -- running it ------------------------------------------------------------------------------
    @classmethod
    def apply(cls, a, b=_ONE_INPUT, /, *rest, **kwargs):
        """``forward`` on the inputs' arrays; a node is recorded if any input requires grad.

        Called as ``Op.apply(*inputs, **options)``. Ops of one or two positional inputs, nearly
        all of them, take a path without loops or lists: on small tensors this bookkeeping, not
        NumPy, is most of an op's cost (``python benchmarks/icount.py W4``). ``a`` and ``b`` are
        positional-only, so that options named ``a=`` or ``b=`` reach ``forward``."""
        ctx = _new(cls)
        # Three paths, each recording the node and running forward itself: one dispatch per call
        try:
            if b is _ONE_INPUT and not kwargs:  # one input (then rest is empty too)
                if isinstance(a, Tensor):
                    va = a.data
                    record = a.requires_grad and _State.grad_enabled
                else:
                    va = a
                    record = False
                if record:
                    ctx.inputs = (a,)
                    ctx.needs_input_grad = _NEEDED
                    ctx.seq = _next_seq()  # creation order: a node's consumers always come later
                else:
                    ctx.inputs = ()
                    ctx.needs_input_grad = _NO_GRAD
                out = cls.forward(ctx, va)
            elif not (rest or kwargs):  # two inputs
                if isinstance(a, Tensor):
                    va = a.data
                    ra = a.requires_grad
                else:
                    va = a
                    ra = False
                if isinstance(b, Tensor):
                    vb = b.data
                    rb = b.requires_grad
                else:
                    vb = b
                    rb = False
                record = (ra or rb) and _State.grad_enabled
                if record:
                    ctx.inputs = (a, b)
                    ctx.needs_input_grad = (ra, rb)
                    ctx.seq = _next_seq()
                else:
                    ctx.inputs = ()
                    ctx.needs_input_grad = _NO_GRAD
                out = cls.forward(ctx, va, vb)
            else:
                args = _args(a, b, rest)
                values = _values(args)
                needs = tuple([isinstance(x, Tensor) and x.requires_grad for x in args])
                record = True in needs and _State.grad_enabled
                if record:
                    ctx.inputs = args
                    ctx.needs_input_grad = needs
                    ctx.seq = _next_seq()
                    if kwargs:
                        ctx.kwargs = kwargs  # the op's options, for tools that re-run a node
                else:
                    ctx.inputs = ()
                    ctx.needs_input_grad = _NO_GRAD
                out = cls.forward(ctx, *values, **kwargs)
        except ValueError as err:
            raise _shape_error(cls, _values(_args(a, b, rest)), err) from None
        if type(out) is not _ndarray:
            out = np.asarray(out)
        if out.dtype is _F64 and cls.torch_promotion:  # NumPy upcast where PyTorch would not?
            out = _torch_result(_values(_args(a, b, rest)), out)
        if _State.anomaly:
            _anomaly.check_forward(cls, out)
            if record:
                _anomaly.remember_stack(ctx)
        t = _new(Tensor)  # what _make does, inlined: this runs once per op
        t.data = out
        t.grad = None
        t.grad_fn = ctx if record else None
        t.requires_grad = record
        return t


_new = object.__new__
_next_seq = itertools.count().__next__


_F64 = np.dtype(np.float64)
_ndarray = np.ndarray
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _category(dtype) -> int:
    """bool 0 < integer 1 < float 2 < complex 3: the order of PyTorch's type promotion."""
    return _CATEGORY.get(dtype.kind, 0)


def _torch_result(values, out):
    """``out`` in the dtype PyTorch's type promotion gives, where NumPy's differs: a 0-d tensor or
    a Python number does not upcast a dimensioned tensor of its category (float32 × 0-d float64
    is float32), and an integer input with a float result gets the default float dtype (int
    tensor × 2.5, int / int, sqrt of an int)."""
    arrays = [v for v in values if isinstance(v, np.ndarray)]
    if not arrays:
        return out
    cat = _category
    top = max(cat(a.dtype) for a in arrays)
    dimensioned = [a.dtype for a in arrays if a.ndim and cat(a.dtype) == top]
    chosen = dimensioned or [a.dtype for a in arrays if cat(a.dtype) == top]
    dtype = np.result_type(*chosen)
    if cat(dtype) < cat(out.dtype):  # the float came from a Python float or from the op itself
        dtype = _Default.dtype
    return out if dtype == out.dtype else out.astype(dtype)


class _AllFalse(tuple):
    """``needs_input_grad`` when no graph is recorded: False for every index."""

    def __getitem__(self, i):
        return False


_NO_GRAD = _AllFalse()
_NEEDED = (True,)  # needs_input_grad of a one-input node


def _args(a, b, rest) -> tuple:
    """apply's positional inputs as one tuple."""
    return (a,) + rest if b is _ONE_INPUT else (a, b) + rest


def _values(args) -> list:
    """apply's positional inputs as arrays (Tensors unwrapped) or numbers, as forward gets them."""
    return [x.data if isinstance(x, Tensor) else x for x in args]


def _shape_error(cls, values, err):
    shapes = " with ".join(str(tuple(np.shape(v))) for v in values if isinstance(v, np.ndarray))
    msg = str(err)
    if "broadcast" in msg:
        return RuntimeError(f"{cls.op_name()}: cannot broadcast {shapes}")
    return RuntimeError(f"{cls.op_name()}: {msg} (input shapes {shapes})")


from ..tensor import Tensor  # noqa: E402  (tensor.py imports the ops, which import this)
from . import anomaly as _anomaly  # noqa: E402
