"""LR schedulers against torch.optim.lr_scheduler, value by value over 100 steps."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import lr_scheduler

torch = pytest.importorskip("torch")

STEPS = 100


def optimizers(name="SGD", lrs=(0.1, 0.02), **options):
    """The same two-group optimizer in chainrule and torch (gradient-free: only lrs matter)."""
    ours = [cr.zeros(2, requires_grad=True), cr.zeros(3, requires_grad=True)]
    theirs = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]

    def groups(params):
        return [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]

    return (getattr(cr.optim, name)(groups(ours), **options),
            getattr(torch.optim, name)(groups(theirs), **options))


def run(opt, sched, steps=STEPS, metrics=None, keys=("lr",)):
    """Values after construction and after each step: get_last_lr() and the groups' keys."""
    seen = [(sched.get_last_lr(), [[g[k] for k in keys] for g in opt.param_groups])]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        seen.append((list(sched.get_last_lr()), [[g[k] for k in keys] for g in opt.param_groups]))
    return seen


def assert_same(ours, theirs):
    """Same floats: the formulas are PyTorch's, evaluated in the same order."""
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"step {step}: {a} != {b}"


SCHEDULERS = [
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 30, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [10, 25, 25, 60]}),
    ("MultiStepLR", {"milestones": [3, 50], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.97}),
    ("CosineAnnealingLR", {"T_max": 100}),
    ("CosineAnnealingLR", {"T_max": 30, "eta_min": 1e-3}),  # beyond T_max: the lr comes back up
    ("CosineAnnealingLR", {"T_max": 7}),
    ("ConstantLR", {}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 30}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 0.7, "total_iters": 30}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 60}),  # a linear decay
    ("PolynomialLR", {}),
    ("PolynomialLR", {"total_iters": 40, "power": 2.0}),
    ("PolynomialLR", {"total_iters": 150, "power": 0.5}),
    ("CosineAnnealingWarmRestarts", {"T_0": 10}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 1e-3}),
]


@pytest.mark.parametrize("name, options", SCHEDULERS,
                         ids=[f"{n}-{'-'.join(map(str, o.values()))}" for n, o in SCHEDULERS])
def test_matches_torch(name, options):
    opt, ref_opt = optimizers()
    sched = getattr(lr_scheduler, name)(opt, **options)
    ref = getattr(torch.optim.lr_scheduler, name)(ref_opt, **options)
    assert_same(run(opt, sched), run(ref_opt, ref))


@pytest.mark.parametrize("name, options", SCHEDULERS[::2],
                         ids=[n for n, _ in SCHEDULERS[::2]])
def test_closed_form_with_epoch(name, options):
    """The deprecated step(epoch) uses the closed form, as in PyTorch."""
    opt, ref_opt = optimizers()
    sched = getattr(lr_scheduler, name)(opt, **options)
    ref = getattr(torch.optim.lr_scheduler, name)(ref_opt, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (5, 17, 3, 60):
            opt.step()
            ref_opt.step()
            sched.step(epoch)
            ref.step(epoch)
            assert sched.get_last_lr() == ref.get_last_lr()


def test_cosine_follows_lr_changed_from_outside():
    """The recursive form carries a change made to group['lr'] mid-schedule, as PyTorch's does."""
    opt, ref_opt = optimizers()
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=40, eta_min=0.001)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=40, eta_min=0.001)
    ours, theirs = run(opt, sched, 20), run(ref_opt, ref, 20)
    opt.param_groups[0]["lr"] = ref_opt.param_groups[0]["lr"] = 0.05
    assert_same(ours + run(opt, sched, 60), theirs + run(ref_opt, ref, 60))


ONE_CYCLE = [
    ("SGD", {"momentum": 0.9}, {"max_lr": 0.5, "total_steps": STEPS}),
    ("SGD", {"momentum": 0.9, "nesterov": True},
     {"max_lr": [0.5, 0.1], "total_steps": STEPS, "anneal_strategy": "linear", "pct_start": 0.25}),
    ("SGD", {"momentum": 0.9}, {"max_lr": 1.0, "epochs": 10, "steps_per_epoch": 10,
                                "three_phase": True, "div_factor": 10.0,
                                "final_div_factor": 100.0}),
    ("SGD", {}, {"max_lr": 0.3, "total_steps": STEPS, "cycle_momentum": False}),
    ("Adam", {}, {"max_lr": 0.01, "total_steps": STEPS, "base_momentum": 0.8,
                  "max_momentum": [0.9, 0.95]}),
    ("AdamW", {}, {"max_lr": 0.01, "total_steps": STEPS, "three_phase": True,
                   "anneal_strategy": "linear"}),
    ("RMSprop", {}, {"max_lr": 0.01, "total_steps": STEPS}),
]


@pytest.mark.parametrize("name, opt_options, options", ONE_CYCLE,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(ONE_CYCLE)])
def test_one_cycle_matches_torch_with_momentum(name, opt_options, options):
    opt, ref_opt = optimizers(name, **opt_options)
    sched = lr_scheduler.OneCycleLR(opt, **options)
    ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, **options)
    keys = ("lr", "betas" if "betas" in opt.defaults else "momentum", "initial_lr", "max_lr",
            "min_lr")
    if options.get("cycle_momentum", True):
        keys += ("max_momentum", "base_momentum")
    assert_same(run(opt, sched, keys=keys), run(ref_opt, ref, keys=keys))
    with pytest.raises(ValueError, match=f"Tried to step {STEPS + 1} times. The specified "
                                         f"number of total steps is {STEPS}"):
        sched.step()


def test_one_cycle_momentum_reaches_the_optimizer():
    opt, _ = optimizers("Adam")
    lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=10, base_momentum=0.8, max_momentum=0.9)
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    p = opt.param_groups[0]["params"][0]
    p.grad = cr.ones(2)
    opt.step()  # Adam reads beta1 from the group on each step
    assert opt.state[p]["exp_avg"].data[0] == pytest.approx(0.1)


METRICS = ([1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.89, 0.9, 0.9, 0.9] * 10)


PLATEAU = [
    {},
    {"patience": 2},
    {"patience": 1, "factor": 0.5, "cooldown": 2},
    {"mode": "max", "patience": 0, "factor": 0.7, "threshold": 0.01},
    {"threshold_mode": "abs", "threshold": 0.05, "patience": 1, "factor": 0.5},
    {"mode": "max", "threshold_mode": "abs", "patience": 3},
    {"patience": 0, "factor": 0.5, "min_lr": [0.01, 0.005]},
    {"patience": 0, "factor": 0.9, "min_lr": 0.08, "eps": 0.005},
]


@pytest.mark.parametrize("options", PLATEAU, ids=[str(i) for i in range(len(PLATEAU))])
def test_reduce_on_plateau_matches_torch(options):
    rng = np.random.default_rng(0)
    metrics = [m + 0.01 * rng.standard_normal() for m in METRICS]
    opt, ref_opt = optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(opt, **options)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, **options)
    ours = run(opt, sched, metrics=metrics)
    assert_same(ours, run(ref_opt, ref, metrics=metrics))
    assert ours[-1] != ours[0]  # the script does reduce
    for key in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
        assert getattr(sched, key) == getattr(ref, key)


def test_reduce_on_plateau_accepts_a_tensor_metric():
    opt, _ = optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    sched.step(cr.tensor(1.0))
    sched.step(cr.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([0.01, 0.002])


STATEFUL = [
    ("StepLR", {"step_size": 7}),
    ("MultiStepLR", {"milestones": [10, 25, 25, 60]}),
    ("ExponentialLR", {"gamma": 0.97}),
    ("CosineAnnealingLR", {"T_max": 30, "eta_min": 1e-3}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": STEPS, "three_phase": True}),
    ("ReduceLROnPlateau", {"patience": 1, "factor": 0.5, "cooldown": 2}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 50}),
    ("LinearLR", {"start_factor": 0.1, "total_iters": 60}),
    ("PolynomialLR", {"total_iters": 70, "power": 2.0}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2}),
]


@pytest.mark.parametrize("through_file", [False, True], ids=["in-memory", "cr.save"])
@pytest.mark.parametrize("name, options", STATEFUL, ids=[n for n, _ in STATEFUL])
def test_state_dict_round_trip(name, options, through_file, tmp_path):
    """Resume at step 40 (optimizer state first, then the scheduler's) and continue: the same
    lrs as without the interruption."""
    metrics = METRICS if name == "ReduceLROnPlateau" else None
    cls = getattr(lr_scheduler, name)
    opt, _ = optimizers("SGD", momentum=0.9)
    straight = run(opt, cls(opt, **options), metrics=metrics)

    opt, _ = optimizers("SGD", momentum=0.9)
    sched = cls(opt, **options)
    first = run(opt, sched, 40, metrics=metrics)
    checkpoint = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    if through_file:
        serialization = pytest.importorskip("chainrule.serialization")
        serialization.save(checkpoint, tmp_path / "ckpt.npz")
        checkpoint = serialization.load(tmp_path / "ckpt.npz")

    opt2, _ = optimizers("SGD", lrs=(1.0, 1.0), momentum=0.5)
    sched2 = cls(opt2, **options)
    opt2.load_state_dict(checkpoint["optimizer"])
    sched2.load_state_dict(checkpoint["scheduler"])
    rest = run(opt2, sched2, STEPS - 40, metrics=metrics[40:] if metrics else None)
    assert_same(first + rest[1:], straight)


def test_scheduler_state_dict_is_plain_data():
    opt, _ = optimizers()
    sched = lr_scheduler.MultiStepLR(opt, milestones=[2, 2, 5])
    state = sched.state_dict()
    assert "optimizer" not in state
    assert state["milestones"] == {2: 2, 5: 1} and type(state["milestones"]) is dict
    assert state["last_epoch"] == 0 and state["base_lrs"] == [0.1, 0.02]


def test_resume_with_last_epoch():
    """last_epoch >= 0 needs initial_lr in the groups, as in PyTorch."""
    opt, ref_opt = optimizers()
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups"):
        lr_scheduler.StepLR(opt, step_size=3, last_epoch=5)
    for group, ref_group in zip(opt.param_groups, ref_opt.param_groups):
        group["initial_lr"] = ref_group["initial_lr"] = group["lr"]
    for name, options in [("StepLR", {"step_size": 3}), ("CosineAnnealingLR", {"T_max": 10})]:
        sched = getattr(lr_scheduler, name)(opt, last_epoch=5, **options)
        ref = getattr(torch.optim.lr_scheduler, name)(ref_opt, last_epoch=5, **options)
        assert_same(run(opt, sched, 20), run(ref_opt, ref, 20))


def test_warns_when_stepped_before_the_optimizer():
    opt, _ = optimizers()
    sched = lr_scheduler.StepLR(opt, step_size=3)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt, _ = optimizers()
    sched = lr_scheduler.StepLR(opt, step_size=3)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
        with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
            sched.get_lr()


def test_validation():
    opt, _ = optimizers()
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.StepLR([], step_size=3)
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode maximum is unknown!"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="maximum")
    with pytest.raises(ValueError, match="threshold mode relative is unknown!"):
        lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="relative")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0, 0, 0])
    with pytest.raises(ValueError, match="You must define either total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="Expected positive integer total_steps, but got 0"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=0)
    with pytest.raises(ValueError, match="Expected positive integer epochs, but got -1"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=-1, steps_per_epoch=3)
    with pytest.raises(ValueError, match="Expected float between 0 and 1 pct_start, but got 1.5"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear'"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="max_lr must have the same length as "
                                         "optimizer.param_groups. max_lr has 3 values"):
        lr_scheduler.OneCycleLR(opt, max_lr=[0.1] * 3, total_steps=10)
    adagrad = cr.optim.Adagrad([cr.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.OneCycleLR(adagrad, max_lr=0.1, total_steps=10)


def test_lrs_are_python_floats():
    """No NumPy scalars sneak into the groups (they would turn float32 updates into float64)."""
    opt, _ = optimizers()
    for sched in (lr_scheduler.CosineAnnealingLR(opt, T_max=10),
                  lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10),
                  lr_scheduler.LinearLR(opt), lr_scheduler.PolynomialLR(opt, power=0.5),
                  lr_scheduler.CyclicLR(opt, 0.01, 0.1, mode="triangular2"),
                  lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3)):
        opt.step()
        sched.step()
        assert all(type(lr) is float for lr in sched.get_last_lr())
    assert math.isfinite(opt.param_groups[0]["lr"])


# -- schedules built from functions and from other schedulers ------------------------------------

class Warmup:
    """A callable object: its attributes go into the scheduler's state_dict (a lambda's can't)."""

    def __init__(self, epochs):
        self.epochs = epochs

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.epochs)


def _sequential(m, opt):
    return m.SequentialLR(opt, [m.LinearLR(opt, start_factor=0.1, total_iters=5),
                                m.CosineAnnealingLR(opt, T_max=30), m.ExponentialLR(opt, 0.9)],
                          milestones=[5, 40])


def _sequential_of_chained(m, opt):
    chained = m.ChainedScheduler([m.ConstantLR(opt, factor=0.5, total_iters=3),
                                  m.ExponentialLR(opt, gamma=0.97)])
    with warnings.catch_warnings():  # "lr_scheduler.step() before optimizer.step()", from
        warnings.simplefilter("ignore")  # the chained schedulers' initial step (as PyTorch's)
        return m.SequentialLR(opt, [chained, m.StepLR(opt, step_size=10)], milestones=[20])


# (id, factory(lr_scheduler module, optimizer), optimizer name and options, group keys to compare)
COMPOSED = [
    ("LambdaLR", lambda m, opt: m.LambdaLR(opt, lambda e: 0.95 ** e), "SGD", {}, ("lr",)),
    ("LambdaLR-per-group", lambda m, opt: m.LambdaLR(opt, [Warmup(10), lambda e: 1 / (e + 1)]),
     "SGD", {}, ("lr",)),
    ("MultiplicativeLR", lambda m, opt: m.MultiplicativeLR(opt, lambda e: 0.95 if e < 50 else 1.01),
     "SGD", {}, ("lr",)),
    ("SequentialLR", _sequential, "SGD", {}, ("lr",)),
    ("SequentialLR-of-ChainedScheduler", _sequential_of_chained, "SGD", {}, ("lr",)),
    ("ChainedScheduler", lambda m, opt: m.ChainedScheduler(
        [m.ConstantLR(opt, factor=0.1, total_iters=4), m.ExponentialLR(opt, 0.95),
         m.MultiStepLR(opt, [30, 60])]), "SGD", {}, ("lr",)),
    ("CyclicLR", lambda m, opt: m.CyclicLR(opt, 0.01, 0.1, step_size_up=7), "SGD",
     {"momentum": 0.9}, ("lr", "momentum", "base_momentum", "max_momentum")),
    ("CyclicLR-triangular2", lambda m, opt: m.CyclicLR(
        opt, [0.01, 0.001], [0.1, 0.05], step_size_up=7, step_size_down=3, mode="triangular2",
        base_momentum=[0.7, 0.8], max_momentum=0.95), "SGD", {"momentum": 0.9, "nesterov": True},
     ("lr", "momentum")),
    ("CyclicLR-exp_range-Adam", lambda m, opt: m.CyclicLR(
        opt, 0.001, 0.01, step_size_up=5, mode="exp_range", gamma=0.98), "Adam", {},
     ("lr", "betas")),
    ("CyclicLR-no-momentum", lambda m, opt: m.CyclicLR(opt, 0.01, 0.1, step_size_up=4,
                                                       cycle_momentum=False), "Adagrad", {},
     ("lr",)),
    ("CyclicLR-scale_fn", lambda m, opt: m.CyclicLR(
        opt, 0.01, 0.1, step_size_up=6, scale_fn=lambda x: 0.99 ** x, scale_mode="iterations"),
     "RMSprop", {"momentum": 0.5}, ("lr", "momentum")),
    ("CosineAnnealingWarmRestarts-Adam", lambda m, opt: m.CosineAnnealingWarmRestarts(
        opt, T_0=4, T_mult=3), "Adam", {}, ("lr",)),
]


@pytest.mark.parametrize("factory, name, opt_options, keys", [c[1:] for c in COMPOSED],
                         ids=[c[0] for c in COMPOSED])
def test_composed_match_torch(factory, name, opt_options, keys):
    opt, ref_opt = optimizers(name, **opt_options)
    sched = factory(lr_scheduler, opt)
    ref = factory(torch.optim.lr_scheduler, ref_opt)
    ours = run(opt, sched, keys=keys)
    assert_same(ours, run(ref_opt, ref, keys=keys))
    assert len({str(lrs) for lrs, _ in ours}) > 2  # the schedule does move


def test_warm_restarts_with_fractional_epochs():
    """step(epoch + i / iters) after each batch, as PyTorch's documentation shows."""
    for T_mult in (1, 2):
        opt, ref_opt = optimizers()
        sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=T_mult, eta_min=0.01)
        ref = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(ref_opt, T_0=3, T_mult=T_mult,
                                                                  eta_min=0.01)
        for epoch in range(12):
            for i in range(5):
                opt.step()
                ref_opt.step()
                sched.step(epoch + i / 5)
                ref.step(epoch + i / 5)
                assert sched.get_last_lr() == ref.get_last_lr()
                assert (sched.T_cur, sched.T_i, sched.last_epoch) == (ref.T_cur, ref.T_i,
                                                                      ref.last_epoch)
        with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
            sched.step(-1)


COMPOSED_STATEFUL = [c for c in COMPOSED if c[0] in (
    "LambdaLR-per-group", "MultiplicativeLR", "SequentialLR", "SequentialLR-of-ChainedScheduler",
    "ChainedScheduler", "CyclicLR", "CyclicLR-exp_range-Adam", "CosineAnnealingWarmRestarts-Adam")]


@pytest.mark.parametrize("through_file", [False, True], ids=["in-memory", "cr.save"])
@pytest.mark.parametrize("factory, name, opt_options, keys", [c[1:] for c in COMPOSED_STATEFUL],
                         ids=[c[0] for c in COMPOSED_STATEFUL])
def test_composed_state_dict_round_trip(factory, name, opt_options, keys, through_file,
                                        tmp_path):
    """As test_state_dict_round_trip: resume at step 40 with a scheduler made anew."""
    opt, _ = optimizers(name, **opt_options)
    straight = run(opt, factory(lr_scheduler, opt), keys=keys)

    opt, _ = optimizers(name, **opt_options)
    sched = factory(lr_scheduler, opt)
    first = run(opt, sched, 40, keys=keys)
    checkpoint = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    if through_file:
        from chainrule import serialization
        serialization.save(checkpoint, tmp_path / "ckpt.npz")
        checkpoint = serialization.load(tmp_path / "ckpt.npz")

    opt2, _ = optimizers(name, lrs=(1.0, 1.0), **opt_options)
    sched2 = factory(lr_scheduler, opt2)
    opt2.load_state_dict(checkpoint["optimizer"])
    sched2.load_state_dict(checkpoint["scheduler"])
    rest = run(opt2, sched2, STEPS - 40, keys=keys)
    assert_same(first + rest[1:], straight)


def test_lambda_state_dict_keeps_callable_objects():
    """As PyTorch: a callable object's attributes are saved and loaded, a lambda is not."""
    opt, ref_opt = optimizers()
    sched = lr_scheduler.LambdaLR(opt, [Warmup(10), lambda e: 1.0])
    ref = torch.optim.lr_scheduler.LambdaLR(ref_opt, [Warmup(10), lambda e: 1.0])
    state, ref_state = sched.state_dict(), ref.state_dict()
    assert state["lr_lambdas"] == ref_state["lr_lambdas"] == [{"epochs": 10}, None]
    assert state.keys() == ref_state.keys()

    other, _ = optimizers()
    warmup = Warmup(3)
    sched2 = lr_scheduler.LambdaLR(other, [warmup, lambda e: 1.0])
    sched2.load_state_dict(state)
    assert warmup.epochs == 10 and sched2.last_epoch == 0
    assert state["lr_lambdas"] == [{"epochs": 10}, None]  # the dict is left as it was


def test_cyclic_state_dict_drops_functions():
    opt, _ = optimizers()
    sched = lr_scheduler.CyclicLR(opt, 0.01, 0.1, scale_fn=lambda x: 1.0, cycle_momentum=False)
    state = sched.state_dict()
    assert state["_scale_fn_custom"] is None and "_scale_fn_ref" not in state
    sched.load_state_dict(state)
    assert sched._scale_fn_custom is not None  # the constructor's function stays


def test_sequential_initial_lrs_and_last_epoch_match_torch():
    """SequentialLR undoes the other schedulers' initial steps, as PyTorch's does."""
    opt, ref_opt = optimizers()
    sched = _sequential(lr_scheduler, opt)
    ref = _sequential(torch.optim.lr_scheduler, ref_opt)
    assert sched.get_last_lr() == ref.get_last_lr() == [0.1 * 0.1, 0.02 * 0.1]
    assert [s.last_epoch for s in sched._schedulers] == [s.last_epoch for s in ref._schedulers]
    assert sched.last_epoch == ref.last_epoch == 0


def _error(factory):
    """The exception factory(module, optimizer) raises, for chainrule and for torch."""
    errors = []
    for module, opt in zip((lr_scheduler, torch.optim.lr_scheduler), optimizers()):
        with pytest.raises(Exception) as info:
            factory(module, opt)
        errors.append(info.value)
    return errors


SCHEDULER_ERRORS = [
    ("ConstantLR", lambda m, opt: m.ConstantLR(opt, factor=1.5)),
    ("LinearLR-start", lambda m, opt: m.LinearLR(opt, start_factor=0)),
    ("LinearLR-end", lambda m, opt: m.LinearLR(opt, end_factor=1.5)),
    ("LambdaLR", lambda m, opt: m.LambdaLR(opt, [lambda e: 1.0] * 3)),
    ("MultiplicativeLR", lambda m, opt: m.MultiplicativeLR(opt, 0.9)),
    ("SequentialLR-empty", lambda m, opt: m.SequentialLR(opt, [], milestones=[])),
    ("SequentialLR-milestones", lambda m, opt: m.SequentialLR(
        opt, [m.ConstantLR(opt), m.ExponentialLR(opt, 0.9)], milestones=[3, 5])),
    ("SequentialLR-plateau", lambda m, opt: m.SequentialLR(
        opt, [m.ConstantLR(opt), m.ReduceLROnPlateau(opt)], milestones=[3])),
    ("SequentialLR-not-a-scheduler", lambda m, opt: m.SequentialLR(
        opt, [m.ConstantLR(opt), object()], milestones=[3])),
    ("ChainedScheduler-empty", lambda m, opt: m.ChainedScheduler([])),
    ("CosineAnnealingWarmRestarts-T_0", lambda m, opt: m.CosineAnnealingWarmRestarts(opt, T_0=0)),
    ("CosineAnnealingWarmRestarts-T_mult", lambda m, opt: m.CosineAnnealingWarmRestarts(
        opt, T_0=2, T_mult=1.5)),
    ("CosineAnnealingWarmRestarts-eta_min", lambda m, opt: m.CosineAnnealingWarmRestarts(
        opt, T_0=2, eta_min="0")),
    ("CyclicLR-mode", lambda m, opt: m.CyclicLR(opt, 0.01, 0.1, mode="triangle")),
    ("CyclicLR-base_lr", lambda m, opt: m.CyclicLR(opt, [0.01] * 3, 0.1)),
    ("CyclicLR-momentum", lambda m, opt: m.CyclicLR(opt, 0.01, 0.1, max_momentum=[0.9])),
]


@pytest.mark.parametrize("factory", [f for _, f in SCHEDULER_ERRORS],
                         ids=[n for n, _ in SCHEDULER_ERRORS])
def test_errors_match_torch(factory):
    ours, theirs = _error(factory)
    assert type(ours) is type(theirs) and str(ours) == str(theirs)


def test_errors_naming_other_optimizers():
    opt, _ = optimizers()
    other, _ = optimizers()
    with pytest.raises(ValueError, match="SequentialLR expects all schedulers to belong to the "
                                         "same optimizer, but got scheduler ConstantLR at index 1"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.ConstantLR(opt),
                                        lr_scheduler.ConstantLR(other)], milestones=[3])
    with pytest.raises(ValueError, match="ChainedScheduler expects all schedulers to belong to "
                                         "the same optimizer"):
        lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(opt),
                                       lr_scheduler.ConstantLR(other)])
    adagrad = cr.optim.Adagrad([cr.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.CyclicLR(adagrad, 0.01, 0.1)
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.LambdaLR([], lambda e: 1.0)


def test_a_schedule_of_ones_own():
    """Subclassing LRScheduler (or its old name _LRScheduler) with get_lr, as PyTorch code does."""
    results = []
    for module, opt in zip((lr_scheduler, torch.optim.lr_scheduler), optimizers()):
        class Warmup(module._LRScheduler):
            def get_lr(self):
                return [base_lr * min(1.0, (self.last_epoch + 1) / 4) for base_lr in self.base_lrs]

        results.append(run(opt, Warmup(opt), 10))
    assert_same(*results)
    assert results[0][0][0] == [0.1 / 4, 0.02 / 4]
