"""The benchmark's plumbing (benchmarks/): a timed run cut into pieces computes what the whole run
computes, and run.py's rounds drive the worker processes to the same results. No timing is
asserted here: the numbers themselves live in BENCHMARKS.md."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import run  # noqa: E402
import worker  # noqa: E402
from workloads import WORKLOADS  # noqa: E402


def _whole_and_pieces(name, lib, cuts):
    m = worker.Measurement(WORKLOADS[name], lib, threads=1, quick=True)
    m.load()
    m.run(0, len(m.batches))
    whole = m.result()
    whole = {k: whole[k] for k in ("loss", "param_abs_sum", "logits_abs_sum", "class_counts",
                                   "hv_abs_sums") if k in whole}
    m.load()
    for i, j in zip(cuts, cuts[1:]):
        m.run(i, j)
    pieces = m.result()
    assert len(pieces["times"]) == 2 and all(t > 0 for t in pieces["times"])
    return whole, pieces


def test_training_in_pieces_is_the_whole_run():
    whole, pieces = _whole_and_pieces("W4", "chainrule", [0, 1, 400, 1000])
    assert pieces["steps"] == 1000
    assert pieces["param_abs_sum"] == whole["param_abs_sum"]
    assert pieces["loss"] == whole["loss"]
    # and the pieces did train: the weights moved from their initial |w| sum
    start = sum(float(np.abs(p).sum()) for p in worker.initial_weights(WORKLOADS["W4"]))
    assert abs(pieces["param_abs_sum"] - start) > 0.1


def test_inference_in_pieces_keeps_every_batch():
    whole, pieces = _whole_and_pieces("W5-MLP", "numpy", [0, 1, 2])
    assert pieces["class_counts"] == whole["class_counts"]
    assert sum(pieces["class_counts"]) == WORKLOADS["W5-MLP"].quick_samples
    assert pieces["logits_abs_sum"] == pytest.approx(whole["logits_abs_sum"], rel=1e-12)


def test_a_round_interleaves_the_worker_processes():
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    got = run.run_round("W4", ["numpy", "chainrule"], threads=1, repeats=2, pieces=3, quick=True,
                        env=env, timeout=300, turn=1)
    numpy_, chainrule = got["numpy"], got["chainrule"]
    for r in (numpy_, chainrule):
        assert "error" not in r, r.get("error")
        assert r["steps"] == 1000 and len(r["times"]) == 2
    # the hand-written loop and chainrule trained the same network on the same steps
    assert chainrule["param_abs_sum"] == pytest.approx(numpy_["param_abs_sum"], rel=1e-5)
    assert chainrule["loss"] == pytest.approx(numpy_["loss"], abs=1e-9)


def test_w6_is_the_mlp_hessian_vector_product_workload():
    w = WORKLOADS["W6"]
    assert (w.model, w.mode, w.batch, w.steps(False)) == ("mlp", "hvp", 128, 100)
    assert w.goal_torch == 1.0


def _hvp(lib, x, y):
    w = WORKLOADS["W6"]
    impl = worker.make_impl(w, lib, worker.initial_weights(w))
    return impl.hv_arrays(impl.hvp(impl.batches(x, y, len(x))))


def test_hand_written_hvp_is_pytorchs_double_backward():
    # Pearlmutter's R-op in NumPy against torch.autograd.grad(g · v) twice, float32, to 1e-4
    pytest.importorskip("torch")
    x, y = worker.harness.make_images(128)
    x = x.reshape(128, 784)
    ref = _hvp("torch", x, y)
    for lib in ("numpy", "chainrule"):
        got = _hvp(lib, x, y)
        for a, r, shape in zip(got, ref, [(256, 784), (256,), (10, 256), (10,)]):
            assert a.shape == r.shape == shape
            assert np.abs(a - r).max() <= 1e-4 * max(1.0, np.abs(r).max()), lib
    assert all(np.abs(r).sum() > 1 for r in ref)  # not all zeros: the ReLU mask and v do matter


def test_a_round_of_w6_gives_the_same_hvp_in_every_library():
    pytest.importorskip("torch")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    got = run.run_round("W6", ["torch", "numpy", "chainrule"], threads=1, repeats=1, pieces=3,
                        quick=True, env=env, timeout=300, turn=0)
    for r in got.values():
        assert "error" not in r, r.get("error")
        assert r["steps"] == 10 and len(r["times"]) == 1 and len(r["hv_abs_sums"]) == 4
    ref = got["torch"]["hv_abs_sums"]
    for lib in ("numpy", "chainrule"):
        assert got[lib]["hv_abs_sums"] == pytest.approx(ref, rel=1e-5), lib
        assert run.agreement(WORKLOADS["W6"], got[lib], got["torch"]) == "agrees"


def test_hvp_in_pieces_is_the_whole_run():
    whole, pieces = _whole_and_pieces("W6", "chainrule", [0, 1, 4, 10])
    assert pieces["hv_abs_sums"] == whole["hv_abs_sums"]


def test_a_worker_that_dies_is_reported_not_waited_for():
    server = run.Server("W4", "chainrule", 1, True, dict(os.environ), timeout=300)
    assert server.steps == 1000 and server.alive
    server.proc.kill()
    server.run(0, 10)
    result = server.finish()
    assert "worker exited with status -9" in result["error"]


def test_a_worker_that_does_not_answer_in_time_is_stopped():
    server = run.Server("W4", "chainrule", 1, True, dict(os.environ), timeout=0.01)
    assert not server.alive and server.proc.returncode is not None  # killed, not left running
    assert server.finish()["error"].startswith("no answer within 0 s")


def test_a_round_of_no_library_is_empty():
    # e.g. --libs torch in the second BLAS variant, where only NumPy and chainrule run
    assert run.run_round("W4", [], 1, 1, 5, True, dict(os.environ), 300, 0) == {}
