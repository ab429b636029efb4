"""``chainrule.onnx``: export a module to ONNX, and load an ONNX file as a module.

    cr.onnx.export(model, x, "model.onnx", input_names=["input"],
                   dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    model = cr.onnx.load_model("model.onnx")     # a trainable chainrule module

Importing this needs no onnx; ``export`` and ``load_model`` import it when called, and say how
to install it when it is missing (``pip install 'chainrule[onnx]'``).
"""

from __future__ import annotations

from enum import IntEnum

from .errors import OnnxExporterError, UnsupportedOperatorError  # noqa: F401


class TrainingMode(IntEnum):
    """``torch.onnx.TrainingMode``, for ``export(..., training=TrainingMode.EVAL)``: chainrule
    exports in eval mode only (PRESERVE and TRAINING are refused by name)."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def export(model, args=(), f=None, *, kwargs=None, verbose=None, input_names=None,
           output_names=None, opset_version=None, dynamo=False, external_data=False,
           dynamic_shapes=None, export_params=True, keep_initializers_as_inputs=False,
           dynamic_axes=None, training=None, do_constant_folding=True, **ignored):
    """Export ``model`` traced on ``args`` to ``f`` (a path or a binary file; None: only return
    it), with ``torch.onnx.export``'s arguments; returns the ``onnx.ModelProto``.

    One forward pass in eval mode is recorded (the autograd graph) and each op translated to
    ONNX nodes (opset ``opset_version``, 13 to 23, default 20). Parameters and buffers become
    initializers named by their module path (``0.weight``). ``dynamic_axes={"input": {0:
    "batch"}, "output": {0: "batch"}}`` leaves the batch size open. The model is checked with
    onnx's checker and the file written atomically. An op or module that cannot be exported
    raises ``UnsupportedOperatorError`` (an ``OnnxExporterError``) naming the op and its module
    path, and nothing is written. ``do_constant_folding`` folds what is computed from buffers
    and constants alone; what is computed from parameters stays nodes, so that a model loaded
    back with ``load_model`` trains the same parameters. The dynamo options (``dynamo``,
    ``optimize``, ``report``, ...) are accepted and change nothing: there is one exporter."""
    from ._export import export as _export
    return _export(model, args, f, kwargs=kwargs, verbose=verbose, input_names=input_names,
                   output_names=output_names, opset_version=opset_version, dynamo=dynamo,
                   external_data=external_data, dynamic_shapes=dynamic_shapes,
                   export_params=export_params,
                   keep_initializers_as_inputs=keep_initializers_as_inputs,
                   dynamic_axes=dynamic_axes, training=training,
                   do_constant_folding=do_constant_folding, **ignored)


def load_model(path):
    """The ONNX model at ``path`` (a path, bytes or an ``onnx.ModelProto``) as a chainrule
    module that runs its nodes in order: its float initializers are trainable parameters named
    as in the file (``0.weight``), BatchNormalization's statistics buffers. An operator chainrule
    cannot run raises ``UnsupportedOperatorError`` naming it."""
    from ._import import load_model as _load
    return _load(path)


def is_in_onnx_export() -> bool:
    """True while ``export`` runs the model's forward (``torch.onnx.is_in_onnx_export``)."""
    from ._trace import exporting
    return exporting()
