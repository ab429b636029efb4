"""DistributedDataParallel on 2 ranks, each with half of every batch of 64, against one process
training on the whole batch: the same weights after 20 steps."""
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from .mpi import SCRIPTS, mpirun

sys.path.insert(0, str(SCRIPTS))
from problem import batches, build, make_optimizer  # noqa: E402

TOL = {"float64": 1e-10, "float32": 2e-5}  # float32: the rounding of 20 steps' sums


def single_process(dtype, optimizer):
    model = build(dtype, seed=100)  # rank 0's seed: DDP copies rank 0's weights to rank 1
    opt = make_optimizer(optimizer, model.parameters())
    for x, y in batches(dtype):
        opt.zero_grad()
        F.cross_entropy(model(cr.tensor(x)), cr.tensor(y)).backward()
        opt.step()
    return {f"module.{k}": v.numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer, mode, bucket_mb", [
    ("sgd", "plain", None), ("adam", "plain", None), ("sgd", "no_sync", None),
    ("adam", "no_sync", None), ("sgd", "plain", 0.0005),  # 0.0005 MB: a bucket per layer
    ("sgd", "plain+overlap", 0.0005), ("adam", "no_sync+overlap", None)])
def test_two_ranks_equal_one_process(tmp_path, dtype, optimizer, mode, bucket_mb):
    out = tmp_path / "weights.npz"
    mpirun("ddp_train.py", out, dtype, optimizer, mode, *([bucket_mb] if bucket_mb else []))
    got = dict(np.load(out))
    if mode.startswith("no_sync"):  # inside no_sync each rank's gradient was its own
        assert got.pop("no_sync_grads_differ")
    want = single_process(dtype, optimizer)
    assert sorted(got) == sorted(want)  # state_dict keys prefixed "module.", as PyTorch's
    start = build(dtype, seed=100).state_dict()
    for k, w in want.items():
        assert got[k].dtype == np.dtype(dtype)
        assert np.abs(w - start[k[len("module."):]].numpy()).max() > 1e-3  # it trained
        np.testing.assert_allclose(got[k], w, rtol=0, atol=TOL[dtype], err_msg=k)


def test_batchnorm_statistics_are_per_rank(tmp_path):
    mpirun("batchnorm.py", tmp_path)
    r0, r1 = (np.load(tmp_path / f"rank{r}.npz") for r in (0, 1))
    for d in (r0, r1):  # normalised with its own batch's mean and (biased) variance
        x = d["x1"]
        np.testing.assert_allclose(d["y1"], (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5),
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(d["mean1"], 0.1 * x.mean(0), rtol=0, atol=1e-15)
    # the second forward starts from rank 0's running mean on both ranks (broadcast_buffers)
    for d in (r0, r1):
        np.testing.assert_allclose(d["mean2"], 0.9 * r0["mean1"] + 0.1 * d["x2"].mean(0),
                                   rtol=0, atol=1e-15)
    assert np.abs(r0["mean1"] - r1["mean1"]).max() > 0.05  # the ranks' statistics did differ


def test_sync_batchnorm_equals_batchnorm_on_the_whole_batch(tmp_path):
    from problem import build_bn
    out = tmp_path / "weights.npz"
    mpirun("syncbn.py", out)
    got = dict(np.load(out))
    model = build_bn(seed=100)
    opt = make_optimizer("sgd", model.parameters())
    for x, y in batches("float64"):
        opt.zero_grad()
        F.cross_entropy(model(cr.tensor(x)), cr.tensor(y)).backward()
        opt.step()
    want = {f"module.{k}": v.numpy() for k, v in model.state_dict().items()}
    assert sorted(got) == sorted(want)
    for k, w in want.items():  # weights, and running mean and variance (unbiased over 64)
        np.testing.assert_allclose(got[k], w, rtol=0, atol=1e-10, err_msg=k)
    assert int(got["module.1.num_batches_tracked"]) == 20
