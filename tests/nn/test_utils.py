"""``chainrule.nn.utils`` against ``torch.nn.utils``: gradient clipping by norm and by value, and
parameters to one vector and back."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")

SHAPES = [(4, 3), (3,), (2, 2, 2), (5,)]


def _pair(dtype=np.float64, scale=1.0, seed=0, no_grad=(3,)):
    """The same parameters and gradients in chainrule and in PyTorch (the ones in ``no_grad``
    have no gradient, which clipping skips)."""
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for i, shape in enumerate(SHAPES):
        value, grad = rng.standard_normal(shape).astype(dtype), (
            rng.standard_normal(shape) * scale).astype(dtype)
        p, pt = nn.Parameter(cr.tensor(value)), torch.nn.Parameter(torch.tensor(value))
        if i not in no_grad:
            p.grad, pt.grad = cr.tensor(grad), torch.tensor(grad)
        ours.append(p)
        theirs.append(pt)
    return ours, theirs


def _assert_grads_equal(ours, theirs, rtol):
    for p, pt in zip(ours, theirs):
        if pt.grad is None:
            assert p.grad is None
        else:
            assert p.grad.dtype == np.dtype(str(pt.grad.dtype).replace("torch.", ""))
            np.testing.assert_allclose(p.grad.data, pt.grad.numpy(), rtol=rtol, atol=1e-30)


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, 0.5, math.inf, "inf", 0, -math.inf])
@pytest.mark.parametrize("max_norm", [0.3, 1e6], ids=["clips", "no_clip"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm_as_torch(norm_type, max_norm, dtype):
    ours, theirs = _pair(dtype)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    assert isinstance(total, cr.Tensor) and total.shape == () and total.dtype == dtype
    np.testing.assert_allclose(total.data, total_t.numpy(), rtol=rtol)
    _assert_grads_equal(ours, theirs, rtol)


def test_clip_grad_norm_bounds_the_norm_and_returns_the_old_one():
    ours, _ = _pair(scale=10.0)
    before = np.sqrt(sum((p.grad.data ** 2).sum() for p in ours if p.grad is not None))
    total = nn.utils.clip_grad_norm_((p for p in ours), max_norm=2.0)
    after = np.sqrt(sum((p.grad.data ** 2).sum() for p in ours if p.grad is not None))
    assert total.item() == pytest.approx(before, rel=1e-12)
    assert after == pytest.approx(2.0, rel=1e-5) and after <= 2.0


@pytest.mark.parametrize("what", ["tensor", "generator", "empty", "no_grads"])
def test_clip_grad_norm_takes_what_torch_takes(what):
    def make(lib, ours):
        params = _pair()[0 if ours else 1]
        return {"tensor": params[0], "generator": (p for p in params), "empty": [],
                "no_grads": [params[3]]}[what]
    total = nn.utils.clip_grad_norm_(make(cr, True), 1.0, foreach=True)
    total_t = torch.nn.utils.clip_grad_norm_(make(torch, False), 1.0)
    np.testing.assert_allclose(total.data, total_t.numpy(), rtol=1e-12)
    assert total.dtype == np.dtype(str(total_t.dtype).replace("torch.", ""))


def test_clip_grad_norm_warns_on_an_empty_generator():
    with pytest.warns(UserWarning, match="empty generator"):
        nn.utils.clip_grad_norm_((p for p in []), 1.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_clip_grad_norm_error_if_nonfinite(bad):
    ours, theirs = _pair()
    ours[0].grad.data[0, 0] = bad
    theirs[0].grad[0, 0] = bad
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from "
                                           "`parameters` is non-finite"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    # without the flag, the gradients are scaled by the non-finite norm, as PyTorch
    nn.utils.clip_grad_norm_(ours, 1.0)
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    for p, pt in zip(ours, theirs):
        if pt.grad is not None:
            np.testing.assert_array_equal(p.grad.data, pt.grad.numpy())


def test_clip_grad_norm_counts_as_an_in_place_change():
    p = nn.Parameter(cr.ones(3))
    p.grad = cr.full((3,), 5.0)
    version = p.grad._version
    nn.utils.clip_grad_norm_([p], 1.0)
    assert p.grad._version == version + 1


def test_the_deprecated_clip_grad_norm():
    ours, theirs = _pair()
    with pytest.warns(FutureWarning, match="deprecated"):
        total = nn.utils.clip_grad_norm(ours, 0.5)
    np.testing.assert_allclose(total.data, torch.nn.utils.clip_grad_norm_(theirs, 0.5).numpy())


def test_get_total_norm_and_clip_grads_with_norm_as_torch():
    ours, theirs = _pair()
    grads = [p.grad for p in ours if p.grad is not None]
    grads_t = [p.grad for p in theirs if p.grad is not None]
    total = nn.utils.get_total_norm(grads, 3.0)
    total_t = torch.nn.utils.get_total_norm(grads_t, 3.0)
    np.testing.assert_allclose(total.data, total_t.numpy(), rtol=1e-12)
    nn.utils.clip_grads_with_norm_(ours, 0.5, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 0.5, total_t)
    _assert_grads_equal(ours, theirs, 1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_value_as_torch(dtype):
    ours, theirs = _pair(dtype, scale=3.0)
    assert nn.utils.clip_grad_value_(ours, 1.5, foreach=None) is None
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    _assert_grads_equal(ours, theirs, 0)
    assert max(np.abs(p.grad.data).max() for p in ours if p.grad is not None) == 1.5
    single, _ = _pair()
    nn.utils.clip_grad_value_(single[0], 0.1)
    assert np.abs(single[0].grad.data).max() == pytest.approx(0.1)


def test_clip_in_a_training_step_matches_torch():
    """Three SGD steps of a small MLP with clipping in each, against PyTorch's."""
    torch.manual_seed(0)
    mt = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    m = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    m.load_state_dict({k: v.numpy() for k, v in mt.state_dict().items()})
    opt, opt_t = cr.optim.SGD(m.parameters(), lr=0.5), torch.optim.SGD(mt.parameters(), lr=0.5)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, y = rng.standard_normal((16, 4)) * 5, rng.standard_normal((16, 2))
        for model, o, lib, utils in ((m, opt, cr, nn.utils), (mt, opt_t, torch, torch.nn.utils)):
            o.zero_grad()
            ((model(lib.tensor(x)) - lib.tensor(y)) ** 2).sum().backward()
            utils.clip_grad_norm_(model.parameters(), 0.25)
            o.step()
    for (name, p), (_, pt) in zip(m.named_parameters(), mt.named_parameters()):
        np.testing.assert_allclose(p.data, pt.detach().numpy(), rtol=1e-12, err_msg=name)


# -- parameters as one vector ----------------------------------------------------------------------

def test_parameters_to_vector_as_torch_and_differentiable():
    ours, theirs = _pair()
    v, vt = nn.utils.parameters_to_vector(ours), torch.nn.utils.parameters_to_vector(theirs)
    np.testing.assert_array_equal(v.data, vt.detach().numpy())
    assert v.shape == (sum(int(np.prod(s)) for s in SHAPES),) and v.grad_fn is not None
    fresh = [nn.Parameter(cr.randn(*s, dtype=cr.float64)) for s in SHAPES]
    weights = np.arange(v.shape[0], dtype=np.float64)
    (nn.utils.parameters_to_vector(fresh) * cr.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(np.concatenate([p.grad.data.reshape(-1) for p in fresh]),
                                  weights)


def test_vector_to_parameters_as_torch():
    ours, theirs = _pair()
    vec = np.linspace(-1, 1, sum(int(np.prod(s)) for s in SHAPES))
    v, vt = cr.tensor(vec), torch.tensor(vec)
    nn.utils.vector_to_parameters(v, ours)
    torch.nn.utils.vector_to_parameters(vt, theirs)
    for p, pt in zip(ours, theirs):
        assert p.shape == tuple(pt.shape)
        np.testing.assert_array_equal(p.data, pt.detach().numpy())
    # as PyTorch, each parameter's data is now a view of the vector
    v.data[0] = 42.0
    vt[0] = 42.0
    assert ours[0].data[0, 0] == theirs[0][0, 0].item() == 42.0
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(ours).data, v.data)


def test_vector_to_parameters_takes_the_vectors_dtype_as_torch():
    p, pt = nn.Parameter(cr.ones(3)), torch.nn.Parameter(torch.ones(3))
    nn.utils.vector_to_parameters(cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64), [p])
    torch.nn.utils.vector_to_parameters(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), [pt])
    assert p.dtype == np.float64 and pt.dtype == torch.float64


def test_vector_to_parameters_errors():
    p = nn.Parameter(cr.ones(3))
    with pytest.raises(TypeError, match="expected chainrule.Tensor, but got: list"):
        nn.utils.vector_to_parameters([1.0, 2.0, 3.0], [p])
    with pytest.raises(RuntimeError, match="vec has 2 elements"):
        nn.utils.vector_to_parameters(cr.ones(2), [p])


def test_nn_utils_is_a_package_with_torchs_names():
    import chainrule.nn.utils as U
    assert hasattr(U, "__path__")  # room for nn.utils.rnn and the like
    for name in ("clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
                 "vector_to_parameters", "get_total_norm", "clip_grads_with_norm_"):
        assert callable(getattr(cr.nn.utils, name)) and hasattr(torch.nn.utils, name)
    from chainrule.nn.utils.clip_grad import clip_grad_norm_
    assert clip_grad_norm_ is nn.utils.clip_grad_norm_
