"""Shared pieces of the benchmarks: synthetic data, initial weights, chainrule import, memory and
BLAS probes.  Nothing here times anything; see ``worker.py`` for that."""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"

DATA_SEED = 0      # training images and labels
TEST_SEED = 1      # the 10,000 inference images of W5
INIT_SEED = 2      # initial weights
TEACHER_SEED = 3   # the random linear "teacher" that labels the images
HVP_SEED = 4       # W6's fixed vectors v of the Hessian-vector products


# ---- chainrule ---------------------------------------------------------------------------------

def import_chainrule():
    """Import chainrule from this checkout's ``src/``: the benchmark measures the working tree."""
    if SRC.is_dir() and str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    import chainrule

    return chainrule


def chainrule_version() -> str:
    try:
        cr = import_chainrule()
        return str(getattr(cr, "__version__", "?"))
    except Exception as e:  # noqa: BLE001 - reported, never fatal
        return f"not importable ({type(e).__name__}: {e})"


# ---- data --------------------------------------------------------------------------------------

def _teacher() -> np.ndarray:
    return np.random.default_rng(TEACHER_SEED).standard_normal((784, 10)).astype(np.float32)


def make_images(n: int, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST-shaped images, float32 in [0, 1), shape (n, 1, 28, 28), and int64 labels (n,).

    The labels come from a fixed random linear teacher, so the task is learnable and the loss
    falls.  The first k images are the same for every n >= k (one sequential random stream)."""
    x = np.random.default_rng(seed).random((n, 784), dtype=np.float32)
    y = np.argmax((x - 0.5) @ _teacher(), axis=1).astype(np.int64)
    return x.reshape(n, 1, 28, 28), y


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    # PyTorch's default for Linear and Conv2d: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), +)
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def init_mlp() -> list[np.ndarray]:
    """Weights of Linear(784, 256) - ReLU - Linear(256, 10), in ``model.parameters()`` order."""
    rng = np.random.default_rng(INIT_SEED)
    return [_uniform(rng, (256, 784), 784), _uniform(rng, (256,), 784),
            _uniform(rng, (10, 256), 256), _uniform(rng, (10,), 256)]


def hvp_vectors() -> list[np.ndarray]:
    """W6's vectors v, one per MLP parameter (standard normal float32, ``init_mlp``'s shapes)."""
    rng = np.random.default_rng(HVP_SEED)
    return [rng.standard_normal(w.shape, dtype=np.float32) for w in init_mlp()]


def init_cnn() -> list[np.ndarray]:
    """conv1 (8,1,3,3), conv2 (16,8,3,3), fc (10,784) weights and biases, in parameters() order."""
    rng = np.random.default_rng(INIT_SEED)
    return [_uniform(rng, (8, 1, 3, 3), 9), _uniform(rng, (8,), 9),
            _uniform(rng, (16, 8, 3, 3), 72), _uniform(rng, (16,), 72),
            _uniform(rng, (10, 784), 784), _uniform(rng, (10,), 784)]


# ---- the machine's other load --------------------------------------------------------------------

def cpu_seconds() -> tuple[float, float] | None:
    """CPU seconds the whole machine has been busy (time the hypervisor stole included), and CPU
    seconds of this process and its finished children; None where /proc/stat is missing.
    Between two calls, the first difference minus the second is what other processes took."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]  # user nice system idle iowait
    except (OSError, ValueError):                                 # irq softirq steal
        return None
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    t = os.times()
    return busy, t.user + t.system + t.children_user + t.children_system


# ---- memory ------------------------------------------------------------------------------------

def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def peak_rss_mb() -> float:
    """Peak resident set of this process since start (or since ``reset_peak_rss``), in MiB."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb / 1024


def process_peak_rss_mb() -> float:
    """Peak resident set over the whole life of this process (``ru_maxrss``), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark (Linux clear_refs 5): the workload's own peak shows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds process ``pid`` (all its threads) has used so far; None without /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold
    except (OSError, IndexError):                          # spaces and brackets
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def wait_quiet(pid: int, most: float = 1.0) -> float:
    """Wait until process ``pid`` stops using the CPU (its BLAS or OpenMP threads spin for a
    while after the last call: OpenBLAS's for about 0.1 s), for at most ``most`` seconds, and
    return the seconds waited. Without /proc, wait a fixed 0.2 s."""
    started = time.perf_counter()
    before = process_cpu_seconds(pid)
    if before is None:
        time.sleep(0.2)
        return 0.2
    tick = 1.0 / os.sysconf("SC_CLK_TCK")  # the counter's resolution (10 ms at 100 Hz)
    while time.perf_counter() - started < most:
        time.sleep(3 * tick)
        now = process_cpu_seconds(pid)
        if now is None or now - before < tick / 2:  # not a tick counted over three: quiet
            break
        before = now
    return time.perf_counter() - started


# ---- threads and BLAS --------------------------------------------------------------------------

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
CORETYPE_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def blas_info() -> list[dict]:
    """threadpoolctl's view of the loaded BLAS / OpenMP libraries (empty if it is not installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"internal_api": "threadpoolctl not installed"}]
    keep = ("user_api", "internal_api", "architecture", "num_threads", "version", "filepath")
    out = []
    for d in threadpool_info():
        d = {k: d.get(k) for k in keep}
        d["filepath"] = os.path.basename(d["filepath"] or "")
        out.append(d)
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"
