"""``autograd.functional`` (jacobian, hessian, vjp, jvp, hvp, vhp) against
``torch.autograd.functional`` on the same float64 inputs: values to 1e-10, the nesting of the
results, ``create_graph`` (the results differentiated again), ``strict`` and ``v`` errors (the
same messages), and the textbook Jacobians of tanh and softmax."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import functional as F

torch = pytest.importorskip("torch")
TF = torch.autograd.functional

TOL = 1e-10


# Functions written once for both libraries: fn(L) returns the function, L is cr or torch.
# name -> (fn, input shapes)
FUNCS = {
    "one-in-one-out": (lambda L: lambda x: (x.tanh() * x.exp()).softmax(-1), [(3, 4)]),
    "tuple-in": (lambda L: lambda x, w, b: (x @ w + b).tanh(), [(3, 4), (4, 2), (2,)]),
    "tuple-out": (lambda L: lambda x: (x.exp(), (x * x).sum()), [(3,)]),
    "tuple-in-tuple-out": (lambda L: lambda x, y: (x.exp() * y, (y @ x).softmax(-1),
                                                    (x * y).sum()), [(3,), (2, 3)]),
    "one-element-out": (lambda L: lambda x: (x @ x.T).exp().sum().reshape(1, 1), [(2, 3)]),
}
SCALAR = {
    "one-in": (lambda L: lambda x: (x.softmax(-1) * x.tanh()).sum(), [(5,)]),
    "matrix-in": (lambda L: lambda x: (x @ x.T).tanh().sum(), [(2, 3)]),
    "tuple-in": (lambda L: lambda x, y: (x @ y).tanh().exp().sum() + (x * y).sum() ** 2,
                 [(2, 3), (3,)]),
    "one-element": (lambda L: lambda x, y: (x.exp() * y).sum().reshape(1), [(1,), (2,)]),
}


def _arrays(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _ours(arrays, requires_grad=False):
    return tuple(cr.tensor(a, dtype=cr.float64, requires_grad=requires_grad) for a in arrays)


def _theirs(arrays, requires_grad=False):
    return tuple(torch.tensor(a, requires_grad=requires_grad) for a in arrays)


def _arg(ts):
    return ts[0] if len(ts) == 1 else ts  # a single Tensor, or a tuple: both spellings are tested


def assert_same(ours, theirs, path="result"):
    """Same nesting (Tensor vs tuple), shapes and values. (torch's forward-mode Jacobian nests
    lists where its reverse mode has tuples: we return tuples for both.)"""
    if isinstance(theirs, list):
        theirs = tuple(theirs)
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, cr.Tensor), f"{path}: {type(ours).__name__}, torch has a Tensor"
        assert ours.shape == tuple(theirs.shape), f"{path}: {ours.shape} vs {tuple(theirs.shape)}"
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=TOL, atol=TOL,
                                   err_msg=path)
        return
    assert isinstance(theirs, tuple) and isinstance(ours, tuple), f"{path}: {type(ours)}"
    assert len(ours) == len(theirs), f"{path}: {len(ours)} vs {len(theirs)} entries"
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert_same(o, t, f"{path}[{i}]")


def _flat(x):
    return [x] if not isinstance(x, tuple) else [t for el in x for t in _flat(el)]


def _torch_message(fn):
    with pytest.raises(Exception) as info:
        fn()
    # torch.Size([3, 2]) -> (3, 2); a missing space in one of torch's messages
    message = str(info.value).replace("isonly", "is only")
    return info.type, re.sub(r"torch\.Size\(\[([^\]]*)\]\)",
                             lambda m: repr(tuple(int(s) for s in m.group(1).split(",") if s)),
                             message)


def assert_same_error(ours, theirs):
    """Both raise, the same exception type and message."""
    kind, message = _torch_message(theirs)
    with pytest.raises(kind) as info:
        ours()
    assert str(info.value) == message


# -- values and nesting ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", FUNCS)
def test_jacobian_matches_torch(name):
    fn, shapes = FUNCS[name]
    arrays = _arrays(shapes, 0)
    assert_same(F.jacobian(fn(cr), _arg(_ours(arrays))),
                TF.jacobian(fn(torch), _arg(_theirs(arrays))))


def test_jacobian_of_a_single_tensor_passed_as_a_one_tuple_is_nested_as_torch():
    fn, shapes = FUNCS["tuple-out"]
    a = _arrays(shapes, 1)
    ours, theirs = F.jacobian(fn(cr), _ours(a)), TF.jacobian(fn(torch), _theirs(a))
    assert_same(ours, theirs)
    assert isinstance(ours[0], tuple) and ours[1][0].shape == (3,)


def test_jacobian_of_an_empty_output_is_empty():
    # torch.stack fails on no rows here; the Jacobian is an empty (0, 2) block
    J = F.jacobian(lambda x: x[:0], cr.tensor(np.ones(2)))
    assert J.shape == (0, 2)


def _random_like_outputs(fn, arrays, seed):
    outs = fn(torch)(*_theirs(arrays))
    rng = np.random.default_rng(seed)
    if isinstance(outs, torch.Tensor):
        return [rng.standard_normal(tuple(outs.shape))]
    return [rng.standard_normal(tuple(o.shape)) for o in outs]


@pytest.mark.parametrize("name", FUNCS)
def test_vjp_matches_torch(name):
    fn, shapes = FUNCS[name]
    arrays = _arrays(shapes, 2)
    v = _random_like_outputs(fn, arrays, 3)
    ours = F.vjp(fn(cr), _arg(_ours(arrays)), _arg(_ours(v)))
    assert_same(ours, TF.vjp(fn(torch), _arg(_theirs(arrays)), _arg(_theirs(v))))
    # vᵀJ equals v contracted with the Jacobian
    J = F.jacobian(fn(cr), _arg(_ours(arrays)))
    if len(shapes) == 1 and len(v) == 1:
        np.testing.assert_allclose(ours[1].data, np.tensordot(v[0], J.data, v[0].ndim),
                                   rtol=TOL, atol=TOL)


@pytest.mark.parametrize("name", FUNCS)
def test_jvp_matches_torch(name):
    fn, shapes = FUNCS[name]
    arrays = _arrays(shapes, 4)
    v = _arrays(shapes, 5)
    ours = F.jvp(fn(cr), _arg(_ours(arrays)), _arg(_ours(v)))
    assert_same(ours, TF.jvp(fn(torch), _arg(_theirs(arrays)), _arg(_theirs(v))))
    J = F.jacobian(fn(cr), _arg(_ours(arrays)))
    if len(shapes) == 1 and not isinstance(J, tuple):
        out_ndim = J.ndim - len(shapes[0])
        np.testing.assert_allclose(ours[1].data, np.tensordot(J.data, v[0], J.ndim - out_ndim),
                                   rtol=TOL, atol=TOL)


@pytest.mark.parametrize("name", SCALAR)
def test_hessian_matches_torch(name):
    fn, shapes = SCALAR[name]
    arrays = _arrays(shapes, 6)
    ours = F.hessian(fn(cr), _arg(_ours(arrays)))
    assert_same(ours, TF.hessian(fn(torch), _arg(_theirs(arrays))))
    if len(shapes) == 1:  # symmetric
        n = int(np.prod(shapes[0]))
        H = ours.data.reshape(n, n)
        np.testing.assert_allclose(H, H.T, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("which", ["hvp", "vhp"])
@pytest.mark.parametrize("name", SCALAR)
def test_hvp_and_vhp_match_torch_and_the_hessian(name, which):
    fn, shapes = SCALAR[name]
    arrays, v = _arrays(shapes, 7), _arrays(shapes, 8)
    ours = getattr(F, which)(fn(cr), _arg(_ours(arrays)), _arg(_ours(v)))
    assert_same(ours, getattr(TF, which)(fn(torch), _arg(_theirs(arrays)), _arg(_theirs(v))))
    # H v (and vᵀH: H is symmetric) from the full Hessian
    H = F.hessian(fn(cr), _ours(arrays))
    for i, a in enumerate(arrays):
        want = sum(np.tensordot(H[i][j].data, v[j], v[j].ndim) for j in range(len(arrays)))
        np.testing.assert_allclose(_flat(ours[1])[i].data, want, rtol=TOL, atol=TOL)


def test_v_may_be_none_for_one_element_outputs_and_inputs():
    x = np.array([0.7])
    f = lambda x: (x.exp() * x).sum()  # noqa: E731
    assert_same(F.vjp(f, cr.tensor(x)), TF.vjp(f, torch.tensor(x)))
    for name in ("jvp", "hvp", "vhp"):
        assert_same(getattr(F, name)(f, cr.tensor(x)), getattr(TF, name)(f, torch.tensor(x)))
    # d/dx (x eˣ) = (1 + x) eˣ ; d²/dx² = (2 + x) eˣ
    np.testing.assert_allclose(F.vjp(f, cr.tensor(x))[1].data, (1 + x) * np.exp(x), rtol=TOL)
    np.testing.assert_allclose(F.hvp(f, cr.tensor(x))[1].data, (2 + x) * np.exp(x), rtol=TOL)


# -- options: vectorize, strategy -----------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's vmap prototype
@pytest.mark.parametrize("name", ["tuple-in", "tuple-in-tuple-out"])
def test_vectorize_and_forward_mode_give_torchs_numbers(name):
    fn, shapes = FUNCS[name]
    arrays = _arrays(shapes, 9)
    want = TF.jacobian(fn(torch), _theirs(arrays))
    assert_same(F.jacobian(fn(cr), _ours(arrays), vectorize=True), want)
    assert_same(F.jacobian(fn(cr), _ours(arrays), vectorize=True, strategy="forward-mode"),
                TF.jacobian(fn(torch), _theirs(arrays), vectorize=True, strategy="forward-mode"))
    fn, shapes = SCALAR["tuple-in"]
    arrays = _arrays(shapes, 10)
    assert_same(F.hessian(fn(cr), _ours(arrays), vectorize=True,
                          outer_jacobian_strategy="forward-mode"),
                TF.hessian(fn(torch), _theirs(arrays), vectorize=True,
                           outer_jacobian_strategy="forward-mode"))


def test_strategy_combinations_torch_refuses_are_refused():
    f = lambda x: x.exp()  # noqa: E731
    a = np.ones(2)
    for kw in [dict(strategy="forward-mode"),  # needs vectorize=True
               dict(strategy="forward-mode", vectorize=True, create_graph=True),
               dict(strategy="forward-mode", vectorize=True, strict=True),
               dict(vectorize=True, strict=True),
               dict(strategy="sideways")]:
        assert_same_error(lambda: F.jacobian(f, cr.tensor(a), **kw),
                          lambda: TF.jacobian(f, torch.tensor(a), **kw))
    assert_same_error(lambda: F.hessian(lambda x: x.sum(), cr.tensor(a),
                                        outer_jacobian_strategy="sideways"),
                      lambda: TF.hessian(lambda x: x.sum(), torch.tensor(a),
                                         outer_jacobian_strategy="sideways"))


# -- the caller's tensors -------------------------------------------------------------------------

def test_inputs_are_copies_and_results_are_detached_without_create_graph():
    fn, shapes = SCALAR["one-in"]
    a, v = _arrays(shapes, 11), _arrays(shapes, 12)
    x, vt = cr.tensor(a[0], requires_grad=True), cr.tensor(v[0], requires_grad=True)
    before = np.array(x)
    for name in ("vjp", "jvp", "hvp", "vhp"):
        out, res = getattr(F, name)(fn(cr), x, vt if name != "vjp" else None)
        assert not out.requires_grad and not res.requires_grad and res.grad_fn is None
    for name in ("jacobian", "hessian"):
        assert not getattr(F, name)(fn(cr), x).requires_grad
    assert x.grad is None and vt.grad is None
    np.testing.assert_array_equal(x.data, before)
    # a function that captures the caller's tensor instead of using its argument: no dependence
    J = F.jacobian(lambda t: t * x, cr.tensor(a[0]))
    np.testing.assert_allclose(J.data, np.diag(a[0]), rtol=TOL)


def test_works_under_no_grad():
    fn, shapes = FUNCS["tuple-in"]
    arrays, v = _arrays(shapes, 13), _arrays(shapes, 14)
    with cr.no_grad():
        ours = F.jvp(fn(cr), _ours(arrays), _ours(v))
    with torch.no_grad():
        theirs = TF.jvp(fn(torch), _theirs(arrays), _theirs(v))
    assert_same(ours, theirs)


# -- create_graph: the results differentiated again -----------------------------------------------

def _weights(result, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(t.shape) for t in _flat(result)]


def _second(L, result, weights, wrt):
    """Gradient of Σ w · result (every result tensor) with respect to ``wrt``."""
    total = sum((t * L.tensor(w)).sum() for t, w in zip(_flat(result), weights))
    grad = cr.autograd.grad if L is cr else torch.autograd.grad
    return grad(total, wrt, allow_unused=True, materialize_grads=True)


CREATE_GRAPH = [("jacobian", FUNCS["tuple-in-tuple-out"], False),
                ("jacobian", FUNCS["one-in-one-out"], False),
                ("vjp", FUNCS["tuple-in-tuple-out"], True),
                ("jvp", FUNCS["tuple-in"], True),
                ("jvp", FUNCS["tuple-in-tuple-out"], True),
                ("hessian", SCALAR["tuple-in"], False),
                ("hvp", SCALAR["tuple-in"], True),
                ("vhp", SCALAR["one-in"], True)]


@pytest.mark.parametrize("name,case,takes_v", CREATE_GRAPH,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CREATE_GRAPH)])
def test_create_graph_results_differentiate_as_torchs(name, case, takes_v):
    fn, shapes = case
    arrays = _arrays(shapes, 15)
    ours_in, theirs_in = _ours(arrays, True), _theirs(arrays, True)
    args_ours, args_theirs = [fn(cr), _arg(ours_in)], [fn(torch), _arg(theirs_in)]
    wrt_ours, wrt_theirs = list(ours_in), list(theirs_in)
    if takes_v:
        v = (_random_like_outputs(fn, arrays, 16) if name == "vjp" else _arrays(shapes, 16))
        v_ours, v_theirs = _ours(v, True), _theirs(v, True)
        args_ours.append(_arg(v_ours))
        args_theirs.append(_arg(v_theirs))
        wrt_ours += v_ours
        wrt_theirs += v_theirs
    ours = getattr(F, name)(*args_ours, create_graph=True)
    theirs = getattr(TF, name)(*args_theirs, create_graph=True)
    assert_same(ours, theirs)
    assert any(t.requires_grad for t in _flat(ours))
    w = _weights(theirs, 17)
    assert_same(_second(cr, ours, w, wrt_ours), _second(torch, theirs, w, wrt_theirs))


def test_create_graph_hessian_gives_third_derivatives():
    # f = Σ x³ ⇒ H = diag(6x), ∂(Σ H)/∂x = 6
    x = cr.tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    H = F.hessian(lambda t: (t ** 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(H.data, np.diag(6 * x.data), rtol=TOL)
    (g,) = cr.autograd.grad(H.sum(), x)
    np.testing.assert_allclose(g.data, [6.0, 6.0, 6.0], rtol=TOL)


# -- strict, and the errors -----------------------------------------------------------------------

UNUSED = lambda L: lambda x, y: (x.exp() * x).sum()  # noqa: E731  (y unused)
LINEAR = lambda L: lambda x, y: (2 * x + 3 * y).sum()  # noqa: E731  (Hessian zero)
CONSTANT = lambda L: lambda x, y: (x.detach() * y.detach()).sum()  # noqa: E731
STRICT_CASES = [(name, f) for name in ("jacobian", "vjp", "jvp", "hessian", "hvp", "vhp")
                for f in ("unused", "linear", "constant")]


@pytest.mark.parametrize("name,kind", STRICT_CASES)
@pytest.mark.parametrize("create_graph", [False, True])
def test_strict_raises_torchs_error_and_otherwise_returns_zeros(name, kind, create_graph):
    fn = {"unused": UNUSED, "linear": LINEAR, "constant": CONSTANT}[kind]
    a = _arrays([(3,), (3,)], 18)

    def call(mod, L, make, strict):
        v = (make(a),) if name in ("jvp", "hvp", "vhp") else ()  # v shaped as the inputs
        return getattr(mod, name)(fn(L), make(a), *v, create_graph=create_graph, strict=strict)

    try:
        theirs = call(TF, torch, _theirs, True)
    except RuntimeError:
        assert_same_error(lambda: call(F, cr, _ours, True), lambda: call(TF, torch, _theirs, True))
    else:  # torch accepts it (linear functions are fine for jacobian, vjp, jvp): so do we
        assert_same(call(F, cr, _ours, True), theirs)
    assert_same(call(F, cr, _ours, False), call(TF, torch, _theirs, False))


def test_strict_errors_name_the_problem():
    a = _ours(_arrays([(3,), (3,)], 19))
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function is independent "
                                           "of input 1"):
        F.jacobian(UNUSED(cr), a, strict=True)
    with pytest.raises(RuntimeError, match="does not require gradients"):
        F.vjp(CONSTANT(cr), a, strict=True)
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function with respect "
                                           "to input 0 is independent of the input"):
        F.hessian(LINEAR(cr), a, strict=True)
    # not strict: the mathematically right zeros
    H = F.hessian(UNUSED(cr), a)
    assert H[1][1].shape == (3, 3) and not H[1][1].data.any() and not H[0][1].data.any()


@pytest.mark.parametrize("strict", [False, True])
def test_outputs_depending_only_on_a_captured_tensor(strict):
    # the function closes over w (which requires grad): an output, or a gradient, that requires
    # grad yet does not depend on the inputs. strict: torch's errors of the double-vjp trick
    a, w = _arrays([(3,), (3,)], 22)
    wo, wt = cr.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    f = lambda L, w: lambda x: (x.exp(), w * 2)  # noqa: E731
    g = lambda L, w: lambda x, y: (x ** 3).sum() + (y * w).sum()  # noqa: E731
    cases = [(F.jvp, TF.jvp, f, (cr.tensor(a),), (torch.tensor(a),)),
             (F.hvp, TF.hvp, g, _ours([a, a]), _theirs([a, a]))]
    for ours, theirs, fn, x_ours, x_theirs in cases:
        run_ours = lambda: ours(fn(cr, wo), _arg(x_ours), _arg(x_ours), strict=strict)  # noqa
        run_theirs = lambda: theirs(fn(torch, wt), _arg(x_theirs), _arg(x_theirs),  # noqa
                                    strict=strict)
        if strict:
            assert_same_error(run_ours, run_theirs)
        else:
            assert_same(run_ours(), run_theirs())


def _v_error_cases():
    x3, x2 = np.ones(3), np.ones(2)
    f = lambda x: x.exp()  # noqa: E731
    s = lambda x: x.exp().sum()  # noqa: E731
    g = lambda x, y: (x * y).sum()  # noqa: E731
    return [
        ("vjp", f, (x3,), (x2,), False),       # v shaped wrong
        ("vjp", f, (x3,), (x3, x3), False),    # a tuple where one Tensor is expected
        ("vjp", f, (x3,), None, False),        # v=None for a 3-element output
        ("jvp", g, (x3, x3), (x3,), True),     # a tuple of the wrong length
        ("jvp", g, (x3, x3), (x3, x2), True),  # entry 1 shaped wrong
        ("jvp", f, (x3,), None, False),
        ("hvp", s, (x3,), (x2,), False),
        ("hvp", s, (x3,), None, False),
        ("vhp", g, (x3, x3), (x2, x3), True),
        ("vhp", s, (x3,), None, False),
        ("hvp", f, (x3,), (x3,), False),       # not a scalar function
        ("hessian", f, (x3,), None, False),
        ("vhp", lambda x: (x.sum(), x.sum()), (x3,), (x3,), False),
    ]


@pytest.mark.parametrize("name,f,inputs,v,tupled", _v_error_cases())
def test_v_and_output_shape_errors_are_torchs(name, f, inputs, v, tupled):
    def call(mod, make):
        ins = make(inputs) if tupled else make(inputs)[0]
        args = () if name == "hessian" else (
            None if v is None else (make(v) if len(v) > 1 or tupled else make(v)[0]),)
        return getattr(mod, name)(f, ins, *args)
    assert_same_error(lambda: call(F, _ours), lambda: call(TF, _theirs))


def test_inputs_that_are_not_tensors_raise_torchs_type_error():
    for name in ("jacobian", "vjp"):
        assert_same_error(lambda: getattr(F, name)(lambda x: x, [cr.ones(2)]),
                          lambda: getattr(TF, name)(lambda x: x, [torch.ones(2)]))
        assert_same_error(lambda: getattr(F, name)(lambda x: x, (cr.ones(2), 3.0)),
                          lambda: getattr(TF, name)(lambda x: x, (torch.ones(2), 3.0)))


# -- the tutorial's Jacobians ---------------------------------------------------------------------

def test_tanh_jacobian_is_diagonal_one_minus_tanh_squared():
    x = np.random.default_rng(20).standard_normal(5)
    J = F.jacobian(cr.tanh, cr.tensor(x))
    np.testing.assert_allclose(J.data, np.diag(1 - np.tanh(x) ** 2), rtol=TOL, atol=TOL)


def test_softmax_jacobian_is_s_i_times_delta_ij_minus_s_j():
    x = np.random.default_rng(21).standard_normal(4)
    s = np.exp(x - x.max())
    s /= s.sum()
    J = F.jacobian(lambda t: cr.softmax(t, dim=0), cr.tensor(x))
    np.testing.assert_allclose(J.data, s[:, None] * (np.eye(4) - s[None, :]), rtol=TOL, atol=TOL)
    # each row sums to zero: softmax's outputs always sum to one
    np.testing.assert_allclose(J.data.sum(axis=1), 0, atol=TOL)
