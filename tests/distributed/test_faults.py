"""A rank that fails must end the run with an error that names it, never a hang; ranks that
built different models are refused."""
import re

from .mpi import mpirun


def pids(output):
    return {int(r): int(p) for r, p in re.findall(r"RANK (\d) PID (\d+)", output)}


def test_mismatched_models_refused_on_every_rank():
    _, out, _ = mpirun("faults.py", "mismatch")
    for r in (0, 1):
        said = re.search(rf"RANK {r} REFUSED: (.*)", out)
        assert said, out
        assert "every rank must build the same model" in said.group(1)
        assert ("rank 0 has parameter '0.weight' of shape (6, 4) (float32) where rank 1 has "
                "parameter '0.weight' of shape (8, 4)") in said.group(1)


def test_killed_rank_ends_the_run():
    # mpirun (MPICH's hydra) kills the others at once and names the dead process's PID
    code, out, took = mpirun("faults.py", "killed", timeout=60, check=False)
    assert code != 0 and took < 60
    assert "FINISHED" not in out
    dead = int(re.search(r"PID (\d+) RUNNING AT", out).group(1))
    assert dead == pids(out)[1]


def test_watchdog_names_a_dead_rank_of_this_machine(capsys):
    # (in one process: a world whose rank 1 is a process that has ended; with mpirun
    # -disable-auto-cleanup the survivors' watchdog finds it so, but mpirun may kill them first)
    import os
    import socket
    import subprocess
    import sys
    import time

    from chainrule.distributed import group

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    aborted = []

    class Comm:
        def Abort(self, code):
            aborted.append(code)

    w = group._World.__new__(group._World)
    w.rank, w.size, w.timeout, w.comm = 0, 2, 60.0, Comm()
    w.host = socket.gethostname()
    w.where = [(w.host, os.getpid()), (w.host, gone.pid)]
    assert group.dead_ranks(w) == [1]
    dog = group._Watchdog(w)
    dog.what, dog.since = "all_reduce", time.monotonic() - 2  # waiting for 2 s already
    dog.start()
    for _ in range(40):
        if aborted:
            break
        time.sleep(0.05)
    dog.stopped = True
    assert aborted and aborted[0] == 1
    assert (f"chainrule.distributed: rank 0/2: all_reduce: rank 1 (pid {gone.pid} on {w.host}) "
            "died; aborting the run") in capsys.readouterr().err
    w.where[1] = (w.host, os.getppid())  # alive: then nobody is named
    assert group.dead_ranks(w) == []
    assert "no rank on this machine died: one is hung" in group._describe_dead(w)


def test_hung_rank_times_out():
    code, out, took = mpirun("faults.py", "hung", timeout=60, check=False)
    assert code != 0 and took < 30
    assert ("rank 0/2: DistributedDataParallel: gradient all_reduce waited 2 s for the other "
            "ranks") in out
    assert "no rank on this machine died: one is hung" in out


def test_uncaught_exception_aborts_every_rank():
    code, out, took = mpirun("faults.py", "raises", timeout=60, check=False)
    assert code != 0 and took < 30
    assert "ValueError: rank 1 failed on purpose" in out
    assert "rank 1/2: uncaught ValueError; aborting the other ranks" in out
