"""Forward + backward of the convolutions and pools of issue 5's CNN at batch 64, chainrule vs
PyTorch, float32, the same thread count, in one process (interleaved, so that both see the same
machine load). Prints ms per call: the best round and the median round; and last, for scale, one
whole training step of that CNN (forward, cross-entropy, backward, SGD).

    python benchmarks/conv_micro.py                 # 2 threads
    python benchmarks/conv_micro.py --threads 1 --rounds 30

The CNN: Conv2d(1,8,3,p=1) - ReLU - MaxPool2d(2) - Conv2d(8,16,3,p=1) - ReLU - MaxPool2d(2) -
Linear(784,10). conv1's input (the images) needs no gradient; every other input does. Each
library gets its arrays in the memory layout they have inside that CNN: PyTorch's are contiguous
NCHW; chainrule's conv2d returns a batch-last view ((C, H, W, N) in memory), which ReLU and the
pools keep, so the pools' and conv2's inputs and most incoming gradients are batch-last (pool2's
gradient comes from the Linear layer: contiguous NCHW).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--rounds", type=int, default=15, help="timed rounds per case and library")
parser.add_argument("--calls", type=int, default=10, help="calls per round")
args = parser.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import chainrule as cr  # noqa: E402
from chainrule.ops.conv import conv2d, max_pool2d  # noqa: E402

torch.set_num_threads(args.threads)
cr.set_num_threads(args.threads)
rng = np.random.default_rng(0)
B = 64


def arr(*shape):
    return rng.standard_normal(shape, dtype=np.float32)


def relu_arr(*shape):  # a pool's input in the CNN is a ReLU's output: many ties at 0
    return np.maximum(arr(*shape), 0)


def batch_last(a):
    """The same values, (C, H, W, N) in memory: the layout of chainrule's conv2d output."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


# name, op, input arrays, which need a gradient, output shape, chainrule's layouts (inputs, grad)
CASES = [
    ("conv1 (64,1,28,28)*(8,1,3,3) p=1", "conv", [arr(B, 1, 28, 28), arr(8, 1, 3, 3), arr(8)],
     [False, True, True], (B, 8, 28, 28), (False, True)),
    ("maxpool1 (64,8,28,28) k=2", "pool", [relu_arr(B, 8, 28, 28)], [True], (B, 8, 14, 14),
     (True, True)),
    ("conv2 (64,8,14,14)*(16,8,3,3) p=1", "conv", [arr(B, 8, 14, 14), arr(16, 8, 3, 3), arr(16)],
     [True, True, True], (B, 16, 14, 14), (True, True)),
    ("maxpool2 (64,16,14,14) k=2", "pool", [relu_arr(B, 16, 14, 14)], [True], (B, 16, 7, 7),
     (True, False)),
]


def runner(lib, kind, arrays, needs, out_shape, layouts):
    grad = arr(*out_shape)
    if lib == "cr":
        arrays = [batch_last(arrays[0]) if layouts[0] else arrays[0]] + arrays[1:]
        grad = batch_last(grad) if layouts[1] else grad
    if lib == "torch":
        ts = [torch.from_numpy(a.copy()).requires_grad_(n) for a, n in zip(arrays, needs)]
        g = torch.from_numpy(grad)
        f = ((lambda: TF.conv2d(*ts, padding=1)) if kind == "conv"
             else (lambda: TF.max_pool2d(ts[0], 2)))
    else:
        ts = [cr.tensor(a.copy(order="K"), requires_grad=n) for a, n in zip(arrays, needs)]
        g = cr.tensor(grad)
        f = (lambda: conv2d(*ts, padding=1)) if kind == "conv" else (lambda: max_pool2d(ts[0], 2))

    def step():
        for t in ts:
            t.grad = None
        f().backward(g)
    return step


def rounds(step):
    for _ in range(3):
        step()
    out = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        for _ in range(args.calls):
            step()
        out.append((time.perf_counter() - t) / args.calls * 1e3)
    return out


print(f"forward + backward, ms per call, float32, batch {B}, {args.threads} thread(s); "
      f"load average before: {os.getloadavg()[0]:.2f}")
print(f"{'case':38s} {'chainrule best/median':>22s} {'torch best/median':>19s} "
      f"{'ratio (best)':>13s}")
for name, kind, arrays, needs, out_shape, layouts in CASES:
    ours = runner("cr", kind, arrays, needs, out_shape, layouts)
    theirs = runner("torch", kind, arrays, needs, out_shape, layouts)
    a, b = [], []
    for _ in range(3):  # interleave: both libraries see the same load
        a += rounds(ours)
        b += rounds(theirs)
    print(f"{name:38s} {min(a):10.3f} / {statistics.median(a):7.3f} "
          f"{min(b):9.3f} / {statistics.median(b):7.3f} {min(a) / min(b):12.2f}x")


def cnn_step(lib):
    nn = lib.nn
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(784, 10))
    opt = lib.optim.SGD(net.parameters(), lr=0.01)
    x = lib.from_numpy(np.random.default_rng(1).random((B, 1, 28, 28), dtype=np.float32))
    y = lib.from_numpy(np.random.default_rng(2).integers(0, 10, B))

    def step():
        opt.zero_grad()
        lib.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return step


ours, theirs = cnn_step(cr), cnn_step(torch)
a, b = [], []
for _ in range(3):
    a += rounds(ours)
    b += rounds(theirs)
print(f"{'whole CNN training step':38s} {min(a):10.3f} / {statistics.median(a):7.3f} "
      f"{min(b):9.3f} / {statistics.median(b):7.3f} {min(a) / min(b):12.2f}x")
print(f"load average after: {os.getloadavg()[0]:.2f}")
