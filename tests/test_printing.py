"""Tensors print as PyTorch prints them: the same text for a table of tensors (small and large
values, mixed magnitudes, integers, bools, 0-d, empty, float64, long rows, summarized tensors,
requires_grad, grad_fn), and ``f"{t:.3f}"`` as PyTorch formats."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

_RNG = np.random.default_rng(0)

ARRAYS = {
    "small": np.array([1e-5, 2e-6], np.float32),
    "tiny_and_one": np.array([1.0, 1e-5], np.float32),
    "gradients": np.array([3.2e-9, -1.5e-7, 4.0e-8], np.float32),
    "large": np.array([1e9, 2.5e9], np.float32),
    "mixed": np.array([0.001, 12345.678, -3.0], np.float64),
    "ratio_1000": np.array([1.0, 999.0]),
    "ratio_1001": np.array([1.0, 1001.5]),
    "decimals": np.array([0.5, 2.0, -1.25]),
    "whole": np.array([1.0, 2.0, -3.0], np.float32),
    "whole_large": np.array([1e10, 2.0]),
    "zeros": np.zeros(3, np.float32),
    "neg_zero": np.array([-0.0, 1.0]),
    "nan_inf": np.array([np.nan, np.inf, -np.inf, 1.5], np.float32),
    "nan_whole": np.array([np.nan, 2.0]),
    "only_nan": np.array([np.nan], np.float32),
    "ints": np.array([1, -20, 300]),
    "int32": np.array([[1, 2], [3, 4]], np.int32),
    "uint8": np.array([0, 255], np.uint8),
    "bool": np.array([True, False, True]),
    "scalar": np.array(3.14159, np.float32),
    "scalar_whole": np.array(2.0, np.float32),
    "scalar_int": np.array(7),
    "scalar_small": np.array(1e-8),
    "float16": np.array([0.1, 1.0, 1000.0], np.float16),
    "matrix": _RNG.standard_normal((3, 4)).astype(np.float32),
    "matrix_sci": (_RNG.standard_normal((2, 3)) * 1e-6).astype(np.float32),
    "cube": _RNG.standard_normal((2, 3, 4)).astype(np.float32),
    "four_d": _RNG.standard_normal((2, 1, 2, 3)),
    "long_row": np.arange(30, dtype=np.float32) / 7,
    "full_line": np.arange(9, dtype=np.float32) / 7,  # a suffix no longer fits on its line
    "long_ints": np.arange(40) * 1001,
    "wide_matrix": _RNG.standard_normal((3, 15)).astype(np.float32),
    "summarized": np.arange(2000, dtype=np.float32),
    "summarized_2d": _RNG.standard_normal((40, 50)).astype(np.float32),
    "summarized_3d": np.arange(5000).reshape(10, 10, 50),
    "empty": np.zeros((0,), np.float32),
    "empty_2d": np.zeros((0, 3), np.float32),
    "empty_int": np.zeros((0,), np.int64),
    "empty_float64": np.zeros((2, 0)),
}


def _ours(text: str) -> str:
    """PyTorch's repr in chainrule's words: dtypes under chainrule's name, grad-fn names without
    PyTorch's number (a deliberate difference)."""
    return text.replace("torch.", "chainrule.").replace("Backward0>", "Backward>")


@pytest.mark.parametrize("name", list(ARRAYS))
def test_repr_matches_pytorch(name):
    a = ARRAYS[name]
    assert repr(cr.tensor(a)) == _ours(repr(torch.tensor(a)))
    assert str(cr.tensor(a)) == _ours(str(torch.tensor(a)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["small", "mixed", "decimals", "matrix", "scalar", "long_row",
                                  "full_line", "summarized_2d", "empty_2d"])
def test_repr_with_autograd_matches_pytorch(name, dtype):
    a = ARRAYS[name].astype(dtype)
    x, t = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    same = _suffixes_on_one_line if dtype == np.float64 else str
    assert same(repr(x)) == same(_ours(repr(t)))
    assert same(repr(x * 2)) == same(_ours(repr(t * 2)))  # grad_fn=<MulBackward>
    assert same(repr(x.sin())) == same(_ours(repr(t.sin())))


def _suffixes_on_one_line(text):
    """The repr with its suffixes joined to the last line: "dtype=chainrule.float64" is longer
    than PyTorch's "dtype=torch.float64", so a suffix may wrap in one and not the other."""
    return re.sub(r",\n *(dtype|grad_fn|requires_grad|size)=", r", \1=", text)


def test_repr_with_float64_default_dtype():
    cr.set_default_dtype(cr.float64)
    torch.set_default_dtype(torch.float64)
    try:
        for a in (np.array([1.5, 2.0]), np.array([1.5, 2.0], np.float32), np.zeros(0)):
            assert repr(cr.tensor(a)) == _ours(repr(torch.tensor(a)))
    finally:
        cr.set_default_dtype(cr.float32)
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("options", [dict(precision=2), dict(sci_mode=True), dict(sci_mode=False),
                                     dict(threshold=5, edgeitems=2), dict(linewidth=40),
                                     dict(profile="short"), dict(profile="full")])
def test_set_printoptions_as_pytorch(options):
    cr.set_printoptions(**options)
    torch.set_printoptions(**options)
    try:
        for name in ("small", "decimals", "long_row", "matrix", "ints", "summarized"):
            a = ARRAYS[name]
            assert repr(cr.tensor(a)) == _ours(repr(torch.tensor(a))), name
    finally:
        cr.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")


def test_vanishing_gradients_are_visible():
    """The issue's case: tiny gradients print as numbers, not as 0.0000."""
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w * 1e-5).sum().backward()
    assert repr(w.grad) == "tensor([1.0000e-05, 1.0000e-05])"
    assert repr(cr.tensor([1e-5, 2e-6])) == "tensor([1.0000e-05, 2.0000e-06])"


def test_parameter_repr_matches_pytorch():
    a = np.array([[0.5, -1.25]], np.float32)
    ours = repr(cr.nn.Parameter(cr.tensor(a)))
    assert ours == _ours(repr(torch.nn.Parameter(torch.tensor(a))))


@pytest.mark.parametrize("spec", ["", ".3f", ".2e", ">10.1f", "g"])
@pytest.mark.parametrize("value", [3.14159, 2.0, -1e-7])
def test_format_of_a_0d_tensor_is_its_number(spec, value):
    x = cr.tensor(value, requires_grad=True)
    assert format(x, spec) == format(torch.tensor(value, requires_grad=True), spec)
    assert f"{cr.tensor(7)}" == f"{torch.tensor(7)}"


def test_format_of_other_tensors_as_pytorch():
    for a in (np.array([1.5]), np.array([[1.5]]), np.array([1.0, 2.0])):
        assert format(cr.tensor(a), "") == _ours(format(torch.tensor(a), ""))
        with pytest.raises(TypeError):
            format(torch.tensor(a), ".3f")
        with pytest.raises(TypeError, match=r"unsupported format string passed to "
                                            r"Tensor.__format__: '.3f' on a tensor of shape"):
            format(cr.tensor(a), ".3f")
