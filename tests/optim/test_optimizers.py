"""Optimizers against PyTorch's single-tensor (foreach=False) implementations, step by step."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

from .helpers import assert_close, gradients, make_params, set_grads

torch = pytest.importorskip("torch")

STEPS = 50

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "nesterov": True, "maximize": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.9)}),  # beta1 < 0.5: the other form of lerp
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "maximize": True, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.001, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.001, "centered": True}),
    ("RMSprop", {"lr": 0.001, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.001, "alpha": 0.3, "maximize": True, "centered": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "eps": 1e-6, "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "betas": (0.3, 0.9), "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("RAdam", {}),  # rho_t > 5 from step 6 on: both branches
    ("RAdam", {"lr": 0.01, "betas": (0.3, 0.5), "eps": 1e-6}),  # never rectified
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-4}),
    ("Adadelta", {"weight_decay": 0.1}),
    ("Adadelta", {"lr": 0.1, "weight_decay": 0.1, "maximize": True}),
    ("Adadelta", {"lr": 0.1, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.3, 0.5), "eps": 1e-6}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
]


def train_both(opt, ref, ours, theirs, dtype, steps=STEPS):
    """Step both optimizers on the same gradients; the parameters must stay together."""
    for grads in gradients(dtype, steps):
        set_grads(ours, grads)
        set_grads(theirs, grads)
        opt.step()
        ref.step()
    assert_close(ours, theirs, dtype)


def ids(case):
    name, options = case
    return name + "(" + ",".join(f"{k}={v}" for k, v in options.items()) + ")"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[ids(c) for c in CASES])
def test_matches_torch(case, dtype):
    name, options = case
    ours, theirs = make_params(dtype)
    opt = getattr(cr.optim, name)(ours, **options)
    ref = getattr(torch.optim, name)(theirs, foreach=False, **options)
    arrays = [np.asarray(p) for p in ours]
    train_both(opt, ref, ours, theirs, dtype)
    assert all(np.asarray(p) is a for p, a in zip(ours, arrays)), "updates must be in place"
    for p, q in zip(ours, theirs):  # state in the parameter's dtype, step counts as numbers
        assert opt.state[p].keys() == ref.state[q].keys()
        for key, value in opt.state[p].items():
            if isinstance(value, cr.Tensor):
                assert value.dtype == dtype and value.shape == p.shape, key
            elif key == "mu_product":  # NAdam's, a float32 number as in PyTorch
                assert type(value) is float and value == ref.state[q][key].item()
            else:
                assert key == "step" and value == STEPS


NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adadelta", "Adamax",
         "LBFGS"]


@pytest.mark.parametrize("name", NAMES)
def test_signature_matches_torch(name):
    """Every option has PyTorch's name, default, position and kind (positional or keyword-only),
    so that any call PyTorch takes means the same here. foreach, capturable and fused choose
    between PyTorch's implementations of one update: accepted, and they change nothing."""
    import inspect

    def options(cls):
        return [(p.name, p.default, p.kind) for p in inspect.signature(cls).parameters.values()]

    assert options(getattr(cr.optim, name)) == options(getattr(torch.optim, name))


@pytest.mark.parametrize("name, call", [
    ("Adadelta", lambda m, p: m.Adadelta(p, 0.5, 0.9, 1e-6, 0.1, False)),  # foreach: positional
    ("Adamax", lambda m, p: m.Adamax(p, 0.01, (0.9, 0.99), 1e-8, 0.1, False, maximize=True)),
    ("RMSprop", lambda m, p: m.RMSprop(p, 0.01, 0.9, 1e-8, 0, 0.5, True, False, False, True)),
    ("Adagrad", lambda m, p: m.Adagrad(p, 0.1, 0.01, 0.1, 0, 1e-10, False, fused=None)),
    ("Adam", lambda m, p: m.Adam(p, 0.01, foreach=False, capturable=False, fused=False)),
    ("NAdam", lambda m, p: m.NAdam(p, 0.01, foreach=True, capturable=False)),
    ("RAdam", lambda m, p: m.RAdam(p, 0.01, foreach=False, differentiable=False)),
    ("SGD", lambda m, p: m.SGD(p, 0.1, 0.9, foreach=False, fused=None)),
])
def test_implementation_switches_are_accepted(name, call):
    ours, theirs = make_params(np.float64)
    opt, ref = call(cr.optim, ours), call(torch.optim, theirs)
    train_both(opt, ref, ours, theirs, np.float64, steps=10)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "LBFGS"])
def test_differentiable_step_is_refused(name):
    (p,), _ = make_params(np.float32, shapes=[(2,)])
    with pytest.raises(RuntimeError, match=f"{name}: differentiable=True is not supported"):
        getattr(cr.optim, name)([p], differentiable=True)


def test_adamw_default_weight_decay():
    (p,), _ = make_params(np.float32, shapes=[(2,)])
    assert cr.optim.AdamW([p]).param_groups[0]["weight_decay"] == 1e-2
    assert cr.optim.AdamW([p]).param_groups[0]["decoupled_weight_decay"] is True


@pytest.mark.parametrize("name", [n for n in NAMES if n != "LBFGS"])
def test_params_without_grad_are_skipped(name):
    """A parameter whose grad is None (unused this step) is not updated and its state not
    advanced, as in PyTorch."""
    options = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    ours, theirs = make_params(np.float32)
    opt = getattr(cr.optim, name)(ours, lr=0.01, **options)
    ref = getattr(torch.optim, name)(theirs, lr=0.01, foreach=False, **options)
    for k, grads in enumerate(gradients(np.float32, 20)):
        grads = [None if (i + k) % 3 == 0 else g for i, g in enumerate(grads)]
        set_grads(ours, grads)
        set_grads(theirs, grads)
        opt.step()
        ref.step()
    assert_close(ours, theirs, np.float32)


def test_param_groups_with_different_options():
    ours, theirs = make_params(np.float32)

    def groups(params):
        return [{"params": params[:2]},
                {"params": params[2:4], "lr": 0.01, "momentum": 0.5},
                {"params": params[4:], "lr": 0.2, "nesterov": True, "weight_decay": 0.1}]

    opt = cr.optim.SGD(groups(ours), lr=0.05, momentum=0.9)
    ref = torch.optim.SGD(groups(theirs), lr=0.05, momentum=0.9, foreach=False)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.01, 0.2]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5, 0.9]
    for grads in gradients(np.float32, STEPS):
        set_grads(ours, grads)
        set_grads(theirs, grads)
        opt.step()
        ref.step()
    assert_close(ours, theirs, np.float32)


GROUPS = [
    ("NAdam", {"lr": 0.01}, {"momentum_decay": 0.01, "weight_decay": 0.1},
     {"betas": (0.5, 0.9), "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01}, {"betas": (0.3, 0.5)},
     {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("Adadelta", {"lr": 0.5}, {"rho": 0.5, "lr": 0.1}, {"eps": 1e-4, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.01}, {"betas": (0.5, 0.9)}, {"lr": 0.05, "maximize": True}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name, options, second, third", GROUPS, ids=[g[0] for g in GROUPS])
def test_groups_with_their_own_options(name, options, second, third, dtype):
    ours, theirs = make_params(dtype)

    def groups(params):
        return [{"params": params[:2]}, {"params": params[2:4], **second},
                {"params": params[4:], **third}]

    opt = getattr(cr.optim, name)(groups(ours), **options)
    ref = getattr(torch.optim, name)(groups(theirs), foreach=False, **options)
    train_both(opt, ref, ours, theirs, dtype)


def test_add_param_group_and_changing_lr_midway():
    ours, theirs = make_params(np.float64)
    opt = cr.optim.Adam(ours[:3], lr=0.01)
    ref = torch.optim.Adam(theirs[:3], lr=0.01, foreach=False)
    for k, grads in enumerate(gradients(np.float64, 30)):
        if k == 10:
            opt.add_param_group({"params": ours[3:], "lr": 0.05, "amsgrad": True})
            ref.add_param_group({"params": theirs[3:], "lr": 0.05, "amsgrad": True})
        if k == 20:
            opt.param_groups[0]["lr"] = ref.param_groups[0]["lr"] = 0.002
        set_grads(ours, grads)
        set_grads(theirs, grads)
        opt.step()
        ref.step()
    assert_close(ours, theirs, np.float64)


def test_sgd_mixed_dtypes_in_one_group():
    """Plain SGD scales each gradient by lr in its parameter's dtype, also when one group holds
    float32 and float64 parameters (small ones and one above the scratch size)."""
    shapes = [(3,), (70, 70), (2, 2), (80, 60)]
    dtypes = [np.float32, np.float64, np.float32, np.float32]
    rng = np.random.default_rng(3)
    ours = [cr.tensor(rng.standard_normal(s).astype(d), requires_grad=True)
            for s, d in zip(shapes, dtypes)]
    theirs = [torch.tensor(np.array(p), requires_grad=True) for p in ours]
    opt = cr.optim.SGD(ours, lr=0.3)
    ref = torch.optim.SGD(theirs, lr=0.3, foreach=False)
    for _ in range(3):
        grads = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]
        set_grads(ours, grads)
        set_grads(theirs, grads)
        opt.step()
        ref.step()
    for p, t in zip(ours, theirs):
        assert p.dtype == t.detach().numpy().dtype
        # last bits only (PyTorch fuses p + alpha * g); lr in float32 would be off by ~1e-8
        rtol = 1e-6 if p.dtype == np.float32 else 1e-14
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "LBFGS"])
def test_step_changes_the_version(name):
    """A step changes each updated parameter in place, as PyTorch's does: a graph that saved the
    old value refuses to backward, and a parameter without a gradient keeps its version."""
    (w, unused), _ = make_params(np.float64, shapes=[(3,), (2,)])
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * w).sum()
    opt = getattr(cr.optim, name)([w, unused], lr=0.1)
    w.grad = cr.ones(3, dtype=np.float64)
    before = (w._version, unused._version)
    opt.step()
    assert w._version > before[0] and unused._version == before[1]
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_nadam_mu_product_follows_the_default_dtype():
    """PyTorch keeps NAdam's mu_product in a tensor of the default dtype: float32 numbers, or
    float64 ones after set_default_dtype(float64)."""
    old, ref_old = cr.get_default_dtype(), torch.get_default_dtype()
    try:
        for dtype, ref_dtype in ((np.float64, torch.float64), (np.float32, torch.float32)):
            cr.set_default_dtype(dtype)
            torch.set_default_dtype(ref_dtype)
            ours, theirs = make_params(np.float64, shapes=[(4,)])
            opt = cr.optim.NAdam(ours, lr=0.1, momentum_decay=0.2)
            ref = torch.optim.NAdam(theirs, lr=0.1, momentum_decay=0.2, foreach=False)
            for grads in gradients(np.float64, 30, shapes=[(4,)]):
                set_grads(ours, grads)
                set_grads(theirs, grads)
                opt.step()
                ref.step()
            assert opt.state[ours[0]]["mu_product"] == ref.state[theirs[0]]["mu_product"].item()
            assert_close(ours, theirs, np.float64)
    finally:
        cr.set_default_dtype(old)
        torch.set_default_dtype(ref_old)


def test_sgd_rejects_integer_parameters():
    p = cr.tensor(np.array([5, 5]))
    p.grad = cr.tensor(np.array([1, 1]))
    with pytest.raises(TypeError, match="SGD: cannot update a parameter of dtype int64"):
        cr.optim.SGD([p], lr=0.1).step()
    assert p.data.tolist() == [5, 5]


def test_named_parameters():
    ours, _ = make_params(np.float32, shapes=[(2,), (3,)])
    opt = cr.optim.SGD([("w", ours[0]), ("b", ours[1])], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.param_groups[0]["params"][0] is ours[0]


def test_zero_grad():
    ours, _ = make_params(np.float32, shapes=[(2,), (3,)])
    opt = cr.optim.SGD(ours, lr=0.1)
    set_grads(ours, [np.ones(2, np.float32), np.ones(3, np.float32)])
    grad = ours[0].grad
    opt.zero_grad(set_to_none=False)
    assert ours[0].grad is grad and np.array_equal(grad.data, np.zeros(2))
    opt.zero_grad()
    assert ours[0].grad is None and ours[1].grad is None
    opt.zero_grad()  # nothing to clear: fine


def test_step_with_closure_matches_torch():
    """The closure recomputes loss and gradients (with grad enabled) and its loss is returned."""
    x = np.linspace(-1, 1, 12).reshape(4, 3)
    w0 = np.array([0.3, -0.2, 0.5])
    w = cr.tensor(w0.copy(), requires_grad=True)
    tw = torch.tensor(w0.copy(), requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([tw], lr=0.1, momentum=0.9, foreach=False)

    def closure():
        opt.zero_grad()
        loss = ((cr.tensor(x) @ w - 1.0) ** 2).mean()
        loss.backward()
        return loss

    def ref_closure():
        ref.zero_grad()
        loss = ((torch.tensor(x) @ tw - 1.0) ** 2).mean()
        loss.backward()
        return loss

    with cr.no_grad():  # the closure still builds its graph
        for _ in range(20):
            loss = opt.step(closure)
            ref_loss = ref.step(ref_closure)
            assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-12)
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-12)


def test_small_model_matches_torch():
    """A two-layer network trained with Adam, once cr.nn.Linear exists."""
    nn = pytest.importorskip("chainrule.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("chainrule.nn.Linear not written yet")
    torch.manual_seed(0)
    ref_model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    ref_model.double()
    l1, l2 = nn.Linear(4, 8), nn.Linear(8, 1)
    ours = [l1.weight, l1.bias, l2.weight, l2.bias]
    theirs = [ref_model[0].weight, ref_model[0].bias, ref_model[2].weight, ref_model[2].bias]
    for p, q in zip(ours, theirs):
        p.data = cr.from_numpy(q.detach().numpy().copy())
    opt = cr.optim.Adam(ours, lr=0.01, weight_decay=1e-3)
    ref = torch.optim.Adam(theirs, lr=0.01, weight_decay=1e-3, foreach=False)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4))
    y = np.sin(x.sum(1, keepdims=True))
    for _ in range(50):
        opt.zero_grad()
        ref.zero_grad()
        loss = ((l2(cr.tanh(l1(cr.tensor(x)))) - cr.tensor(y)) ** 2).mean()
        ref_loss = ((ref_model(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()
        loss.backward()
        ref_loss.backward()
        opt.step()
        ref.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-10)


# -- argument validation ---------------------------------------------------------------------

INVALID = [
    ("SGD", {"lr": -1}, "Invalid learning rate: -1"),
    ("SGD", {"momentum": -0.5}, "Invalid momentum value: -0.5"),
    ("SGD", {"weight_decay": -1e-4}, "Invalid weight_decay value: -0.0001"),
    ("SGD", {"nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
     "Nesterov momentum requires a momentum and zero dampening"),
    ("Adam", {"lr": -1}, "Invalid learning rate: -1"),
    ("Adam", {"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
    ("Adam", {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
    ("Adam", {"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
    ("Adam", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("AdamW", {"lr": -0.5}, "Invalid learning rate: -0.5"),
    ("AdamW", {"betas": (0.9, 1.5)}, "Invalid beta parameter at index 1: 1.5"),
    ("RMSprop", {"lr": -1}, "Invalid learning rate: -1"),
    ("RMSprop", {"eps": -1}, "Invalid epsilon value: -1"),
    ("RMSprop", {"momentum": -1}, "Invalid momentum value: -1"),
    ("RMSprop", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("RMSprop", {"alpha": -0.1}, "Invalid alpha value: -0.1"),
    ("Adagrad", {"lr": -1}, "Invalid learning rate: -1"),
    ("Adagrad", {"lr_decay": -1}, "Invalid lr_decay value: -1"),
    ("Adagrad", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("Adagrad", {"initial_accumulator_value": -1}, "Invalid initial_accumulator_value value: -1"),
    ("Adagrad", {"eps": -1}, "Invalid epsilon value: -1"),
    ("NAdam", {"lr": -1}, "Invalid learning rate: -1"),
    ("NAdam", {"eps": -1}, "Invalid epsilon value: -1"),
    ("NAdam", {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
    ("NAdam", {"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1: 1.0"),
    ("NAdam", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("NAdam", {"momentum_decay": -1}, "Invalid momentum_decay value: -1"),
    ("RAdam", {"lr": -1}, "Invalid learning rate: -1"),
    ("RAdam", {"eps": -1}, "Invalid epsilon value: -1"),
    ("RAdam", {"betas": (-0.1, 0.999)}, "Invalid beta parameter at index 0: -0.1"),
    ("RAdam", {"betas": (0.9, 1.5)}, "Invalid beta parameter at index 1: 1.5"),
    ("RAdam", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("Adadelta", {"lr": -1}, "Invalid learning rate: -1"),
    ("Adadelta", {"rho": 1.5}, "Invalid rho value: 1.5"),
    ("Adadelta", {"rho": -0.1}, "Invalid rho value: -0.1"),
    ("Adadelta", {"eps": -1}, "Invalid epsilon value: -1"),
    ("Adadelta", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("Adamax", {"lr": -1}, "Invalid learning rate: -1"),
    ("Adamax", {"eps": -1}, "Invalid epsilon value: -1"),
    ("Adamax", {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
    ("Adamax", {"betas": (0.9, -1)}, "Invalid beta parameter at index 1: -1"),
    ("Adamax", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("LBFGS", {"lr": -1}, "Invalid learning rate: -1"),
]


@pytest.mark.parametrize("name, options, message", INVALID,
                         ids=[f"{n}-{'-'.join(o)}" for n, o, _ in INVALID])
def test_invalid_options_raise_torch_message(name, options, message):
    ours, theirs = make_params(np.float32, shapes=[(2,)])
    with pytest.raises(ValueError) as ref_error:
        getattr(torch.optim, name)(theirs, **options)
    assert str(ref_error.value) == message  # the table holds PyTorch's own words
    with pytest.raises(ValueError) as error:
        getattr(cr.optim, name)(ours, **options)
    assert str(error.value) == message


def test_invalid_option_in_a_group():
    ours, _ = make_params(np.float32, shapes=[(2,), (3,)])
    with pytest.raises(ValueError, match="Invalid learning rate: -0.1"):
        cr.optim.SGD([{"params": ours[:1]}, {"params": ours[1:], "lr": -0.1}], lr=0.1)


def test_invalid_params():
    ours, _ = make_params(np.float32, shapes=[(2,), (3,)])
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, but got Tensor"):
        cr.optim.SGD(ours[0], lr=0.1)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        cr.optim.Adam([])
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors, but one of the "
                                        "params is numpy.ndarray"):
        cr.optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        cr.optim.SGD([ours[0] * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        cr.optim.SGD({ours[0], ours[1]}, lr=0.1)
    opt = cr.optim.SGD(ours[:1], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": ours})
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group(ours[1:])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        cr.optim.SGD([ours[0], ours[0]], lr=0.1)
    with pytest.raises(ValueError, match="Some param names are missing"):
        cr.optim.SGD([("w", ours[0]), ours[1]], lr=0.1)
    opt = cr.optim.SGD([("w", ours[0])], lr=0.1)
    with pytest.raises(ValueError, match="cannot add param group without names"):
        opt.add_param_group({"params": ours[1:]})


def test_repr():
    ours, _ = make_params(np.float32, shapes=[(2,)])
    text = repr(cr.optim.SGD(ours, lr=0.1, momentum=0.9))
    assert text.startswith("SGD (\nParameter Group 0\n") and "    momentum: 0.9\n" in text


@pytest.mark.parametrize("case", [c for c in CASES if c[1]], ids=[ids(c) for c in CASES if c[1]])
def test_warm_step_allocates_no_arrays(case):
    """After the first step (state and scratch created), a step allocates no parameter-sized
    temporaries: the updates run in place through ``out=``."""
    import tracemalloc

    name, options = case
    shapes = [(256, 256), (256,)]
    params, _ = make_params(np.float32, shapes=shapes)
    opt = getattr(cr.optim, name)(params, **options)
    grads = gradients(np.float32, 4, shapes=shapes)
    for g in grads[:2]:
        set_grads(params, g)
        opt.step()
    set_grads(params, grads[2])
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 256 * 4 // 8, f"a step allocated {peak} bytes"
