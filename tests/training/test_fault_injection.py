"""kill -9 during checkpoint writes: every time, the run's folder holds a loadable checkpoint.

Each of 20 training processes is killed at a random moment of one of its checkpoint writes
(after its first checkpoint exists: before that there is nothing to keep). As root (CI) the runs
write to a 64 MiB tmpfs, where a write takes milliseconds: the test watches for the temporary
file and kills within a few milliseconds of its appearance. Otherwise the child's writer is
slowed down (it sleeps between chunks) so that the kill lands inside the write.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import chainrule as cr
from chainrule.training.loop import load_checkpoint

KILLS, AT_ONCE = 20, 4

CHILD = r"""
import os, sys, time
import numpy as np
from chainrule.data import TensorDataset
from chainrule.training.loop import TrainConfig, train

if os.environ.get("SLOW_WRITES"):  # no tmpfs: stretch each file write so a kill can land in it
    import chainrule._io as io_
    real_open = open

    class Slow:
        def __init__(self, f):
            self.f = f
        def write(self, data):
            view = memoryview(data).cast("B")
            for i in range(0, len(view), 1 << 18):
                self.f.write(view[i:i + (1 << 18)])
                time.sleep(0.005)
            return len(view)
        def __getattr__(self, name):
            return getattr(self.f, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    def slow_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return Slow(f) if "w" in mode and ".tmp" in str(file) else f

    import chainrule.serialization as serialization
    serialization.open = slow_open

rng = np.random.default_rng(0)
ds = TensorDataset(rng.normal(0, 1, (64, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 64))
cfg = TrainConfig(model="mlp", epochs=10**6, batch_size=64, out=sys.argv[1], val_size=16,
                  progress=False, plots=False)
train(cfg, data=(ds, ds), log=lambda *a: None)
"""


@contextlib.contextmanager
def _small_tmpfs():
    """A 64 MiB tmpfs as root, where mounting is allowed; else None (use a patched writer)."""
    folder = tempfile.mkdtemp(prefix="chainrule-faults-")
    mounted = False
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", folder],
                                 capture_output=True).returncode == 0
    try:
        yield Path(folder), mounted
    finally:
        if mounted:
            subprocess.run(["umount", folder], capture_output=True)
        subprocess.run(["rm", "-rf", folder], capture_output=True)


def _temps(out: Path) -> list[str]:
    return [n for n in os.listdir(out) if n.startswith(".checkpoint.npz.")]


def _kill_during_a_write(out: Path, slow: bool, rnd: random.Random) -> bool:
    """Start a run, wait for its first checkpoint, kill it at a random moment of a later
    checkpoint write; whether the temporary file was there at the kill."""
    env = dict(os.environ, SLOW_WRITES="1" if slow else "")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (out / "checkpoint.npz").exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "no first checkpoint within 60 s"
            time.sleep(0.002)
        while not _temps(out):  # the next checkpoint write has begun
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "no second checkpoint within 60 s"
            time.sleep(0.0002)
        time.sleep(rnd.uniform(0, 0.1 if slow else 0.004))
        child.send_signal(signal.SIGKILL)
        child.wait()
        return bool(_temps(out))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()


def test_sigkill_during_checkpoint_writes_always_leaves_a_loadable_checkpoint():
    rnd = random.Random(14)
    mid_write = 0
    with _small_tmpfs() as (root, mounted):
        for start in range(0, KILLS, AT_ONCE):
            outs = [root / f"run{k}" for k in range(start, start + AT_ONCE)]
            with ThreadPoolExecutor(len(outs)) as pool:
                hits = list(pool.map(lambda o: _kill_during_a_write(o, not mounted, rnd), outs))
            for out, hit in zip(outs, hits):
                mid_write += hit
                model, cfg, ckpt = load_checkpoint(out / "checkpoint.npz")
                assert ckpt["epoch"] >= 1 and cfg.model == "mlp"
                # the killed save's leftover is removed by the next save of the same file
                cr.save(ckpt, out / "checkpoint.npz")
                assert _temps(out) == [], os.listdir(out)
                subprocess.run(["rm", "-rf", str(out)], check=True)
    assert mid_write >= KILLS // 2, f"only {mid_write} of {KILLS} kills landed inside a write"


if sys.platform == "win32":  # no SIGKILL
    pytestmark = pytest.mark.skip("needs POSIX signals")
