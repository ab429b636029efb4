"""``Function``: one differentiable op, with its forward and its backward side by side.

An instance is both PyTorch's ``ctx`` and the graph node (``tensor.grad_fn``): it keeps the op's
inputs (so the graph can be walked and drawn) and what its backward needs.

One formula serves every order of derivative. A backward is written once, in operations that
NumPy arrays and Tensors both understand (``*``, ``@``, ``np.exp``, ``np.where``, ``.sum(axis=)``;
a Tensor takes NumPy's functions through NumPy's own dispatch protocols). An ordinary backward
pass hands it arrays: it computes plain NumPy and records nothing. ``create_graph=True`` hands it
Tensors (the gradient, and the op's saved inputs and output as the graph's own tensors): the very
same lines then record the backward pass as a graph, which can be differentiated again.
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np

from ..dtypes import _Default
from . import state
from .grad_mode import _local, no_grad, recording


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
    """Base class of every op; subclass it to write your own, as in PyTorch::

        class Exp(cr.autograd.Function):
            @staticmethod
            def forward(ctx, i):
                result = i.exp()
                ctx.save_for_backward(result)
                return result

            @staticmethod
            def backward(ctx, grad_output):
                (result,) = ctx.saved_tensors
                return grad_output * result

        y = Exp.apply(x)

    ``forward(ctx, *inputs, **options)`` returns one tensor; ``backward(ctx, grad_output)``
    returns one gradient per positional input (``None`` where none is needed). A Function of
    yours gets and returns Tensors; forward runs with grad mode off, as in PyTorch. Save what
    backward needs with ``ctx.save_for_backward`` (the inputs, or the output): written with
    tensor ops, the backward then also gives gradients of gradients.

    chainrule's own ops (the classes in its modules) work on NumPy arrays inside, for speed:
    forward gets arrays and keeps in ``ctx.saved`` only its inputs' and its output's arrays
    (other values go in attributes of ``ctx``); backward is written in operations that arrays
    and Tensors share, so that ``create_graph=True`` can run it on Tensors. A fused op whose
    backward needs more than that (batch norm, cross-entropy, convolution) names in ``composite``
    the same function built from primitive ops: ``create_graph=True`` differentiates that.
    """

    # inputs: the positional arguments; needs_input_grad: one bool each (does it need a
    # gradient?); saved: what backward needs; seq: creation order
    __slots__ = ("inputs", "needs_input_grad", "saved", "seq", "__dict__", "__weakref__")
    _retained = None  # weakref to the output tensor, when it called retain_grad()
    _hooks = None  # hooks registered on the output tensor (Tensor.register_hook)
    torch_promotion = True  # False for ops whose float64 output is asked for (casts)
    _stack = None  # where the user's code created the node (anomaly mode)
    tensors = True  # forward and backward get Tensors (False for chainrule's own ops: arrays)
    composite = None  # a fused op: the same function in primitive ops, for create_graph=True
    inplace = False  # True for a node that took the place of a tensor's earlier grad_fn (an
    replaced = None  # in-place op's, or a view's fresh history): ``replaced`` is that one
    view = False  # its output shares its input's memory (a view: reshape, transpose, basic x[i])
    # for each array in ``saved``, the input whose gradient needs it (None: any), as PyTorch
    # saves an operand only for a gradient that needs it: a saved array no gradient of this node
    # needs may change in place without an error (backward does not read it)
    needed_by = None
    once_differentiable = False  # its backward cannot itself be differentiated (the decorator)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "tensors" not in cls.__dict__ and cls.__module__.startswith("chainrule."):
            cls.tensors = False
        if cls.tensors and "apply" not in cls.__dict__:
            cls.apply = classmethod(_apply_tensors)
        cls.once_differentiable = getattr(cls.backward, "once_differentiable", False)

    # -- the contract --------------------------------------------------------------------------

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError

    @staticmethod
    def setup_context(ctx, inputs, output):
        """PyTorch 2's other style: a ``forward(*inputs)`` without ctx, and this to save what
        backward needs. (Left as is, forward gets ctx.)"""

    def save_for_backward(self, *tensors) -> None:
        self.saved = tensors

    @property
    def saved_tensors(self):
        saved = getattr(self, "saved", ())
        if saved is FREED:
            FREED._fail()
        return saved

    def mark_non_differentiable(self, *tensors) -> None:
        """Mark the output (if among ``tensors``) as getting no gradient (an index, a mask)."""
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for PyTorch's API: backward always gets a gradient tensor here."""

    @classmethod
    def call(cls, *args, **kwargs):
        """Run this op inside another op's backward: on arrays, its forward alone (an array,
        no node, no Tensor); on Tensors, ``apply`` (a node, when the backward is recorded).
        Backward formulas use it for ops that are each other's adjoints (``x[i]`` and adding into
        a slot, unfold and fold), so that the formula serves every order."""
        for a in args:
            if isinstance(a, Tensor):
                return cls.apply(*args, **kwargs)
        ctx = _new(cls)
        ctx.inputs = ()
        ctx.needs_input_grad = _NO_GRAD
        return cls.forward(ctx, *args, **kwargs)


    # -- the graph -------------------------------------------------------------------------------

    @classmethod
    def op_name(cls) -> str:
        return cls.__dict__.get("op", cls.__name__.lower())

    def name(self) -> str:
        """``MulBackward``: the node's name, as in ``grad_fn=<MulBackward>``."""
        return type(self).__name__ + "Backward"

    @property
    def next_functions(self):
        """PyTorch's pairs ``((node, 0), ...)``, one per tensor input: the node that made it, an
        ``AccumulateGrad`` for a leaf that requires grad, ``None`` for a tensor that needs no
        gradient (and for the Python number of ``x * 2``, as PyTorch shows it). Walk the graph
        with ``grad_fn.next_functions[0][0]``; the inputs themselves are in ``inputs``."""
        pairs = [(_next_node(t), 0) for t in self.inputs if isinstance(t, Tensor)]
        if self.number_operand and len(self.inputs) == 2:
            a, b = self.inputs
            if type(b) in (int, float) or (self.number_operand == "any" and type(a) in (int, float)):
                pairs.append((None, 0))
        return tuple(pairs)

    # "any": a Python number operand shows as (None, 0) after the tensor (PyTorch turns it into
    # a tensor: add, mul); "second": only as the second operand (sub, div; 1 - x is rsub there)
    number_operand = None

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    # -- running it ------------------------------------------------------------------------------

    @classmethod
    def apply(cls, a, b=_ONE_INPUT, /, *rest, **kwargs):
        """``forward`` on the inputs' arrays; a node is recorded if any input requires grad.

        Called as ``Op.apply(*inputs, **options)``. Ops of one or two positional inputs, nearly
        all of them, take a path without loops or lists: on small tensors this bookkeeping, not
        NumPy, is most of an op's cost. ``a`` and ``b`` are positional-only, so that options
        named ``a=`` or ``b=`` reach ``forward``."""
        ctx = _new(cls)
        # Three paths, each recording the node and running forward itself: one dispatch per call
        try:
            if b is _ONE_INPUT and not kwargs:  # one input (then rest is empty too)
                if isinstance(a, Tensor):
                    va = a._data
                    record = a.requires_grad and (state.grad_everywhere or _local.grad_enabled)
                else:
                    va = a
                    record = False
                if record:
                    if state.rebased:
                        _fresh((a,))
                    ctx.inputs = (a,)
                    ctx.needs_input_grad = _NEEDED
                    ctx.seq = _next_seq()  # creation order: a node's consumers always come later
                else:
                    ctx.inputs = ()
                    ctx.needs_input_grad = _NO_GRAD
                out = cls.forward(ctx, va)
            elif not (rest or kwargs):  # two inputs
                if isinstance(a, Tensor):
                    va = a._data
                    ra = a.requires_grad
                else:
                    va = a
                    ra = False
                if isinstance(b, Tensor):
                    vb = b._data
                    rb = b.requires_grad
                else:
                    vb = b
                    rb = False
                record = (ra or rb) and (state.grad_everywhere or _local.grad_enabled)
                if record:
                    if state.rebased:
                        _fresh((a, b))
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
                record = True in needs and (state.grad_everywhere or _local.grad_enabled)
                if record:
                    if state.rebased:
                        _fresh(args)
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
        if type(out) is not _ndarray or (out.dtype is _F64 and cls.torch_promotion):
            out = _converted(cls, ctx, out, a, b, rest, record)
        if state.anomaly:
            _anomaly.check_forward(cls, out)
            if record:
                _anomaly.remember_stack(ctx)
        t = _new(Tensor)  # what _make does, inlined: this runs once per op
        t._data = out
        t._grad = None
        t.grad_fn = ctx if record else None
        t.requires_grad = record
        return t


class AccumulateGrad:
    """What ``next_functions`` shows for a leaf that requires grad, as PyTorch: the place where
    backward accumulates into ``variable.grad`` (chainrule's engine does that itself; this node
    is only for looking at the graph). The same leaf gives the same object while it is held."""

    __slots__ = ("variable", "__weakref__")
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


_accumulators = weakref.WeakValueDictionary()  # id(leaf) -> its AccumulateGrad, while held


def _next_node(t):
    """The node a gradient flows into from here: t's grad_fn, an AccumulateGrad for a leaf that
    requires grad, None for a tensor that needs none."""
    if t.grad_fn is not None or not t.requires_grad:
        return t.grad_fn
    node = _accumulators.get(id(t))
    if node is None or node.variable is not t:
        node = _accumulators[id(t)] = AccumulateGrad(t)
    return node


def _fresh(inputs):
    """Stale views among an op's inputs get a fresh history (autograd/inplace.py)."""
    for t in inputs:
        if isinstance(t, Tensor) and t.grad_fn is not None and t.grad_fn.view:
            _inplace.fresh(t)


def _converted(cls, ctx, out, a, b, rest, record):
    """``out`` as an array of the dtype PyTorch's promotion gives; if ``forward`` saved the
    array it returned, the node saves the converted one, which is the output tensor's."""
    new = np.asarray(out)
    if new.dtype is _F64 and cls.torch_promotion:  # NumPy upcast where PyTorch would not?
        new = _torch_result(_values(_args(a, b, rest)), new)
    if record and new is not out:
        saved = getattr(ctx, "saved", ())
        if any(s is out for s in saved):
            ctx.saved = tuple(new if s is out else s for s in saved)
    return new


def _apply_tensors(cls, *args, **kwargs):
    """``apply`` of a Function written with Tensors (yours): forward gets the input tensors and
    runs with grad mode off; a node is recorded if any input requires grad."""
    ctx = _new(cls)
    needs = tuple(isinstance(x, Tensor) and x.requires_grad for x in args)
    record = True in needs and recording()
    ctx.inputs = args if record else ()
    ctx.needs_input_grad = needs
    ctx.saved = ()
    if record:
        ctx.seq = _next_seq()
        # what an ordinary backward pass calls (node.backward): the class's backward, with
        # arrays wrapped as Tensors and back; create_graph calls type(node).backward itself
        ctx.backward = backward_arrays
        if kwargs:
            ctx.kwargs = kwargs
    with no_grad():
        if cls.setup_context is Function.setup_context:
            out = cls.forward(ctx, *args, **kwargs)
        else:  # PyTorch 2's style: forward without ctx, then setup_context(ctx, inputs, output)
            out = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, out)
    if isinstance(out, (tuple, list)):
        raise RuntimeError(f"{cls.__name__}.forward returned {len(out)} outputs; a chainrule "
                           "Function returns one tensor (return the outputs as separate "
                           "Functions, or stack them into one tensor)")
    data = out._data if isinstance(out, Tensor) else np.asarray(out)
    if record and any(m is out or getattr(m, "_data", m) is data
                      for m in ctx.__dict__.get("_non_differentiable", ())):
        record = False
    t = _new(Tensor)
    t._data = data
    t._grad = None
    t.grad_fn = ctx if record else None
    t.requires_grad = record
    if record and state.anomaly:
        _anomaly.remember_stack(ctx)
    return t


def backward_arrays(node, grad_output):
    """A Function of yours in an ordinary backward pass: its backward gets and returns Tensors
    and runs with grad mode off; the engine gets arrays back."""
    with no_grad():
        grads = type(node).backward(node, _wrap(grad_output))
    # an array that is also a tensor's of yours (a saved one, an input's) is copied: a leaf's
    # .grad made of it would share its memory, and the next backward would add into it
    held = [t._data for t in getattr(node, "saved", ()) + node.inputs if isinstance(t, Tensor)]
    if isinstance(grads, (tuple, list)):
        return tuple(_own(g._data, held) if isinstance(g, Tensor) else g for g in grads)
    return _own(grads._data, held) if isinstance(grads, Tensor) else grads


def _own(a, held):
    return a.copy() if any(a is h for h in held) else a


def _wrap(a):
    t = _new(Tensor)
    t._data = a
    t._grad = t.grad_fn = None
    t.requires_grad = False
    return t


def once_differentiable(backward):
    """Decorator for a backward that cannot itself be differentiated (it works outside the
    graph): with ``create_graph=True`` through it, the engine raises instead of giving a wrong
    second derivative."""
    backward.once_differentiable = True
    return backward


class _DelayedError(Function):
    """Holds a gradient computed outside the graph; differentiating through it raises."""

    @staticmethod
    def forward(ctx, anchor, g):
        return np.asarray(g)

    @staticmethod
    def backward(ctx, grad_output):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")


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
    return [x._data if isinstance(x, Tensor) else x for x in args]


def _shape_error(cls, values, err):
    shapes = " with ".join(str(tuple(np.shape(v))) for v in values if isinstance(v, np.ndarray))
    msg = str(err)
    if "broadcast" in msg:
        return RuntimeError(f"{cls.op_name()}: cannot broadcast {shapes}")
    return RuntimeError(f"{cls.op_name()}: {msg} (input shapes {shapes})")


from ..tensor import Tensor  # noqa: E402  (tensor.py imports the ops, which import this)
from . import anomaly as _anomaly  # noqa: E402
from . import inplace as _inplace  # noqa: E402
