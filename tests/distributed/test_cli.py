"""`mpirun -n 2 chainrule train --distributed` on a small generated MNIST: rank 0 alone logs and
writes, Ctrl-C stops both ranks with a checkpoint, --resume continues, a dead rank ends the run."""
import re
import signal
import subprocess
import time

import pytest

from chainrule.serialization import load

from ..datasets.idx_files import make_split
from .mpi import command

N_TRAIN, N_TEST = 700, 100  # 600 to train on, 100 held out


@pytest.fixture
def data(tmp_path):
    make_split(tmp_path / "data", "train", N_TRAIN, seed=1)
    make_split(tmp_path / "data", "t10k", N_TEST, seed=2)
    return tmp_path / "data"


def train_args(data, out, *more):
    return ["-m", "chainrule", "train", "--distributed", "--data-dir", data, "--out", out,
            "--val-size", "100", "--no-progress", "--no-plots", *more]


def run(argv, timeout=120):
    cmd, env = command(*argv)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout


def start(argv):
    cmd, env = command(*argv)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)


def read_until(p, pattern, timeout=60):
    """The output of ``p`` up to the first line matching ``pattern``."""
    lines, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return "".join(lines)
    p.kill()
    pytest.fail(f"no line matching {pattern!r} in:\n{''.join(lines)}")


def test_rank_0_logs_and_writes(data, tmp_path):
    out = tmp_path / "run"
    code, log = run(train_args(data, out, "--epochs", "2", "--batch-size", "16"))
    assert code == 0, log
    assert "batch 32 (16 per rank)" in log  # the global batch, and the per-rank one
    assert re.search(r"2 ranks: 0 = pid \d+ on \S+, 1 = pid \d+ on \S+", log)
    assert log.count("epoch  1/2") == 1 and log.count("test accuracy") == 1  # rank 0 only
    ckpt = load(out / "checkpoint.npz")
    assert ckpt["epoch"] == 2 and ckpt["step"] == 0 and ckpt["world_size"] == 2
    # the model itself, not DistributedDataParallel's wrapper: one process can load it
    assert ckpt["model"] and not any(k.startswith("module.") for k in ckpt["model"])
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3
    # the training accuracy counts both ranks' images: 600 per epoch (300 each), so a multiple
    # of 1/600
    acc = ckpt["history"][0]["train_acc"]
    assert abs(acc * 600 - round(acc * 600)) < 1e-9


def test_ctrl_c_stops_every_rank_with_a_checkpoint_then_resume(data, tmp_path):
    out = tmp_path / "run"
    p = start(train_args(data, out, "--epochs", "40", "--batch-size", "8"))
    read_until(p, r"epoch  1/40")
    p.send_signal(signal.SIGINT)  # mpirun passes Ctrl-C to every rank
    rest, _ = p.communicate(timeout=60)
    assert p.returncode == 130, rest
    assert rest.count("interrupted at epoch") == 1, rest  # said once, by rank 0
    ckpt = load(out / "checkpoint.npz")
    assert ckpt["epoch"] >= 1 and ckpt["world_size"] == 2
    stopped = (ckpt["epoch"], ckpt["step"])
    if stopped[1] > 0:  # in the middle of an epoch: only as many ranks can continue it
        import sys
        one = subprocess.run([sys.executable, "-m", "chainrule", "train", "--resume",
                              out / "checkpoint.npz", "--data-dir", data, "--no-progress"],
                             capture_output=True, text=True, timeout=60)
        assert one.returncode == 1
        assert "stopped in the middle of an epoch on 2 process(es)" in one.stderr
    code, log = run(train_args(data, out, "--resume", out / "checkpoint.npz", "--epochs",
                               str(ckpt["epoch"] + 1)))
    assert code == 0, log
    ckpt_path = out / "checkpoint.npz"
    assert f"resumed from {ckpt_path}: epoch {stopped[0] + 1}, step {stopped[1]}" in log
    assert load(out / "checkpoint.npz")["epoch"] == stopped[0] + 1


def test_dead_rank_ends_the_run(data, tmp_path):
    p = start(train_args(data, tmp_path / "run", "--epochs", "40", "--batch-size", "8"))
    head = read_until(p, r"epoch  1/40")
    pid = int(re.search(r"1 = pid (\d+)", head).group(1))
    killed = time.monotonic()
    import os
    os.kill(pid, signal.SIGKILL)
    rest, _ = p.communicate(timeout=60)
    assert time.monotonic() - killed < 60
    assert p.returncode != 0
    assert f"PID {pid} RUNNING AT" in rest  # mpirun's words; the log above maps it to rank 1
