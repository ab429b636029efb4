"""Checking analytic gradients against central finite differences, in float64: ``gradcheck`` for
first derivatives, ``gradgradcheck`` for second derivatives (the backward of the backward)."""

from __future__ import annotations

import numpy as np


class GradcheckError(RuntimeError):
    """An analytic gradient disagrees with the numeric one; the message says where."""


def _inputs(inputs):
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def _outputs(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def numerical_jacobian(func, inputs, eps: float = 1e-6):
    """J[i][k] = d(outputs flattened) / d(input i element k), by central differences."""
    jac = []
    if True:  # func runs with grad mode as it is: a func that differentiates inside needs it
        for x in inputs:
            if not getattr(x, "requires_grad", False):
                jac.append(None)
                continue
            data = x._data  # perturbed in place, element by element (any memory layout)
            cols = []
            for k in range(data.size):
                at = np.unravel_index(k, data.shape)
                orig = data[at]
                data[at] = orig + eps
                plus = np.concatenate([np.asarray(o._data, np.float64).ravel() for o in _outputs(func(*inputs))])
                data[at] = orig - eps
                minus = np.concatenate([np.asarray(o._data, np.float64).ravel() for o in _outputs(func(*inputs))])
                data[at] = orig
                cols.append((plus - minus) / (2 * eps))
            jac.append(np.stack(cols, axis=1) if cols else np.zeros((0, 0)))
    return jac


def analytical_jacobian(func, inputs):
    """J[i][:, k] from one backward pass per output element."""
    from .engine import grad
    outs = _outputs(func(*inputs))
    wanted = [x for x in inputs if getattr(x, "requires_grad", False)]
    n_out = sum(o._data.size for o in outs)
    jac = [np.zeros((n_out, x._data.size)) if getattr(x, "requires_grad", False) else None
           for x in inputs]
    row = 0
    for o in outs:
        for j in range(o._data.size if o.requires_grad else 0):
            seed = np.zeros(o.shape, o.dtype)
            seed.reshape(-1)[j] = 1
            gi = iter(grad([o], wanted, [seed], retain_graph=True, allow_unused=True))
            for i in range(len(inputs)):
                if jac[i] is not None:
                    g = next(gi)
                    if g is not None:
                        jac[i][row + j] = g._data.reshape(-1)
        row += o._data.size
    return jac


def gradcheck(func, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, locate: bool = False, **_ignored) -> bool:
    """Compare the gradients backward computes for ``func(*inputs)`` with central differences.

    Inputs that require grad should be float64 (as PyTorch, a float32 check is too noisy to mean
    much). Returns True, or raises ``GradcheckError`` naming the input, the element, the analytic
    and the numeric value (False instead with ``raise_exception=False``). ``locate=True`` also
    checks each op of the graph and names the first whose backward is wrong.
    """
    inputs = _inputs(inputs)
    _check_precision("gradcheck", inputs, eps)
    numeric = numerical_jacobian(func, inputs, eps)
    analytic = analytical_jacobian(func, inputs)
    for i, (n, a) in enumerate(zip(numeric, analytic)):
        if n is None:
            continue
        bad = ~np.isclose(a, n, rtol=rtol, atol=atol)
        if bad.any():
            out_j, k = map(int, np.argwhere(bad)[0])
            where = np.unravel_index(k, inputs[i].shape)
            msg = (f"gradcheck: Jacobian mismatch for output {out_j} with respect to input {i} "
                   f"(shape {inputs[i].shape}), element {tuple(int(w) for w in where)}:\n"
                   f"  analytic {float(a[out_j, k])!r}\n  numeric  {float(n[out_j, k])!r}\n"
                   f"  ({int(bad.sum())} of {bad.size} entries differ beyond atol={atol}, rtol={rtol})")
            if locate:
                from .check import check_graph
                outs = _outputs(func(*inputs))
                report = check_graph(outs[0], eps=eps, atol=atol, rtol=rtol, raise_exception=False)
                if report:
                    msg += "\n" + str(report)
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def _check_precision(op, inputs, eps):
    """PyTorch's warning for inputs that are not float64; and a refusal where ``eps`` is below
    what the dtype can resolve, since the finite differences would then be noise and the check
    would report a mismatch for a correct op."""
    import warnings
    for i, x in enumerate(inputs):
        if not getattr(x, "requires_grad", False) or x.dtype == np.float64:
            continue
        warnings.warn(f"{op}: Input #{i} requires gradient and is not a double precision floating "
                      "point or complex. This check will likely fail if all the inputs are not of "
                      "double precision floating point or complex.", stacklevel=3)
        smallest = float(np.sqrt(np.finfo(x.dtype).eps))
        if eps < smallest:
            raise ValueError(
                f"{op}: input {i} is {x.dtype}, and eps={eps:g} is below what {x.dtype} can "
                f"resolve (about {smallest:.1e}): the finite differences would be rounding noise, "
                f"not derivatives. Check in float64 (x.double()), or pass eps >= {smallest:.0e} "
                "with looser atol and rtol.")


def gradgradcheck(func, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0,
                  **_ignored) -> bool:
    """Check second derivatives, as PyTorch's ``gradgradcheck``: the gradients that
    ``create_graph=True`` gives for the first derivative ``v · ∂func/∂inputs`` (a function of
    the inputs and of ``v``) against central differences of it.

    ``grad_outputs`` (the ``v``, one per output) default to random values that require grad.
    Returns True, or raises ``GradcheckError`` naming where the second derivative is wrong.
    """
    from ..tensor import Tensor
    from .engine import grad

    inputs = _inputs(inputs)
    _check_precision("gradgradcheck", inputs, eps)
    outs = [o for o in _outputs(func(*inputs)) if o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [Tensor(rng.standard_normal(o.shape), dtype=o.dtype, requires_grad=True)
                        for o in outs]
    grad_outputs = tuple(_inputs(grad_outputs))
    if len(grad_outputs) != len(outs):
        raise ValueError(f"gradgradcheck: got {len(grad_outputs)} grad_outputs for {len(outs)} "
                         "outputs that require grad")
    n = len(inputs)

    def first_derivative(*args):
        xs, vs = args[:n], args[n:]
        ys = [o for o in _outputs(func(*xs)) if o.requires_grad]
        wanted = [x for x in xs if getattr(x, "requires_grad", False)]
        gs = grad(ys, wanted, vs, create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor(np.zeros(x.shape), dtype=x.dtype)
                     for g, x in zip(gs, wanted))

    return gradcheck(first_derivative, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
