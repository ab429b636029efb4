"""The errors of ``chainrule.onnx``, as ``torch.onnx.errors``: importing this needs no onnx."""

from __future__ import annotations


class OnnxExporterError(RuntimeError):
    """An export that cannot be done: the message names the op and the module path."""


class UnsupportedOperatorError(OnnxExporterError):
    """An op (export) or an ONNX operator (import) that chainrule cannot translate."""
