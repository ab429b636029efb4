"""Shared pieces of the ONNX tests: export a module, run the file in onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def session(path_or_proto):
    data = path_or_proto.SerializeToString() if hasattr(path_or_proto, "SerializeToString") \
        else str(path_or_proto)
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def run_ort(sess, *xs):
    feed = {i.name: np.asarray(x.detach().numpy() if hasattr(x, "detach") else x)
            for i, x in zip(sess.get_inputs(), xs)}
    return sess.run(None, feed)


def run_cr(model, *xs):
    model.eval()
    with cr.no_grad():
        y = model(*xs)
    ys = y if isinstance(y, tuple) else (y,)
    return [t.numpy() for t in ys]


def dynamic(names, axis=0):
    return {n: {axis: "batch"} for n in names}
