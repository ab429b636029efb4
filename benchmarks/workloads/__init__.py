"""The workloads of issue 5, each in three implementations sharing one set of initial weights:
PyTorch and chainrule (the same code, ``frameworks.py``) and hand-written NumPy.

Modes: ``train`` (SGD steps; a step is a batch), ``infer`` (``no_grad`` forward passes) and
``hvp`` (Hessian-vector products of the training loss at the initial weights, one per batch:
``autograd.grad(..., create_graph=True)`` and differentiating again; the weights never move)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness import INIT_SEED, hvp_vectors, init_cnn, init_mlp

from . import cnn, mlp, sequence, sigmoid


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    model: str                  # "mlp" | "cnn" | "sigmoid" | "lstm" | "transformer"
    mode: str                   # "train" | "infer" | "hvp"
    batch: int
    samples: int                # images (train, infer, hvp) or steps (sigmoid)
    quick_samples: int
    lr: float
    warmup: int                 # warm-up batches before timing
    goal_torch: float | None    # goal: PyTorch time / chainrule time >= this
    goal_numpy: float | None    # goal: chainrule time / hand-written time <= this
    memory_goal: bool           # goal: chainrule peak RSS <= PyTorch's
    numpy: bool = True          # has a hand-written NumPy version

    def n(self, quick: bool) -> int:
        return self.quick_samples if quick else self.samples

    def steps(self, quick: bool) -> int:
        return -(-self.n(quick) // self.batch)


WORKLOADS = {w.name: w for w in [
    Workload("W1", "MLP 784-256-10, batch 128, one epoch (60,000)", "mlp", "train",
             128, 60_000, 8_192, 0.1, 5, 1.3, 1.15, True),
    Workload("W2", "MLP 784-256-10, batch 32, one epoch (60,000)", "mlp", "train",
             32, 60_000, 4_096, 0.1, 5, 1.5, 1.15, False),
    Workload("W3", "CNN, batch 64, 100 steps", "cnn", "train",
             64, 6_400, 1_280, 0.1, 3, 1.0, 1.15, True),
    Workload("W4", "2-2-1 sigmoid net, 1 sample, 10,000 SGD steps", "sigmoid", "train",
             1, 10_000, 1_000, 1.0, 100, 5.0, None, False),
    Workload("W5-MLP", "MLP inference, 10,000 images (batches of 1000), no_grad", "mlp", "infer",
             1000, 10_000, 2_000, 0.0, 1, 1.0, None, False),
    Workload("W5-CNN", "CNN inference, 10,000 images (batches of 1000), no_grad", "cnn", "infer",
             1000, 10_000, 2_000, 0.0, 1, 1.0, None, False),
    Workload("W6", "100 Hessian-vector products of W1's MLP loss w.r.t. its weights, batch 128",
             "mlp", "hvp", 128, 12_800, 1_280, 0.0, 3, 1.0, None, False),
    # issue 18: sequences of 64 tokens (workloads/sequence.py); ``samples`` counts sequences
    Workload("W7", "LSTM: Embedding(64, 256) - LSTM(256, 256) - Linear(256, 64), sequence 64, "
             "batch 32, 50 steps", "lstm", "train", 32, 1_600, 320, 0.5, 3, 0.7, None, False,
             numpy=False),
    Workload("W8", "2-layer TransformerEncoder, d_model 128, 4 heads, FF 512, dropout 0, "
             "sequence 64, batch 32, 50 steps", "transformer", "train", 32, 1_600, 320, 0.1, 3,
             1.0, None, False, numpy=False),
]}


def initial_weights(w: Workload) -> list[np.ndarray]:
    if w.model in ("lstm", "transformer"):
        init = {"lstm": sequence.init_lstm, "transformer": sequence.init_transformer}[w.model]
        return init(INIT_SEED)
    return {"mlp": init_mlp, "cnn": init_cnn, "sigmoid": sigmoid.init}[w.model]()


def make_impl(w: Workload, lib_name: str, params: list[np.ndarray]):
    """The implementation of workload w in ``torch``, ``numpy`` or ``chainrule``."""
    if lib_name == "numpy":
        if w.mode == "hvp":
            return mlp.NumpyMLP(params, w.lr, hvp_vectors())
        cls = {"mlp": mlp.NumpyMLP, "cnn": cnn.NumpyCNN, "sigmoid": sigmoid.NumpySigmoid}[w.model]
        return cls(params, w.lr)
    from .frameworks import FrameworkNet, Lib

    lib = Lib(lib_name)
    if w.model == "sigmoid":
        return sigmoid.FrameworkSigmoid(lib, params, w.lr)
    if w.model in ("lstm", "transformer"):
        build = {"lstm": sequence.build_lstm, "transformer": sequence.build_transformer}[w.model]
        return sequence.SequenceNet(lib, build, params, w.lr)
    build = {"mlp": mlp.build, "cnn": cnn.build}[w.model]
    return FrameworkNet(lib, build, params, w.lr, hvp_vectors() if w.mode == "hvp" else None)


def runner(w: Workload, impl):
    """The timed loop of workload w: ``impl.train``, ``impl.infer`` or ``impl.hvp``; it takes a
    list of batches (steps) and returns what the last one computed (train: the loss; hvp: the
    Hessian-vector product) or every batch's logits (infer)."""
    return getattr(impl, w.mode)
