"""The default process group: every process that ``mpirun`` started, with MPI underneath.

MPI itself (``mpi4py.MPI``) is imported in ``init_process_group`` only: importing it starts MPI,
which a program that never trains on several processes should not pay for.

A rank that fails must not leave the others waiting forever. Three guards:

- an uncaught exception on one rank prints its traceback, then aborts every rank (MPI_Abort);
- a watchdog thread looks at every collective this rank waits in: if a rank of this machine
  died, or after ``timeout`` (30 minutes by default, as PyTorch's), it names the dead ranks (or
  says that none died) and aborts;
- with ``mpirun -disable-auto-cleanup``, MPICH tells the survivors that a rank died (SIGUSR1):
  they name it and abort (if mpirun has not ended them first). By default ``mpirun`` kills
  every rank as soon as one dies, and its message names the dead process's PID:
  ``rank_table()`` maps PIDs to ranks.
"""

from __future__ import annotations

import datetime
import os
import signal
import socket
import sys
import threading
import time

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)
_NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to call "
                    "init_process_group.")


class _World:
    """What ``init_process_group`` set up: the communicator, this rank, the timeout, and where
    every rank runs (host, PID), to name the one that failed."""

    def __init__(self, mpi, comm, timeout: float):
        self.MPI = mpi
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout = timeout
        self.host = socket.gethostname()
        self.where = comm.allgather((self.host, os.getpid()))  # rank -> (host, pid)
        self.excepthook = None
        self.sigusr1 = None
        self.watchdog = None


_world: _World | None = None


def world() -> _World:
    """The default group, or torch's ValueError when there is none yet."""
    if _world is None:
        raise ValueError(_NOT_INITIALIZED)
    return _world


def _check_group(group) -> _World:
    w = world()
    if group is not None and group is not w:
        raise ValueError("chainrule.distributed has the default group only: pass group=None")
    return w


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("chainrule.distributed runs on MPI through mpi4py, which is not "
                          "installed: pip install 'chainrule[distributed]' (it brings mpi4py and "
                          "MPICH)") from e
    return MPI


def is_available() -> bool:
    """True if mpi4py is installed (checked without starting MPI)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def is_initialized() -> bool:
    return _world is not None


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: datetime.timedelta | None = None, world_size: int = -1,
                       rank: int = -1, store=None, group_name: str = "", pg_options=None,
                       device_id=None) -> None:
    """Join the processes ``mpirun`` started into the default group (``torch.distributed``'s
    call). MPI decides the ranks and the world size: ``world_size`` and ``rank``, if given, must
    agree with it; ``init_method`` and ``store`` are not needed (MPI's launcher rendezvous).
    ``timeout``: how long a collective may wait before the run is aborted."""
    global _world
    if _world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not available; chainrule "
                         "runs on MPI only: backend='mpi' (start the processes with mpirun)")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()  # a communicator of our own: user MPI traffic cannot mix in
    if world_size not in (-1, None) and world_size != comm.Get_size():
        raise ValueError(f"init_process_group: world_size={world_size}, but mpirun started "
                         f"{comm.Get_size()} processes")
    if rank not in (-1, None) and rank != comm.Get_rank():
        raise ValueError(f"init_process_group: rank={rank}, but MPI gave this process rank "
                         f"{comm.Get_rank()}")
    seconds = (timeout or DEFAULT_TIMEOUT).total_seconds()
    _world = w = _World(MPI, comm, seconds)
    if w.size > 1:
        _install_guards(w)


def destroy_process_group(group=None) -> None:
    """Leave the group (MPI itself is finalised at exit, by mpi4py)."""
    global _world
    w = _check_group(group)
    if w.excepthook is not None:
        sys.excepthook = w.excepthook
    if w.watchdog is not None:
        w.watchdog.stopped = True
    if w.sigusr1 is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, w.sigusr1)
    w.comm.Free()
    _world = None


def get_rank(group=None) -> int:
    return _check_group(group).rank


def get_world_size(group=None) -> int:
    return _check_group(group).size


def get_backend(group=None) -> str:
    _check_group(group)
    return "mpi"


def rank_table() -> str:
    """One line per rank: its host and PID (``mpirun`` names a dead process by its PID)."""
    w = world()
    return "\n".join(f"rank {r}: pid {pid} on {host}" for r, (host, pid) in enumerate(w.where))


# -- failures -----------------------------------------------------------------------------------

def dead_ranks(w: _World) -> list[int]:
    """The ranks on this machine whose process is gone (or a zombie). Ranks on other machines
    cannot be checked from here."""
    dead = []
    for r, (host, pid) in enumerate(w.where):
        if r == w.rank or host != w.host:
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    dead.append(r)
        except FileNotFoundError:
            dead.append(r)
        except OSError:
            pass
    return dead


def _describe_dead(w: _World) -> str:
    dead = dead_ranks(w)
    if dead:
        return ", ".join(f"rank {r} (pid {w.where[r][1]} on {w.where[r][0]}) died"
                         for r in dead)
    others = sorted({h for h, _ in w.where} - {w.host})
    return ("no rank on this machine died: one is hung or much slower"
            + (f", or a rank on {', '.join(others)} died" if others else ""))


def abort(w: _World, message: str, code: int = 1) -> None:
    """Print ``message`` naming this rank, then end every rank (MPI_Abort)."""
    sys.stderr.write(f"chainrule.distributed: rank {w.rank}/{w.size}: {message}\n")
    sys.stderr.flush()
    w.comm.Abort(code)


def wait(w: _World, request, what: str) -> None:
    """Wait for a non-blocking MPI request in MPI itself (the fastest: polling from Python
    measured up to 2x slower), watched by the watchdog thread: a rank of this machine that
    dies, or a wait longer than ``w.timeout``, aborts every rank with a message naming it."""
    watchdog = w.watchdog
    if watchdog is None:
        request.Wait()
        return
    watchdog.what, watchdog.since = what, time.monotonic()
    try:
        request.Wait()
    finally:
        watchdog.since = None


class _Watchdog(threading.Thread):
    """Looks at the collective this rank waits in, twice a second: after a second, if a rank
    of this machine has died, or after the timeout, it aborts the run (MPI_Abort is allowed
    from any thread: mpi4py asks for MPI_THREAD_MULTIPLE)."""

    def __init__(self, w: _World):
        super().__init__(name="chainrule.distributed watchdog", daemon=True)
        self.w, self.what, self.since, self.stopped = w, "", None, False

    def run(self) -> None:
        w, period = self.w, min(0.5, self.w.timeout / 4)
        while not self.stopped:
            time.sleep(period)
            since = self.since
            if since is None:
                continue
            waited = time.monotonic() - since
            if waited > 1.0 and dead_ranks(w):
                abort(w, f"{self.what}: {_describe_dead(w)}; aborting the run")
            if waited > w.timeout:
                abort(w, f"{self.what} waited {w.timeout:g} s for the other ranks (the timeout "
                         f"of init_process_group): {_describe_dead(w)}; aborting the run")


def _install_guards(w: _World) -> None:
    """An uncaught exception aborts every rank; a rank death MPICH reports is named."""
    previous = sys.excepthook

    def excepthook(kind, value, tb):
        previous(kind, value, tb)
        if kind is not KeyboardInterrupt:
            abort(w, f"uncaught {kind.__name__}; aborting the other ranks")
        else:
            sys.stderr.flush()
            w.comm.Abort(128 + signal.SIGINT)

    sys.excepthook = excepthook
    w.excepthook = previous
    w.watchdog = _Watchdog(w)
    w.watchdog.start()
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
            def on_failure(signum, frame):  # MPICH (-disable-auto-cleanup): a rank died
                for _ in range(50):  # until its process is gone, to tell which one
                    if dead_ranks(w):
                        break
                    time.sleep(0.05)
                abort(w, f"{_describe_dead(w)}; aborting the run")

            w.sigusr1 = signal.signal(signal.SIGUSR1, on_failure)
