"""Jacobians, Hessians and their products with a vector, as ``torch.autograd.functional``.

For ``y = f(x)`` with ``x`` in Rⁿ and ``y`` in Rᵐ (a tensor of any shape counts as its flattened
elements; a tuple of tensors as all of them, one block each)::

    J[i, j]  = ∂yᵢ/∂xⱼ               jacobian(f, x)   shape y.shape + x.shape
    vᵀJ                               vjp(f, x, v)     one backward pass, v shaped as y
    J v                               jvp(f, x, v)     v shaped as x

and for a scalar ``f``::

    H[i, j]  = ∂²f/∂xᵢ∂xⱼ            hessian(f, x)    shape x.shape + x.shape
    vᵀH      = ∂(∇f · v)/∂x           vhp(f, x, v)     the backward of the backward
    H v                               hvp(f, x, v)

Everything is reverse mode, built on ``autograd.grad``: ``J`` is one backward pass per row
(``vᵀJ`` with ``v`` each one-hot in turn), ``H`` is the Jacobian of the gradient (computed with
``create_graph=True``). Forward products use the *double-vjp trick*: ``g(u) = uᵀJ`` is linear in a
dummy ``u``, and its own vjp with ``v`` is ``vᵀ ∂g/∂u = (J v)ᵀ``; so ``J v`` costs two backward
passes and no forward-mode AD. ``hvp`` is that trick applied to ``∇f``, whose Jacobian is ``H``.

``func`` gets fresh tensors: detached copies that require grad, so the caller's tensors are
untouched and need not require grad; with ``create_graph=True``, differentiable views of those that
do require grad, so the results stay differentiable in the caller's inputs (and in ``v``).
``strict=True`` raises where a result would be zeros because it does not depend on an input.
Error messages are PyTorch's. Differences: ``vectorize`` and ``strategy="forward-mode"`` compute
the same numbers in reverse mode (see ``jacobian``), the Jacobian of an empty output is an empty
block (PyTorch fails), and forward mode nests tuples where PyTorch's nests lists.
"""

from __future__ import annotations

import numpy as np

from ..ops.shape import stack
from ..tensor import Tensor, _make
from .engine import grad as _grad
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


# -- helpers (PyTorch's, one for one) --------------------------------------------------------------

def _as_tuple(x, arg_name, fn_name):
    """(was x a tuple?, x as a tuple of Tensors)."""
    is_tuple = isinstance(x, tuple)
    items = x if is_tuple else (x,)
    for i, el in enumerate(items):
        if not isinstance(el, Tensor):
            where = f"the value at index {i}" if is_tuple else f"the given {arg_name}"
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple "
                            f"of Tensors but {where} has type {type(el)}.")
    return is_tuple, items


def _outputs(func, inputs, fn_name):
    """Call ``func``: (was its result a tuple?, the result as a tuple of Tensors)."""
    return _as_tuple(func(*inputs), "outputs of the user-provided function", fn_name)


def _unpack(res, to_unpack):
    """Undo ``_as_tuple`` on a result: one flag (a tuple over inputs or outputs), or two (outputs,
    inputs) for a tuple of tuples."""
    if isinstance(to_unpack, tuple):
        outs_tuple, ins_tuple = to_unpack
        if not ins_tuple:
            res = tuple(el[0] for el in res)
        return res if outs_tuple else res[0]
    return res if to_unpack else res[0]


def _preprocess(inputs, create_graph, need_graph):
    """Fresh tensor objects: a differentiable view if the caller wants gradients to flow back into
    its tensors, else detached copies (that require grad if ``need_graph``). Always new objects,
    so ``func`` capturing the caller's tensor is told apart from ``func`` using its argument."""
    return tuple(t.view_as(t) if create_graph and t.requires_grad
                 else t.detach().requires_grad_(need_graph) for t in inputs)


def _postprocess(res, create_graph):
    """Detach the results (nested tuples too) unless ``create_graph``."""
    if isinstance(res[0], Tensor):
        return res if create_graph else tuple(t.detach() for t in res)
    return tuple(_postprocess(r, create_graph) for r in res)


def _validate_v(v, other, is_other_tuple):
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got "
                               f"{len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (el_v, el_other) in enumerate(zip(v, other)):
        if el_v.shape != el_other.shape:
            prepend = f"Entry {i} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be {el_other.shape} but got "
                               f"{el_v.shape}.")


_NOT_REQUIRED = {
    "hessian": lambda i: (
        f"The hessian of the user-provided function with respect to input {i} is independent of "
        "the input. This is not allowed in strict mode. You should ensure that your function is "
        "thrice differentiable and that the hessian depends on the inputs."),
    "jacobian": lambda i: (
        "While computing the hessian, found that the jacobian of the user-provided function with "
        f"respect to input {i} is independent of the input. This is not allowed in strict mode. "
        "You should ensure that your function is twice differentiable and that the jacobian "
        "depends on the inputs (this would be violated by a linear function for example)."),
    "grad_inputs": lambda i: (
        f"The gradient with respect to input {i} is independent of the inputs of the "
        "user-provided function. This is not allowed in strict mode."),
    "outputs": lambda i: (
        f"Output {i} of the user-provided function does not require gradients. The outputs must "
        "be computed in a differentiable manner from the input when running in strict mode."),
}


def _check_requires_grad(tensors, kind, strict):
    """strict: every tensor must exist (None: independent of input i) and require grad."""
    if not strict:
        return
    for i, t in enumerate(tensors):
        if t is None:
            raise RuntimeError(f"The output of the user-provided function is independent of "
                               f"input {i}. This is not allowed in strict mode.")
        if not t.requires_grad:
            raise RuntimeError(_NOT_REQUIRED[kind](i))


def _autograd_grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """``autograd.grad`` that skips outputs not requiring grad (or None) and returns None for an
    input no output depends on."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    outs, gos = zip(*pairs)
    return _grad(list(outs), list(inputs), list(gos), retain_graph=retain_graph,
                 create_graph=create_graph, allow_unused=True)


_MISSING = {
    "back": lambda i: (f"The output of the user-provided function is independent of input {i}. "
                       "This is not allowed in strict mode."),
    "back_trick": lambda i: (
        f"The gradient with respect to the input is independent of entry {i} in the grad_outputs "
        "when using the double backward trick to compute forward mode gradients. This is not "
        "allowed in strict mode."),
    "double_back": lambda i: (f"The jacobian of the user-provided function is independent of "
                              f"input {i}. This is not allowed in strict mode."),
    "double_back_trick": lambda i: (
        f"The hessian of the user-provided function is independent of entry {i} in the "
        "grad_jacobian. This is not allowed in strict mode as it prevents from using the double "
        "backward trick to replace forward mode AD."),
}


def _fill_in_zeros(grads, refs, strict, create_graph, stage):
    """None (independent of the input) becomes zeros shaped as ``refs[i]``; strict: an error."""
    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_MISSING[stage](i))
            g = _zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of input "
                               f"{i}. This is not allowed in strict mode when create_graph=True.")
        res.append(g)
    return tuple(res)


def _zeros_like(t, requires_grad=False):
    out = _make(np.zeros(t.shape, t.dtype), None)
    return out.requires_grad_() if requires_grad else out


def _check_v_none(items, what):
    if len(items) != 1 or items[0].numel() != 1:
        raise RuntimeError(f"The vector v can only be None if {what} a single Tensor with a single "
                           "element.")


def _single_output(outputs, is_tuple, name):
    if is_tuple:
        raise RuntimeError(f"The function given to {name} should return a single Tensor")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {name} should contain a "
                           "single element")


# -- vector products -------------------------------------------------------------------------------

def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), vᵀJ)``: the vector-Jacobian product, one backward pass.

    ``v`` is shaped as the output(s) (optional for a one-element output: 1); the result is shaped
    as the input(s). Example: ``vjp(lambda x: x.exp().sum(1), x, cr.ones(4))[1]`` is ``x.exp()``.
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _outputs(func, inputs, "vjp")
        _check_requires_grad(outputs, "outputs", strict)
        if v is not None:
            v = _preprocess(_as_tuple(v, "v", "vjp")[1], create_graph, need_graph=False)
            _validate_v(v, outputs, is_outputs_tuple)
        else:
            _check_v_none(outputs, "the user-provided function returns")
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _autograd_grad(outputs, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grads, inputs, strict, create_graph, "back")
    return (_unpack(_postprocess(outputs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(result, create_graph), is_inputs_tuple))


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), J v)``: the Jacobian-vector product, by the double-vjp trick.

    ``g = uᵀJ`` for a dummy ``u`` (zeros: only its graph matters, ``g`` is linear in it), then
    ``vᵀ ∂g/∂u = (J v)ᵀ``. ``v`` is shaped as the input(s) (optional for a one-element input);
    the result is shaped as the output(s).
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        if v is not None:
            v = _preprocess(_as_tuple(v, "v", "jvp")[1], create_graph, need_graph=False)
            _validate_v(v, inputs, is_inputs_tuple)
        else:
            _check_v_none(inputs, "the input to the user-provided function is")
        is_outputs_tuple, outputs = _outputs(func, inputs, "jvp")
        _check_requires_grad(outputs, "outputs", strict)
        u = tuple(_zeros_like(out, requires_grad=True) for out in outputs)
        grad_inputs = _autograd_grad(outputs, inputs, u, create_graph=True)  # uᵀJ
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _autograd_grad(grad_inputs, u, v, create_graph=create_graph)  # vᵀ ∂(uᵀJ)/∂u
        result = _fill_in_zeros(grads, outputs, strict, create_graph, "back_trick")
    return (_unpack(_postprocess(outputs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(result, create_graph), is_outputs_tuple))


def _gradient(func, inputs, v, create_graph, strict, fn_name):
    """vhp's and hvp's first steps: the inputs and ``v`` checked and made fresh, the scalar
    output, and its gradient ∇f recorded (create_graph)."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _preprocess(inputs, create_graph, need_graph=True)
    if v is not None:
        v = _preprocess(_as_tuple(v, "v", fn_name)[1], create_graph, need_graph=False)
        _validate_v(v, inputs, is_inputs_tuple)
    else:
        _check_v_none(inputs, "the input to the user-provided function is")
    is_outputs_tuple, outputs = _outputs(func, inputs, fn_name)
    _check_requires_grad(outputs, "outputs", strict)
    _single_output(outputs, is_outputs_tuple, fn_name)
    jac = _autograd_grad(outputs, inputs, create_graph=True)  # ∇f
    _check_requires_grad(jac, "jacobian", strict)
    return is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac


def vhp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), vᵀH)`` for a scalar ``func``: the gradient of ``∇f · v``, two backward
    passes. ``v`` is shaped as the input(s); so is the result."""
    with enable_grad():
        is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac = _gradient(
            func, inputs, v, create_graph, strict, "vhp")
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _autograd_grad(jac, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grads, inputs, strict, create_graph, "double_back")
    return (_unpack(_postprocess(outputs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(result, create_graph), is_inputs_tuple))


def hvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), H v)`` for a scalar ``func``: the double-vjp trick on ``∇f`` (whose
    Jacobian is ``H``), three backward passes. Equal to ``vhp`` when ``H`` is symmetric (``f``
    twice continuously differentiable), which is cheaper."""
    with enable_grad():
        is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac = _gradient(
            func, inputs, v, create_graph, strict, "hvp")
        u = tuple(_zeros_like(t, requires_grad=True) for t in inputs)
        double_back = _autograd_grad(jac, inputs, u, create_graph=True)  # uᵀH
        _check_requires_grad(jac, "hessian", strict)  # sic: PyTorch checks jac again here
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _autograd_grad(double_back, u, v, create_graph=create_graph)  # vᵀ ∂(uᵀH)/∂u
        result = _fill_in_zeros(grads, inputs, strict, create_graph, "double_back_trick")
    return (_unpack(_postprocess(outputs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(result, create_graph), is_inputs_tuple))


# -- full matrices ---------------------------------------------------------------------------------

_STRATEGIES = ("forward-mode", "reverse-mode")


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian ``J[i, j] = ∂yᵢ/∂xⱼ`` of ``func`` at ``inputs``, one backward pass per output
    element (row ``i`` is ``eᵢᵀJ``).

    A single Tensor when ``inputs`` and the output are single Tensors, of shape
    ``out.shape + in.shape``; a tuple over whichever of them is a tuple; ``J[i][j]`` (output i,
    input j) when both are. Example: ``jacobian(cr.tanh, x)`` is ``diag(1 - tanh(x)**2)``.

    ``vectorize=True`` and ``strategy="forward-mode"`` are accepted with PyTorch's rules (forward
    mode needs ``vectorize=True`` and refuses ``create_graph`` and ``strict``; ``vectorize``
    refuses ``strict``) but computed row by row in reverse mode: the same numbers, without vmap or
    forward AD (forward mode's result takes the output's dtype, as PyTorch's).
    """
    if strategy not in _STRATEGIES:
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode". '
                             'Hint: If your function has more outputs than inputs, "forward-mode" '
                             'tends to be more performant. Otherwise, prefer to use '
                             '"reverse-mode".')
    forward = strategy == "forward-mode"
    if forward:
        if create_graph:
            raise NotImplementedError(
                "torch.autograd.functional.jacobian: `create_graph=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either set '
                '`create_graph=False` or `strategy="reverse-mode"`.')
        if strict:
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either set '
                '`strict=False` or `strategy="reverse-mode"`.')
        if not vectorize:
            raise NotImplementedError("Computing Jacobian using forward-AD or forward-over-reverse "
                                      "Hessian is only implemented for `vectorize=True`.")
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _outputs(func, inputs, "jacobian")
        _check_requires_grad(outputs, "outputs", strict)
        if vectorize and strict:
            raise RuntimeError("torch.autograd.functional.jacobian: `strict=True` and "
                               "`vectorized=True` are not supported together. Please either set "
                               "`strict=False` or `vectorize=False`.")
        jac = []
        for i, out in enumerate(outputs):
            rows = tuple([] for _ in inputs)  # rows[j]: ∂out.flat[k]/∂inputs[j], k = 0, 1, ...
            for k in range(out.numel()):
                e = np.zeros(out.shape, out.dtype)
                e.flat[k] = 1
                vj = _autograd_grad((out,), inputs, (_make(e, None),), create_graph=create_graph,
                                    retain_graph=True)
                for j, (g, inp) in enumerate(zip(vj, inputs)):
                    if g is None:
                        if strict:
                            raise RuntimeError(f"Output {i} of the user-provided function is "
                                               f"independent of input {j}. This is not allowed in "
                                               "strict mode.")
                        g = _zeros_like(inp)
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(f"The jacobian of the user-provided function is "
                                           f"independent of input {i}. This is not allowed in "
                                           "strict mode when create_graph=True.")
                    rows[j].append(g)
            jac.append(tuple(_stack(r, out.shape + inp.shape, inp.dtype)
                             for r, inp in zip(rows, inputs)))
        if forward:
            jac = [tuple(b.to(out.dtype) for b in blocks) for blocks, out in zip(jac, outputs)]
        jac = _postprocess(tuple(jac), create_graph)
    return _unpack(jac, (is_outputs_tuple, is_inputs_tuple))


def _stack(rows, shape, dtype):
    """One output's Jacobian block from its rows (each shaped as the input)."""
    if not rows:  # an empty output: an empty block (PyTorch fails in torch.stack here)
        return _make(np.zeros(shape, dtype), None)
    return stack(rows).reshape(shape)


def hessian(func, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian ``H[i, j] = ∂²f/∂xᵢ∂xⱼ`` of a scalar ``func``: the Jacobian of its gradient
    (the gradient computed with ``create_graph=True``, so that it can be differentiated).

    A single Tensor of shape ``x.shape + x.shape`` for one input; for a tuple of inputs, a tuple of
    tuples with ``H[i][j]`` of shape ``inputs[i].shape + inputs[j].shape``. ``vectorize`` and
    ``outer_jacobian_strategy`` as in ``jacobian`` (reverse mode underneath).
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in _STRATEGIES:
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def scalar_func(*inp):
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(t_out, "outputs", strict)
        if is_out_tuple or not isinstance(out, Tensor):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should "
                               "contain a single element")
        return out.squeeze()

    def jac_func(*inp):  # ∇f, differentiable
        jac = jacobian(scalar_func, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict,
                   vectorize=vectorize, strategy=outer_jacobian_strategy)
    return _unpack(res, (is_inputs_tuple, is_inputs_tuple))
