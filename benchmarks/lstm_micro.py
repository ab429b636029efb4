"""Forward + backward of one LSTM layer at W7's size (hidden 256, sequence 64, batch 32, input
256, float32), chainrule's nn.LSTM vs PyTorch's, the same weights and thread count, in one
process, interleaved (both see the same machine load). Prints ms per call (the best round and the
median round) and the ratio PyTorch / chainrule; then, for where chainrule's time goes, the
hand-written NumPy floor of the same matrix products.

    python benchmarks/lstm_micro.py                 # 1 thread
    python benchmarks/lstm_micro.py --threads 2 --rounds 20 --mode gru
    python benchmarks/lstm_micro.py --clock cpu    # process time: steadier on a busy machine
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--rounds", type=int, default=10, help="timed rounds per library")
parser.add_argument("--calls", type=int, default=3, help="calls per round")
parser.add_argument("--mode", choices=["lstm", "gru", "rnn"], default="lstm")
parser.add_argument("--steps", type=int, default=64)
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--hidden", type=int, default=256)
parser.add_argument("--input", type=int, default=256)
parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: process time, steadier on a shared machine (1 thread only)")
args = parser.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import chainrule as cr  # noqa: E402

torch.set_num_threads(args.threads)
cr.set_num_threads(args.threads)
T, N, H, I = args.steps, args.batch, args.hidden, args.input
cls = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[args.mode]
theirs = getattr(torch.nn, cls)(I, H)
ours = getattr(cr.nn, cls)(I, H)
ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
x = np.random.default_rng(0).standard_normal((T, N, I), dtype=np.float32)
xt = torch.tensor(x, requires_grad=True)
xc = cr.tensor(x, requires_grad=True)


def step_torch():
    out, _ = theirs(xt)
    out.sum().backward()


def step_ours():
    out, _ = ours(xc)
    out.sum().backward()


gates = {"lstm": 4, "gru": 3, "rnn": 1}[args.mode] * H
w_ih = np.random.default_rng(1).standard_normal((gates, I), dtype=np.float32)
w_hh = np.random.default_rng(2).standard_normal((gates, H), dtype=np.float32)
h = np.zeros((N, H), np.float32)
g = np.zeros((N, gates), np.float32)
xs = x.reshape(-1, I)
grads = np.zeros((T * N, gates), np.float32)
hs = np.zeros((T * N, H), np.float32)


def step_floor():
    """The matrix products alone: input projection, T recurrent products forward and back, and
    the three weight/input gradient products."""
    xs @ w_ih.T
    for _ in range(T):
        np.matmul(h, w_hh.T, out=g)
    for _ in range(T):
        g @ w_hh
    grads.T @ hs
    grads.T @ xs
    grads @ w_ih


# the same numbers first
out_t, _ = theirs(xt)
out_c, _ = ours(xc)
print(f"{cls} T={T} N={N} H={H} I={I}, {args.threads} thread(s): max |output difference| "
      f"{np.abs(out_c.data - out_t.detach().numpy()).max():.2e}")
clock = time.process_time if args.clock == "cpu" else time.perf_counter
if args.clock == "cpu" and args.threads != 1:
    parser.error("--clock cpu adds up the CPU time of every thread: use it with --threads 1")
times = {"PyTorch": [], "chainrule": [], "NumPy matmul floor": []}
runs = {"PyTorch": step_torch, "chainrule": step_ours, "NumPy matmul floor": step_floor}
for fn in runs.values():
    fn()
for _ in range(args.rounds):
    for name, fn in runs.items():
        t0 = clock()
        for _ in range(args.calls):
            fn()
        times[name].append((clock() - t0) / args.calls * 1000)
for name, ts in times.items():
    print(f"{name:>20}: best {min(ts):7.1f} ms, median {statistics.median(ts):7.1f} ms")
best = min(times["PyTorch"]) / min(times["chainrule"])
median = statistics.median(times["PyTorch"]) / statistics.median(times["chainrule"])
print(f"({args.clock} clock) PyTorch / chainrule: {best:.2f} (best), {median:.2f} (median)")
