"""Optimizer state_dict: PyTorch's format, round trips (also through cr.save), checked loading."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

from .helpers import gradients, make_params, set_grads

CASES = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.001, "centered": True, "momentum": 0.5}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.01, "maximize": True}),
]


def groups(params):
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.002}]


def train(opt, params, grads):
    for g in grads:
        set_grads(params, g)
        opt.step()


def serialization_or_skip():
    try:
        from chainrule import serialization
    except ImportError:
        pytest.skip("chainrule.serialization not written yet")
    return serialization


@pytest.mark.parametrize("through_file", [False, True], ids=["in-memory", "cr.save"])
@pytest.mark.parametrize("name, options", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_round_trip_continues_identically(name, options, through_file, tmp_path):
    cls = getattr(cr.optim, name)
    grads = gradients(np.float32, 40)

    straight, _ = make_params(np.float32)
    opt = cls(groups(straight), **options)
    train(opt, straight, grads)

    first, _ = make_params(np.float32)
    opt1 = cls(groups(first), **options)
    train(opt1, first, grads[:20])
    state = opt1.state_dict()
    arrays = [np.array(p) for p in first]
    if through_file:
        serialization = serialization_or_skip()
        serialization.save(state, tmp_path / "optim.npz")
        state = serialization.load(tmp_path / "optim.npz")
    del opt1

    resumed, _ = make_params(np.float32)
    for p, a in zip(resumed, arrays):
        p.data[...] = a
    opt2 = cls(groups(resumed), **{k: v for k, v in options.items() if k != "lr"}, lr=0.5)
    opt2.load_state_dict(state)
    assert [g["lr"] for g in opt2.param_groups] == [options["lr"], 0.002]
    train(opt2, resumed, grads[20:])

    for p, q in zip(resumed, straight):
        np.testing.assert_array_equal(p.data, q.data)
    for p, q in zip(resumed, straight):
        assert opt2.state[p].keys() == opt.state[q].keys()


def test_state_dict_format():
    params, _ = make_params(np.float32)
    opt = cr.optim.Adam(groups(params), lr=0.01)
    train(opt, params, gradients(np.float32, 3))
    sd = opt.state_dict()
    assert sd.keys() == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 1, 2, 3, 4]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3, 4]]
    assert sd["param_groups"][1] == {"lr": 0.002, "betas": (0.9, 0.999), "eps": 1e-8,
                                     "weight_decay": 0, "amsgrad": False, "maximize": False,
                                     "decoupled_weight_decay": False, "params": [2, 3, 4]}
    s = sd["state"][2]
    assert s["step"] == 3 and isinstance(s["step"], int)
    assert isinstance(s["exp_avg"], cr.Tensor) and s["exp_avg"].shape == params[2].shape
    assert s["exp_avg"].dtype == np.float32
    assert sd["param_groups"][0] is not opt.param_groups[0]


def test_state_dict_only_holds_params_with_state():
    params, _ = make_params(np.float32)
    opt = cr.optim.SGD(params, lr=0.1, momentum=0.9)
    assert opt.state_dict()["state"] == {}
    set_grads(params, [None, None, np.ones(params[2].shape, np.float32), None, None])
    opt.step()
    assert list(opt.state_dict()["state"]) == [2]
    plain = cr.optim.SGD(params, lr=0.1)
    plain.step()
    assert plain.state_dict()["state"] == {}


LAYOUTS = [("RMSprop", {"momentum": 0.9, "centered": True})] + CASES[-4:]


@pytest.mark.parametrize("name, options", LAYOUTS, ids=[c[0] for c in LAYOUTS])
def test_matches_torch_layout(name, options):
    torch = pytest.importorskip("torch")
    ours, theirs = make_params(np.float32)
    opt = getattr(cr.optim, name)(groups(ours), **options)
    ref = getattr(torch.optim, name)(groups(theirs), foreach=False, **options)
    for g in gradients(np.float32, 3):
        set_grads(ours, g)
        set_grads(theirs, g)
        opt.step()
        ref.step()
    sd, ref_sd = opt.state_dict(), ref.state_dict()
    assert sd["state"].keys() == ref_sd["state"].keys()
    for i in sd["state"]:
        assert list(sd["state"][i]) == list(ref_sd["state"][i])
        for key, value in sd["state"][i].items():
            if isinstance(value, cr.Tensor):
                np.testing.assert_allclose(value.data, ref_sd["state"][i][key].numpy(),
                                           rtol=1e-6, atol=1e-6)
            else:  # PyTorch's 0-d tensors are numbers here
                assert value == ref_sd["state"][i][key].item()
    for g, rg in zip(sd["param_groups"], ref_sd["param_groups"]):
        assert {k: v for k, v in rg.items() if k not in ("foreach", "capturable",
                                                         "differentiable", "fused")} == g


@pytest.mark.parametrize("name", ["Adam", "NAdam", "RAdam", "Adadelta", "Adamax"])
def test_loads_a_torch_state_dict(name):
    """Steps (and NAdam's mu_product) stored as 0-d tensors and state as arrays (e.g. converted
    from PyTorch) load."""
    torch = pytest.importorskip("torch")
    ours, theirs = make_params(np.float64)
    ref = getattr(torch.optim, name)(theirs, lr=0.01, foreach=False)
    grads = gradients(np.float64, 20)
    for g in grads:
        set_grads(theirs, g)
        ref.step()
    ref_sd = ref.state_dict()
    sd = {"state": {i: {k: (v.numpy() if k != "step" else cr.tensor(v.item()))
                        for k, v in s.items()} for i, s in ref_sd["state"].items()},
          "param_groups": ref_sd["param_groups"]}
    opt = getattr(cr.optim, name)(ours, lr=0.5)
    opt.load_state_dict(sd)
    for p, q in zip(ours, theirs):
        p.data[...] = q.detach().numpy()
        assert opt.state[p]["step"] == 20
    for g in grads[:10]:
        set_grads(ours, g)
        set_grads(theirs, g)
        opt.step()
        ref.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_load_copies_and_casts():
    params, _ = make_params(np.float32, shapes=[(3,)])
    opt = cr.optim.SGD(params, lr=0.1, momentum=0.9)
    buf = np.arange(3.0)  # float64
    opt.load_state_dict({"state": {0: {"momentum_buffer": buf}},
                         "param_groups": [dict(opt.param_groups[0], params=[0])]})
    loaded = opt.state[params[0]]["momentum_buffer"]
    assert loaded.dtype == np.float32 and np.array_equal(loaded.data, buf)
    buf[0] = 7
    assert loaded.data[0] == 0


def test_load_state_dict_validates():
    params, _ = make_params(np.float32)
    opt = cr.optim.Adam(groups(params), lr=0.01)
    train(opt, params, gradients(np.float32, 2))
    good = opt.state_dict()

    fresh = cr.optim.Adam(params, lr=0.01)
    with pytest.raises(ValueError, match=r"different number of parameter groups \(2\) than the "
                                         r"optimizer \(1\)"):
        fresh.load_state_dict(good)

    other = cr.optim.Adam([{"params": params[:3]}, {"params": params[3:]}], lr=0.01)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group: group 0 "
                                         "has 2 parameters in the state dict and 3"):
        other.load_state_dict(good)

    sgd = cr.optim.SGD(groups(params), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"param_groups\[0\] has no \['momentum', 'dampening', "
                                         r"'nesterov'\]; was the state dict saved from another "
                                         r"optimizer than SGD\?"):
        sgd.load_state_dict(good)
    with pytest.raises(ValueError, match="saved from another optimizer than Adam"):
        opt.load_state_dict(sgd.state_dict())

    bad = opt.state_dict()
    bad["state"] = dict(bad["state"])
    bad["state"][1] = dict(bad["state"][1], exp_avg=cr.zeros(4, 4))
    with pytest.raises(ValueError, match=r"state\[1\]\['exp_avg'\] has shape \(4, 4\), but the "
                                         r"parameter has shape \(5,\)"):
        opt.load_state_dict(bad)

    bad["state"][1] = {"step": 2, "exp_avg": cr.zeros(5)}
    with pytest.raises(ValueError, match=r"has no \['exp_avg_sq'\]"):
        opt.load_state_dict(bad)

    bad["state"] = {7: good["state"][0]}
    with pytest.raises(ValueError, match="state for parameter 7, which no param_groups entry"):
        opt.load_state_dict(bad)

    bad["state"] = {0: dict(good["state"][0], step=cr.zeros(3))}
    with pytest.raises(ValueError, match=r"state\[0\]\['step'\] must be a number"):
        opt.load_state_dict(bad)

    bad["param_groups"] = [dict(g) for g in good["param_groups"]]
    bad["param_groups"][1]["lr"] = -1.0
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        opt.load_state_dict(bad)

    with pytest.raises(ValueError, match="expected a dict with keys 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})

    # a failed load changes nothing
    after = opt.state_dict()
    assert after["param_groups"] == good["param_groups"]
    for i, s in good["state"].items():
        assert after["state"][i]["exp_avg"] is s["exp_avg"]


def test_adamw_load_keeps_decoupled():
    params, _ = make_params(np.float32, shapes=[(2,)])
    adam = cr.optim.Adam(params, weight_decay=0.1)
    adamw = cr.optim.AdamW(params)
    adamw.load_state_dict(adam.state_dict())
    assert adamw.param_groups[0]["decoupled_weight_decay"] is True
    assert adamw.param_groups[0]["weight_decay"] == 0.1


def test_save_with_scheduler_and_model_state(tmp_path):
    """Optimizer and scheduler state together in one checkpoint."""
    serialization = serialization_or_skip()
    params, _ = make_params(np.float32)
    opt = cr.optim.SGD(params, lr=0.1, momentum=0.9)
    sched = cr.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 5, 5], gamma=0.5)
    for g in gradients(np.float32, 4):
        set_grads(params, g)
        opt.step()
        sched.step()
    serialization.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
                       tmp_path / "ckpt.npz")
    ckpt = serialization.load(tmp_path / "ckpt.npz")
    opt2 = cr.optim.SGD(params, lr=0.1, momentum=0.9)
    sched2 = cr.optim.lr_scheduler.MultiStepLR(opt2, milestones=[1], gamma=0.9)
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    for _ in range(3):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 0.1 * 0.5 ** 3
