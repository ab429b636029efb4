"""Recurrent layers against PyTorch's: RNN (tanh, relu), LSTM and GRU over layers, directions,
batch_first, bias, unbatched and packed inputs of mixed lengths; the cells; nn.utils.rnn's
padding and packing. Each module gets the torch module's weights by name (its state_dict), and
the outputs, the final states and every gradient (input, initial states, each parameter) must
agree: 1e-10 in float64, ~1e-5 in float32. Then gradients of gradients, dropout between
layers, and PyTorch's errors."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.autograd import gradgradcheck
from chainrule.nn.utils import rnn as rnn_utils
from chainrule.ops.rnn import GRURecurrence, LSTMRecurrence, RNNRecurrence

from .helpers import assert_close, copy_params

torch = pytest.importorskip("torch")
tnn = torch.nn
trnn = torch.nn.utils.rnn

LAYERS = {"RNN": ("RNN", {}), "RNN_relu": ("RNN", {"nonlinearity": "relu"}),
          "LSTM": ("LSTM", {}), "GRU": ("GRU", {})}

# (layer, constructor options, steps T, batch N; N None: unbatched)
CASES = [
    (layer, dict(kw, **opts), T, N)
    for layer in LAYERS
    for kw in [LAYERS[layer][1]]
    for opts, T, N in [
        ({}, 5, 3),
        ({"num_layers": 2}, 4, 2),
        ({"bidirectional": True}, 4, 3),
        ({"num_layers": 2, "bidirectional": True, "batch_first": True}, 3, 2),
        ({"bias": False, "num_layers": 2}, 4, 2),
        ({"batch_first": True}, 6, 1),
        ({"bidirectional": True}, 4, None),
        ({"batch_first": True, "num_layers": 2}, 3, None),
    ]
]


def _ids(case):
    layer, opts, T, N = case
    return f"{layer}-" + "-".join(f"{k}={v}" for k, v in opts.items()) + f"-T{T}-N{N}"


def _pair(layer, opts, input_size, hidden, dtype, seed=0):
    """A torch module and a chainrule one with the same weights."""
    cls, _ = LAYERS[layer]
    torch.manual_seed(seed)
    theirs = getattr(tnn, cls)(input_size, hidden, **opts).to(getattr(torch, np.dtype(dtype).name))
    ours = getattr(nn, cls)(input_size, hidden, **opts, dtype=dtype)
    copy_params(theirs, ours)
    return ours, theirs


def _leaf(a, lib):
    return (cr.tensor(a.copy(), requires_grad=True) if lib is cr
            else torch.tensor(a.copy(), requires_grad=True))


def _numpy(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.data


def _compare_module_run(ours, theirs, run, inputs, dtype, seed=1):
    """``run(module, lib, *leaves) -> list of outputs`` on both; equal outputs; then the same
    random weighting of every output backpropagated: equal gradients of the leaves and of every
    parameter (by name)."""
    xs = [_leaf(a, cr) for a in inputs]
    ts = [_leaf(a, torch) for a in inputs]
    outs, touts = run(ours, cr, *xs), run(theirs, torch, *ts)
    assert len(outs) == len(touts)
    rng = np.random.default_rng(seed)
    loss, tloss = 0, 0
    for i, (o, t) in enumerate(zip(outs, touts)):
        want = _numpy(t)
        assert_close(o.data, want, dtype, f"output {i}", max(1.0, float(np.abs(want).max())))
        w = rng.standard_normal(want.shape).astype(dtype)
        loss = loss + (o * cr.tensor(w)).sum()
        tloss = tloss + (t * torch.tensor(w)).sum()
    loss.backward()
    tloss.backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        g = t.grad.numpy()
        assert x.grad is not None, f"input {i} got no gradient"
        assert_close(x.grad.data, g, dtype, f"gradient of input {i}", max(1.0, np.abs(g).max()))
    params = dict(ours.named_parameters())
    tparams = dict(theirs.named_parameters())
    assert params.keys() == tparams.keys()
    for name, tp in tparams.items():
        g = tp.grad.numpy()
        assert params[name].grad is not None, f"{name} got no gradient"
        assert_close(params[name].grad.data, g, dtype, f"gradient of {name}",
                     max(1.0, np.abs(g).max()))


def _flat_outputs(layer, result):
    output, hidden = result
    return [output] + (list(hidden) if layer == "LSTM" else [hidden])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("with_hx", [False, True])
def test_layer_matches_torch(case, dtype, with_hx):
    layer, opts, T, N = case
    input_size, hidden = 3, 4
    ours, theirs = _pair(layer, opts, input_size, hidden, dtype)
    rng = np.random.default_rng(7)
    directions = 2 if opts.get("bidirectional") else 1
    if N is None:
        x = rng.standard_normal((T, input_size))
        h_shape = (opts.get("num_layers", 1) * directions, hidden)
    else:
        x = rng.standard_normal((N, T, input_size) if opts.get("batch_first")
                                else (T, N, input_size))
        h_shape = (opts.get("num_layers", 1) * directions, N, hidden)
    inputs = [x.astype(dtype)]
    if with_hx:
        inputs += [rng.standard_normal(h_shape).astype(dtype)
                   for _ in range(2 if layer == "LSTM" else 1)]

    def run(module, lib, x, *hx):
        state = None if not hx else (tuple(hx) if layer == "LSTM" else hx[0])
        return _flat_outputs(layer, module(x, state))

    _compare_module_run(ours, theirs, run, inputs, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("opts", [{}, {"num_layers": 2, "bidirectional": True},
                                  {"batch_first": True, "bias": False}],
                         ids=["plain", "2-layers-bidirectional", "batch_first-no-bias"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_mixed_lengths_match_torch(layer, opts, dtype, enforce_sorted):
    """Packed batches of mixed lengths: the packed output, each sequence's final state at its
    own last step, the re-padded output, and the gradients through packing and unpacking."""
    lengths = [5, 5, 3, 2, 1] if enforce_sorted else [2, 5, 1, 3, 5]
    ours, theirs = _pair(layer, opts, 3, 4, dtype, seed=3)
    batch_first = opts.get("batch_first", False)
    rng = np.random.default_rng(11)
    T, B = max(lengths), len(lengths)
    x = rng.standard_normal((B, T, 3) if batch_first else (T, B, 3)).astype(dtype)
    directions = 2 if opts.get("bidirectional") else 1
    h_shape = (opts.get("num_layers", 1) * directions, B, 4)
    hx = [rng.standard_normal(h_shape).astype(dtype) for _ in range(2 if layer == "LSTM" else 1)]

    def run(module, lib, x, *hx):
        U = rnn_utils if lib is cr else trnn
        packed = U.pack_padded_sequence(x, lengths, batch_first=batch_first,
                                        enforce_sorted=enforce_sorted)
        out, hidden = module(packed, tuple(hx) if layer == "LSTM" else hx[0])
        assert isinstance(out, U.PackedSequence)
        assert np.array_equal(np.asarray(_numpy(out.batch_sizes)), [5, 4, 3, 2, 2][:T])
        padded, out_lengths = U.pad_packed_sequence(out, batch_first=batch_first,
                                                    padding_value=-2.0, total_length=T + 1)
        assert list(np.asarray(_numpy(out_lengths))) == lengths
        return [out.data, padded] + (list(hidden) if layer == "LSTM" else [hidden])

    _compare_module_run(ours, theirs, run, [x] + hx, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell,opts", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}),
                                       ("LSTMCell", {}), ("GRUCell", {}),
                                       ("GRUCell", {"bias": False}),
                                       ("LSTMCell", {"bias": False})])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch_over_three_steps(cell, opts, dtype, batched):
    """A cell applied for three steps by hand (the weights' gradients add up over the steps)."""
    torch.manual_seed(5)
    theirs = getattr(tnn, cell)(3, 4, **opts).to(getattr(torch, np.dtype(dtype).name))
    ours = getattr(nn, cell)(3, 4, **opts, dtype=dtype)
    copy_params(theirs, ours)
    rng = np.random.default_rng(2)
    lead = (2,) if batched else ()
    inputs = [rng.standard_normal((3,) + lead + (3,)).astype(dtype)]
    inputs += [rng.standard_normal(lead + (4,)).astype(dtype)
               for _ in range(2 if cell == "LSTMCell" else 1)]

    def run(module, lib, x, *hx):
        state = tuple(hx) if cell == "LSTMCell" else hx[0]
        outs = []
        for t in range(3):
            state = module(x[t], state)
            outs += list(state) if cell == "LSTMCell" else [state]
        return outs

    _compare_module_run(ours, theirs, run, inputs, dtype)


def test_cells_without_state_start_from_zeros():
    torch.manual_seed(0)
    for name in ("RNNCell", "LSTMCell", "GRUCell"):
        theirs = getattr(tnn, name)(3, 2).double()
        ours = getattr(nn, name)(3, 2, dtype=np.float64)
        copy_params(theirs, ours)
        x = np.random.default_rng(0).standard_normal((4, 3))
        got, want = ours(cr.tensor(x)), theirs(torch.tensor(x))
        for g, w in zip(got if name == "LSTMCell" else [got], want if name == "LSTMCell"
                        else [want]):
            np.testing.assert_allclose(g.data, w.detach().numpy(), rtol=1e-12, atol=1e-14)


# -- the fused ops: one node each, and their gradients of gradients ------------------------------

def _op_inputs(op, rng, batch_sizes, hidden=2):
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[op]
    rows, batch = sum(batch_sizes), batch_sizes[0]

    def leaf(*shape):
        return cr.tensor(rng.standard_normal(shape), requires_grad=True)

    states = [leaf(batch, hidden) for _ in range(2 if op == "lstm" else 1)]
    return [leaf(rows, gates * hidden)] + states + [leaf(gates * hidden, hidden) * 0.7,
                                                     leaf(gates * hidden)]


def _op(op, **kw):
    cls = {"rnn": RNNRecurrence, "lstm": LSTMRecurrence, "gru": GRURecurrence}[op]
    return lambda *args: cls.apply(*args, **kw)


OPS = [("rnn", {}), ("rnn", {"nonlinearity": "relu"}), ("lstm", {}), ("gru", {})]


@pytest.mark.parametrize("op,kw", OPS, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("batch_sizes,reverse", [((2, 2, 2), False), ((3, 2, 1), False),
                                                 ((3, 2, 1), True)])
def test_recurrence_gradgradcheck(op, kw, batch_sizes, reverse):
    rng = np.random.default_rng(3)
    inputs = [t.detach().requires_grad_() for t in _op_inputs(op, rng, batch_sizes)]
    if kw.get("nonlinearity") == "relu":  # keep the pre-activations away from relu's kink
        inputs[0].data[...] += np.sign(inputs[0].data) * 0.5
    f = _op(op, batch_sizes=batch_sizes, reverse=reverse, **kw)
    assert cr.autograd.gradcheck(f, inputs)
    assert gradgradcheck(f, inputs)


@pytest.mark.parametrize("op,kw", OPS, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_fused_backward_agrees_with_its_composite(op, kw):
    """create_graph=True differentiates the composite: its first derivatives must be the fused
    backward's, and the composite's forward the fused forward."""
    rng = np.random.default_rng(4)
    inputs = [t.detach().requires_grad_() for t in _op_inputs(op, rng, (3, 3, 2, 1), hidden=3)]
    f = _op(op, batch_sizes=(3, 3, 2, 1), reverse=True, **kw)
    y = f(*inputs)
    v = cr.tensor(rng.standard_normal(y.shape))
    fused = cr.autograd.grad((y * v).sum(), inputs)
    recorded = cr.autograd.grad((f(*inputs) * v).sum(), inputs, create_graph=True)
    for a, b in zip(fused, recorded):
        assert b.requires_grad
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-13)
    node = y.grad_fn
    composite = type(node).composite(node, *inputs, **node.kwargs)
    np.testing.assert_allclose(composite.data, y.data, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_module_gradgradcheck_bidirectional_packed(layer):
    """Second derivatives through a whole 2-layer bidirectional module on a packed batch (input and
    initial state)."""
    cls, kw = LAYERS[layer]
    cr.manual_seed(0)
    module = getattr(nn, cls)(2, 2, num_layers=2, bidirectional=True, dtype=np.float64, **kw)
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = cr.tensor(rng.standard_normal((4, 2, 2)) * 0.5, requires_grad=True)

    def f(x, h0):
        packed = rnn_utils.pack_padded_sequence(x, [3, 2])
        out, hidden = module(packed, (h0, h0 * 0.5) if layer == "LSTM" else h0)
        return out.data.sum(dim=1) + (hidden[0] if layer == "LSTM" else hidden).sum()

    assert gradgradcheck(f, [x, h0])


def test_one_lstm_layer_is_two_nodes_whatever_the_length():
    """The time loop is one node: x W_ihᵀ + b_ih over all steps, then the recurrence."""
    lstm = nn.LSTM(3, 4)
    out, (h, c) = lstm(cr.randn(50, 2, 3, requires_grad=True))
    node = out.grad_fn  # a view of the recurrence's (2, R, H) output
    while not isinstance(node, LSTMRecurrence):
        node = node.inputs[0].grad_fn
    assert node.inputs[0].grad_fn.name() == "LinearBackward"
    assert node.inputs[0].grad_fn.inputs[0].grad_fn.name() == "ViewBackward"


# -- dropout between layers ------------------------------------------------------------------------

@pytest.mark.parametrize("layer", list(LAYERS))
def test_dropout_one_zeroes_the_upper_layers_input_as_torch(layer):
    """dropout=1 in training: the second layer sees zeros (its output comes from the biases and
    the recurrence alone), as in PyTorch; the first layer's final state is untouched."""
    ours, theirs = _pair(layer, {"num_layers": 2, "dropout": 1.0}, 3, 4, np.float64)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    got = _flat_outputs(layer, ours(cr.tensor(x)))
    want = _flat_outputs(layer, theirs(torch.tensor(x)))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.data, w.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_dropout_mask_between_layers_is_f_dropout_of_the_layer_output(layer):
    """With a fixed seed, a 3-layer module in training equals three 1-layer modules with
    F.dropout(p) (drawn in the same order) on the outputs of the first two, not the last;
    and eval mode or p = 0 applies none."""
    cls, kw = LAYERS[layer]
    p = 0.4
    cr.manual_seed(1)
    deep = getattr(nn, cls)(3, 4, num_layers=3, dropout=p, bidirectional=True,
                            dtype=np.float64, **kw)
    singles = []
    for k in range(3):
        single = getattr(nn, cls)(3 if k == 0 else 8, 4, bidirectional=True, dtype=np.float64,
                                  **kw)
        single.load_state_dict({name.replace(f"_l{k}", "_l0"): value
                                for name, value in deep.state_dict().items()
                                if re.search(f"_l{k}(_reverse)?$", name)})
        singles.append(single)
    x = cr.tensor(np.random.default_rng(0).standard_normal((5, 2, 3)))

    def by_hand(drop):
        h = x
        for k, single in enumerate(singles):
            h = single(h)[0]
            if drop and k < 2:
                h = F.dropout(h, p, training=True)
        return h

    cr.manual_seed(123)
    got = deep(x)[0].data
    cr.manual_seed(123)
    want = by_hand(True).data
    np.testing.assert_array_equal(got, want)
    assert not np.allclose(got, by_hand(False).data)  # the masks did something
    deep.eval()
    np.testing.assert_array_equal(deep(x)[0].data, by_hand(False).data)


def test_dropout_with_one_layer_warns_as_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.LSTM(3, 4, num_layers=2, dropout=0.5)


# -- construction: names, shapes, initialisation, repr ---------------------------------------------

@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("opts", [{}, {"num_layers": 3, "bidirectional": True, "bias": False}])
def test_parameter_names_shapes_and_repr_are_torchs(layer, opts):
    ours, theirs = _pair(layer, opts, 3, 5, np.float32)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    assert [[tuple(p.shape) for p in ws] for ws in ours.all_weights] == \
        [[tuple(p.shape) for p in ws] for ws in theirs.all_weights]


@pytest.mark.parametrize("make", [lambda: nn.LSTM(6, 16, num_layers=2), lambda: nn.GRUCell(4, 9),
                                  lambda: nn.RNN(3, 25, bidirectional=True)])
def test_initialisation_is_uniform_within_one_over_sqrt_hidden(make):
    cr.manual_seed(0)
    module = make()
    bound = 1 / np.sqrt(module.hidden_size)
    values = np.concatenate([p.detach().numpy().ravel() for p in module.parameters()])
    assert values.min() >= -bound and values.max() <= bound
    assert values.min() < -0.9 * bound and values.max() > 0.9 * bound  # the whole range
    assert abs(values.mean()) < 0.1 * bound
    assert np.std(values) == pytest.approx(bound / np.sqrt(3), rel=0.1)  # U(-b, b)'s std


def test_cell_names_and_repr_are_torchs():
    for name, kw in [("RNNCell", {"nonlinearity": "relu", "bias": False}), ("LSTMCell", {}),
                     ("GRUCell", {})]:
        ours, theirs = getattr(nn, name)(3, 4, **kw), getattr(tnn, name)(3, 4, **kw)
        assert repr(ours) == repr(theirs)
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]


# -- errors: PyTorch's type and words --------------------------------------------------------------

ERRORS = [
    lambda L: L.nn.LSTM(3, 4)(L.randn(5, 2, 4)),
    lambda L: L.nn.GRU(3, 4, batch_first=True)(L.randn(2, 5, 2)),
    lambda L: L.nn.RNN(3, 4)(L.randn(5, 2, 3, 1)),
    lambda L: L.nn.LSTM(3, 4)(L.randn(5, 2, 3, 1)),
    lambda L: L.nn.LSTM(3, 4)(L.randn(5, 2, 3), (L.randn(1, 3, 4), L.randn(1, 2, 4))),
    lambda L: L.nn.LSTM(3, 4)(L.randn(5, 2, 3), (L.randn(1, 2, 4), L.randn(2, 2, 4))),
    lambda L: L.nn.LSTM(3, 4)(L.randn(5, 2, 3), (L.randn(2, 4), L.randn(1, 2, 4))),
    lambda L: L.nn.LSTM(3, 4)(L.randn(5, 3), (L.randn(1, 1, 4), L.randn(1, 4))),
    lambda L: L.nn.GRU(3, 4)(L.randn(5, 2, 3), L.randn(1, 3, 4)),
    lambda L: L.nn.GRU(3, 4)(L.randn(5, 3), L.randn(1, 1, 4)),
    lambda L: L.nn.RNN(3, 4)(L.randn(5, 2, 3), L.randn(2, 4)),
    lambda L: L.nn.LSTM(3, 4)(L.randn(0, 2, 3)),
    lambda L: L.nn.RNN(3, 4, nonlinearity="sigmoid"),
    lambda L: L.nn.GRU(3, 4, proj_size=2),
    lambda L: L.nn.LSTM(3, 4, dropout=1.5),
    lambda L: L.nn.LSTM(3, 0),
    lambda L: L.nn.LSTM(3, 4, num_layers=0),
    lambda L: L.nn.LSTM(3, 4, bias=1),
    lambda L: L.nn.LSTM(3, 4, proj_size=4),
    lambda L: L.nn.LSTMCell(3, 4)(L.randn(2, 4)),
    lambda L: L.nn.GRUCell(3, 4)(L.randn(2, 3), L.randn(3, 4)),
    lambda L: L.nn.GRUCell(3, 4)(L.randn(2, 3), L.randn(2, 5)),
    lambda L: L.nn.RNNCell(3, 4)(L.randn(2, 3, 1)),
    lambda L: L.nn.LSTMCell(3, 4)(L.randn(2, 3), (L.randn(2, 4), L.randn(2, 4, 1))),
]


def _utils(L):
    return rnn_utils if L is cr else trnn


ERRORS += [
    lambda L: _utils(L).pack_padded_sequence(L.randn(4, 3, 2), [2, 3, 1]),
    lambda L: _utils(L).pack_padded_sequence(L.randn(4, 3, 2), [2, 0, 1], enforce_sorted=False),
    lambda L: _utils(L).pad_packed_sequence(
        _utils(L).pack_padded_sequence(L.randn(4, 3, 2), [4, 3, 1]), total_length=2),
    lambda L: _utils(L).pad_sequence([L.randn(2, 3)], padding_side="middle"),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_are_torchs(i):
    call = ERRORS[i]
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(cr)
    assert str(ours.value) == str(theirs.value)


def test_dtype_mismatch_is_torchs_error_with_chainrule_names():
    with pytest.raises(ValueError) as theirs:
        tnn.GRU(3, 4)(torch.randn(5, 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError) as ours:
        nn.GRU(3, 4)(cr.randn(5, 2, 3, dtype=cr.float64))
    want = str(theirs.value).replace(".to(torch.", ".to(cr.").replace("torch.", "")
    assert str(ours.value) == want


HX_DTYPE_MISMATCH = [  # a float64 state for a float32 layer: torch refuses it (review R1)
    ("LSTM", lambda L, d: L.nn.LSTM(3, 4)(L.randn(5, 2, 3), (L.zeros(1, 2, 4, dtype=d),
                                                              L.zeros(1, 2, 4, dtype=d)))),
    ("GRU", lambda L, d: L.nn.GRU(3, 4)(L.randn(5, 2, 3), L.zeros(1, 2, 4, dtype=d))),
    ("RNN", lambda L, d: L.nn.RNN(3, 4)(L.randn(5, 2, 3), L.zeros(1, 2, 4, dtype=d))),
    ("GRUCell", lambda L, d: L.nn.GRUCell(3, 4)(L.randn(2, 3), L.zeros(2, 4, dtype=d))),
    ("LSTMCell", lambda L, d: L.nn.LSTMCell(3, 4)(L.randn(2, 3), (L.zeros(2, 4, dtype=d),
                                                                  L.zeros(2, 4, dtype=d)))),
]


@pytest.mark.parametrize("name,call", HX_DTYPE_MISMATCH, ids=[c[0] for c in HX_DTYPE_MISMATCH])
def test_a_state_of_another_dtype_is_refused_as_torch_refuses_it(name, call):
    with pytest.raises(RuntimeError):
        call(torch, torch.float64)
    with pytest.raises(RuntimeError, match=rf"^{name}: hx(\[0\])? dtype \(float64\) does not "
                                           r"match input dtype \(float32\)"):
        call(cr, cr.float64)
    out = call(cr, cr.float32)  # the same call with float32 states runs, as torch's does
    h = out[0] if isinstance(out, tuple) else out
    want = call(torch, torch.float32)
    assert tuple(h.shape) == tuple((want[0] if isinstance(want, tuple) else want).shape)


@pytest.mark.parametrize("layer", ["LSTM", "LSTMCell"])
def test_an_lstm_state_that_is_not_a_pair_is_refused_by_name(layer):
    x, h = (cr.randn(5, 2, 3), cr.zeros(1, 2, 4)) if layer == "LSTM" else \
        (cr.randn(2, 3), cr.zeros(2, 4))
    with pytest.raises(TypeError, match=rf"{layer}: hx must be a tuple \(h_0, c_0\) of two "
                                        r"tensors, got Tensor"):
        getattr(nn, layer)(3, 4)(x, h)
    with pytest.raises((TypeError, IndexError)):  # torch: TypeError (cell), IndexError (layer)
        getattr(tnn, layer)(3, 4)(torch.randn(*x.shape), torch.zeros(*h.shape))


def test_proj_size_is_refused_with_a_clear_error():
    with pytest.raises(NotImplementedError, match=r"proj_size=2.*not implemented"):
        nn.LSTM(3, 4, proj_size=2)


# -- nn.utils.rnn ----------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch_with_gradients(batch_first, padding_side):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((n, 2, 3)) for n in (3, 5, 1)]
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    got = rnn_utils.pad_sequence(ours, batch_first, -1.5, padding_side)
    want = trnn.pad_sequence(theirs, batch_first, -1.5, padding_side)
    np.testing.assert_array_equal(got.data, want.detach().numpy())
    w = rng.standard_normal(want.shape)
    (got * cr.tensor(w)).sum().backward()
    (want * torch.tensor(w)).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o.grad.data, t.grad.numpy())


def test_pack_and_unpack_sequence_match_torch():
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((n, 2)) for n in (2, 4, 4, 1, 3)]
    got = rnn_utils.pack_sequence([cr.tensor(a) for a in arrays], enforce_sorted=False)
    want = trnn.pack_sequence([torch.tensor(a) for a in arrays], enforce_sorted=False)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.asarray(g.data), w.numpy())
    assert got.sorted_indices.dtype == np.int64 and got.batch_sizes.dtype == np.int64
    back = rnn_utils.unpack_sequence(got)
    for b, a in zip(back, arrays):
        np.testing.assert_array_equal(b.data, a)
    assert isinstance(got, tuple) and got._fields == want._fields
    again = rnn_utils.PackedSequence(got.data, got.batch_sizes, got.sorted_indices)
    np.testing.assert_array_equal(again.unsorted_indices.data, want.unsorted_indices.numpy())
    assert got.to(np.float32).data.dtype == np.float32


def test_packed_output_final_states_are_each_sequences_last_step():
    """Hand-checked against separate runs: each sequence alone through the same LSTM."""
    cr.manual_seed(0)
    lstm = nn.LSTM(2, 3, bidirectional=True, dtype=np.float64)
    rng = np.random.default_rng(0)
    seqs = [cr.tensor(rng.standard_normal((n, 2))) for n in (2, 4, 3)]
    out, (h, c) = lstm(rnn_utils.pack_sequence(seqs, enforce_sorted=False))
    padded, lengths = rnn_utils.pad_packed_sequence(out)
    for i, s in enumerate(seqs):
        alone, (h1, c1) = lstm(s)
        np.testing.assert_allclose(h.data[:, i], h1.data, rtol=1e-12)
        np.testing.assert_allclose(c.data[:, i], c1.data, rtol=1e-12)
        np.testing.assert_allclose(padded.data[:len(s.data), i], alone.data, rtol=1e-12)
        assert np.all(padded.data[len(s.data):, i] == 0)


def test_a_weight_changed_in_place_before_backward_raises_the_version_error():
    lstm = nn.LSTM(3, 4)
    out, _ = lstm(cr.randn(5, 2, 3, requires_grad=True))
    with cr.no_grad():
        lstm.weight_hh_l0.add_(1)  # an optimizer step between forward and backward
    with pytest.raises(RuntimeError, match="LSTMRecurrenceBackward: one of the variables needed "
                                           "for gradient computation has been modified"):
        out.sum().backward()


def test_no_grad_and_double_give_torchs_numbers():
    ours, theirs = _pair("GRU", {"num_layers": 2}, 3, 4, np.float32)
    ours, theirs = ours.double(), theirs.double()
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    with cr.no_grad():
        out, h = ours(cr.tensor(x))
    assert not out.requires_grad and out.dtype == np.float64
    want, wh = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.data, want.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h.data, wh.detach().numpy(), rtol=1e-10, atol=1e-12)
