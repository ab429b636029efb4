"""Collectives under `mpirun -n 2`: each rank's results against hand-computed values."""
import json

from .mpi import mpirun


def test_collectives_values(tmp_path):
    mpirun("collectives.py", tmp_path)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    for r, res in enumerate((r0, r1)):  # rank r starts from [1, 2, 3] * (r + 1)
        assert res["rank"] == r and res["world_size"] == 2 and res["initialized"]
        assert res["all_reduce_SUM"] == [3.0, 6.0, 9.0]
        assert res["all_reduce_AVG"] == [1.5, 3.0, 4.5]
        assert res["all_reduce_MAX"] == [2.0, 4.0, 6.0]
        assert res["all_reduce_MIN"] == [1.0, 2.0, 3.0]
        assert res["all_reduce_PRODUCT"] == [2.0, 8.0, 18.0]
        assert res["version_bumped"]  # an in-place change, as autograd must know
        assert res["all_reduce_async"] == [3.0, 6.0, 9.0] and res["async_completed"]
        assert res["broadcast"] == [2.0, 4.0, 6.0]  # rank 1's
        assert res["all_gather"] == [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]
        assert res["all_reduce_int"] == [3, 6] and res["int_dtype"] == "int64"
        assert not res["initialized_after"]
        assert "list of 2 tensors" in res["errors"]["all_gather_len"]
        assert "src=5 is not a rank" in res["errors"]["broadcast_src"]
    # a column (a strided view) reduced in place: only it changes
    assert r0["all_reduce_view"] == [[0.0, 1.0], [0.0, 1.0]]
    assert r1["all_reduce_view"] == [[1.0, 1.0], [1.0, 1.0]]
    assert r0["reduce"] == [3.0, 6.0, 9.0] and r1["reduce"] == [2.0, 4.0, 6.0]  # dst 0 only
    assert r0["scatter"] == [10.0, 11.0] and r1["scatter"] == [20.0, 21.0]
    assert r0["gather"] is None and r1["gather"] == [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]
    assert "must be specified on source rank" in r0["errors"]["scatter_list"]
    assert "must NOT be specified on non-source" in r1["errors"]["scatter_list"]
    # DistributedSampler takes rank and world size from the group: 7 padded to 8
    assert r0["sampler"] == [0, 2, 4, 6] and r1["sampler"] == [1, 3, 5, 0]


def test_before_init_errors_as_torch():
    import sys

    import pytest

    import chainrule as cr
    import chainrule.distributed as dist
    msg = ("Default process group has not been initialized, please make sure to call "
           "init_process_group.")
    assert not dist.is_initialized()
    for call in (dist.get_rank, dist.get_world_size, dist.barrier,
                 lambda: dist.all_reduce(cr.ones(2))):
        with pytest.raises(ValueError, match=msg):
            call()
    with pytest.raises(ValueError, match="backend 'nccl' is not available"):
        dist.init_process_group("nccl")
    assert "mpi4py.MPI" not in sys.modules  # nothing so far has started MPI


def test_import_is_light():
    import subprocess
    import sys
    code = ("import sys, chainrule as cr; cr.distributed; cr.nn.parallel.DistributedDataParallel;"
            "import chainrule.utils.data.distributed; print('mpi4py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
