"""``Tensor``: an array, and the node of the graph that made it."""

from __future__ import annotations

import numpy as np

from .dtypes import _Default
from .device import CPU as _CPU, check_device as _check_device, device as _device_type, \
    to_args as _to_args


class Tensor:
    """A NumPy array that remembers how it was computed (``grad_fn``) so gradients can flow back.

    ``np.asarray(t)`` is the array itself (a ``numpy.ndarray``, shared), ``data`` the same memory
    as a tensor outside the graph, ``grad`` the accumulated gradient (a Tensor), ``requires_grad``
    whether gradients are wanted.
    """

    # _grad: the gradient (the ``grad`` property checks what is assigned); _hooks: the hooks a
    # leaf registered (a non-leaf keeps them on its grad_fn); unset until the first one
    # _past: (grad_fn, when) for a tensor detach_()ed after use (nodes made before still see it)
    __slots__ = ("_data", "_grad", "grad_fn", "requires_grad", "_hooks", "_past", "__weakref__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operator

    def __init__(self, *args, dtype=None, requires_grad: bool = False):
        # cr.Tensor(...) follows torch.Tensor(...): a float tensor of the default dtype, from
        # data (Tensor([1, 2])) or of a shape, uninitialised (Tensor(2, 3), Tensor())
        self._data = _new_data(args, dtype or _Default.dtype, dtype is None)
        self._grad = None
        self.grad_fn = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @property
    def data(self) -> "Tensor":
        """The same values as a new tensor outside the graph, sharing this tensor's memory (as
        PyTorch's ``.data``): ``m.weight.data.normal_(0, 0.02)`` and ``p.data.zero_()`` change
        the tensor itself. ``np.asarray(t)`` gives the NumPy array."""
        return _make(self._data, None)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__} "
                            "(wrap an array with chainrule.from_numpy)")
        self._data = value._data

    @property
    def grad(self):
        """The gradient accumulated by backward (a Tensor of this tensor's shape), or None."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got "
                                f"{type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(f"assigned grad has data of a different size: the tensor has "
                                   f"shape {self._data.shape}, the grad {value._data.shape}")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(f"assigned grad has data of a different type: the tensor is "
                                   f"{self._data.dtype}, the grad {value._data.dtype}")
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None

    # -- autograd ---------------------------------------------------------------------------------

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_: you can only change requires_grad flags of leaf "
                               "variables (use .detach() for a tensor outside the graph)")
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError(f"requires_grad_: only Tensors of floating point dtype can require "
                               f"gradients, got {self._data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            import weakref
            self.grad_fn._retained = weakref.ref(self)
            _state.retains = True

    @property
    def retains_grad(self) -> bool:
        return self.grad_fn is not None and self.grad_fn._retained is not None

    def register_hook(self, hook):
        """Call ``hook(grad)`` each time the gradient of this tensor is computed; if it returns a
        Tensor, that replaces the gradient (for the rest of the backward pass, and in ``.grad``).
        Returns a handle whose ``remove()`` takes the hook off again."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't "
                               "require gradient")
        from .autograd.hooks import register
        if self.grad_fn is not None:
            return register(self.grad_fn, "_hooks", hook)
        return register(self, "_hooks", hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` on this leaf after backward has accumulated its ``.grad``."""
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a "
                               "tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks "
                               "cannot be registered on non-leaf tensors")
        from .autograd.hooks import register
        return register(self, "_hooks", hook, post=True)

    @property
    def _version(self) -> int:
        """How many times this tensor's memory has been changed in place (shared with views and
        with ``detach()``)."""
        return _versions.version(self._data)

    def detach(self) -> "Tensor":
        """The same array, outside the graph."""
        return _make(self._data, None)

    def detach_(self) -> "Tensor":
        """Make this tensor a leaf outside the graph; ops that used it keep its history."""
        fn = self.grad_fn
        if fn is not None:
            if fn.view:
                raise RuntimeError("detach_: Can't detach views in-place. Use detach() instead.")
            self._past = (fn, _next_seq())
            _state.detached = True
        self.grad_fn = None
        self.requires_grad = False
        return self

    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``, by the chain rule."""
        _backward(self, gradient, retain_graph, create_graph, inputs)

    # -- array access --------------------------------------------------------------------------

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def size(self, dim: int | None = None):
        return self._data.shape if dim is None else self._data.shape[dim]

    def numel(self) -> int:
        return self._data.size

    @property
    def device(self) -> _device_type:
        """``device(type='cpu')``: chainrule computes on the CPU only (equal to "cpu")."""
        return _CPU

    is_cuda = False
    is_cpu = True

    def get_device(self) -> int:
        return -1  # PyTorch's answer for a CPU tensor

    def numpy(self) -> np.ndarray:
        """The array itself (shares memory)."""
        if self.requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._data

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"item: a Tensor with {self._data.size} elements cannot be converted "
                               "to a Python scalar")
        return self._data.item()

    def tolist(self):
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        """NumPy's protocol: ``np.asarray(t)`` shares the memory, ``np.array(t)`` copies."""
        if copy is False and dtype is not None and np.dtype(dtype) != self._data.dtype:
            raise ValueError(f"Unable to avoid copy while creating an array as requested: the "
                             f"tensor is {self._data.dtype}, not {np.dtype(dtype)}")
        if dtype is None:
            return self._data.copy() if copy else self._data
        return self._data.astype(dtype, copy=bool(copy))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy's ufuncs on Tensors (``np.exp(t)``, ``array * t``) run chainrule's ops, so that
        a backward formula written with NumPy is also recorded when it gets Tensors."""
        return _dispatch.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _dispatch.array_function(func, args, kwargs)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self._data.size} values is ambiguous")
        return bool(self._data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        return self._data.__index__()

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return _format(self)

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"``: a 0-d tensor formats as its number, as in PyTorch; other tensors
        take only the empty format (``f"{t}"``, their repr)."""
        if self._data.ndim == 0:
            return format(self._data.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string passed to Tensor.__format__: {spec!r} on "
                            f"a tensor of shape {self._data.shape} (format a 0-d tensor, e.g. "
                            f"t.sum() or t[0], or t.item())")
        return repr(self)

    # -- dtype -----------------------------------------------------------------------------------

    def to(self, *args, **kwargs) -> "Tensor":
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``, with ``copy=``;
        differentiable. The device must be the CPU ("cpu" or ``cr.device("cpu")``)."""
        if len(args) == 1 and not kwargs and isinstance(args[0], np.dtype):
            dtype, copy = args[0], False  # .float(), .double(), ...
        else:
            dtype, copy = _to_args("to", args, kwargs, Tensor)
        if dtype is None or np.dtype(dtype) == self._data.dtype:
            return Clone.apply(self) if copy else self
        dtype = np.dtype(dtype)
        if dtype.kind not in "fc":  # an integer or bool result has no gradient, as in PyTorch
            return _make(self._data.astype(dtype), None)
        return Cast.apply(self, dtype=dtype)

    def type(self, dtype=None):
        return str(self._data.dtype) if dtype is None else self.to(dtype)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def half(self):
        return self.to(np.float16)

    def long(self):
        return self.to(np.int64)

    def int(self):
        return self.to(np.int32)

    def bool(self):
        return self.to(np.bool_)

    def cpu(self):
        return self

    def cuda(self, device=None, non_blocking: bool = False):
        _check_device("cuda", "cuda")

    def clone(self) -> "Tensor":
        return Clone.apply(self)

    def contiguous(self) -> "Tensor":
        """Itself if its memory is in C order, else a copy that is (recorded, like clone)."""
        return self if self._data.flags.c_contiguous else Clone.apply(self)

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    # -- arithmetic: each operator is one op of ops/elementwise.py -----------------------------

    def __add__(self, other):
        return Add.apply(self, other if type(other) in _PLAIN else _operand(other))

    def __radd__(self, other):
        return Add.apply(other if type(other) in _PLAIN else _operand(other), self)

    def __sub__(self, other):
        return Sub.apply(self, other if type(other) in _PLAIN else _operand(other))

    def __rsub__(self, other):
        return Sub.apply(other if type(other) in _PLAIN else _operand(other), self)

    def __mul__(self, other):
        return Mul.apply(self, other if type(other) in _PLAIN else _operand(other))

    def __rmul__(self, other):
        return Mul.apply(other if type(other) in _PLAIN else _operand(other), self)

    def __truediv__(self, other):
        return Div.apply(self, other if type(other) in _PLAIN else _operand(other))

    def __rtruediv__(self, other):
        return Div.apply(other if type(other) in _PLAIN else _operand(other), self)

    def __pow__(self, other):
        return Pow.apply(self, other if type(other) in _PLAIN else _operand(other))

    def __rpow__(self, other):
        return Pow.apply(other if type(other) in _PLAIN else _operand(other), self)

    def __matmul__(self, other):
        return MatMul.apply(self, other if isinstance(other, Tensor) else _as_tensor(other))

    def __rmatmul__(self, other):
        return MatMul.apply(_as_tensor(other), self)

    def __neg__(self):
        return Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return Abs.apply(self)

    def __iadd__(self, other):  # x += y changes x in place, as in PyTorch
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __floordiv__(self, other):  # integer-valued: no gradient, as PyTorch's floor_divide
        return _make(_floor_divide(self._data, _raw(other)), None)

    def __rfloordiv__(self, other):
        return _make(_floor_divide(_raw(other), self._data), None)

    def __mod__(self, other):
        return Remainder.apply(self, other if type(other) in _PLAIN else _operand(other))

    def __rmod__(self, other):
        return Remainder.apply(other if type(other) in _PLAIN else _operand(other), self)

    def __invert__(self):
        return _make(~self._data, None)

    def __and__(self, other):
        return _make(self._data & _raw(other), None)

    def __or__(self, other):
        return _make(self._data | _raw(other), None)

    def __xor__(self, other):
        return _make(self._data ^ _raw(other), None)

    # comparisons give bool tensors outside the graph
    def __lt__(self, other):
        return _compare(np.less, "lt", self, other)

    def __le__(self, other):
        return _compare(np.less_equal, "le", self, other)

    def __gt__(self, other):
        return _compare(np.greater, "gt", self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, "ge", self, other)

    def __eq__(self, other):
        return _compare(np.equal, "eq", self, other)

    def __ne__(self, other):
        return _compare(np.not_equal, "ne", self, other)

    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__

    def equal(self, other) -> bool:
        return self.shape == other.shape and bool(np.array_equal(self._data, _raw(other)))

    def allclose(self, other, rtol=1e-5, atol=1e-8) -> bool:
        return bool(np.allclose(self._data, _raw(other), rtol=rtol, atol=atol))

    # -- in-place ops -----------------------------------------------------------------------------
    # Outside a graph, each changes the array and counts a new version of its memory (a node that
    # saved the old values then refuses to run backward on the new ones). Inside a graph (self or
    # the value requires grad, and grad mode is on), each records a node, as PyTorch: the op is
    # computed out of place, written into the memory, and the node becomes this tensor's grad_fn.

    def _in_graph(self, op: str, *others) -> bool:
        """Does this in-place op record a node? (Raises for a leaf that requires grad.)"""
        if not recording():
            return False
        if self.requires_grad:
            if self.grad_fn is None:
                raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in "
                                   "an in-place operation.")
            return True
        return any(isinstance(o, Tensor) and o.requires_grad for o in others)

    def _changed(self):
        _versions.bump(self._data)
        return self

    def add_(self, other, alpha=1):
        if self._in_graph("add_", other):
            return _inplace.rebase(self, "add_", add, other, alpha)
        other = _raw(other)
        self._data += other if alpha == 1 else alpha * other
        return self._changed()

    def sub_(self, other, alpha=1):
        return self.add_(other, alpha=-alpha)

    def mul_(self, other):
        if self._in_graph("mul_", other):
            return _inplace.rebase(self, "mul_", mul, other)
        self._data *= _raw(other)
        return self._changed()

    def div_(self, other):
        if self._in_graph("div_", other):
            return _inplace.rebase(self, "div_", div, other)
        self._data /= _raw(other)
        return self._changed()

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        if self._in_graph("fill_", value):
            return _inplace.rebase(self, "fill_", _index_put, _operand(value), ...)
        self._data[...] = _raw(value)
        return self._changed()

    def copy_(self, src):
        if self._in_graph("copy_", src):
            return _inplace.rebase(self, "copy_", _index_put, _operand(src), ...)
        src = _raw(src)
        try:
            np.copyto(self._data, np.broadcast_to(src, self._data.shape), casting="unsafe")
        except ValueError:
            raise RuntimeError(f"copy_: cannot copy a tensor of shape {np.shape(src)} into one of "
                               f"shape {self._data.shape}") from None
        return self._changed()

    def clamp_(self, min=None, max=None):
        if self._in_graph("clamp_", min, max):
            return _inplace.rebase(self, "clamp_", clamp, min, max)
        np.clip(self._data, _raw(min), _raw(max), out=self._data)
        return self._changed()

    clip_ = clamp_

    def uniform_(self, a=0.0, b=1.0, generator=None):
        from .random import _rng
        return self.copy_(_rng(generator).uniform(a, b, self._data.shape))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        from .random import _rng
        return self.copy_(_rng(generator).normal(mean, std, self._data.shape))

    def __setitem__(self, index, value):
        index = _index(index)
        if self._in_graph("__setitem__", value):
            return _inplace.rebase(self, "__setitem__", _index_put, _operand(value), index)
        try:
            self._data[index] = _raw(value)
        except (ValueError, IndexError) as err:
            raise type(err)(f"__setitem__: {err} (tensor shape {self._data.shape}, value shape "
                            f"{np.shape(_raw(value))})") from None
        self._changed()

    def __getitem__(self, index):
        return GetItem.apply(self, index=_index(index))


def _make(data, grad_fn) -> Tensor:
    """Wrap an op's output array without copying (internal fast path)."""
    if type(data) is not np.ndarray:
        data = np.asarray(data)
    t = _new(Tensor)
    t._data = data
    t._grad = None
    t.grad_fn = grad_fn
    t.requires_grad = grad_fn is not None
    return t


_new = object.__new__
_PLAIN = frozenset((Tensor, int, float))  # operands used as they are (exact types, no subclasses)


def _index_put(x, value, index):
    return IndexPut.apply(x, value, index=index)


def _floor_divide(a, b):
    """a // b; integer division by zero raises, as PyTorch (NumPy would give 0 and a warning)."""
    if _integral(a) and _integral(b) and not np.all(b):
        raise _ZeroDivision("floor_divide: ZeroDivisionError (integer division by zero)")
    return np.floor_divide(a, b)


def _raw(x):
    """The array or number inside ``x``."""
    return x._data if isinstance(x, Tensor) else x


def _operand(x):
    """Leave Tensors and Python numbers as they are (a Python float keeps a float32 tensor float32,
    as in PyTorch); NumPy scalars become Python numbers for the same reason."""
    if isinstance(x, np.generic):  # before the float check: np.float64 is a float subclass
        return x.item()
    if isinstance(x, (Tensor, int, float)):
        return x
    return _as_tensor(x)


def _as_tensor(x) -> Tensor:
    if isinstance(x, Tensor):
        return x
    from .creation import tensor
    return tensor(x)


def _index(index):
    """Tensors inside an index become arrays."""
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _compare(ufunc, name, a, b):
    try:
        return _make(ufunc(a._data, _raw(b)), None)
    except ValueError:
        raise RuntimeError(f"{name}: cannot broadcast {a._data.shape} with {np.shape(_raw(b))}") from None
    except TypeError:
        return NotImplemented  # as PyTorch: the other operand may compare (pytest.approx does)


def _format(t: Tensor) -> str:
    from ._tensor_str import tensor_repr  # PyTorch's layout (_tensor_str.py)
    return tensor_repr(t)


def _new_data(args, dtype, keep) -> np.ndarray:
    """``Tensor(*args)``'s array, as ``torch.Tensor``: sizes (``Tensor(2, 3)``) give an
    uninitialised array, data (a sequence, an array) a copy in ``dtype``, a Tensor its own array
    (unless ``keep`` is False: a dtype was asked for); ``Tensor()`` is empty."""
    if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
        (data,) = args
        if isinstance(data, Tensor):
            return data._data if keep else data._data.astype(dtype)
        if not isinstance(data, np.ndarray) and (isinstance(data, (float, np.generic))
                                                 or np.ndim(data) == 0):
            raise TypeError(f"Tensor(): data must be a sequence (got {type(data).__name__}); "
                            "for a 0-d tensor use chainrule.tensor(value)")
        return np.array(data, dtype=dtype)
    sizes = args
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in sizes):
        raise TypeError(f"Tensor(): expected sizes (ints) or one sequence of data, got "
                        f"{', '.join(type(s).__name__ for s in sizes)}")
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"Tensor(): trying to create tensor with negative dimension: "
                           f"{list(sizes)}")
    return np.empty(sizes if sizes else (0,), dtype)


from .autograd import state as _state  # noqa: E402
from .autograd.function import _next_seq  # noqa: E402
from .autograd.grad_mode import recording  # noqa: E402
from .autograd import versions as _versions  # noqa: E402
from .autograd import inplace as _inplace  # noqa: E402
from . import _dispatch  # noqa: E402
from .ops.elementwise import Abs, Add, Div, Mul, Neg, Pow, Remainder, Sub  # noqa: E402
from .ops.linalg import MatMul  # noqa: E402
from .ops.shape import Cast, Clone, GetItem, IndexPut  # noqa: E402
from .ops.elementwise import _ZeroDivision, _integral, add, clamp, div, mul  # noqa: E402
from .autograd.engine import backward as _backward  # noqa: E402
from . import _methods  # noqa: E402,F401  (the remaining Tensor methods, which call the ops)
