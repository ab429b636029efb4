"""DataLoader(num_workers=k): real worker processes. The batches and their order are those of
num_workers=0 (map-style) or of PyTorch's workers (IterableDataset); workers are seeded apart and
reproducibly; worker_init_fn, get_worker_info, errors, timeouts, persistent workers."""

from __future__ import annotations

import os
import random
import signal
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset, \
    get_worker_info

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")


class Samples(Dataset):
    """Sample i: (i as floats, i, the pid and worker id that fetched it)."""

    def __init__(self, n=20, delay=0.0):
        self.n, self.delay = n, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.delay:
            time.sleep(self.delay)
        info = get_worker_info()
        return np.full(2, i, np.float32), i, os.getpid(), -1 if info is None else info.id


class Random(Dataset):
    """Each sample draws from chainrule's, NumPy's and Python's global generators."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return float(cr.rand(1).item()), float(np.random.rand()), random.random()


class Stream(IterableDataset):
    """Worker k of K yields k, k + K, k + 2K, ... below n: PyTorch's sharding idiom."""

    worker_info = staticmethod(get_worker_info)

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = self.worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


class Uneven(IterableDataset):
    """Worker k yields 3(k + 1) samples: the streams end at different times."""

    def __iter__(self):
        k = get_worker_info().id
        return iter(range(100 * k, 100 * k + 3 * (k + 1)))


class Fails(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 4:
            raise KeyError(f"no sample {i}")
        return i


def labels(loader):
    return [b[1].tolist() for b in loader]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_map_style_order_and_batches_as_without_workers(workers):
    kw = dict(batch_size=3, shuffle=True)
    alone = list(DataLoader(Samples(), generator=cr.Generator(0), **kw))
    pooled = list(DataLoader(Samples(), generator=cr.Generator(0), num_workers=workers, **kw))
    assert [b[1].tolist() for b in pooled] == [b[1].tolist() for b in alone]
    for a, b in zip(alone, pooled, strict=True):
        assert a[0].dtype == b[0].dtype and np.array_equal(a[0].data, b[0].data)
    pids = {p for b in pooled for p in b[2].tolist()}
    ids = {i for b in pooled for i in b[3].tolist()}
    assert os.getpid() not in pids and len(pids) == workers and ids == set(range(workers))
    assert {i for b in alone for i in b[3].tolist()} == {-1}  # get_worker_info() is None here


def test_batches_go_to_workers_round_robin():
    out = list(DataLoader(Samples(12), batch_size=2, num_workers=3))
    assert [b[3].tolist() for b in out] == [[w, w] for w in [0, 1, 2] * 2]


def test_global_generator_order_does_not_depend_on_workers():
    orders = []
    for workers in (0, 2):
        cr.manual_seed(11)
        orders.append(labels(DataLoader(Samples(), batch_size=4, shuffle=True,
                                        num_workers=workers)))
        orders.append(float(cr.rand(1).item()))  # the global generator moved the same way
    assert orders[0] == orders[2] and orders[1] == orders[3]


@pytest.mark.parametrize("kwargs", [dict(batch_size=2), dict(batch_size=3, drop_last=True),
                                    dict(batch_size=None)])
@pytest.mark.parametrize("workers", [0, 2, 3])
def test_iterable_dataset_order_like_torch(workers, kwargs):
    torch = pytest.importorskip("torch")

    class TorchStream(torch.utils.data.IterableDataset):
        worker_info = staticmethod(torch.utils.data.get_worker_info)
        __init__, __iter__ = Stream.__init__, Stream.__iter__

    def run(loader_cls, ds):
        return [np.asarray(b).tolist() for b in loader_cls(ds, num_workers=workers, **kwargs)]

    assert run(DataLoader, Stream(11)) == run(torch.utils.data.DataLoader, TorchStream(11))


@pytest.mark.parametrize("drop_last", [False, True])
def test_uneven_streams_like_torch(drop_last):
    # worked out from PyTorch's scheme (and checked against it): tasks go round robin to the
    # workers still running, results come in task order, a finished worker's tasks are skipped
    out = [b.tolist() for b in DataLoader(Uneven(), batch_size=2, num_workers=3,
                                          drop_last=drop_last)]
    if drop_last:
        assert out == [[0, 1], [100, 101], [200, 201], [102, 103], [202, 203], [104, 105],
                       [204, 205], [206, 207]]
    else:
        assert out == [[0, 1], [100, 101], [200, 201], [2], [102, 103], [202, 203], [104, 105],
                       [204, 205], [206, 207], [208]]


def test_workers_are_seeded_apart_and_reproducibly():
    def draws(seed):
        loader = DataLoader(Random(), batch_size=2, num_workers=2, generator=cr.Generator(seed))
        return [tuple(np.asarray(t).tolist() for t in b) for b in loader]

    a, b, c = draws(0), draws(0), draws(1)
    assert a == b and a != c
    # batches 0 and 1 are fetched by workers 0 and 1: their generators differ
    assert all(x != y for x, y in zip(a[0], a[1]))


def test_worker_init_fn_and_worker_info():
    def init(worker_id):
        info = get_worker_info()
        assert info.id == worker_id and info.num_workers == 2
        np.random.seed(1000 + worker_id)  # a common use: seed NumPy per worker

    loader = DataLoader(Random(), batch_size=4, num_workers=2, worker_init_fn=init)
    first, second = [b[1].tolist() for b in loader]
    assert first == np.random.RandomState(1000).rand(4).tolist()
    assert second == np.random.RandomState(1001).rand(4).tolist()
    assert get_worker_info() is None


def test_worker_info_fields():
    class Info(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            info = get_worker_info()
            return info.id, info.num_workers, info.seed, info.dataset is self

    gen = cr.Generator(3)
    out = list(DataLoader(Info(), batch_size=1, num_workers=2, generator=gen))
    base = cr.Generator(3).numpy.integers(2**63)
    assert [[t.tolist()[0] for t in b] for b in out] == [[0, 2, base, True],
                                                         [1, 2, base + 1, True]]


def test_fast_path_in_workers():
    x = cr.tensor(np.arange(20, dtype=np.float32).reshape(10, 2))
    ds = TensorDataset(x, cr.arange(10))
    a = list(DataLoader(ds, batch_size=4, shuffle=True, generator=cr.Generator(1)))
    b = list(DataLoader(ds, batch_size=4, shuffle=True, generator=cr.Generator(1), num_workers=2))
    for p, q in zip(a, b, strict=True):
        assert all(np.array_equal(s.data, t.data) and s.dtype == t.dtype for s, t in zip(p, q))


def test_a_worker_error_is_raised_in_the_main_process():
    loader = DataLoader(Fails(), batch_size=2, num_workers=2)
    it = iter(loader)
    assert next(it).tolist() == [0, 1] and next(it).tolist() == [2, 3]
    with pytest.raises(KeyError, match=r"Caught KeyError in DataLoader worker process 0"
                                       r"(.|\n)*no sample 4"):
        next(it)


def test_worker_init_fn_error_is_raised():
    def init(worker_id):
        raise ValueError(f"bad worker {worker_id}")

    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 0"
                                         "(.|\n)*bad worker 0"):
        list(DataLoader(Samples(), num_workers=2, worker_init_fn=init))


def test_timeout():
    loader = DataLoader(Samples(4, delay=2.0), batch_size=2, num_workers=1, timeout=0.2)
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.2 seconds"):
        next(iter(loader))


def test_a_killed_worker_is_reported_promptly():
    it = iter(DataLoader(Samples(4, delay=1.0), batch_size=1, num_workers=2))
    procs = list(it._pool.processes)
    os.kill(procs[0].pid, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited "
                                           r"unexpectedly \(exit codes -9\)"):
        next(it)
    assert time.monotonic() - start < 3
    assert not any(p.is_alive() for p in procs)  # the other worker is stopped too


def test_workers_end_with_the_pass_and_with_a_break():
    loader = DataLoader(Samples(8), batch_size=2, num_workers=2)
    it = iter(loader)
    procs = list(it._pool.processes)
    list(it)
    assert not any(p.is_alive() for p in procs)
    it = iter(loader)
    next(it)
    procs = list(it._pool.processes)
    del it
    assert not any(p.is_alive() for p in procs)


def test_persistent_workers_keep_their_processes():
    loader = DataLoader(Samples(8), batch_size=2, num_workers=2, persistent_workers=True,
                        shuffle=True, generator=cr.Generator(4))
    alone = DataLoader(Samples(8), batch_size=2, shuffle=True, generator=cr.Generator(4))
    epochs = [list(loader) for _ in range(2)]
    pids = [{p for b in e for p in b[2].tolist()} for e in epochs]
    assert pids[0] == pids[1] and len(pids[0]) == 2
    for e in epochs:
        assert [b[1].tolist() for b in e] == labels(alone)
    for b in loader:  # leave a pass early: the next one is whole and in order
        break
    assert b[1].tolist() == labels(alone)[0]
    assert labels(loader) == labels(alone)
    procs = list(loader._iterator._pool.processes)
    del loader, b  # no reference cycle keeps the workers alive
    assert procs and not any(p.is_alive() for p in procs)


def test_persistent_workers_restart_a_stream_each_pass():
    loader = DataLoader(Stream(7), batch_size=2, num_workers=2, persistent_workers=True)
    first = [b.tolist() for b in loader]
    assert first == [[0, 2], [1, 3], [4, 6], [5]]
    for b in loader:
        break
    assert [b.tolist() for b in loader] == first


def test_prefetch_factor_bounds_the_tasks_under_way():
    it = iter(DataLoader(Samples(40), batch_size=1, num_workers=2, prefetch_factor=3))
    assert it._send == 6
    next(it)
    assert it._send == 7


def test_spawn_context():
    out = labels(DataLoader(Samples(6), batch_size=2, num_workers=2,
                            multiprocessing_context="spawn"))
    assert out == [[0, 1], [2, 3], [4, 5]]


# -- every way a pass can end stops its workers, within a bounded time ------------------------


class Stuck(Dataset):
    """__getitem__ sleeps for `delay` seconds and ignores SIGTERM: only kill() stops it."""

    def __init__(self, delay):
        self.delay = delay

    def __len__(self):
        return 8

    def __getitem__(self, i):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(self.delay if i else 0)
        return i


def test_a_worker_error_stops_every_worker():
    it = iter(DataLoader(Fails(), batch_size=1, num_workers=2))
    procs = list(it._pool.processes)
    with pytest.raises(KeyError):
        list(it)
    assert not any(p.is_alive() for p in procs)


def test_shutdown_is_bounded_even_for_a_stuck_worker(monkeypatch):
    import chainrule.data.worker as worker

    monkeypatch.setattr(worker, "_SHUTDOWN", 0.3)  # join, terminate(), then kill()
    it = iter(DataLoader(Stuck(60), batch_size=1, num_workers=2))
    assert next(it) == 0
    procs = list(it._pool.processes)
    start = time.monotonic()
    del it  # garbage collection of a pass left mid-epoch
    assert time.monotonic() - start < 3
    assert not any(p.is_alive() for p in procs)
    assert {p.exitcode for p in procs} == {-signal.SIGKILL}


def test_keyboard_interrupt_in_the_main_process():
    def interrupt(*args):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        loader = DataLoader(Samples(400, delay=0.05), batch_size=1, num_workers=2)
        it = iter(loader)
        procs = list(it._pool.processes)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            for _ in it:
                pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    del it
    assert time.monotonic() - start < 3
    assert not any(p.is_alive() for p in procs)


SCRIPT = """
import sys, time
import numpy as np
from chainrule.utils.data import DataLoader, Dataset

class Slow(Dataset):
    def __len__(self):
        return 400

    def __getitem__(self, i):
        time.sleep(0.05)
        return np.float32(i)

it = iter(DataLoader(Slow(), batch_size=2, num_workers=2))
next(it)
print("running", flush=True)
if sys.argv[1] == "exit":
    sys.exit(0)  # leave with the pass under way
for batch in it:
    pass
"""


@pytest.mark.parametrize("how", ["exit", "ctrl-c", "sigkill"])
def test_the_program_ends_promptly_and_leaves_no_process(tmp_path, how):
    import subprocess
    import sys

    script = tmp_path / "loop.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), how], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline() == "running\n"
        start = time.monotonic()
        if how == "ctrl-c":  # the terminal sends SIGINT to the whole process group
            time.sleep(0.2)
            os.killpg(proc.pid, signal.SIGINT)
        elif how == "sigkill":  # the main process dies and cannot stop its workers
            time.sleep(0.2)
            proc.kill()
        proc.wait(timeout=10)
        assert time.monotonic() - start < 5
        if how != "sigkill":
            assert proc.returncode == (0 if how == "exit" else -signal.SIGINT) or \
                "KeyboardInterrupt" in proc.stderr.read()
        # orphaned workers notice within their poll interval (5 s) that the main process is gone
        deadline = time.monotonic() + (8 if how == "sigkill" else 2)
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)  # anyone left in the group?
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("worker processes outlived the program")
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_persistent_workers_start_again_after_a_worker_died():
    loader = DataLoader(Samples(8, delay=0.05), batch_size=2, num_workers=2,
                        persistent_workers=True)
    it = iter(loader)
    os.kill(it._pool.processes[0].pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(it)
    assert labels(loader) == [[0, 1], [2, 3], [4, 5], [6, 7]]  # fresh workers
    procs = list(loader._iterator._pool.processes)
    del loader, it
    assert procs and not any(p.is_alive() for p in procs)


def seed_worker(worker_id):
    """PyTorch's recipe for reproducible workers, word for word but for the library's name."""
    worker_seed = cr.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def test_pytorch_reproducibility_recipe():
    class Draws(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.random.rand(), random.random(), cr.initial_seed()

    def run():
        g = cr.Generator()
        g.manual_seed(0)
        loader = DataLoader(Draws(), batch_size=2, num_workers=2, worker_init_fn=seed_worker,
                            generator=g)
        return [[np.asarray(t).tolist() for t in b] for b in loader]

    first = run()
    assert run() == first
    base = cr.Generator(0).numpy.integers(2**63)  # the pass's base seed, drawn from g
    assert [b[2] for b in first] == [[base, base], [base + 1, base + 1]]
    expected = np.random.RandomState(base % 2**32).rand(2).tolist()
    assert first[0][0] == expected  # the worker's NumPy was seeded from initial_seed()
    assert cr.manual_seed(7).initial_seed() == cr.initial_seed() == 7
