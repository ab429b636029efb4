"""Products: matrix multiplication (1-D, 2-D and batched, as ``numpy.matmul``), ``einsum``,
and the functions built on them (``bmm``, ``outer``, ``addmm``, ``baddbmm``).

Operands must have the same dtype, as in PyTorch: ``float32 @ float64`` raises instead of
computing in float64."""

from __future__ import annotations

import string

import numpy as np

from ..autograd.function import Function

_ndarray = np.ndarray


class MatMul(Function):
    """Y = A @ B;  dL/dA = dL/dY @ Bᵀ,  dL/dB = Aᵀ @ dL/dY  (batch axes summed by the engine)"""

    op = "matmul"
    needed_by = (1, 0)  # a serves b's gradient, b serves a's

    @staticmethod
    def forward(ctx, a, b):
        ctx.saved = (a, b)
        if a.dtype is not b.dtype:  # (one comparison: equal dtypes are one object, nearly always)
            _same_dtype(a, b)
        try:
            if 0 < a.ndim < 3 and 0 < b.ndim < 3:
                return a.dot(b)  # the same product for 1-D and 2-D; NumPy's dot costs less per call
            return a @ b
        except ValueError:  # the checks run only here: on small tensors they would cost 10 %
            pass
        if a.ndim == 0 or b.ndim == 0:
            raise RuntimeError("matmul: both arguments to matmul need to be at least 1D, but they "
                               f"are {a.ndim}D and {b.ndim}D")
        if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
            raise RuntimeError(f"matmul: shapes {a.shape} and {b.shape} do not align")
        raise RuntimeError(f"matmul: batch shapes of {a.shape} and {b.shape} cannot be broadcast")

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved
        na, nb = a.ndim, b.ndim
        need = ctx.needs_input_grad
        if na == 2 and nb == 2:
            return (_dot(grad_output, b.T) if need[0] else None), (_dot(a.T, grad_output) if need[1] else None)
        if na == 1 and nb == 1:
            return (grad_output * b if need[0] else None), (grad_output * a if need[1] else None)
        if na == 2 and nb == 1:  # matrix @ vector: y_i = Σ_j a_ij b_j
            return ((grad_output[:, None] * b if need[0] else None),
                    (grad_output.dot(a) if type(a) is _ndarray else grad_output @ a)  # _dot, inlined
                    if need[1] else None)
        if na == 1 and nb == 2:  # vector @ matrix: y_j = Σ_i a_i b_ij
            return (_dot(b, grad_output) if need[0] else None), (a[:, None] * grad_output if need[1] else None)
        g = grad_output
        if na == 1:
            g = np.expand_dims(g, -2)
        if nb == 1:
            g = np.expand_dims(g, -1)
        ga = gb = None
        if need[0]:
            ga = g @ np.swapaxes(b[:, None] if nb == 1 else b, -1, -2)
            if na == 1:
                ga = ga[..., 0, :]
        if need[1]:
            gb = np.swapaxes(a[None, :] if na == 1 else a, -1, -2) @ g
            if nb == 1:
                gb = gb[..., 0]
        return ga, gb


def _dot(a, b):
    """a @ b for 1-D and 2-D operands: NumPy's ``dot`` on arrays (cheaper per call than ``@``),
    the recorded matmul on Tensors. (A backward gets all arrays, or all Tensors: the engine
    hands a recorded backward its saved inputs as Tensors.)"""
    return a.dot(b) if type(a) is _ndarray else a @ b


class Einsum(Function):
    """y = einsum(equation, *xs);  dL/dx_k = einsum(dL/dy with the other operands -> x_k's
    subscripts): the gradient of an einsum operand is an einsum (of which that operand's
    repeated subscripts are a diagonal, and its subscripts found nowhere else a broadcast)

    ``equation`` is explicit and has no ellipsis (``einsum`` writes it so): one subscript
    string per operand, "->", the output's."""

    @staticmethod
    def forward(ctx, *xs, equation):
        ctx.equation, ctx.shapes = equation, [x.shape for x in xs]
        need = ctx.needs_input_grad
        # an operand is saved only for another operand's gradient
        ctx.saved = tuple(x if any(need[j] for j in range(len(xs)) if j != i) else None
                          for i, x in enumerate(xs))
        return np.einsum(equation, *xs, optimize=len(xs) > 1)

    @staticmethod
    def backward(ctx, grad_output):
        ins, out = ctx.equation.split("->")
        ins = ins.split(",")
        xs = ctx.saved
        grads = []
        for k, need in enumerate(ctx.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            operands = [grad_output] + [x for j, x in enumerate(xs) if j != k]
            subs = [out] + [s for j, s in enumerate(ins) if j != k]
            target = _unique_target(ins[k], ctx.shapes[k], subs, operands, grad_output.dtype)
            grads.append(Einsum.call(*operands, equation=",".join(subs) + "->" + target))
        return tuple(grads)


def _unique_target(sub, shape, subs, operands, dtype):
    """The subscripts of x_k's gradient, one letter per axis: a repeated letter's later axes get
    new letters, tied to the first by an identity matrix (its gradient lies on the diagonal), and
    a letter no other operand has gets a vector of ones (its gradient is broadcast along it).
    Appends those constants to ``operands`` and their subscripts to ``subs``."""
    seen = set("".join(subs))
    fresh = (c for c in _LETTERS if c not in seen and c not in sub)
    target = []
    for axis, c in enumerate(sub):
        if c in target:
            new = next(fresh)
            subs.append(c + new)
            operands.append(np.eye(shape[axis], dtype=dtype))
            target.append(new)
            continue
        if c not in seen and sub.count(c) == 1:
            subs.append(c)
            operands.append(np.ones(shape[axis], dtype))
        target.append(c)
    return "".join(target)


_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # einsum's subscripts, in its order


# -- dtypes --------------------------------------------------------------------------------------

_CPP = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
        "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
        "bool": "bool"}
_NAME = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
         "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _cpp(dtype) -> str:
    """PyTorch's C++ name of a dtype (``float``, ``double``, ``long int``)."""
    return _CPP.get(str(dtype), str(dtype))


def _name(dtype) -> str:
    """PyTorch's scalar-type name of a dtype (``Float``, ``Double``, ``Long``)."""
    return _NAME.get(str(dtype), str(dtype))


def _same_dtype(a, b, op="matmul") -> None:
    """Raise PyTorch's error if the two operands of a product have different dtypes."""
    if a.dtype == b.dtype:
        return
    shapes = f"(shapes {tuple(a.shape)} and {tuple(b.shape)})"
    if a.ndim == 1 and b.ndim == 1:
        raise RuntimeError(f"{op}: expected both vectors to have same dtype, but found "
                           f"{_name(a.dtype)} and {_name(b.dtype)} {shapes}")
    raise RuntimeError(f"{op}: expected m1 and m2 to have the same dtype, but got: "
                       f"{_cpp(a.dtype)} != {_cpp(b.dtype)} {shapes}")


def _expected_type(op, tensors, names) -> None:
    """PyTorch's "expected scalar type Float but found Double", naming the operand."""
    first = tensors[0].dtype
    for t, name in zip(tensors[1:], names[1:]):
        if t.dtype != first:
            raise RuntimeError(f"{op}: expected scalar type {_name(first)} but found "
                               f"{_name(t.dtype)} ({names[0]} has shape {tuple(tensors[0].shape)}"
                               f", {name} {tuple(t.shape)})")


# -- functions -----------------------------------------------------------------------------------

def matmul(input, other):
    return input @ other


def mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expects 2D tensors, got {input.ndim}D and {mat2.ndim}D")
    return input @ mat2


def dot(input, tensor):
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"dot: 1D tensors expected, but got {input.ndim}D and "
                           f"{tensor.ndim}D tensors")
    _same_dtype(input, tensor, "dot")
    if input.shape != tensor.shape:
        raise RuntimeError(f"dot: inconsistent tensor size, expected tensor {list(input.shape)} "
                           f"and src {list(tensor.shape)} to have the same number of elements")
    return input @ tensor


def bmm(input, mat2):
    """Batched matrix product: (b, n, m) @ (b, m, p) -> (b, n, p), without broadcasting."""
    for t, name in ((input, "batch1"), (mat2, "batch2")):
        if t.ndim != 3:
            raise RuntimeError(f"bmm: {name} must be a 3D tensor, got a {t.ndim}D tensor of "
                               f"shape {tuple(t.shape)}")
    _batch_shapes("bmm", input, mat2)
    _expected_type("bmm", (input, mat2), ("batch1", "batch2"))
    return input @ mat2


def _batch_shapes(op, b1, b2):
    if b2.shape[:2] != (b1.shape[0], b1.shape[2]):
        raise RuntimeError(f"{op}: Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{b1.shape[0]}, {b1.shape[2]}] but got: [{b2.shape[0]}, "
                           f"{b2.shape[1]}] (batch1 has shape {tuple(b1.shape)})")


def outer(input, vec2):
    """y[i, j] = input[i] · vec2[j] (dtypes promote, as PyTorch's)."""
    for t, name in ((input, "self"), (vec2, "vec2")):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return input.reshape(-1, 1) * vec2


ger = outer


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta · input + alpha · (mat1 @ mat2), input broadcast to (n, p); beta = 0 ignores input
    (NaN in it is not propagated; its gradient is 0), as in PyTorch."""
    for t, name in ((mat1, "mat1"), (mat2, "mat2")):
        if t.ndim != 2:
            raise RuntimeError(f"addmm: {name} must be a matrix, got {t.ndim}-D tensor")
    if mat1.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"addmm: mat1 and mat2 shapes cannot be multiplied ({mat1.shape[0]}x"
                           f"{mat1.shape[1]} and {mat2.shape[0]}x{mat2.shape[1]})")
    for t in (input, mat1):
        if t.dtype != mat2.dtype:
            raise RuntimeError(f"addmm: self and mat2 must have the same dtype, but got "
                               f"{_name(t.dtype)} and {_name(mat2.dtype)}")
    return _scaled_sum("addmm", input, mat1 @ mat2, beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta · input + alpha · (batch1 @ batch2), batched: (b, n, m) @ (b, m, p), input
    broadcast to (b, n, p)."""
    for t, name in ((batch1, "batch1"), (batch2, "batch2")):
        if t.ndim != 3:
            raise RuntimeError(f"baddbmm: {name} must be a 3D tensor, got a {t.ndim}D tensor")
    _batch_shapes("baddbmm", batch1, batch2)
    _expected_type("baddbmm", (batch1, batch2), ("batch1", "batch2"))
    if input.dtype != batch1.dtype:
        raise RuntimeError(f"baddbmm: Input dtypes must be the same, got: input "
                           f"{_cpp(input.dtype)}, batch1: {_cpp(batch1.dtype)}, batch2: "
                           f"{_cpp(batch2.dtype)}")
    return _scaled_sum("baddbmm", input, batch1 @ batch2, beta, alpha)


def _scaled_sum(op, input, product, beta, alpha):
    shape = product.shape
    try:
        fits = np.broadcast_shapes(input.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: The expanded size of the tensor must match: input of shape "
                           f"{tuple(input.shape)} cannot be broadcast to the product's shape "
                           f"{tuple(shape)}")
    if alpha != 1:
        product = product * alpha
    if beta == 0:  # input ignored: its values (NaN too) do not reach the result, its gradient is 0
        return product + Where.apply(_FALSE, input, 0) if input.requires_grad else product
    return product + (input if beta == 1 else input * beta)


_FALSE = np.zeros((), bool)


def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum``: ``einsum("ij,jk->ik", a, b)``; implicit output
    (``"ij,jk"``), ``...`` for broadcast dims, size-1 dims broadcast, repeated subscripts
    (``"ii->i"``, a diagonal); operands as a list (``einsum(eq, [a, b])``) or in sublist form
    (``einsum(a, [0, 1], b, [1, 2], [0, 2])``). Differentiable in every operand, to any order."""
    if not isinstance(equation, str):  # the sublist form
        equation, operands = _from_sublists((equation,) + operands)
    elif len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = [t if isinstance(t, Tensor) else _as_tensor(t) for t in operands]
    ins, out = _parse(equation, operands)
    _expected_type("einsum", operands, [f"operand {i}" for i in range(len(operands))])
    return Einsum.apply(*operands, equation=",".join(ins) + "->" + out)


def _parse(equation, operands):
    """``equation`` made explicit, without ellipsis: (the operands' subscripts, the output's);
    raises PyTorch's errors for an equation that does not fit the operands."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(ins) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    for i, c in enumerate(eq):
        if c not in _LETTERS and c not in ",->.":
            raise RuntimeError(f"einsum(): invalid subscript given at index {i} in the equation "
                               f"string, subscripts must be in [a-zA-Z]")
    used = set(c for c in lhs if c in _LETTERS)
    spare = [c for c in _LETTERS if c not in used and c not in rhs]
    n_ell = 0  # the number of dims "..." stands for (the most any operand's covers)
    for k, (sub, t) in enumerate(zip(ins, operands)):
        letters = len(sub.replace("...", ""))
        if "..." in sub:
            n_ell = max(n_ell, t.ndim - letters)
            if t.ndim < letters:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                                   f"({letters}) is more than the number of dimensions "
                                   f"({t.ndim}) for operand {k}")
        elif letters != t.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({letters}) "
                               f"does not match the number of dimensions ({t.ndim}) for operand "
                               f"{k} and no ellipsis was given")
    ell = "".join(spare[:n_ell])
    # an operand's "..." stands for the last of those dims (they broadcast from the right)
    ins = [s.replace("...", ell[n_ell - (t.ndim - len(s) + 3):]) if "..." in s else s
           for s, t in zip(ins, operands)]
    if arrow:
        out = rhs.replace("...", ell)
        for c in out:
            if out.count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in "
                                   f"the output")
            if c not in used and c not in ell:
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   f"equation for any input operand")
    else:  # implicit: the ellipsis dims, then the subscripts seen once, in alphabetical order
        once = "".join(sorted(c for c in used if lhs.count(c) == 1))
        out = (ell if "..." in lhs else "") + once
    _check_sizes(ins, operands)
    return ins, out


def _check_sizes(ins, operands):
    sizes = {}
    for k, (sub, t) in enumerate(zip(ins, operands)):
        mine = {}
        for c, n in zip(sub, t.shape):
            if c in mine and mine[c] != n:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {k} but the "
                                   f"sizes don't match, {n} != {mine[c]}")
            mine[c] = n
            seen = sizes.get(c, 1)
            if seen == 1:
                sizes[c] = n
            elif n not in (1, seen):
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {k} which "
                                   f"does not broadcast with previously seen size {seen}")


def _from_sublists(args):
    """``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as (equation, operands)."""
    def letters(sub):
        out = ""
        for s in sub:
            if s is Ellipsis:
                out += "..."
            elif isinstance(s, int) and 0 <= s < len(_LETTERS):
                out += _LETTERS[s]
            else:
                raise RuntimeError(f"einsum(): expected subscript to be within the range [0, "
                                   f"{len(_LETTERS)}), but got {s}")
        return out
    operands, subs = list(args[0:len(args) - len(args) % 2:2]), list(args[1::2])
    out = "->" + letters(args[-1]) if len(args) % 2 else ""
    return ",".join(letters(s) for s in subs[:len(operands)]) + out, operands


from ..tensor import Tensor, _as_tensor  # noqa: E402
from .elementwise import Where  # noqa: E402
