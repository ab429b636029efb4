"""BLAS thread count, as ``torch.set_num_threads`` (through threadpoolctl, where installed)."""

from __future__ import annotations

import os

_limiter = None


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in NumPy's BLAS. Small matrices are often faster with fewer threads."""
    global _limiter
    if n < 1:
        raise ValueError(f"set_num_threads: n must be at least 1, got {n}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as e:
        raise ImportError("set_num_threads needs threadpoolctl: pip install threadpoolctl "
                          "(or set OMP_NUM_THREADS / OPENBLAS_NUM_THREADS before starting Python)") from e
    _limiter = threadpool_limits(limits=int(n), user_api="blas")


def get_num_threads() -> int:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return int(os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
                   or os.cpu_count() or 1)
    blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return blas[0] if blas else 1
