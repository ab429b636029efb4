"""Module hooks against PyTorch: each scenario runs on chainrule and on PyTorch (one function
serves both, the APIs match) with the same weights, and what the hooks saw, the order they ran
in, the outputs and the gradients must agree."""

from __future__ import annotations

import copy
import gc
import importlib
import warnings

import numpy as np
import pytest

from .helpers import CR, torch_ns

TOL = dict(rtol=1e-10, atol=1e-12)


def arr(t):
    return None if t is None else np.array(t.detach().numpy())


def globals_of(L):
    """``nn.modules.module`` of the library: the global hooks live there."""
    return importlib.import_module(L.nn.__name__ + ".modules.module")


class Kw:
    """A module whose forward takes a keyword argument and returns two tensors."""

    @staticmethod
    def build(L):
        class TwoOut(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = L.nn.Linear(3, 3)

            def forward(self, a, b, c=1.0, *, scale=1.0):
                h = self.lin(a) * scale
                return h * b * c, h + b

        return TwoOut()


BUILD = {
    "linear": lambda L: L.nn.Linear(4, 3),
    "conv2d": lambda L: L.nn.Conv2d(2, 3, 3, padding=1),
    "sequential": lambda L: L.nn.Sequential(L.nn.Linear(4, 5), L.nn.ReLU(), L.nn.Linear(5, 3)),
    "kwargs": Kw.build,
}
SHAPE = {"linear": (2, 4), "conv2d": (2, 2, 5, 5), "sequential": (2, 4), "kwargs": (2, 3)}


def pair(kind: str):
    """The same model, with the same float64 weights, in both libraries: [(L, model), ...]."""
    T = torch_ns()
    T.lib.manual_seed(0)
    tm = BUILD[kind](T).double()
    cm = BUILD[kind](CR).double()
    cm.load_state_dict(tm.state_dict())
    return [(CR, cm), (T, tm)]


def both(kind: str, scenario, *extra):
    """Run ``scenario(L, model, x, *extra)`` on both libraries; return the two results."""
    x = np.random.default_rng(1).standard_normal(SHAPE[kind])
    return [scenario(L, m, x, *extra) for L, m in pair(kind)]


def assert_same(a, b, path="result"):
    """Equal structures: numbers and arrays to float64 precision, everything else exactly."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert a is not None and b is not None, f"{path}: {a!r} vs {b!r}"
        assert a.shape == b.shape, f"{path}: shape {a.shape} vs {b.shape}"
        np.testing.assert_allclose(a, b, **TOL, err_msg=path)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: {a!r} vs {b!r}"
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same(u, v, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def grads(model):
    return {n: arr(p.grad) for n, p in model.named_parameters()}


def run(L, model, x, requires_grad=True):
    """Forward and backward of sum(out * weights) (not all ones: the gradients differ per
    element); the output, the input's gradient and the parameters'."""
    xt = L.lib.tensor(x, requires_grad=requires_grad)
    out = model(xt)
    w = L.lib.tensor(np.linspace(-1, 2, out.numel()).reshape(tuple(out.shape)))
    (out * w).sum().backward()
    return {"out": arr(out), "x.grad": arr(xt.grad), **grads(model)}


# -- order --------------------------------------------------------------------------------------

def test_order_of_every_kind_of_hook_with_prepend_and_globals_matches_torch():
    def scenario(L, model, x):
        log = []
        g = globals_of(L)

        def tag(kind, name):
            def hook(module, *args):
                log.append((kind, name))
            return hook

        handles = [
            g.register_module_forward_pre_hook(lambda m, a: log.append(("gpre", type(m).__name__))),
            g.register_module_forward_hook(lambda m, a, o: log.append(("gfwd", type(m).__name__))),
            g.register_module_full_backward_pre_hook(
                lambda m, go: log.append(("gbpre", type(m).__name__))),
            g.register_module_full_backward_hook(
                lambda m, gi, go: log.append(("gbw", type(m).__name__))),
        ]
        try:
            for name, m in model.named_modules():
                name = name or "seq"
                for kind in ("a", "b"):
                    m.register_forward_pre_hook(tag("pre" + kind, name))
                    m.register_forward_hook(tag("fwd" + kind, name))
                    m.register_full_backward_pre_hook(tag("bpre" + kind, name))
                    m.register_full_backward_hook(tag("bw" + kind, name))
                m.register_forward_pre_hook(tag("pre-first", name), prepend=True)
                m.register_forward_hook(tag("fwd-first", name), prepend=True)
                m.register_full_backward_pre_hook(tag("bpre-first", name), prepend=True)
                m.register_full_backward_hook(tag("bw-first", name), prepend=True)
            result = run(L, model, x)
        finally:
            for h in handles:
                h.remove()
        return log, result

    (clog, cres), (tlog, tres) = both("sequential", scenario)
    assert len(clog) == 4 * 4 * 4  # 4 modules, 4 kinds, 3 hooks of each and a global one
    assert clog == tlog
    assert_same(cres, tres)


# -- replacing values and gradients ---------------------------------------------------------------

@pytest.mark.parametrize("kind", ["linear", "conv2d", "sequential"])
def test_pre_hook_and_forward_hook_replace_input_and_output_as_torch(kind):
    def scenario(L, model, x):
        model.register_forward_pre_hook(lambda m, args: args[0] * 2)  # one value: wrapped
        model.register_forward_pre_hook(lambda m, args: (args[0] - 0.5,))
        model.register_forward_hook(lambda m, args, out: out.tanh() + args[0].sum())
        return run(L, model, x)

    c, t = both(kind, scenario)
    assert_same(c, t)
    assert np.abs(c["x.grad"]).sum() > 0


@pytest.mark.parametrize("kind", ["linear", "conv2d", "sequential"])
def test_backward_hooks_replace_grad_output_and_grad_input_as_torch(kind):
    def scenario(L, model, x):
        model.register_full_backward_pre_hook(lambda m, go: (go[0] * 3,))
        model.register_full_backward_pre_hook(lambda m, go: None)  # keeps them
        model.register_full_backward_hook(lambda m, gi, go: (gi[0].cos(),))
        return run(L, model, x)

    c, t = both(kind, scenario)
    assert_same(c, t)


def test_replaced_gradients_inside_a_sequential_reach_earlier_layers_as_torch():
    def scenario(L, model, x):
        model[2].register_full_backward_pre_hook(lambda m, go: (go[0] * go[0],))
        model[1].register_full_backward_hook(lambda m, gi, go: (gi[0] + 1,))
        return run(L, model, x)

    c, t = both("sequential", scenario)
    assert_same(c, t)


# -- what a full backward hook sees ---------------------------------------------------------------

@pytest.mark.parametrize("kind", ["linear", "conv2d", "sequential"])
def test_grad_input_and_grad_output_equal_torchs(kind):
    def scenario(L, model, x):
        seen = []
        for _, m in model.named_modules():
            m.register_full_backward_pre_hook(
                lambda m, go: seen.append(("pre", [arr(g) for g in go])))
            m.register_full_backward_hook(
                lambda m, gi, go: seen.append(([arr(g) for g in gi], [arr(g) for g in go])))
        return seen, run(L, model, x)

    (cseen, cres), (tseen, tres) = both(kind, scenario)
    assert len(cseen) == (8 if kind == "sequential" else 2)
    assert_same(cseen, tseen)
    assert_same(cres, tres)
    # grad_input is the input's gradient, grad_output the weights of the sum
    assert_same(cseen[-1][0][0], cres["x.grad"])


def test_no_input_requires_grad_fires_at_the_outputs_with_none_as_torch():
    def scenario(L, model, x):
        seen = []
        model.register_full_backward_hook(
            lambda m, gi, go: seen.append((gi, [arr(g) for g in go])))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            res = run(L, model, x, requires_grad=False)
        assert any("no inputs require gradients" in str(m.message) for m in w)
        return seen, res

    c, t = both("linear", scenario)
    assert c[0][0][0] == ((None,))
    assert_same(c, t)


def test_a_hook_returning_gradients_where_no_input_requires_grad_raises_as_torch():
    def scenario(L, model, x):
        model.register_full_backward_hook(lambda m, gi, go: (go[0],))
        out = model(L.lib.tensor(x))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError, match="should always return None"):
                out.sum().backward()
        return True

    assert both("linear", scenario) == [True, True]


def test_kwargs_none_entries_and_zero_gradients_as_torch():
    """Positional args only in grad_input: None for a number, zeros for a tensor that needs no
    gradient; grad_output None for an output that got none."""
    def scenario(L, model, x):
        seen = []
        model.register_full_backward_pre_hook(lambda m, go: seen.append([arr(g) for g in go]))
        model.register_full_backward_hook(
            lambda m, gi, go: seen.append(([arr(g) for g in gi], [arr(g) for g in go])))
        a = L.lib.tensor(x, requires_grad=True)
        b = L.lib.tensor(x[:, ::-1].copy())
        p, q = model(a, b, 2.0, scale=0.5)
        (p * p).sum().backward()  # q unused
        p, q = model(a, b, 3.0, scale=-1.0)
        q.sum().backward()  # p unused
        return seen, arr(a.grad), grads(model)

    c, t = both("kwargs", scenario)
    assert_same(c, t)
    seen = c[0]
    assert seen[0][1] is None and seen[1][0][2] is None and seen[1][1][1] is None
    assert not seen[1][0][1].any()  # b: zeros


def test_with_kwargs_hooks_see_and_replace_keyword_arguments_as_torch():
    def scenario(L, model, x):
        log = []

        def pre(m, args, kwargs):
            log.append(("pre", len(args), sorted(kwargs)))
            return (args[0], args[1] * 2), {**kwargs, "scale": kwargs["scale"] * 10}

        def fwd(m, args, kwargs, out):
            log.append(("fwd", kwargs["scale"]))
            return out[0] + out[1], out[1]

        model.register_forward_pre_hook(pre, with_kwargs=True)
        model.register_forward_hook(fwd, with_kwargs=True)
        model.register_forward_hook(lambda m, args, out: log.append(("plain", len(args))))
        a = L.lib.tensor(x, requires_grad=True)
        p, q = model(a, L.lib.tensor(x + 1), scale=0.25)
        (p.sum() + (q * q).sum()).backward()
        return log, arr(p), arr(q), arr(a.grad), grads(model)

    c, t = both("kwargs", scenario)
    assert c[0] == [("pre", 2, ["scale"]), ("fwd", 2.5), ("plain", 2)]
    assert_same(c, t)


def test_a_pre_hook_with_kwargs_returning_something_else_raises_as_torch():
    def scenario(L, model, x):
        model.register_forward_pre_hook(lambda m, a, k: a[0], with_kwargs=True)
        with pytest.raises(RuntimeError, match=r"must return None or a tuple of \(new_args, "):
            model(L.lib.tensor(x), L.lib.tensor(x))
        return True

    assert both("kwargs", scenario) == [True, True]


# -- remove() and the handle as a context manager -------------------------------------------------

def test_remove_and_context_manager_take_hooks_off_as_torch():
    def scenario(L, model, x):
        log = []
        g = globals_of(L)
        h1 = model.register_forward_hook(lambda m, a, o: log.append("fwd") or o * 2,
                                         with_kwargs=False, always_call=True)
        h2 = model.register_full_backward_hook(lambda m, gi, go: log.append("bw") or (gi[0] * 3,))
        h3 = g.register_module_forward_pre_hook(lambda m, a: log.append("gpre"))
        with model.register_forward_pre_hook(lambda m, a: log.append("pre")) as h4:
            first = run(L, model, x)
        assert h4.id > h3.id > h2.id > h1.id  # ids count up
        second = run(L, model, x)
        h1.remove()
        h2.remove()
        h3.remove()
        h1.remove()  # twice is harmless
        model.zero_grad()
        third = run(L, model, x)
        left = (len(model._forward_hooks), len(model._forward_hooks_always_called),
                len(model._forward_pre_hooks), len(model._backward_hooks))
        return log, first, second, third, left

    c, t = both("linear", scenario)
    assert c[0] == ["gpre", "pre", "fwd", "bw", "gpre", "fwd", "bw"]
    assert c[4] == (0, 0, 0, 0)
    assert_same(c, t)


def test_a_module_with_its_hooks_removed_is_called_as_without_hooks():
    L, model = pair("sequential")[0]
    plain = run(L, model, np.ones((2, 4)))
    model.zero_grad()
    for m in model.modules():
        m.register_full_backward_hook(lambda m, gi, go: None).remove()
        m.register_forward_hook(lambda m, a, o: None).remove()
    assert all(not m._hook_ids for m in model.modules())
    out = model(CR.lib.ones(2, 4, dtype=CR.lib.float64, requires_grad=True))
    assert "BackwardHook" not in out.grad_fn.name()
    assert_same(run(L, model, np.ones((2, 4))), plain)


# -- always_call, a module called twice, errors ---------------------------------------------------

def test_always_call_runs_when_forward_raises_as_torch():
    def scenario(L, model, x):
        log = []
        model.register_forward_hook(lambda m, a, o: log.append(("always", o)), always_call=True)
        model.register_forward_hook(lambda m, a, o: log.append("never"))
        g = globals_of(L)
        h = g.register_module_forward_hook(lambda m, a, o: log.append(("global", o)),
                                           always_call=True)
        try:
            with pytest.raises(RuntimeError):
                model(L.lib.ones(2, 7, dtype=L.lib.float64))  # wrong width
            model(L.lib.tensor(x))
        finally:
            h.remove()
        return [e if isinstance(e, tuple) and e[1] is None else e[0] if isinstance(e, tuple)
                else e for e in log]

    c, t = both("linear", scenario)
    assert c == [("global", None), ("always", None), "global", "always", "never"]
    assert c == t


def test_a_module_called_twice_fires_its_hooks_per_call_as_torch():
    def scenario(L, model, x):
        seen = []
        model.register_forward_hook(lambda m, a, o: seen.append(("fwd", arr(o))))
        model.register_full_backward_hook(
            lambda m, gi, go: seen.append(([arr(g) for g in gi], [arr(g) for g in go])))
        xt = L.lib.tensor(x, requires_grad=True)
        h = model(xt)
        out = model(h[:, :4].tanh()) * 3
        out.sum().backward()
        return seen, arr(xt.grad), grads(model)

    def build(L):
        return L.nn.Linear(4, 4)

    T = torch_ns()
    T.lib.manual_seed(0)
    tm = build(T).double()
    cm = build(CR).double()
    cm.load_state_dict(tm.state_dict())
    x = np.random.default_rng(2).standard_normal((3, 4))
    c, t = scenario(CR, cm, x), scenario(T, tm, x)
    assert len(c[0]) == 4
    assert_same(c, t)


def test_hooks_raising_torchs_errors():
    def scenario(L, model, x):
        xt = L.lib.tensor(x, requires_grad=True)
        errors = []
        cases = [
            ("full", lambda m, gi, go: (gi[0], gi[0])),  # too many
            ("full", lambda m, gi, go: (L.lib.ones(7, dtype=L.lib.float64),)),  # wrong shape
            ("pre", lambda m, go: (go[0], go[0])),
            ("pre", lambda m, go: (L.lib.ones(7, dtype=L.lib.float64),)),
        ]
        for kind, hook in cases:
            register = (model.register_full_backward_hook if kind == "full"
                        else model.register_full_backward_pre_hook)
            with register(hook):
                with pytest.raises(RuntimeError) as err:
                    model(xt).sum().backward()
                errors.append(str(err.value).split(":")[0].split(", got")[0])
        return errors

    c, t = both("linear", scenario)
    assert c == ["Backward hook returned an invalid number of grad_input",
                 "hook 'hook' has changed the size of value",
                 "Backward pre hook returned an invalid number of grad_output",
                 "hook 'hook' has changed the size of value"]
    assert c == t


def test_a_non_tensor_output_warns_and_its_backward_hook_never_fires_as_torch():
    def scenario(L, _, x):
        class D(L.nn.Module):
            def forward(self, x):
                return {"y": x * 2}

        seen = []
        d = D()
        d.register_full_backward_hook(lambda m, gi, go: seen.append(1))
        xt = L.lib.tensor(x, requires_grad=True)
        with pytest.warns(UserWarning, match="module output should be a Tensor or a tuple"):
            out = d(xt)
        out["y"].sum().backward()
        return seen, arr(xt.grad)

    c, t = both("linear", scenario)
    assert c[0] == []
    assert_same(c, t)


# -- grad mode and higher derivatives -------------------------------------------------------------

def test_under_no_grad_forward_hooks_run_and_backward_hooks_add_nothing():
    def scenario(L, model, x):
        log = []
        model.register_forward_hook(lambda m, a, o: log.append(o.requires_grad))
        model.register_full_backward_hook(lambda m, gi, go: log.append("bw"))
        with L.lib.no_grad():
            out = model(L.lib.tensor(x, requires_grad=True))
        return log, out.requires_grad, arr(out)

    c, t = both("sequential", scenario)
    assert c[0] == [False] and c[1] is False
    assert_same(c, t)


@pytest.mark.parametrize("kind", ["linear", "sequential"])
def test_double_backward_through_hooked_modules_matches_torch(kind):
    """create_graph: the hooks get gradients that are part of the graph; a gradient penalty
    through them, and a hook's replacement, differentiate as in PyTorch."""
    def scenario(L, model, x):
        seen = []
        model.register_full_backward_hook(
            lambda m, gi, go: seen.append(gi[0].requires_grad) or (gi[0] * gi[0],))
        model.register_full_backward_pre_hook(lambda m, go: (go[0].sin(),))
        xt = L.lib.tensor(x, requires_grad=True)
        out = model(xt).tanh().sum()
        (gx,) = L.lib.autograd.grad(out, xt, create_graph=True)
        (gx * gx).sum().backward()
        return seen, arr(gx), arr(xt.grad), grads(model)

    c, t = both(kind, scenario)
    assert c[0][0] is True  # the hook also fires in the second backward, as in PyTorch
    assert_same(c, t)


# -- what Module.__call__ looks at ----------------------------------------------------------------

def test_hooks_leave_the_live_set_when_removed_or_when_their_module_dies():
    hooks = importlib.import_module("chainrule.nn.hooks")
    m = CR.nn.Linear(2, 2)
    h1 = m.register_forward_hook(lambda m, a, o: None)
    h2 = m.register_full_backward_hook(lambda m, gi, go: None)
    assert h1.id in hooks._live_hooks and h2.id in hooks._live_hooks
    h1.remove()
    assert h1.id not in hooks._live_hooks and h2.id in hooks._live_hooks
    del m
    gc.collect()
    assert h2.id not in hooks._live_hooks


def test_a_deep_copy_keeps_its_hooks_when_the_originals_are_removed_as_torch():
    def scenario(L, model, x):
        log = []
        h = model.register_forward_hook(lambda m, a, o: log.append("fwd") or o * 2)
        twin = copy.deepcopy(model)
        h.remove()
        out, twin_out = arr(model(L.lib.tensor(x))), arr(twin(L.lib.tensor(x)))
        return log, out, twin_out

    c, t = both("linear", scenario)
    assert c[0] == ["fwd"]  # the copy's, not the original's
    assert_same(c[2], 2 * c[1])
    assert_same(c, t)


def test_an_in_place_op_on_a_hooked_output_is_allowed_unlike_torch():
    """PyTorch forbids it (its hook's identity output is a view); chainrule records it, and the
    gradients are those of the same model without hooks."""
    (_, cm), (T, tm) = pair("linear")
    x = np.random.default_rng(3).standard_normal(SHAPE["linear"])

    def run_inplace(L, model):
        model.zero_grad()
        xt = L.lib.tensor(x, requires_grad=True)
        y = L.nn.ReLU(inplace=True)(model(xt))
        (y * y).sum().backward()
        return arr(xt.grad), grads(model)

    seen = []
    plain = run_inplace(T, tm)
    cm.register_full_backward_hook(lambda m, gi, go: seen.append(arr(go[0])))
    assert_same(run_inplace(CR, cm), plain)
    assert (seen[0] == 0).any() and seen[0].any()  # the ReLU's zeros reached the hook
    tm.register_full_backward_hook(lambda m, gi, go: None)
    with pytest.raises(RuntimeError, match="is a view and is being modified inplace"):
        run_inplace(T, tm)
