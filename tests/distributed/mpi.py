"""Run a script of tests/distributed/scripts under `mpirun -n N` (skipped without MPI)."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"


def command(*argv, n: int = 2, mpi_args=()) -> tuple[list, dict]:
    """`mpirun -n n python argv...`, and its environment (one BLAS thread per rank)."""
    pytest.importorskip("mpi4py")
    launcher = shutil.which("mpirun") or shutil.which("mpiexec")
    if launcher is None:
        pytest.skip("no mpirun on PATH (pip install 'chainrule[distributed]')")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return [launcher, *mpi_args, "-n", str(n), sys.executable, *map(str, argv)], env


def mpirun(script: str, *args, n: int = 2, timeout: float = 120, mpi_args=(), check=True):
    """The finished `mpirun -n n python scripts/<script> args...`: (returncode, output, seconds).
    A run that takes longer than ``timeout`` fails the test (a hang)."""
    cmd, env = command(SCRIPTS / script, *args, n=n, mpi_args=mpi_args)
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{script}: mpirun did not finish in {timeout} s (a hang):\n{e.output}")
    took = time.monotonic() - start
    if check and p.returncode != 0:
        pytest.fail(f"{script}: mpirun exited with {p.returncode}:\n{p.stdout}")
    return p.returncode, p.stdout, took
