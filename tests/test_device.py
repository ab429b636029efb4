"""The device idiom: cr.device, cr.cuda, cr.backends, cr.accelerator, device= on creation
functions, .to(device) / .cpu() / .cuda() on tensors and modules; compared with PyTorch's."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn

torch = pytest.importorskip("torch")

CPU_ERROR = r"chainrule runs on the CPU only; device '{}' is not available"


# cr.device -------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [("cpu",), ("cpu:0",), ("cpu", 0), ("cuda",), ("cuda:1",),
                                  ("cuda", 2), ("mps",), ("meta",), ("xla:3",)])
def test_device_object_like_torch(args):
    ours, theirs = cr.device(*args), torch.device(*args)
    assert (repr(ours), str(ours), ours.type, ours.index) == (
        repr(theirs), str(theirs), theirs.type, theirs.index)
    assert ours == cr.device(*args) and hash(ours) == hash(cr.device(*args))
    assert cr.device(ours) == ours and pickle.loads(pickle.dumps(ours)) == ours


@pytest.mark.parametrize("a, b", [("cpu", "cpu:0"), ("cpu", "cuda"), ("cuda:0", "cuda:1")])
def test_devices_differ_like_torch(a, b):
    assert (cr.device(a) == cr.device(b)) == (torch.device(a) == torch.device(b)) == False  # noqa


@pytest.mark.parametrize("bad", ["foo", "cpu:x", "cuda:-1", "gpu"])
def test_bad_device_strings_raise_like_torch(bad):
    with pytest.raises(RuntimeError) as theirs:
        torch.device(bad)
    with pytest.raises(RuntimeError) as ours:
        cr.device(bad)
    assert str(ours.value).split(":")[0] == str(theirs.value).split(":")[0]


def test_device_is_immutable_and_equals_its_string():
    d = cr.device("cpu")
    with pytest.raises(AttributeError, match="not writable"):
        d.type = "cuda"
    assert d == "cpu" and "cpu" == d and d != "cuda" and cr.device("cpu", 0) == "cpu:0"
    assert {d: 1}["cpu"] == 1  # hash agrees with equality
    with pytest.raises(TypeError, match="expected a string or a device"):
        cr.device(1.5)


# cr.cuda, cr.backends, cr.accelerator ----------------------------------------------------------


def test_cuda_and_backend_checks_like_torch():
    assert cr.cuda.is_available() is torch.cuda.is_available() is False
    assert cr.cuda.device_count() == torch.cuda.device_count() == 0
    assert cr.cuda.is_initialized() is False
    assert cr.backends.mps.is_available() is torch.backends.mps.is_available() is False
    assert cr.backends.mps.is_built() is False
    assert cr.backends.cudnn.is_available() is torch.backends.cudnn.is_available() is False
    assert cr.accelerator.is_available() is torch.accelerator.is_available() is False
    assert cr.accelerator.current_accelerator() is torch.accelerator.current_accelerator() is None
    assert cr.accelerator.device_count() == 0


def test_cuda_seeding_and_cache_do_nothing_and_gpu_queries_raise():
    cr.manual_seed(3)
    before = cr.get_rng_state()
    cr.cuda.manual_seed(0), cr.cuda.manual_seed_all(0), cr.cuda.empty_cache()
    assert np.array_equal(cr.get_rng_state(), before)
    for f in (cr.cuda.synchronize, cr.cuda.current_device, cr.cuda.get_device_name):
        with pytest.raises(RuntimeError, match="cuda.* chainrule runs on the CPU only"):
            f()


def test_cudnn_flags_can_be_set():
    import chainrule.backends.cudnn as cudnn

    old = cudnn.benchmark, cudnn.deterministic
    cr.backends.cudnn.deterministic = True
    cr.backends.cudnn.benchmark = False
    assert cudnn.deterministic is True
    cudnn.benchmark, cudnn.deterministic = old


# device= on creation functions -----------------------------------------------------------------

CREATION = {
    "tensor": lambda L, d: L.tensor([1.0, 2.0], device=d),
    "as_tensor": lambda L, d: L.as_tensor([1, 2], device=d),
    "zeros": lambda L, d: L.zeros(2, 3, device=d),
    "ones": lambda L, d: L.ones((2,), device=d),
    "empty": lambda L, d: L.empty(4, device=d).zero_(),
    "full": lambda L, d: L.full((2, 2), 7.0, device=d),
    "zeros_like": lambda L, d: L.zeros_like(L.ones(3), device=d),
    "ones_like": lambda L, d: L.ones_like(L.zeros(3), device=d),
    "full_like": lambda L, d: L.full_like(L.zeros(3), 2.5, device=d),
    "arange": lambda L, d: L.arange(5, device=d),
    "linspace": lambda L, d: L.linspace(0, 1, 5, device=d),
    "eye": lambda L, d: L.eye(3, device=d),
    "rand": lambda L, d: L.rand(2, 3, device=d).shape,
    "randn": lambda L, d: L.randn(2, device=d).shape,
    "randint": lambda L, d: L.randint(0, 5, (3,), device=d).shape,
    "randperm": lambda L, d: L.randperm(4, device=d).sort()[0] if L is torch
    else L.tensor(np.sort(L.randperm(4, device=d).data)),
    "rand_like": lambda L, d: L.rand_like(L.ones(3), device=d).shape,
    "randn_like": lambda L, d: L.randn_like(L.ones(3), device=d).shape,
    "randint_like": lambda L, d: L.randint_like(L.ones(3), 5, device=d).shape,
    "new_tensor": lambda L, d: L.ones(2).new_tensor([1.0, 2.0], device=d),
    "new_zeros": lambda L, d: L.ones(2).new_zeros(2, 3, device=d),
    "new_ones": lambda L, d: L.ones(2).new_ones((2,), device=d),
    "new_full": lambda L, d: L.ones(2).new_full((2,), 3.0, device=d),
    "new_empty": lambda L, d: L.ones(2).new_empty(2, device=d).shape,
}


def _creation(name):
    if not (hasattr(cr, name) or hasattr(cr.Tensor, name)):  # made by another part of issue 15
        pytest.skip(f"chainrule has no {name} yet")
    return CREATION[name]


def _same(ours, theirs):
    if isinstance(theirs, torch.Size):
        assert tuple(ours) == tuple(theirs)
        return
    assert ours.device == "cpu" and str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.data, theirs.numpy())


@pytest.mark.parametrize("name", CREATION)
@pytest.mark.parametrize("dev", ["cpu", "cpu:0", "device", None])
def test_creation_on_the_cpu_like_torch(name, dev):
    f = _creation(name)
    ours = f(cr, cr.device("cpu") if dev == "device" else dev)
    theirs = f(torch, torch.device("cpu") if dev == "device" else dev)
    _same(ours, theirs)


@pytest.mark.parametrize("name", CREATION)
@pytest.mark.parametrize("dev", ["cuda", "cuda:0", "mps"])
def test_creation_on_another_device_raises(name, dev):
    f = _creation(name)
    with pytest.raises(RuntimeError, match=f"{name}: " + CPU_ERROR.format(dev)):
        f(cr, dev)
    with pytest.raises(RuntimeError, match=CPU_ERROR.format("cuda")):
        f(cr, cr.device("cuda"))


# Tensor.to / .cpu / .cuda / .device -------------------------------------------------------------


def test_tensor_device_attributes_like_torch():
    ours, theirs = cr.zeros(2), torch.zeros(2)
    assert repr(ours.device) == repr(theirs.device) and str(ours.device) == "cpu"
    assert ours.device == cr.device("cpu") and ours.device == "cpu"
    assert (ours.is_cuda, ours.is_cpu, ours.get_device()) == (
        theirs.is_cuda, theirs.is_cpu, theirs.get_device())
    assert ours.cpu() is ours


TO_FORMS = {
    "dtype": lambda L, t: t.to(L.float64),
    "device": lambda L, t: t.to(L.device("cpu")),
    "str": lambda L, t: t.to("cpu"),
    "device, dtype": lambda L, t: t.to("cpu", L.float64),
    "device=, dtype=": lambda L, t: t.to(device=L.device("cpu"), dtype=L.float64),
    "dtype=": lambda L, t: t.to(dtype=L.int64),
    "other": lambda L, t: t.to(L.zeros(1, dtype=L.float64)),
    "non_blocking": lambda L, t: t.to("cpu", L.float64, True),
    "copy": lambda L, t: t.to("cpu", copy=True),
    "positional copy": lambda L, t: t.to(L.float32, False, True),
}


@pytest.mark.parametrize("form", TO_FORMS)
def test_tensor_to_like_torch(form):
    x = np.array([1.5, -2.0, 3.25], dtype=np.float32)
    t_cr, t_torch = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours, theirs = TO_FORMS[form](cr, t_cr), TO_FORMS[form](torch, t_torch)
    _same(ours, theirs.detach())
    assert (ours is t_cr) == (theirs is t_torch)
    assert ours.requires_grad == theirs.requires_grad
    if ours.requires_grad and ours is not t_cr:  # the conversion is differentiable
        (ours * cr.tensor([1.0, 2.0, 3.0], dtype=ours.dtype)).sum().backward()
        (theirs * torch.tensor([1.0, 2.0, 3.0], dtype=theirs.dtype)).sum().backward()
        np.testing.assert_array_equal(t_cr.grad.data, t_torch.grad.numpy())


@pytest.mark.parametrize("dev", ["cuda", "cuda:0", "mps", cr.device("cuda", 1)])
def test_tensor_to_another_device_raises(dev):
    with pytest.raises(RuntimeError, match="to: " + CPU_ERROR.format(dev)):
        cr.zeros(2).to(dev)
    with pytest.raises(RuntimeError, match="to: " + CPU_ERROR.format(dev)):
        cr.zeros(2).to(device=dev, dtype=cr.float64)


def test_tensor_cuda_raises():
    with pytest.raises(RuntimeError, match="cuda: " + CPU_ERROR.format("cuda")):
        cr.zeros(2).cuda()


def test_tensor_to_bad_arguments():
    with pytest.raises(TypeError, match="invalid combination of arguments"):
        cr.zeros(2).to("cpu", cr.float64, True, True, True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'devcie'"):
        cr.zeros(2).to(devcie="cpu")


# Module.to / .cpu / .cuda -----------------------------------------------------------------------


@pytest.mark.parametrize("form, dtype", [
    (lambda L, m: m.to(L.device("cpu")), "float32"),
    (lambda L, m: m.to("cpu"), "float32"),
    (lambda L, m: m.to("cpu", L.float64), "float64"),
    (lambda L, m: m.to(device="cpu", dtype=L.float64), "float64"),
    (lambda L, m: m.to(L.float64).to(L.zeros(1)), "float32"),
    (lambda L, m: m.to(L.device("cpu"), non_blocking=True), "float32"),
    (lambda L, m: m.cpu(), "float32"),
])  # fmt: skip
def test_module_to_like_torch(form, dtype):
    for L in (cr, torch):
        m = L.nn.Linear(3, 2)
        weight = m.weight
        assert form(L, m) is m and m.weight is weight
        assert str(m.weight.dtype).removeprefix("torch.") == dtype


def test_module_to_another_device_raises():
    m = nn.Linear(3, 2)
    for dev in ("cuda", cr.device("cuda:0"), "mps"):
        with pytest.raises(RuntimeError, match="to: chainrule runs on the CPU only"):
            m.to(dev)
    with pytest.raises(RuntimeError, match="cuda: chainrule runs on the CPU only"):
        m.cuda()
    with pytest.raises(TypeError, match="only accepts floating point"):
        m.to(cr.int64)


def test_pytorch_device_boilerplate_runs():
    """The first lines of a typical PyTorch script, unchanged but for the library's name."""
    device = cr.device("cuda" if cr.cuda.is_available() else "cpu")
    device2 = (cr.accelerator.current_accelerator().type if cr.accelerator.is_available()
               else "mps" if cr.backends.mps.is_available() else "cpu")
    assert device == device2 == "cpu"
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).to(device)
    x = cr.randn(5, 4, device=device)
    y = cr.randint(0, 2, (5,), device=device)
    loss = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
    loss.backward()
    assert loss.device == device and model[0].weight.grad.device.type == "cpu"
    assert f"{loss.item():.3f}" == f"{loss.cpu().item():.3f}"


def test_device_context_and_default_device_like_torch():
    torch = pytest.importorskip("torch")
    for lib in (cr, torch):
        with lib.device("cpu") as dev:
            t = lib.zeros(2)
        assert dev == lib.device("cpu") and t.device.type == "cpu"
        lib.set_default_device("cpu")
        lib.set_default_device(None)
        assert lib.get_default_device() == lib.device("cpu")
    with pytest.raises(RuntimeError, match="set_default_device: chainrule runs on the CPU only"):
        cr.set_default_device("cuda")
    with pytest.raises(RuntimeError, match="chainrule runs on the CPU only; device 'cuda:0'"):
        with cr.device("cuda", 0):
            pass
    assert cr.get_default_device() == "cpu"


def test_generator_device_like_torch():
    torch = pytest.importorskip("torch")
    for lib in (cr, torch):
        for g in (lib.Generator(), lib.Generator("cpu"), lib.Generator(device="cpu"),
                  lib.Generator(device=lib.device("cpu"))):
            assert g.device == lib.device("cpu")
        assert lib.Generator(device="cpu").manual_seed(42).device.type == "cpu"
    a = cr.Generator(device="cpu").manual_seed(5).numpy.random(3)
    assert np.array_equal(a, cr.Generator(5).numpy.random(3))
    with pytest.raises(RuntimeError, match="Generator: chainrule runs on the CPU only"):
        cr.Generator(device="cuda")
