"""Parameters as one flat vector and back, as ``torch.nn.utils`` (for second-order methods,
evolution strategies, or a flat weight-space view)."""

from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ...ops.shape import cat
from ...tensor import Tensor


def parameters_to_vector(parameters) -> Tensor:
    """Every parameter flattened and concatenated into one vector (differentiable)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Make consecutive slices of ``vec`` the parameters' values, as PyTorch: each parameter's
    ``data`` becomes a view of ``vec`` (so they share memory, and take vec's dtype)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected chainrule.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    with no_grad():
        for param in parameters:
            n = param.numel()
            if pointer + n > vec.numel():
                raise RuntimeError(f"vector_to_parameters: vec has {vec.numel()} elements, too "
                                   f"few for the parameters (a parameter of shape "
                                   f"{tuple(param.shape)} needs elements {pointer} to "
                                   f"{pointer + n - 1})")
            param._data = vec[pointer:pointer + n].view_as(param)._data
            pointer += n
