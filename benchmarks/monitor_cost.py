"""What ``TrainingMonitor(model, every=10)`` costs: the CLI's MLP (784-512-256-10, ReLU, SGD lr
0.05) on random MNIST-shaped batches of 64, with and without the monitor.

    python benchmarks/monitor_cost.py                 # wall clock, interleaved rounds (~5 s)
    python benchmarks/monitor_cost.py --icount        # and instructions under valgrind (minutes)

Wall clock: two copies of the model, one never monitored, one with a monitor (every 10, silent)
for the whole run; rounds of ``--steps`` steps of each, the order alternating round by round; the
cost is the ratio of the median seconds per step. On a shared machine that number moves by a few percent from run to run, so
``--icount`` also counts instructions with valgrind's callgrind (as benchmarks/icount.py does):
each of (without, with) × (10, 30 steps) runs in its own process after the same warm-up, and the
count per step is the difference over the 20 steps, so start-up and imports cancel out; 20 steps
hold 2 recorded steps, the 1 in 10 of a long run. One BLAS thread throughout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

EVERY, BATCH, WARMUP = 10, 64, 3


def setup(seed: int = 0):
    """The model, its optimizer, and a function running ``n`` steps on fixed random batches."""
    import numpy as np

    import chainrule as cr
    import chainrule.nn.functional as F
    from chainrule.training.models import build_model

    cr.manual_seed(seed)
    model = build_model("mlp")
    opt = cr.optim.SGD(model.parameters(), lr=0.05)
    rng = np.random.default_rng(seed)
    xs = [cr.from_numpy(rng.random((BATCH, 1, 28, 28), dtype=np.float32)) for _ in range(16)]
    ys = [cr.from_numpy(rng.integers(0, 10, BATCH)) for _ in range(16)]

    def run(n: int, monitor=None) -> None:
        for k in range(n):
            loss = F.cross_entropy(model(xs[k % 16]), ys[k % 16])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if monitor is not None:
                monitor.step(loss)

    return model, run


def one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def wall_clock(rounds: int, steps: int) -> tuple:
    """Median seconds per step of two copies of the model (the same weights and batches): one
    never monitored, one with a monitor that lives through the whole run, as in training."""
    from chainrule.viz.monitor import TrainingMonitor
    _, run_plain = setup()
    model, run_monitored = setup()
    per_step = {False: [], True: []}
    with one_thread():
        run_plain(WARMUP)
        mon = TrainingMonitor(model, every=EVERY, log=None)
        run_monitored(EVERY, mon)  # its warm-up, with a recorded step
        for r in range(rounds):
            for monitored in ((False, True) if r % 2 == 0 else (True, False)):
                start = time.perf_counter()
                if monitored:
                    run_monitored(steps, mon)
                else:
                    run_plain(steps)
                per_step[monitored].append((time.perf_counter() - start) / steps)
        mon.remove()
    return statistics.median(per_step[False]), statistics.median(per_step[True])


def inner(monitored: bool, steps: int) -> None:
    """What valgrind watches: warm-up, then ``steps`` steps (with a monitor if ``monitored``)."""
    model, run = setup()
    run(WARMUP)
    if monitored:
        from chainrule.viz.monitor import TrainingMonitor
        run(steps, TrainingMonitor(model, every=EVERY, log=None))
    else:
        run(steps)


def count(monitored: bool, steps: int) -> int:
    from icount import callgrind  # benchmarks/ is on the path when this script runs
    return callgrind(__file__, "--inner", int(monitored), steps, who="monitor_cost")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--steps", type=int, default=50, help="steps per round and side (default 50)")
    p.add_argument("--icount", action="store_true", help="also count instructions (valgrind)")
    a = p.parse_args()
    plain, monitored = wall_clock(a.rounds, a.steps)
    print(f"wall clock, median of {a.rounds} rounds of {a.steps} steps: {1e3 * plain:.2f} ms per "
          f"step without the monitor, {1e3 * monitored:.2f} ms with every={EVERY}: "
          f"cost {100 * (monitored / plain - 1):+.1f} %", flush=True)
    if a.icount:
        from concurrent.futures import ThreadPoolExecutor
        lo, hi = 10, 30
        runs = [(m, n) for m in (False, True) for n in (lo, hi)]
        with ThreadPoolExecutor(max_workers=2) as pool:  # two valgrind processes at a time
            counts = dict(zip(runs, pool.map(lambda r: count(*r), runs)))
        per = {m: (counts[m, hi] - counts[m, lo]) / (hi - lo) for m in (False, True)}
        print(f"instructions per step: {per[False]:,.0f} without, {per[True]:,.0f} with every="
              f"{EVERY}: cost {100 * (per[True] / per[False] - 1):+.2f} %")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        inner(bool(int(sys.argv[2])), int(sys.argv[3]))
    else:
        main()
