"""One training step of W8's model (a 2-layer TransformerEncoder, d_model 128, 4 heads, sequence
64, batch 32, batch_first), chainrule vs PyTorch, float32, the same thread count, in one process,
in interleaved rounds (so that both see the same machine load). Prints ms per step (best and
median round) and the ratio PyTorch / chainrule; and, for where the time goes, the attention
alone (MultiheadAttention forward + backward) and scaled_dot_product_attention alone.

    python benchmarks/attention_micro.py                      # 1 thread, dim_feedforward 512
    python benchmarks/attention_micro.py --threads 2 --ff 2048 --rounds 10

A step: forward, loss = mean((output - target)²), backward, SGD (lr 0.01) on every parameter.
Dropout as given (default 0.1, PyTorch's default), so both libraries draw masks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--rounds", type=int, default=7, help="timed rounds per case and library")
parser.add_argument("--calls", type=int, default=5, help="calls per round")
parser.add_argument("--ff", type=int, default=512, help="dim_feedforward")
parser.add_argument("--dropout", type=float, default=0.1)
args = parser.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import chainrule as cr  # noqa: E402

torch.set_num_threads(args.threads)
cr.set_num_threads(args.threads)
N, S, E, H, LAYERS = 32, 64, 128, 4, 2
rng = np.random.default_rng(0)
x_np = rng.standard_normal((N, S, E), dtype=np.float32)
y_np = rng.standard_normal((N, S, E), dtype=np.float32)


def encoder(lib):
    layer = lib.nn.TransformerEncoderLayer(E, H, args.ff, args.dropout, batch_first=True)
    return lib.nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)


tmodel = encoder(torch)
cmodel = encoder(cr)
cmodel.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
tx, ty = torch.tensor(x_np), torch.tensor(y_np)
cx, cy = cr.tensor(x_np), cr.tensor(y_np)
topt = torch.optim.SGD(tmodel.parameters(), lr=0.01)
copt = cr.optim.SGD(cmodel.parameters(), lr=0.01)


def torch_step():
    topt.zero_grad()
    loss = ((tmodel(tx) - ty) ** 2).mean()
    loss.backward()
    topt.step()


def cr_step():
    copt.zero_grad()
    loss = ((cmodel(cx) - cy) ** 2).mean()
    loss.backward()
    copt.step()


tmha = torch.nn.MultiheadAttention(E, H, batch_first=True)
cmha = cr.nn.MultiheadAttention(E, H, batch_first=True)
cmha.load_state_dict({k: v.detach().numpy() for k, v in tmha.state_dict().items()})
tq = torch.tensor(x_np, requires_grad=True)
cq = cr.tensor(x_np, requires_grad=True)
q4 = rng.standard_normal((N, H, S, E // H), dtype=np.float32)
tq4 = [torch.tensor(q4, requires_grad=True) for _ in range(3)]
cq4 = [cr.tensor(q4, requires_grad=True) for _ in range(3)]


def torch_mha():
    tmha(tq, tq, tq, need_weights=False)[0].sum().backward()


def cr_mha():
    cmha(cq, cq, cq, need_weights=False)[0].sum().backward()


def torch_sdpa():
    torch.nn.functional.scaled_dot_product_attention(*tq4).sum().backward()


def cr_sdpa():
    cr.nn.functional.scaled_dot_product_attention(*cq4).sum().backward()


def timed(fn) -> float:
    t0 = time.perf_counter()
    for _ in range(args.calls):
        fn()
    return (time.perf_counter() - t0) / args.calls * 1e3


print(f"float32, {args.threads} thread(s), batch {N}, seq {S}, d_model {E}, {H} heads, "
      f"dim_feedforward {args.ff}, dropout {args.dropout}; ms per call, best / median of "
      f"{args.rounds} rounds of {args.calls}")
for name, tf, cf in (("training step (W8 model)", torch_step, cr_step),
                     ("MultiheadAttention fwd+bwd", torch_mha, cr_mha),
                     ("scaled_dot_product_attention fwd+bwd", torch_sdpa, cr_sdpa)):
    tf(), cf()  # warm up
    tt, ct = [], []
    for _ in range(args.rounds):
        tt.append(timed(tf))
        ct.append(timed(cf))
    print(f"{name:38s} PyTorch {min(tt):7.2f} / {statistics.median(tt):7.2f}   chainrule "
          f"{min(ct):7.2f} / {statistics.median(ct):7.2f}   PyTorch/chainrule "
          f"{min(tt) / min(ct):.2f} (median {statistics.median(tt) / statistics.median(ct):.2f})")
