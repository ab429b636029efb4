"""conv2d, conv_transpose2d, max_pool2d, avg_pool2d and their 1-D forms: forward and every gradient
against PyTorch (float64 to 1e-10, float32 to 1e-5) over tables of configurations, central
differences on small inputs, max-pool ties routed as PyTorch routes them, channel-major inputs
(what a conv returns), and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.conv import (
    avg_pool1d, avg_pool2d, conv1d, conv2d, conv_transpose1d, conv_transpose2d, max_pool1d,
    max_pool2d,
)

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

# (input shape, weight shape, keyword arguments)
CONV = [
    ((2, 3, 7, 9), (4, 3, 3, 3), {}),
    ((2, 3, 7, 9), (4, 3, 3, 2), dict(stride=2)),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding=1)),
    ((1, 2, 9, 7), (3, 2, 2, 3), dict(padding=2, stride=(2, 1))),
    ((2, 3, 7, 9), (4, 3, 3, 2), dict(padding="same")),
    ((2, 3, 7, 9), (4, 3, 4, 2), dict(padding="same", dilation=(2, 1))),
    ((2, 3, 6, 5), (2, 3, 2, 2), dict(padding="same")),  # odd total padding: more bottom/right
    ((2, 3, 7, 9), (4, 3, 3, 3), dict(padding="valid")),
    ((2, 3, 11, 10), (4, 3, 3, 3), dict(dilation=2, padding=1)),
    ((2, 3, 11, 10), (2, 3, 3, 2), dict(dilation=(3, 2), stride=(2, 3), padding=(2, 1))),
    ((2, 3, 9, 8), (2, 3, 3, 3), dict(stride=(3, 2), padding=(1, 2), dilation=(1, 2))),
    ((3, 7, 9), (4, 3, 3, 3), dict(padding=1)),  # unbatched
    ((3, 6, 5), (2, 3, 2, 3), dict(stride=2)),  # unbatched, strided
    ((2, 4, 7, 9), (6, 2, 3, 3), dict(groups=2, padding=1)),
    ((2, 6, 7, 9), (6, 1, 3, 3), dict(groups=6, stride=2)),  # depthwise
    ((2, 3, 7, 9), (4, 3, 1, 1), {}),  # 1x1
    ((2, 3, 5, 4), (4, 3, 5, 4), {}),  # the kernel covers the input: 1x1 output
    ((1, 1, 4, 4), (1, 1, 3, 3), dict(padding=0, stride=3)),  # stride leaves rows unread
    ((2, 3, 5, 6), (4, 3, 3, 3), dict(padding=(3, 2))),  # padding past the kernel: Ho > H
    ((2, 3, 5, 6), (4, 3, 3, 2), dict(padding=(0, 1), stride=(1, 2))),
    ((3, 1, 28, 28), (8, 1, 3, 3), dict(padding=1)),  # the CNN's first conv
    ((3, 8, 14, 14), (16, 8, 3, 3), dict(padding=1)),  # ...and its second
]
CONV_IDS = [f"{'x'.join(map(str, s))}*{'x'.join(map(str, w))}-{kw}" for s, w, kw in CONV]

# (input shape, keyword arguments) for both pools; dilation only for max_pool2d
POOL = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=2)),  # odd sizes: the last row / column is left out
    ((2, 3, 9, 7), dict(kernel_size=2, ceil_mode=True)),
    ((2, 3, 8, 9), dict(kernel_size=3, stride=1)),
    ((2, 3, 8, 9), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 10, 9), dict(kernel_size=3, stride=3)),
    ((2, 3, 10, 9), dict(kernel_size=(2, 3), stride=(1, 2), padding=1)),
    ((2, 3, 11, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 7, 7), dict(kernel_size=2, stride=3, ceil_mode=True)),
    ((2, 3, 8, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))),
    ((3, 8, 9), dict(kernel_size=2, stride=1)),  # unbatched
    ((1, 1, 5, 5), dict(kernel_size=5)),  # one window
    ((4, 16, 14, 14), dict(kernel_size=2)),  # the CNN's pools
]
MAX_ONLY = [
    ((2, 3, 11, 10), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    ((2, 3, 9, 9), dict(kernel_size=2, dilation=(2, 3), ceil_mode=True)),
    ((2, 3, 9, 8), dict(kernel_size=2, stride=1, dilation=3, padding=1)),
]
AVG_ONLY = [
    ((2, 3, 8, 9), dict(kernel_size=3, stride=2, padding=1, divisor_override=5)),
    ((2, 3, 9, 9), dict(kernel_size=2, ceil_mode=True, padding=1, divisor_override=3)),
]
POOL_IDS = [f"{'x'.join(map(str, s))}-{kw}" for s, kw in POOL]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-5, atol=1e-5)}
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


def _compare(ours, theirs, arrays, dtype, needs=None, seed=0):
    """Forward, dtype and the gradient of every input that needs one, against PyTorch."""
    needs = needs or [True] * len(arrays)
    arrays = [a.astype(dtype) if a is not None else None for a in arrays]
    xs = [None if a is None else cr.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    ts = [None if a is None else torch.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    y, yt = ours(*xs), theirs(*ts)
    assert y.dtype == dtype and y.shape == tuple(yt.shape)
    tol = dict(TOL[dtype])
    tol["atol"] *= max(1.0, float(np.abs(yt.detach().numpy()).max()))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **tol)
    seed = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    y.backward(cr.tensor(seed))
    yt.backward(torch.tensor(seed))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if x is None or not x.requires_grad:
            assert x is None or x.grad is None
            continue
        assert x.grad.dtype == dtype, f"gradient of input {i}"
        want = t.grad.numpy()
        tol = dict(TOL[dtype])
        tol["atol"] *= max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(x.grad.data, want, **tol, err_msg=f"gradient of input {i}")


def _rand(rng, shape):
    return rng.standard_normal(shape)


def _distinct(rng, shape):
    """Values at least 0.01 apart: no ties, so central differences do not cross a kink."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.01 - n * 0.005 + rng.uniform(0, 1e-3, n)).reshape(shape)


LAYOUTS = {  # memory orders of an (N, C, H, W) array: what conv2d returns is batch last
    "nchw": (0, 1, 2, 3), "batch_last": (1, 2, 3, 0), "cnhw": (1, 0, 2, 3), "nhwc": (0, 2, 3, 1)}


def _laid_out(a, layout):
    """The same values with their memory in another axis order (a view of a fresh array)."""
    order = LAYOUTS[layout]
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


# -- conv2d ----------------------------------------------------------------------------------------

@DTYPES
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape,wshape,kw", CONV, ids=CONV_IDS)
def test_conv2d_matches_pytorch(shape, wshape, kw, bias, dtype):
    rng = np.random.default_rng(1)
    arrays = [_rand(rng, shape), _rand(rng, wshape), _rand(rng, wshape[0]) if bias else None]
    _compare(lambda x, w, b: conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw),
             arrays, dtype)


@pytest.mark.parametrize("needs", [(False, True, True), (True, False, False), (False, False, True),
                                   (True, True, False)], ids=str)
def test_conv2d_only_the_gradients_asked_for(needs):
    rng = np.random.default_rng(2)
    arrays = [_rand(rng, (2, 3, 6, 7)), _rand(rng, (4, 3, 3, 3)), _rand(rng, 4)]
    _compare(lambda x, w, b: conv2d(x, w, b, padding=1),
             lambda x, w, b: TF.conv2d(x, w, b, padding=1), arrays, np.float64, needs=list(needs))


@pytest.mark.parametrize("shape,wshape,kw", [
    ((1, 2, 5, 6), (2, 2, 3, 2), {}),
    ((2, 2, 5, 6), (3, 2, 3, 3), dict(padding=1, stride=2)),
    ((1, 2, 6, 5), (2, 2, 2, 3), dict(padding="same", dilation=2)),
    ((2, 5, 4), (2, 2, 2, 2), dict(stride=(1, 2), padding=(1, 0))),
    ((1, 4, 5, 5), (4, 2, 3, 3), dict(groups=2, padding=1)),
], ids=str)
def test_conv2d_gradcheck(shape, wshape, kw):
    rng = np.random.default_rng(3)
    xs = [cr.tensor(_rand(rng, s), requires_grad=True) for s in (shape, wshape, (wshape[0],))]
    assert cr.autograd.gradcheck(lambda x, w, b: conv2d(x, w, b, **kw), xs, eps=1e-6, atol=1e-7,
                                 rtol=1e-6)


def test_conv2d_output_layout_feeds_the_next_ops():
    """conv2d returns a channel-major view; stacking convs and pools on it still matches."""
    rng = np.random.default_rng(4)
    arrays = [_rand(rng, s) for s in [(3, 2, 12, 10), (4, 2, 3, 3), (4,), (5, 4, 3, 3), (5,)]]

    def net(F, x, w1, b1, w2, b2):
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2)
        h = F.conv2d(h, w2, b2, padding=1)
        return F.avg_pool2d(h, 2, ceil_mode=True) + F.max_pool2d(h, 3, 1, 1)[..., ::2, ::2]
    _compare(lambda *t: net(cr.nn.functional, *t), lambda *t: net(TF, *t), arrays, np.float64)


@DTYPES
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_any_memory_layout(layout, dtype):
    """Inputs and incoming gradients in any memory order give the same results."""
    rng = np.random.default_rng(5)
    x = _laid_out(_rand(rng, (3, 4, 8, 9)), layout)
    w = _rand(rng, (2, 4, 3, 3))
    cases = [(lambda t: conv2d(t, cr.tensor(w.astype(dtype)), padding=1),
              lambda t: TF.conv2d(t, torch.tensor(w.astype(dtype)), padding=1)),
             (lambda t: conv2d(t, cr.tensor(w.astype(dtype)), stride=2),
              lambda t: TF.conv2d(t, torch.tensor(w.astype(dtype)), stride=2)),
             (lambda t: max_pool2d(t, 2), lambda t: TF.max_pool2d(t, 2)),
             (lambda t: max_pool2d(t, 3, 2, 1), lambda t: TF.max_pool2d(t, 3, 2, 1)),
             (lambda t: avg_pool2d(t, 2), lambda t: TF.avg_pool2d(t, 2)),
             (lambda t: avg_pool2d(t, 3, 1, 1), lambda t: TF.avg_pool2d(t, 3, 1, 1))]
    for ours, theirs in cases:
        _compare(ours, theirs, [x], dtype)
        _compare(lambda t: ours(t) * cr.tensor(_laid_out(np.ones(ours(t).shape, dtype), layout)),
                 theirs, [x], dtype)  # an incoming gradient laid out as x


def test_recycled_buffers_are_never_shared():
    """The ops recycle their big arrays between calls (ops._pool._scratch) only once nothing refers
    to them: results held by the caller, and arrays saved for a pending backward, stay intact."""
    rng = np.random.default_rng(12)
    a = [_rand(rng, s) for s in [(4, 3, 20, 20), (4, 3, 20, 20), (8, 3, 3, 3)]]

    def run(F, lib, x1, x2, w):
        y1, y2 = F.conv2d(x1, w, padding=1), F.conv2d(x2, w, padding=1)  # both graphs pending
        p1, p2 = F.max_pool2d(y1, 2), F.max_pool2d(y2, 2)
        q1, q2 = F.avg_pool2d(y1, 3, 1), F.avg_pool2d(y2, 3, 1)
        kept = [t.detach().numpy().copy() for t in (y1, y2, p1, p2, q1, q2)]
        loss = (p1 * p2).sum() + (q1 * q1).sum() - (q2 * y2[..., 1:-1, 1:-1]).sum()
        loss.backward()
        for t, k in zip((y1, y2, p1, p2, q1, q2), kept):
            np.testing.assert_array_equal(t.detach().numpy(), k)  # untouched by later calls
        return kept

    xs = [cr.tensor(v, requires_grad=True) for v in a]
    ts = [torch.tensor(v, requires_grad=True) for v in a]
    for ours, theirs in zip(run(cr.nn.functional, cr, *xs), run(TF, torch, *ts)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-9)


def test_relu_takes_its_big_output_from_the_pool_and_keeps_it_while_referred_to():
    """A big float ReLU output is a recycled array (no page faults in a training loop), laid out
    as its input; it is handed out again only once neither the caller nor a graph holds it."""
    relu = cr.nn.functional.relu

    def memory(t):  # where the array's own buffer starts
        a = np.asarray(t)
        return (a.base if a.base is not None else a).__array_interface__["data"][0]

    rng = np.random.default_rng(14)
    x = cr.tensor(_laid_out(rng.standard_normal((64, 16, 14, 14)).astype(np.float32),
                            "batch_last"), requires_grad=True)  # as conv2d returns it: 784 KiB
    y = relu(x)
    np.testing.assert_array_equal(y.data, np.maximum(x.data, 0))
    assert np.asarray(y).strides == np.asarray(x).strides  # a straight pass, in the input's layout
    loss = (y * y).sum()
    kept, first = np.array(y), memory(y)
    del y  # the graph still holds it (the product's input and ReLU's saved output)
    assert memory(relu(-x)) != first  # so a new call gets another array
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2 * kept, rtol=1e-6)  # d(y²)/dx = 2y where x > 0
    del loss
    again = relu(x)  # graph gone: the first array is free, and recycled
    assert memory(again) == first
    np.testing.assert_array_equal(again.data, kept)
    small = relu(cr.tensor(np.ones((128, 256), np.float32)))  # 128 KiB, W1's hidden layer
    assert np.asarray(small).base is None and np.asarray(small).flags.owndata  # a new array


def test_scratch_recycles_only_arrays_nothing_refers_to():
    from chainrule.ops import _pool
    shape = (3, 101, 103)  # a shape no other test uses
    a = _pool._scratch(shape, np.float32)
    b = _pool._scratch(shape, np.float32)
    assert b is not a  # a is held
    first, view = id(a), a[1:]
    del a
    c = _pool._scratch(shape, np.float32)
    assert id(c) != first and c is not b  # a view of it is held
    del view
    assert id(_pool._scratch(shape, np.float32)) == first  # now free: recycled
    assert _pool._scratch(shape, np.float64).dtype == np.float64
    held = [_pool._scratch(shape, np.float32) for _ in range(_pool._PER_KIND + 4)]
    kept = _pool._POOL[(shape, np.dtype(np.float32), None)]
    assert len(kept) == _pool._PER_KIND  # the rest are plain arrays: no ever-longer scan
    assert all(any(k is h for h in held + [b, c]) for k in kept)  # each handed out once


def test_relu_keeps_the_old_result_where_no_layout_or_byte_order_is_to_be_kept():
    relu = cr.nn.functional.relu
    x = np.random.default_rng(15).standard_normal((256, 1024)).astype(np.float32)  # 1 MiB
    swapped = relu(cr.tensor(x.astype(">f4")))  # big-endian, as read from some files
    assert swapped.dtype == np.dtype(np.float32) and swapped.data.dtype.isnative
    np.testing.assert_array_equal(swapped.data, np.maximum(x, 0))
    row = cr.tensor(x[:1]).expand(256, 1024)  # broadcast: stride 0 along the batch
    assert np.asarray(relu(row)).strides == (4096, 4)  # C order, as np.maximum gives
    np.testing.assert_array_equal(relu(row).data,
                                  np.maximum(np.broadcast_to(x[:1], (256, 1024)), 0))


def test_conv2d_padded_inputs_of_one_shape_keep_their_own_zero_border():
    """conv2d recycles its padded input without re-zeroing the border (ops._pool._scratch's
    ``zeroed`` tag): two paddings giving the same padded shape, (14 + 2·1) and (12 + 2·2), must
    not hand each other a buffer whose border holds data."""
    rng = np.random.default_rng(13)
    w = _rand(rng, (2, 4, 3, 3))
    for _ in range(2):
        for size, pad in ((14, 1), (12, 2), (14, 1)):
            x = _rand(rng, (16, 4, size, size))  # padded: (4, 16, 16, 16) float32, 64 KiB
            _compare(lambda t, u: conv2d(t, u, padding=pad),
                     lambda t, u: TF.conv2d(t, u, padding=pad), [x, w], np.float32)


def test_conv2d_builds_no_graph_without_grad():
    x, w = cr.randn(1, 2, 5, 5), cr.randn(3, 2, 3, 3)
    assert conv2d(x, w).grad_fn is None
    w.requires_grad_()
    with cr.no_grad():
        assert conv2d(x, w).grad_fn is None
    assert type(conv2d(x, w).grad_fn).__name__ == "Conv2d"


# -- pools -----------------------------------------------------------------------------------------

@DTYPES
@pytest.mark.parametrize("shape,kw", POOL + MAX_ONLY, ids=POOL_IDS + [str(c) for c in MAX_ONLY])
def test_max_pool2d_matches_pytorch(shape, kw, dtype):
    x = _distinct(np.random.default_rng(6), shape)
    _compare(lambda t: max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x], dtype)


@DTYPES
@pytest.mark.parametrize("count_include_pad", [True, False], ids=["include_pad", "exclude_pad"])
@pytest.mark.parametrize("shape,kw", POOL + AVG_ONLY, ids=POOL_IDS + [str(c) for c in AVG_ONLY])
def test_avg_pool2d_matches_pytorch(shape, kw, count_include_pad, dtype):
    x = _rand(np.random.default_rng(7), shape)
    kw = dict(kw, count_include_pad=count_include_pad)
    _compare(lambda t: avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), [x], dtype)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1),
                                dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, stride=1, dilation=2, ceil_mode=True),
                                dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 1))], ids=str)
@pytest.mark.parametrize("values", ["relu", "binary", "constant"])
def test_max_pool2d_ties_go_where_pytorch_sends_them(kw, values):
    """Ties are common (a ReLU's zeros): the gradient goes to the first maximum of the window in
    row-major order, exactly as PyTorch; the indices are PyTorch's too."""
    rng = np.random.default_rng(8)
    x = {"relu": np.maximum(rng.standard_normal((2, 3, 9, 8)), 0),
         "binary": rng.integers(0, 2, (2, 3, 9, 8)).astype(float),
         "constant": np.full((2, 3, 9, 8), 0.5)}[values]
    g = rng.standard_normal(TF.max_pool2d(torch.tensor(x), **kw).shape)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (y, idx), (yt, it) = (max_pool2d(xc, **kw, return_indices=True),
                          TF.max_pool2d(xt, **kw, return_indices=True))
    y.backward(cr.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(y.data, yt.detach().numpy())
    np.testing.assert_array_equal(idx.data, it.numpy())
    # overlapping windows add in another order: equal up to rounding, and routed alike
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,kw", POOL + MAX_ONLY, ids=POOL_IDS + [str(c) for c in MAX_ONLY])
def test_max_pool2d_indices_match_pytorch(shape, kw):
    x = _distinct(np.random.default_rng(9), shape)
    _, idx = max_pool2d(cr.tensor(x), **kw, return_indices=True)
    _, it = TF.max_pool2d(torch.tensor(x), **kw, return_indices=True)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.data, it.numpy())


def test_max_pool2d_nan_propagates():
    x = np.arange(32.0).reshape(1, 2, 4, 4)
    x[0, 0, 1, 0] = np.nan
    y, idx = max_pool2d(cr.tensor(x), 2, return_indices=True)
    yt, it = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(y.data, yt.numpy())  # NaN where PyTorch has NaN
    np.testing.assert_array_equal(idx.data, it.numpy())


POOL_GRADCHECK = [((1, 2, 5, 6), dict(kernel_size=2)), ((2, 4, 5), dict(kernel_size=3, stride=1)),
                  ((1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
                  ((1, 1, 6, 7), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)))]


@pytest.mark.parametrize("shape,kw", POOL_GRADCHECK + [((1, 2, 7, 7), dict(kernel_size=2,
                                                                          dilation=2))], ids=str)
def test_max_pool2d_gradcheck(shape, kw):
    x = cr.tensor(_distinct(np.random.default_rng(10), shape), requires_grad=True)
    assert cr.autograd.gradcheck(lambda t: max_pool2d(t, **kw), [x], eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape,kw", POOL_GRADCHECK, ids=str)
def test_avg_pool2d_gradcheck(shape, kw, count_include_pad):
    x = cr.tensor(_rand(np.random.default_rng(11), shape), requires_grad=True)
    assert cr.autograd.gradcheck(lambda t: avg_pool2d(t, count_include_pad=count_include_pad, **kw),
                                 [x], eps=1e-6, atol=1e-7, rtol=1e-6)


def test_max_pool2d_of_integers():
    x = np.arange(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) % 7
    for kw in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)]:
        y = max_pool2d(cr.tensor(x), **kw)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y.data, TF.max_pool2d(torch.tensor(x), **kw).numpy())


# -- transposed convolutions -----------------------------------------------------------------------

# (input shape, weight shape (C_in, C_out / groups, kh, kw), keyword arguments)
CONV_T = [
    ((2, 3, 5, 6), (3, 4, 3, 3), {}),
    ((2, 3, 5, 6), (3, 4, 3, 2), dict(stride=2)),
    ((2, 3, 5, 6), (3, 2, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 5, 6), (4, 3, 3, 3), dict(groups=2, stride=(2, 3), padding=(1, 2),
                                      output_padding=(1, 0), dilation=(1, 2))),
    ((1, 2, 3, 3), (2, 1, 2, 2), dict(stride=2, dilation=3, output_padding=2)),  # op >= stride
    ((2, 3, 5, 6), (3, 4, 4, 4), dict(padding=2)),  # padding crops into the full output
    ((2, 6, 4, 4), (6, 1, 3, 3), dict(groups=6, stride=2, padding=1)),  # depthwise
    ((3, 5, 6), (3, 2, 3, 3), dict(stride=2)),  # unbatched
    ((2, 3, 5, 6), (3, 4, 1, 1), {}),  # 1x1
    ((3, 8, 7, 7), (8, 1, 2, 2), dict(stride=2)),  # a decoder's upsampling: 2x2, stride 2
]
CONV_T_IDS = [f"{'x'.join(map(str, s))}*{'x'.join(map(str, w))}-{kw}" for s, w, kw in CONV_T]


@DTYPES
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape,wshape,kw", CONV_T, ids=CONV_T_IDS)
def test_conv_transpose2d_matches_pytorch(shape, wshape, kw, bias, dtype):
    rng = np.random.default_rng(21)
    out = wshape[1] * kw.get("groups", 1)
    arrays = [_rand(rng, shape), _rand(rng, wshape), _rand(rng, out) if bias else None]
    _compare(lambda x, w, b: conv_transpose2d(x, w, b, **kw),
             lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw), arrays, dtype)


@pytest.mark.parametrize("needs", [(False, True, True), (True, False, False), (False, False, True),
                                   (True, True, False)], ids=str)
def test_conv_transpose2d_only_the_gradients_asked_for(needs):
    rng = np.random.default_rng(22)
    arrays = [_rand(rng, (2, 3, 4, 5)), _rand(rng, (3, 2, 3, 3)), _rand(rng, 2)]
    _compare(lambda x, w, b: conv_transpose2d(x, w, b, stride=2, padding=1),
             lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=2, padding=1), arrays,
             np.float64, needs=list(needs))


@pytest.mark.parametrize("shape,wshape,kw", [
    ((1, 2, 3, 4), (2, 2, 2, 3), {}),
    ((2, 2, 3, 3), (2, 1, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 2, 3), (4, 1, 2, 2), dict(groups=2, dilation=2, stride=(1, 2))),
], ids=str)
def test_conv_transpose2d_gradcheck(shape, wshape, kw):
    rng = np.random.default_rng(23)
    out = wshape[1] * kw.get("groups", 1)
    xs = [cr.tensor(_rand(rng, s), requires_grad=True) for s in (shape, wshape, (out,))]
    assert cr.autograd.gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, **kw), xs, eps=1e-6,
                                 atol=1e-7, rtol=1e-6)


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    """conv_transpose2d(g, W) is dL/dx of y = conv2d(x, W) for dL/dy = g: the definition."""
    rng = np.random.default_rng(24)
    x = cr.tensor(_rand(rng, (2, 3, 10, 8)), requires_grad=True)  # the last row: no window ends
    w, g = _rand(rng, (4, 3, 3, 2)), _rand(rng, (2, 4, 5, 5))     # on it (output_padding 1)
    conv2d(x, cr.tensor(w), stride=2, padding=1).backward(cr.tensor(g))
    y = conv_transpose2d(cr.tensor(g), cr.tensor(w), stride=2, padding=1, output_padding=(1, 0))
    np.testing.assert_allclose(y.data, x.grad.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_conv_transpose2d_any_memory_layout(layout):
    rng = np.random.default_rng(25)
    x = _laid_out(_rand(rng, (3, 4, 5, 6)), layout)
    w = _rand(rng, (4, 2, 3, 3))
    ours = lambda t: conv_transpose2d(t, cr.tensor(w), stride=2)  # noqa: E731
    theirs = lambda t: TF.conv_transpose2d(t, torch.tensor(w), stride=2)  # noqa: E731
    _compare(ours, theirs, [x], np.float64)
    _compare(lambda t: ours(t) * cr.tensor(_laid_out(np.ones(ours(t).shape), layout)), theirs,
             [x], np.float64)


# -- 1-D convolutions and pools: the 2-D ops on a height of 1 --------------------------------------

CONV1D = [
    ((2, 3, 9), (4, 3, 3), {}),
    ((2, 4, 9), (6, 2, 3), dict(groups=2, stride=2, padding=1, dilation=2)),
    ((2, 3, 9), (4, 3, 4), dict(padding="same")),
    ((2, 3, 9), (4, 3, 3), dict(padding="valid", stride=3)),
    ((3, 8), (2, 3, 2), dict(padding=(2,))),  # unbatched, a 1-tuple
]
CONV_T1D = [
    ((2, 3, 6), (3, 4, 3), {}),
    ((2, 4, 6), (4, 3, 3), dict(groups=2, stride=2, padding=1, dilation=2, output_padding=1)),
    ((3, 5), (3, 2, 2), dict(stride=3, output_padding=(2,))),  # unbatched
]


@DTYPES
@pytest.mark.parametrize("shape,wshape,kw", CONV1D, ids=str)
def test_conv1d_matches_pytorch(shape, wshape, kw, dtype):
    rng = np.random.default_rng(26)
    arrays = [_rand(rng, shape), _rand(rng, wshape), _rand(rng, wshape[0])]
    _compare(lambda x, w, b: conv1d(x, w, b, **kw), lambda x, w, b: TF.conv1d(x, w, b, **kw),
             arrays, dtype)


@DTYPES
@pytest.mark.parametrize("shape,wshape,kw", CONV_T1D, ids=str)
def test_conv_transpose1d_matches_pytorch(shape, wshape, kw, dtype):
    rng = np.random.default_rng(27)
    arrays = [_rand(rng, shape), _rand(rng, wshape), _rand(rng, wshape[1] * kw.get("groups", 1))]
    _compare(lambda x, w, b: conv_transpose1d(x, w, b, **kw),
             lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw), arrays, dtype)


POOL1D = [
    ((2, 3, 9), dict(kernel_size=2)),
    ((2, 3, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 10), dict(kernel_size=4, stride=3, padding=2)),
    ((3, 8), dict(kernel_size=(3,), stride=(1,))),  # unbatched, 1-tuples
    ((2, 3, 7), dict(kernel_size=2, stride=3, ceil_mode=True)),
]


@DTYPES
@pytest.mark.parametrize("shape,kw", POOL1D + [((2, 3, 11), dict(kernel_size=3, dilation=2,
                                                                     stride=2, padding=1))],
                         ids=str)
def test_max_pool1d_matches_pytorch(shape, kw, dtype):
    x = _distinct(np.random.default_rng(28), shape)
    _compare(lambda t: max_pool1d(t, **kw), lambda t: TF.max_pool1d(t, **kw), [x], dtype)
    (_, idx), (_, it) = (max_pool1d(cr.tensor(x), **kw, return_indices=True),
                         TF.max_pool1d(torch.tensor(x), **kw, return_indices=True))
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.data, it.numpy())


@DTYPES
@pytest.mark.parametrize("count_include_pad", [True, False], ids=["include_pad", "exclude_pad"])
@pytest.mark.parametrize("shape,kw", POOL1D, ids=str)
def test_avg_pool1d_matches_pytorch(shape, kw, count_include_pad, dtype):
    x = _rand(np.random.default_rng(29), shape)
    kw = dict(kw, count_include_pad=count_include_pad)
    _compare(lambda t: avg_pool1d(t, **kw), lambda t: TF.avg_pool1d(t, **kw), [x], dtype)


# -- errors ----------------------------------------------------------------------------------------

ERRORS = [
    (lambda: conv2d(cr.zeros(64, 1, 28, 28), cr.zeros(8, 3, 3, 3)),
     "conv2d: expected input with 3 channels for weight of shape (8, 3, 3, 3), got input of shape "
     "(64, 1, 28, 28)"),
    (lambda: conv2d(cr.zeros(1, 1, 2, 2), cr.zeros(8, 1, 3, 3)),
     "conv2d: input of size 2x2 (after padding) is smaller than the kernel 3x3"),
    (lambda: conv2d(cr.zeros(1, 1, 4, 4), cr.zeros(8, 1, 3, 3), dilation=2),
     "conv2d: input of size 4x4 (after padding) is smaller than the (dilated) kernel 5x5"),
    (lambda: conv2d(cr.zeros(1, 4, 5, 5), cr.zeros(8, 1, 3, 3), groups=2),
     "conv2d: expected input with 2 channels for weight of shape (8, 1, 3, 3) and groups=2, got "
     "input of shape (1, 4, 5, 5)"),
    (lambda: conv2d(cr.zeros(1, 4, 5, 5), cr.zeros(3, 2, 3, 3), groups=2),
     "conv2d: out_channels (3) of weight of shape (3, 2, 3, 3) must be divisible by groups=2"),
    (lambda: conv2d(cr.zeros(5, 5), cr.zeros(8, 1, 3, 3)),
     "conv2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got input of shape (5, 5)"),
    (lambda: conv2d(cr.zeros(1, 1, 5, 5), cr.zeros(8, 3, 3)),
     "conv2d: expected a 4-D weight (out_channels, in_channels / groups, kh, kw), got weight of "
     "shape (8, 3, 3)"),
    (lambda: conv2d(cr.zeros(1, 1, 5, 5), cr.zeros(8, 1, 3, 3), cr.zeros(4)),
     "conv2d: expected bias of shape (8,) for weight of shape (8, 1, 3, 3), got bias of shape "
     "(4,)"),
    (lambda: conv2d(cr.zeros(1, 1, 5, 5, dtype=cr.float64), cr.zeros(8, 1, 3, 3)),
     "conv2d: expected scalar type Double but found Float: input float64 of shape (1, 1, 5, 5), "
     "weight float32 of shape (8, 1, 3, 3); convert the input with .float() (or the layer with "
     ".double())"),
    (lambda: conv2d(cr.zeros(1, 1, 5, 5, dtype=cr.float64), cr.zeros(8, 1, 3, 3), cr.zeros(8)),
     "conv2d: Input type (double) and bias type (float) should be the same: input float64 of "
     "shape (1, 1, 5, 5), bias float32 of shape (8,); convert the input with .float() (or the "
     "layer with .double())"),
    (lambda: conv2d(cr.zeros(1, 1, 5, 5, dtype=cr.int64), cr.zeros(8, 1, 3, 3)),
     "conv2d: expected scalar type Long but found Float: input int64 of shape (1, 1, 5, 5), "
     "weight float32 of shape (8, 1, 3, 3); convert the input with .float()"),
    # 1-D and transposed
    (lambda: conv1d(cr.zeros(2, 3, 5, 5), cr.zeros(4, 3, 3)),
     "conv1d: expected a 2-D (C, L) or 3-D (N, C, L) input, got input of shape (2, 3, 5, 5)"),
    (lambda: conv1d(cr.zeros(2, 3, 5), cr.zeros(4, 3, 3, 3)),
     "conv1d: expected a 3-D weight (out_channels, in_channels / groups, k), got weight of shape "
     "(4, 3, 3, 3)"),
    (lambda: conv1d(cr.zeros(2, 3, 2), cr.zeros(4, 3, 3), dilation=2),
     "conv1d: input of size 2 (after padding) is smaller than the (dilated) kernel 5"),
    (lambda: conv1d(cr.zeros(2, 3, 5), cr.zeros(4, 3, 3), stride=(1, 1)),
     "conv1d: stride must be an int or a tuple of one int, got (1, 1)"),
    (lambda: conv1d(cr.zeros(2, 3, 5), cr.zeros(4, 3, 3), stride=2, padding="same"),
     "conv1d: padding='same' is not supported for strided convolutions (stride=(2,))"),
    (lambda: conv_transpose2d(cr.zeros(1, 4, 5, 5), cr.zeros(2, 3, 3, 3)),
     "conv_transpose2d: expected input with 2 channels for weight of shape (2, 3, 3, 3), got input "
     "of shape (1, 4, 5, 5)"),
    (lambda: conv_transpose2d(cr.zeros(1, 4, 5, 5), cr.zeros(4, 3, 3, 3), cr.zeros(3), groups=2),
     "conv_transpose2d: expected bias of shape (6,) for weight of shape (4, 3, 3, 3), got bias of "
     "shape (3,)"),
    (lambda: conv_transpose2d(cr.zeros(1, 3, 5, 5), cr.zeros(3, 3, 3, 3), groups=2),
     "conv_transpose2d: in_channels (3) of weight of shape (3, 3, 3, 3) must be divisible by "
     "groups=2"),
    (lambda: conv_transpose2d(cr.zeros(1, 2, 5, 5), cr.zeros(2, 3, 3, 3), stride=2,
                              output_padding=2),
     "conv_transpose2d: output_padding (2, 2) must be smaller than either stride (2, 2) or "
     "dilation (1, 1)"),
    (lambda: conv_transpose2d(cr.zeros(1, 2, 1, 1), cr.zeros(2, 3, 2, 2), padding=1),
     "conv_transpose2d: the output of input of size (1, 1) would have size (0, 0) (padding "
     "(1, 1)): it must be positive; use less padding"),
    (lambda: conv_transpose2d(cr.zeros(1, 2, 5, 5, dtype=cr.float64), cr.zeros(2, 3, 3, 3)),
     "conv_transpose2d: expected scalar type Double but found Float: input float64 of shape "
     "(1, 2, 5, 5), weight float32 of shape (2, 3, 3, 3); convert the input with .float() (or the "
     "layer with .double())"),
    (lambda: conv_transpose1d(cr.zeros(1, 2, 5), cr.zeros(2, 3, 3), stride=2, output_padding=3),
     "conv_transpose1d: output_padding (3,) must be smaller than either stride (2,) or dilation "
     "(1,)"),
    (lambda: max_pool1d(cr.zeros(1, 1, 5), 2, padding=2),
     "max_pool1d: padding 2 must be at most half the kernel size 2"),
    (lambda: max_pool1d(cr.zeros(1, 1, 5), 3, dilation=3),
     "max_pool1d: input of size 5 (padding 0) is too small for the kernel 3 with dilation 3: the "
     "output would be 0"),
    (lambda: avg_pool1d(cr.zeros(1, 1, 5, 5), 2),
     "avg_pool1d: expected a 2-D (C, L) or 3-D (N, C, L) input, got input of shape (1, 1, 5, 5)"),
    (lambda: avg_pool1d(cr.zeros(1, 1, 5), (2, 2)),
     "avg_pool1d: kernel_size must be an int or a tuple of one int, got (2, 2)"),
    (lambda: conv2d(cr.zeros(1, 1, 5, 5), cr.zeros(8, 1, 3, 3), stride=2, padding="same"),
     "conv2d: padding='same' is not supported for strided convolutions (stride=(2, 2))"),
    (lambda: conv2d(cr.zeros(1, 1, 5, 5), cr.zeros(8, 1, 3, 3), padding="full"),
     "conv2d: invalid padding string 'full', should be one of 'valid', 'same'"),
    (lambda: conv2d(cr.zeros(1, 1, 5, 5), cr.zeros(8, 1, 3, 3), padding=-1),
     "conv2d: padding must be non-negative, got (-1, -1)"),
    (lambda: conv2d(cr.zeros(1, 1, 5, 5), cr.zeros(8, 1, 3, 3), stride=(1, 0)),
     "conv2d: stride must be positive, got (1, 0)"),
    (lambda: conv2d(cr.zeros(1, 1, 5, 5), cr.zeros(8, 1, 3, 3), stride=(1, 1, 1)),
     "conv2d: stride must be an int or a pair of ints, got (1, 1, 1)"),
    (lambda: conv2d(cr.zeros(1, 2, 5, 5), cr.zeros(8, 1, 3, 3), groups=0),
     "conv2d: groups must be a positive integer, got 0"),
    (lambda: max_pool2d(cr.zeros(1, 1, 5, 5), 2, padding=2),
     "max_pool2d: padding (2, 2) must be at most half the kernel size (2, 2)"),
    (lambda: max_pool2d(cr.zeros(1, 1, 5, 5), 6),
     "max_pool2d: input of size 5x5 (padding 0x0) is too small for the kernel 6x6: the output "
     "would be 0x0"),
    (lambda: max_pool2d(cr.zeros(1, 1, 5, 5), 3, dilation=3),
     "max_pool2d: input of size 5x5 (padding 0x0) is too small for the kernel 3x3 with dilation "
     "(3, 3): the output would be 0x0"),
    (lambda: max_pool2d(cr.zeros(1, 1, 5, 5), 0),
     "max_pool2d: kernel_size must be positive, got (0, 0)"),
    (lambda: max_pool2d(cr.zeros(5, 5), 2),
     "max_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got input of shape (5, 5)"),
    (lambda: avg_pool2d(cr.zeros(1, 1, 5, 5), 2, divisor_override=0),
     "avg_pool2d: divisor_override must be a non-zero integer, got 0"),
    (lambda: avg_pool2d(cr.zeros(1, 1, 5, 5), (2, 2, 2)),
     "avg_pool2d: kernel_size must be an int or a pair of ints, got (2, 2, 2)"),
]


@pytest.mark.parametrize("call,message", ERRORS, ids=[m.split(":")[0] + "-" + str(i)
                                                      for i, (_, m) in enumerate(ERRORS)])
def test_errors_name_the_op_and_the_shapes(call, message):
    with pytest.raises(RuntimeError) as err:
        call()
    assert str(err.value) == message
