"""Train the same small MLP and CNN in chainrule and PyTorch, from the same initial weights on the
same batches, for 50 steps with each optimizer: the losses agree (1e-4 relative in float32, 1e-9
in float64). Layers, losses, BatchNorm statistics and update rules all equal PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


# no bias before BatchNorm: its true gradient is 0, so what an adaptive optimizer does with the
# rounding noise left in it would differ between any two implementations

def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32, bias=False), nn.BatchNorm1d(32), nn.Tanh(),
                         nn.Linear(32, 24), nn.ReLU(), nn.Linear(24, 10))


def cnn(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=2, dilation=2, stride=1),
                         nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6 * 2 * 2, 10))


OPTIMIZERS = {
    "sgd": lambda o, p: o.SGD(p, lr=0.1),
    "sgd-nesterov": lambda o, p: o.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda o, p: o.Adam(p, lr=3e-3),
    "adamw": lambda o, p: o.AdamW(p, lr=3e-3, weight_decay=0.05, amsgrad=True),
    "rmsprop": lambda o, p: o.RMSprop(p, lr=1e-3, momentum=0.5, centered=True),
    "adagrad": lambda o, p: o.Adagrad(p, lr=0.05, lr_decay=1e-3),
}


def _run(lib, model, opt, batches):
    F = lib.nn.functional
    losses = []
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 1e-4), (np.float64, 1e-9)], ids=["float32", "float64"])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("arch", [mlp, cnn], ids=["mlp", "cnn"])
def test_fifty_steps_match_pytorch(arch, opt_name, dtype, rtol):
    cr.manual_seed(0)
    ours = arch(cr).to(dtype)
    theirs = arch(torch).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours_sd = ours.state_dict()
    assert list(ours_sd) == list(theirs.state_dict())  # same names, same order
    theirs.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in ours_sd.items()})
    rng = np.random.default_rng(1)
    teacher = rng.standard_normal((64, 10))  # labels a network can learn: argmax of a linear map
    xs = [rng.standard_normal((16, 1, 8, 8)).astype(dtype) for _ in range(50)]
    data = [(x, (x.reshape(16, 64) @ teacher).argmax(1)) for x in xs]
    a = _run(cr, ours, OPTIMIZERS[opt_name](cr.optim, ours.parameters()),
             [(cr.tensor(x), cr.tensor(y)) for x, y in data])
    b = _run(torch, theirs, OPTIMIZERS[opt_name](torch.optim, theirs.parameters()),
             [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data])
    assert a[-10:].mean() < a[:10].mean()  # it learns
    np.testing.assert_allclose(a, b, rtol=rtol)
    for k, v in ours.state_dict().items():  # running statistics and weights too
        np.testing.assert_allclose(np.asarray(v.data, np.float64), theirs.state_dict()[k].double().numpy(),
                                   rtol=rtol * 100, atol=rtol, err_msg=k)


@pytest.mark.parametrize("arch", [mlp, cnn], ids=["mlp", "cnn"])
def test_default_initialisation_has_pytorch_statistics(arch):
    """Same formulas: each parameter's range and spread match PyTorch's default init."""
    cr.manual_seed(0)
    torch.manual_seed(0)
    for (k, ours), (_, theirs) in zip(arch(cr).named_parameters(), arch(torch).named_parameters()):
        theirs = theirs.detach().numpy()
        assert ours.shape == theirs.shape and ours.dtype == np.float32
        if theirs.std() == 0:  # BatchNorm's weight 1 and bias 0
            assert np.array_equal(ours.data, theirs), k
            continue
        bound = np.abs(theirs).max()
        assert np.abs(ours.data).max() <= bound * 1.15 + 1e-6, k
        assert np.abs(ours.data).max() >= bound * 0.5, k
