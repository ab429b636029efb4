"""Module semantics as PyTorch's: registration, traversal order, modes, state_dict round trips
and errors, dtype conversion, repr; Parameter; the containers."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from .helpers import CR, torch_ns


# -- architectures built the same way in both libraries ------------------------------------------

def mlp(L):
    return L.nn.Sequential(L.nn.Linear(784, 256), L.nn.ReLU(), L.nn.Dropout(0.2),
                           L.nn.Linear(256, 10))


def cnn(L):
    return L.nn.Sequential(
        L.nn.Conv2d(1, 8, 3, padding=1), L.nn.BatchNorm2d(8), L.nn.ReLU(), L.nn.MaxPool2d(2),
        L.nn.Conv2d(8, 16, 3, stride=2, groups=2, bias=False), L.nn.ReLU(), L.nn.AvgPool2d(2),
        L.nn.Flatten(), L.nn.Linear(144, 10))


def custom(L):
    class Block(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = L.nn.Linear(4, 4)
            self.norm = L.nn.BatchNorm1d(4)
            self.register_buffer("scale", L.lib.ones(4))
            self.register_buffer("cache", L.lib.zeros(2), persistent=False)

        def forward(self, x):
            return self.norm(self.fc(x)) * self.scale

    class Net(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = L.nn.Parameter(L.lib.ones(1))
            self.blocks = L.nn.ModuleList([Block(), Block()])
            self.head = L.nn.Sequential(OrderedDict([("act", L.nn.GELU()),
                                                     ("out", L.nn.Linear(4, 3, bias=False))]))
            self.shared = self.blocks[0].fc  # the same module under two names
            self.beta = L.nn.Parameter(L.lib.zeros(2))

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return self.head(x) * self.alpha

    return Net()


ARCHS = {"mlp": mlp, "cnn": cnn, "custom": custom}


@pytest.mark.parametrize("arch", ARCHS)
def test_names_and_order_match_torch(arch):
    T = torch_ns()
    m, mt = ARCHS[arch](CR), ARCHS[arch](T)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in mt.named_parameters()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in mt.named_buffers()]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in mt.named_modules()]
    assert [n for n, _ in m.named_children()] == [n for n, _ in mt.named_children()]
    assert list(m.state_dict()) == list(mt.state_dict())
    assert [tuple(p.shape) for p in m.parameters()] == [tuple(p.shape) for p in mt.parameters()]
    assert ([n for n, _ in m.named_parameters(recurse=False)]
            == [n for n, _ in mt.named_parameters(recurse=False)])
    assert (sorted(n for n, _ in m.named_parameters(remove_duplicate=False))
            == sorted(n for n, _ in mt.named_parameters(remove_duplicate=False)))


@pytest.mark.parametrize("arch", ARCHS)
def test_repr_matches_torch(arch):
    T = torch_ns()
    assert repr(ARCHS[arch](CR)) == repr(ARCHS[arch](T))


def test_repr_of_every_layer_matches_torch():
    T = torch_ns()

    def layers(L):
        n = L.nn
        return n.Sequential(
            n.Linear(3, 4, bias=False), n.Identity(), n.ReLU(), n.ReLU(inplace=True),
            n.LeakyReLU(), n.LeakyReLU(0.2, inplace=True), n.Sigmoid(), n.Tanh(), n.GELU(),
            n.GELU("tanh"), n.Softmax(dim=1), n.Softmax(), n.LogSoftmax(1), n.Dropout(),
            n.Dropout(0.1, inplace=True), n.BatchNorm1d(4), n.BatchNorm2d(3, momentum=None,
                                                                             affine=False),
            n.BatchNorm1d(2, eps=1e-3, bias=False, track_running_stats=False),
            n.Flatten(), n.Flatten(0, 2), n.Unflatten(1, (2, 5)),
            n.Conv2d(2, 4, (3, 5), stride=(2, 1), padding=(1, 2), dilation=2, groups=2,
                     bias=False, padding_mode="reflect"),
            n.Conv2d(2, 2, 3, padding="same"), n.Conv2d(2, 2, 3, padding="valid"),
            n.MaxPool2d(3, 1, 1, ceil_mode=True), n.MaxPool2d((2, 3)), n.AvgPool2d(2),
            n.AvgPool2d(3, 2, 1),
            n.ModuleList([n.Linear(2, 2), n.Linear(2, 2), n.ReLU(), n.Linear(2, 2)]),
            n.ModuleList(), n.ModuleDict({"a": n.ReLU(), "b": n.Linear(1, 1)}),
            n.CrossEntropyLoss(), n.NLLLoss(), n.MSELoss(), n.L1Loss(), n.BCELoss(),
            n.BCEWithLogitsLoss())

    assert repr(layers(CR)) == repr(layers(T))


def test_parameter():
    p = nn.Parameter(cr.ones(2))
    assert isinstance(p, cr.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    assert repr(nn.Parameter(cr.ones(2), requires_grad=False)) == \
        "Parameter containing:\ntensor([1., 1.])"
    t = cr.zeros(3)
    q = nn.Parameter(t)
    q.data[0] = 5
    assert t.data[0] == 5  # shares the array, as torch.nn.Parameter(t)
    assert nn.Parameter().shape == (0,)
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(cr.tensor([1, 2]))
    (p * 3).sum().backward()
    np.testing.assert_array_equal(p.grad.data, [3, 3])
    assert type(p * 3) is cr.Tensor


# -- registration ----------------------------------------------------------------------------------

class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(cr.ones(2, 3))
        self.sub = nn.Linear(2, 2)
        self.register_buffer("running", cr.zeros(3))
        self.plain = 5

    def forward(self, x):
        return self.sub(x @ self.w.T)


def test_setattr_registers_parameters_modules_and_buffers():
    m = Small()
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"]
    assert list(m._buffers) == ["running"] and m.plain == 5 and "plain" in m.__dict__
    assert m.w is m._parameters["w"] and m.sub is m._modules["sub"]
    m.running = cr.ones(3)  # assigning a Tensor to a buffer name replaces the buffer
    assert m._buffers["running"].data.sum() == 3
    m.w = None
    assert m._parameters["w"] is None and [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = cr.ones(2)
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'sub'"):
        m.sub = 3
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer 'running'"):
        m.running = 3
    m.sub = nn.Parameter(cr.ones(1))  # a Parameter replaces a module of the same name
    assert "sub" not in m._modules and "sub" in m._parameters
    del m.sub
    assert not hasattr(m, "sub")
    with pytest.raises(AttributeError, match="'Small' object has no attribute 'nothing'"):
        m.nothing


def test_register_errors():
    m = nn.Module()
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", nn.Parameter(cr.ones(1)))
    with pytest.raises(KeyError, match="empty string"):
        m.register_buffer("", cr.ones(1))
    with pytest.raises(TypeError, match="cannot assign 'Tensor' object to parameter 'a'"):
        m.register_parameter("a", cr.ones(1))
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("a", 3)
    m.x = 1
    with pytest.raises(KeyError, match="attribute 'x' already exists"):
        m.register_buffer("x", cr.ones(1))

    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgot()
    with pytest.raises(NotImplementedError, match="missing the required \"forward\""):
        nn.Module()(cr.ones(1))


def test_call_runs_forward():
    m = Small()
    x = cr.randn(4, 3)
    np.testing.assert_array_equal(m(x).data, m.forward(x).data)


def test_non_persistent_buffer_is_not_in_state_dict():
    m = nn.Module()
    m.register_buffer("a", cr.ones(1))
    m.register_buffer("b", cr.ones(1), persistent=False)
    assert [n for n, _ in m.named_buffers()] == ["a", "b"]
    assert list(m.state_dict()) == ["a"]


def test_shared_parameters_appear_once():
    a = nn.Linear(2, 2)
    m = nn.Sequential(a, nn.ReLU(), a)
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(m.modules())) == 3
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_children_and_submodules():
    m = Small()
    assert list(m.children()) == [m.sub]
    assert list(m.modules()) == [m, m.sub]
    assert m.get_submodule("sub") is m.sub and m.get_submodule("") is m
    assert m.get_parameter("sub.weight") is m.sub.weight
    assert m.get_buffer("running") is m.running
    with pytest.raises(AttributeError):
        m.get_submodule("nope")


def test_apply_visits_children_first_like_torch():
    T = torch_ns()
    for L in (CR, T):
        seen = []
        ARCHS["custom"](L).apply(lambda mod: seen.append(type(mod).__name__))
        L.seen = seen
    assert CR.seen == T.seen


# -- modes and gradients -----------------------------------------------------------------------------

def test_train_eval_propagate_and_change_behaviour():
    m = nn.Sequential(nn.Linear(10, 10), nn.Dropout(0.5), nn.BatchNorm1d(10))
    assert all(mod.training for mod in m.modules())
    x = cr.randn(8, 10)
    assert m.eval() is m
    assert not any(mod.training for mod in m.modules())
    np.testing.assert_array_equal(m(x).data, m(x).data)  # eval: deterministic
    m.train()
    assert all(mod.training for mod in m.modules())
    assert not np.array_equal(m(x).data, m(x).data)  # dropout draws new masks
    with pytest.raises(ValueError, match="boolean"):
        m.train("no")


def test_zero_grad_and_requires_grad():
    m = nn.Linear(3, 2)
    m(cr.randn(4, 3)).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert np.all(m.weight.grad.data == 0)
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    assert m(cr.randn(1, 3)).grad_fn is None
    m.requires_grad_()
    assert all(p.requires_grad for p in m.parameters())


# -- state_dict ----------------------------------------------------------------------------------------

def test_state_dict_is_detached_and_shares_memory():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                        "1.running_var", "1.num_batches_tracked"]
    w = sd["0.weight"]
    assert type(w) is cr.Tensor and not w.requires_grad and w.grad_fn is None
    w.data[0, 0] = 42.0
    assert m[0].weight.data[0, 0] == 42.0
    assert sd["1.num_batches_tracked"].dtype == np.int64 and sd["1.num_batches_tracked"].shape == ()
    kept = m.state_dict(keep_vars=True)
    assert kept["0.weight"] is m[0].weight


def test_load_state_dict_round_trip_in_place():
    cr.manual_seed(0)
    a = mlp(CR)
    cr.manual_seed(1)
    b = mlp(CR)
    params_before = list(b.parameters())
    assert repr(b.load_state_dict(a.state_dict())) == "<All keys matched successfully>"
    assert list(b.parameters())[0] is params_before[0]  # copied into the same Parameters
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        assert p.data is not q.data  # copies, not shared
    x = cr.randn(2, 784)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_load_state_dict_errors():
    m = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    sd = m.state_dict()
    sd["2.weight"] = cr.zeros(10, 784)
    sd.pop("0.bias")
    sd["3.weight"] = cr.zeros(1)
    sd["0.extra"] = cr.zeros(1)
    with pytest.raises(RuntimeError) as err:
        m.load_state_dict(sd)
    assert str(err.value) == (
        'Error(s) in loading state_dict for Sequential:\n'
        '\tMissing key(s) in state_dict: "0.bias". \n'
        '\tUnexpected key(s) in state_dict: "3.weight", "0.extra". \n'
        '\tsize mismatch for 2.weight: copying a param with shape (10, 784) from checkpoint, '
        'the shape in current model is (10, 128).')
    del sd["2.weight"]
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["0.bias", "2.weight"]
    assert result.unexpected_keys == ["3.weight", "0.extra"]  # torch's order: by module
    sd["2.weight"] = cr.zeros(10, 784)
    with pytest.raises(RuntimeError, match=r"size mismatch for 2.weight"):
        m.load_state_dict(sd, strict=False)  # a size mismatch is an error even when not strict
    with pytest.raises(TypeError, match="dict-like"):
        m.load_state_dict([1, 2])


def test_load_state_dict_errors_match_torch_wording():
    T = torch_ns()
    sd = {"weight": np.zeros((3, 3), np.float32), "bias2": np.zeros(3, np.float32)}
    messages = []
    for L in (CR, T):
        m = L.nn.Linear(2, 3)
        with pytest.raises(RuntimeError) as err:
            m.load_state_dict({k: L.lib.tensor(v) for k, v in sd.items()})
        messages.append(str(err.value).replace("torch.Size([3, 3])", "(3, 3)")
                        .replace("torch.Size([3, 2])", "(3, 2)"))
    assert messages[0] == messages[1]


def test_load_a_torch_state_dict_and_agree():
    T = torch_ns()
    torch = T.lib
    mt = ARCHS["custom"](T).double()
    m = ARCHS["custom"](CR).double()
    m.load_state_dict(mt.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 4))
    y, yt = m(cr.tensor(x)), mt(torch.tensor(x))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10)
    y.sum().backward()
    yt.sum().backward()
    for (n, p), (nt, pt) in zip(m.named_parameters(), mt.named_parameters()):
        assert n == nt
        if pt.grad is None:  # beta is not used
            assert p.grad is None
            continue
        np.testing.assert_allclose(p.grad.data, pt.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=n)
    for (n, b), (_, bt) in zip(m.named_buffers(), mt.named_buffers()):  # running stats too
        np.testing.assert_allclose(b.data, bt.numpy(), rtol=1e-12, err_msg=n)


def test_load_state_dict_casts_and_assign():
    m = nn.Linear(2, 2)
    m.load_state_dict({"weight": np.ones((2, 2)), "bias": [1.0, 2.0]})
    assert m.weight.dtype == np.float32 and m.bias.data.tolist() == [1.0, 2.0]
    w = np.full((2, 2), 3.0, np.float32)
    m.load_state_dict({"weight": w, "bias": np.zeros(2, np.float32)}, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    np.testing.assert_array_equal(m.weight.data, w)


def test_deepcopy():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    c = copy.deepcopy(m)
    assert isinstance(c[0].weight, nn.Parameter) and c[0].weight.requires_grad
    assert c[0].weight is not m[0].weight
    np.testing.assert_array_equal(c[0].weight.data, m[0].weight.data)
    c[0].weight.data += 1
    assert not np.array_equal(c[0].weight.data, m[0].weight.data)
    assert list(c.state_dict()) == list(m.state_dict())


# -- dtype ------------------------------------------------------------------------------------------

def test_to_double_and_back_keeps_the_parameter_objects():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    params = list(m.parameters())
    m(cr.randn(4, 3)).sum().backward()
    assert m.double() is m
    assert list(m.parameters()) == params and all(a is b for a, b in zip(m.parameters(), params))
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    assert m(cr.randn(4, 3, dtype=cr.float64)).dtype == np.float64
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters())
    m.to(cr.float64)
    assert m[0].weight.dtype == np.float64
    m.to("cpu", dtype=cr.float32)
    assert m[0].weight.dtype == np.float32
    m.to(cr.zeros(1, dtype=cr.float64))
    assert m[0].weight.dtype == np.float64
    assert m.to("cpu") is m and m.cpu() is m
    with pytest.raises(RuntimeError, match="CPU only"):
        m.to("cuda")
    with pytest.raises(TypeError, match="floating point"):
        m.to(cr.int64)


# -- containers -----------------------------------------------------------------------------------------

def test_sequential_list_behaviour():
    a, b, c = nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and list(s) == [a, b, c]
    assert s[0] is a and s[-1] is c
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c] and list(sub._modules) == ["1", "2"]
    with pytest.raises(IndexError):
        s[3]
    d = nn.Tanh()
    s.append(d)
    assert s[3] is d and list(s._modules) == ["0", "1", "2", "3"]
    del s[1]
    assert list(s) == [a, c, d] and list(s._modules) == ["0", "1", "2"]
    s[1] = b
    assert list(s) == [a, b, d]
    s.insert(1, c)
    assert list(s) == [a, c, b, d]
    assert s.pop(1) is c and list(s) == [a, b, d]
    x = cr.randn(5, 1)
    np.testing.assert_array_equal(s(x).data, d(b(a(x))).data)
    named = nn.Sequential(OrderedDict([("fc", a), ("act", b)]))
    assert [n for n, _ in named.named_children()] == ["fc", "act"] and named.fc is a


def test_sequential_deletion_renumbers_like_torch():
    T = torch_ns()
    names = []
    for L in (CR, T):
        s = L.nn.Sequential(*[L.nn.ReLU() for _ in range(5)])
        del s[1:3]
        del s[-1]
        s.append(L.nn.Tanh())
        names.append(list(s._modules))
    assert names[0] == names[1]


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    holder = nn.Module()
    holder.layers = layers
    assert len(list(holder.parameters())) == 6
    assert layers[-1] is list(layers)[2] and isinstance(layers[:2], nn.ModuleList)
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers += [nn.Sigmoid()]
    assert len(layers) == 6
    del layers[0]
    assert list(layers._modules) == [str(i) for i in range(5)]
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity)
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d["b"] = nn.ReLU()
    assert list(d) == ["a", "b"] and "a" in d and len(d) == 2
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]


# -- importing -------------------------------------------------------------------------------------------

def test_lazy_import_of_nn():
    code = ("import chainrule as cr; import sys; assert 'chainrule.nn' not in sys.modules; "
            "m = cr.nn.Linear(2, 3); import chainrule.nn.functional as F; "
            "print(type(m).__name__, F.relu is cr.nn.functional.relu)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "Linear True"
