"""Version counters: a value saved for backward and then changed in place must make backward
raise PyTorch's error (same versions in the message), never give a silently wrong gradient; and
ordinary code (training loops, changes made before an op used a tensor) must raise nothing."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

from ._parity import T, assert_same, assert_version_error_like_torch, torch
from .functions import functions

X = [1.0, 2.0, 3.0]
W = [4.0, 5.0, 6.0]


# -- each of these must raise PyTorch's error at backward --------------------------------------

def _w_changed(change, op=lambda L, x, w: x * w, x=X, w=W):
    """y = op(L, x, w), an op that saves w (w does not require grad); change(L, w) in place;
    backward."""
    def case(L):
        x_, w_ = T(L, x, True), T(L, w)
        y = op(L, x_, w_)
        change(L, w_)
        y.sum().backward()
    return case


def _output_changed(op, change, x=X):
    """y = op(L, x), an op that saves its output; change(y.detach()) in place; backward."""
    def case(L):
        y = op(L, T(L, x, True))
        change(y.detach())
        y.sum().backward()
    return case


def _input_changed(op, change, x=X):
    """a = x * 1; y = op(L, a), an op that saves its input; change(a) in place; backward."""
    def case(L):
        a = T(L, x, True) * 1
        y = op(L, a)
        change(a)
        y.sum().backward()
    return case


def _mul_between_changes(before, after):
    """w changed ``before`` times; y = x * w (MulBackward saves w); w changed ``after`` times."""
    def case(L):
        x = T(L, X, True)
        w = T(L, W)
        for _ in range(before):
            w.add_(1)
        y = x * w  # saved at version `before`
        for _ in range(after):
            w.add_(1)
        y.sum().backward()
    return case


def _linear_changed(change, x_requires_grad=True):
    """h = Linear(3, 2)(x), which saves x and the weight; change(L, lin, x, h); backward."""
    def case(L):
        L.manual_seed(0)
        lin = L.nn.Linear(3, 2)
        x = T(L, [X], x_requires_grad)
        h = lin(x)
        change(L, lin, x, h)
        h.sum().backward()
    return case


def _optimizer_step(name):
    """A change for _linear_changed: a first backward, then a step of optimizer ``name``."""
    def change(L, lin, x, h):
        opt = getattr(L.optim, name)(lin.parameters(), lr=0.1)
        h.sum().backward(retain_graph=True)
        opt.step()
    return change


def _zero_weight_under_no_grad(L, lin, x, h):
    with L.no_grad():
        lin.weight.mul_(0)


def case_second_backward_after_change(L):
    x = T(L, X, True)
    w = T(L, W)
    y = (x * w).sum()
    y.backward(retain_graph=True)
    w.add_(1)
    y.backward()


def case_autograd_grad_after_change(L):
    x = T(L, X, True)
    w = T(L, W)
    y = (x * w).sum()
    w.add_(1)
    L.autograd.grad(y, x)


VERSION_ERRORS = [
    pytest.param(_w_changed(lambda L, w: w.add_(1)), "Mul", True, id="w.add_"),
    pytest.param(_w_changed(lambda L, w: w.mul_(2)), "Mul", True, id="w.mul_"),
    pytest.param(_w_changed(lambda L, w: w.__setitem__(1, 7.0)), "Mul", True, id="w[i]=v"),
    pytest.param(_w_changed(lambda L, w: w.fill_(2.0)), "Mul", True, id="w.fill_"),
    pytest.param(_w_changed(lambda L, w: w.copy_(L.ones(3))), "Mul", True, id="w.copy_"),
    pytest.param(_w_changed(lambda L, w: w.zero_()), "Mul", True, id="w.zero_"),
    pytest.param(_w_changed(lambda L, w: w.__isub__(1)), "Mul", True, id="w-=1"),
    pytest.param(_w_changed(lambda L, w: w.view(3).add_(1)), "Mul", True, id="w.view(3).add_"),
    pytest.param(_w_changed(lambda L, w: w[0:2].mul_(2)), "Mul", True, id="w[0:2].mul_"),
    pytest.param(_w_changed(lambda L, w: w[1:].add_(1)), "Mul", True, id="w[1:].add_"),
    pytest.param(_w_changed(lambda L, w: w.reshape(3, 1)[0].fill_(0)), "Mul", True,
                 id="w.reshape()[0].fill_"),
    pytest.param(_w_changed(lambda L, w: w.detach().add_(1)), "Mul", True, id="w.detach().add_"),
    pytest.param(_w_changed(lambda L, w: w.T.add_(1), lambda L, x, w: x @ w,
                            x=[[1.0, 2.0], [3.0, 4.0]], w=[[4.0, 5.0], [6.0, 7.0]]),
                 "MatMul", True, id="w.T.add_"),
    pytest.param(_output_changed(lambda L, x: x.sigmoid(), lambda y: y.mul_(0)), "Sigmoid", True,
                 id="sigmoid-output-detach-mul_"),
    pytest.param(_output_changed(lambda L, x: x.exp(), lambda y: y.mul_(0)), "Exp", True,
                 id="exp-output"),
    pytest.param(_output_changed(lambda L, x: x.tanh(), lambda y: y.zero_(), x=[1.0, -2.0, 3.0]),
                 "Tanh", True, id="tanh-output"),
    pytest.param(_input_changed(lambda L, a: a ** 2, lambda a: a.detach().zero_(),
                                x=[1.0, -2.0, 3.0]), "Pow", True, id="pow-input"),
    pytest.param(_w_changed(lambda L, w: w.add_(1), lambda L, x, w: x / w), "Div", True,
                 id="div-divisor"),
    pytest.param(_w_changed(lambda L, c: c.__setitem__(0, False),
                            lambda L, x, c: L.where(c, x, T(L, 0.0)), w=[True, False, True]),
                 "Where", True, id="where-condition"),
    pytest.param(_mul_between_changes(1, 2), "Mul", True, id="versions-1-to-3"),
    pytest.param(case_second_backward_after_change, "Mul", True,
                 id="retain_graph-second-backward"),
    pytest.param(case_autograd_grad_after_change, "Mul", True, id="autograd.grad"),
    pytest.param(_w_changed(lambda L, w: w.add_(1), lambda L, x, w: x * w[0], w=[W]), "Mul", True,
                 id="base-of-saved-view"),
    # PyTorch saves x as a (1, 3) tensor and W transposed: compare versions, not shapes
    pytest.param(_linear_changed(lambda L, lin, x, h: x.add_(1), x_requires_grad=False),
                 "Linear", False, id="linear-input"),
    # a Linear's weight is at version 1 after construction (its init counts), as PyTorch's
    pytest.param(_linear_changed(_zero_weight_under_no_grad), "Linear", False,
                 id="param-mul_-under-no_grad"),
    pytest.param(_linear_changed(_optimizer_step("SGD")), "Linear", False, id="linear-sgd-step"),
    pytest.param(_linear_changed(_optimizer_step("Adam")), "Linear", False,
                 id="linear-adam-step"),
    pytest.param(_linear_changed(lambda L, lin, x, h: L.nn.init.zeros_(lin.weight)), "Linear",
                 False, id="nn.init.zeros_-after-forward"),
    pytest.param(_linear_changed(lambda L, lin, x, h: lin.load_state_dict(
        {"weight": L.ones(2, 3), "bias": L.ones(2)})), "Linear", False,
        id="load_state_dict-after-forward"),
    pytest.param(_w_changed(lambda L, i: i.__setitem__(0, 1), lambda L, x, i: x[i],
                            w=[0, 0, 2]), None, True, id="index-tensor"),
    pytest.param(_output_changed(lambda L, x: functions(L)["Exp"].apply(x), lambda y: y.add_(1)),
                 "Exp", True, id="custom-Function-saved-output"),
    pytest.param(_input_changed(lambda L, a: functions(L)["Legendre"].apply(a),
                                lambda a: a.add_(1)),
                 "LegendrePolynomial3", True, id="custom-Function-saved-input"),
]


@pytest.mark.parametrize("case, op, check_shape", VERSION_ERRORS)
def test_backward_raises_pytorchs_version_error(case, op, check_shape):
    assert_version_error_like_torch(case, op=op, check_shape=check_shape)


def test_expected_version_of_a_node_older_than_the_kept_changes_is_an_upper_bound():
    # chainrule keeps the stamps of the last 64 changes of an array. Here w is at version
    # 5 + 2000 = 2005; the stamps kept are those of changes 1942..2005, all made after y, so the
    # version y saw was at most 2005 - 64 = 1941, and the message says so. PyTorch keeps the
    # version in the saved variable and says "expected version 5" (5 <= 1941: the bound holds).
    case = _mul_between_changes(5, 2000)
    with pytest.raises(RuntimeError, match="is at version 2005; expected version 5 instead"):
        case(torch)
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as ce:
        case(cr)
    msg = str(ce.value)
    assert "[chainrule.FloatTensor [3]], which is input 1 of MulBackward" in msg, msg
    assert "is at version 2005; expected version 1941 or earlier instead" in msg, msg


@pytest.mark.parametrize("before, after", [(0, 1), (5, 63), (1000, 63)])
def test_expected_version_within_the_last_64_changes_is_exact_as_pytorch(before, after):
    cmsg, _ = assert_version_error_like_torch(_mul_between_changes(before, after), op="Mul")
    assert f"is at version {before + after}; expected version {before} instead" in cmsg, cmsg


def test_the_brief_repro_gives_no_silently_wrong_gradient():
    """The same repro, stated as what must never happen: a gradient from the changed w."""
    x = cr.tensor(X, requires_grad=True)
    w = cr.tensor(W)
    y = x * w
    w.add_(1)
    try:
        y.sum().backward()
    except RuntimeError:
        return
    pytest.fail(f"backward used w's new values: x.grad = {x.grad.tolist()} (w was {W})")


# -- no false alarms -----------------------------------------------------------------------------

def _copy_weights(cr_model, torch_model):
    for (name, p), (tname, tp) in zip(cr_model.named_parameters(), torch_model.named_parameters()):
        assert name == tname
        p.data[...] = tp.detach().numpy()


def _train(L, model, opt_cls, steps, **opt_kwargs):
    opt = opt_cls(model.parameters(), **opt_kwargs)
    xs = np.linspace(-1, 1, 40, dtype=np.float32).reshape(10, 4)
    X_, Y_ = T(L, xs), T(L, xs.sum(1, keepdims=True))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(X_) - Y_) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("opt_name, kwargs", [("SGD", dict(lr=0.05)),
                                              ("SGD", dict(lr=0.05, momentum=0.9)),
                                              ("Adam", dict(lr=0.01)),
                                              ("RMSprop", dict(lr=0.01)),
                                              ("Adagrad", dict(lr=0.05))])
def test_training_loop_raises_nothing_and_matches_pytorch(opt_name, kwargs):
    def build(L):
        return L.nn.Sequential(L.nn.Linear(4, 8), L.nn.ReLU(inplace=True), L.nn.Linear(8, 8),
                               L.nn.Tanh(), L.nn.Linear(8, 1))

    torch.manual_seed(0)
    tm, cm = build(torch), build(cr)
    _copy_weights(cm, tm)
    want = _train(torch, tm, getattr(torch.optim, opt_name), 60, **kwargs)
    got = _train(cr, cm, getattr(cr.optim, opt_name), 60, **kwargs)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)
    for p, tp in zip(cm.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=2e-4, atol=1e-5)


def _no_alarm(change_input=None, change_output=None):
    """a = x*1; y = f(a); change a or y in place; backward: fine in PyTorch (f did not save it)."""
    def make(f):
        def case(L):
            x = T(L, [0.5, 1.5, 2.5], True)
            a = x * 1
            y = f(L, a)
            if change_input:
                a.detach().add_(1)
            if change_output:
                y.detach().add_(1)
            y.sum().backward()
            return x.grad
        return case
    return make


NOT_SAVED = {
    # op does not keep its input: changing the input afterwards is fine
    "input of relu (saves its output)": (True, lambda L, a: a.relu()),
    "input of sigmoid": (True, lambda L, a: a.sigmoid()),
    "input of tanh": (True, lambda L, a: a.tanh()),
    "input of exp": (True, lambda L, a: a.exp()),
    "input of sqrt": (True, lambda L, a: a.sqrt()),
    "input of softmax": (True, lambda L, a: a.softmax(0)),
    "input of sum": (True, lambda L, a: a.sum()),
    "input of mean": (True, lambda L, a: a.mean()),
    "input of a + 3": (True, lambda L, a: a + 3),
    "input of a * 3 (a Python number needs no saved a)": (True, lambda L, a: a * 3),
    "input of a / 3": (True, lambda L, a: a / 3),
    "input of a * w, w without grad": (True, lambda L, a: a * T(L, [1.0, 2.0, 3.0])),
    "input of w * a, w without grad": (True, lambda L, a: T(L, [1.0, 2.0, 3.0]) * a),
    "input of a @ w, w without grad": (True, lambda L, a: a @ T(L, [1.0, 2.0, 3.0])),
    "input of a[1:] * 1": (True, lambda L, a: a[1:] * 1),
    "input of a.view(3) * 1": (True, lambda L, a: a.view(3) * 1),
    "input of cat": (True, lambda L, a: L.cat([a, a])),
    # op does not keep its output: changing the output afterwards is fine
    "output of a ** 2": (False, lambda L, a: a ** 2),
    "output of a / 3": (False, lambda L, a: a / 3),
    "output of a * 3": (False, lambda L, a: a * 3),
    "output of sin": (False, lambda L, a: a.sin()),
    "output of a + a": (False, lambda L, a: a + a),
}


@pytest.mark.parametrize("name", list(NOT_SAVED))
def test_no_false_alarm_when_the_op_did_not_save_the_changed_value(name):
    on_input, f = NOT_SAVED[name]
    case = _no_alarm(change_input=on_input, change_output=not on_input)(f)
    assert_same(case)


def case_change_before_use(L):
    x = T(L, X, True)
    w = T(L, W)
    w.add_(1)
    w[0] = 0.0
    w.mul_(2)
    y = x * w
    y.sum().backward()
    return x.grad, w._version


def case_change_after_backward(L):
    x = T(L, X, True)
    w = T(L, W)
    y = x * w
    y.sum().backward()
    w.add_(1)
    return x.grad


def case_unrelated_tensor_changed(L):
    x = T(L, X, True)
    w = T(L, W)
    u = T(L, W)
    y = (x * w).sum()
    u.add_(1)
    y.backward()
    return x.grad


def case_add_saves_nothing(L):
    x = T(L, X, True)
    w = T(L, W)
    y = x + w
    w.add_(1)
    y.sum().backward()
    return x.grad


def case_in_place_on_clone(L):
    x = T(L, X, True)
    w = T(L, W)
    y = x * w
    w.clone().add_(1)
    y.sum().backward()
    return x.grad


def case_new_forward_each_step(L):
    x = T(L, X, True)
    w = T(L, W)
    for _ in range(5):
        y = (x * w).sum()
        y.backward()
        w.add_(1)  # after backward: the next forward uses the new w
    return x.grad, w._version


@pytest.mark.parametrize("case", [case_change_before_use, case_change_after_backward,
                                  case_unrelated_tensor_changed, case_add_saves_nothing,
                                  case_in_place_on_clone, case_new_forward_each_step])
def test_no_false_alarm(case):
    assert_same(case)


# -- what _version counts ------------------------------------------------------------------------

def test_version_counts_each_in_place_op_as_pytorch():
    def case(L):
        w = T(L, W)
        seen = [w._version]
        for change in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.__setitem__(0, 1.0),
                       lambda: w.fill_(0), lambda: w.zero_(), lambda: w.copy_(T(L, X)),
                       lambda: w.sub_(1), lambda: w.div_(2), lambda: w.clamp_(0, 100),
                       lambda: w.relu_(), lambda: w.__iadd__(1), lambda: w.__isub__(1),
                       lambda: w.__imul__(2), lambda: w.__itruediv__(2), lambda: w.uniform_(),
                       lambda: w.normal_(), lambda: w.exp_(), lambda: w.abs_(),
                       lambda: w.__setitem__(w > 1, 0.0)):
            change()
            seen.append(w._version)
        return seen

    got = assert_same(case)
    assert got == list(range(20))


VIEWS = {
    "view": lambda t: t.view(6), "reshape": lambda t: t.reshape(3, 2), "T": lambda t: t.T,
    "t()": lambda t: t.t(), "transpose": lambda t: t.transpose(0, 1),
    "permute": lambda t: t.permute(1, 0), "unsqueeze": lambda t: t.unsqueeze(0),
    "squeeze": lambda t: t.unsqueeze(0).squeeze(0), "flatten": lambda t: t.flatten(),
    "slice": lambda t: t[:, 1:], "int index": lambda t: t[1], "unbind": lambda t: t.unbind(0)[1],
    "split": lambda t: t.split(1)[1], "chunk": lambda t: t.chunk(3, 1)[0],
    "detach": lambda t: t.detach(), "mT": lambda t: t.mT,
    "advanced index (a copy)": lambda t: t[[0, 1]], "clone (a copy)": lambda t: t.clone(),
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_views_share_the_version_counter_as_pytorch(name):
    def case(L):
        t = L.zeros(2, 3)
        v = VIEWS[name](t)
        seen = [(t._version, v._version)]
        t.add_(1)
        seen.append((t._version, v._version))
        v.add_(1)
        seen.append((t._version, v._version))
        return seen

    assert_same(case)


def test_in_place_ops_on_a_non_leaf_count_versions_as_pytorch():
    def case(L):
        x = T(L, X, True)
        y = x * 2
        seen = [y._version]
        y.add_(1)
        y.mul_(x)
        y[0] = 1.0
        y.relu_()
        seen.append(y._version)
        with L.no_grad():
            y.add_(1)
        seen.append(y._version)
        return seen

    assert_same(case)


@pytest.mark.parametrize("opt_name, kwargs", [("SGD", dict(lr=0.1)),
                                              ("SGD", dict(lr=0.1, momentum=0.9)),
                                              ("Adam", dict(lr=0.1)), ("RMSprop", dict(lr=0.1)),
                                              ("Adagrad", dict(lr=0.1))])
def test_each_optimizer_step_counts_one_version_as_pytorch(opt_name, kwargs):
    def case(L):
        lin = L.nn.Linear(3, 2)
        v0 = lin.weight._version, lin.bias._version
        opt = getattr(L.optim, opt_name)(lin.parameters(), **kwargs)
        for _ in range(3):
            opt.zero_grad()
            lin(L.ones(3)).sum().backward()
            opt.step()
        return lin.weight._version - v0[0], lin.bias._version - v0[1]

    assert assert_same(case) == (3, 3)


@pytest.mark.parametrize("fn", ["uniform_", "normal_", "zeros_", "ones_", "constant_",
                                "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                                "kaiming_normal_"])
def test_nn_init_counts_a_version_as_pytorch(fn):
    def case(L):
        w = L.empty(3, 2)
        v0 = w._version
        args = (0.5,) if fn == "constant_" else ()
        getattr(L.nn.init, fn)(w, *args)
        return w._version - v0

    assert assert_same(case) == 1


def test_module_construction_and_load_state_dict_count_versions_as_pytorch():
    def case(L):
        lin = L.nn.Linear(2, 2)
        seen = [lin.weight._version, lin.bias._version]
        lin.load_state_dict({"weight": L.ones(2, 2), "bias": L.ones(2)})
        seen += [lin.weight._version, lin.bias._version]
        return seen

    assert assert_same(case) == [1, 1, 2, 2]


def test_accumulating_into_grad_counts_a_version_as_pytorch():
    def case(L):
        x = T(L, X, True)
        (x * 2).sum().backward()
        first = x.grad._version
        (x * 2).sum().backward()
        return first, x.grad._version

    assert assert_same(case) == (0, 1)
