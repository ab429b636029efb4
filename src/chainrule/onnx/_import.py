"""``load_model``: an ONNX file as a chainrule module that runs its nodes in order.

Float initializers become the module's parameters (trainable, named as in the file: ``0.weight``
is the parameter ``weight`` of a submodule ``0``, so ``state_dict()`` has the file's names);
BatchNormalization's mean and variance become buffers. Each ONNX operator is one small function
of chainrule ops (``_import_ops``), so that gradients flow through the loaded model.
"""

from __future__ import annotations

import re

import numpy as np

from .. import nn
from ._export import _require_onnx
from ._import_ops import IMPL, _t
from .errors import UnsupportedOperatorError

_SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")


def _attr(onnx, a):
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, onnx.TensorProto):
        return onnx.numpy_helper.to_array(v)
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


class OnnxModule(nn.Module):
    """A chainrule module running an ONNX graph: ``forward(*inputs)`` runs the nodes in order.
    Its parameters are the graph's float initializers (BatchNormalization's statistics are
    buffers), under the names the file gives them."""

    def __init__(self, graph, opset: int, source: str = "<onnx>"):
        super().__init__()
        onnx = _require_onnx()
        from onnx import numpy_helper
        self._source = source
        self._inputs = [i.name for i in graph.input]
        self._outputs = [o.name for o in graph.output]
        self._nodes = []
        stats = set()
        for node in graph.node:
            if node.domain not in ("", "ai.onnx"):
                raise UnsupportedOperatorError(
                    f"{source}: node {node.name or node.op_type} uses the operator "
                    f"{node.domain}::{node.op_type}, outside the standard ONNX domain")
            if node.op_type == "BatchNormalization":
                stats.update(node.input[3:5])
            self._nodes.append((node.op_type, list(node.input), list(node.output),
                                {a.name: _attr(onnx, a) for a in node.attribute}, node.name))
        unknown = sorted({op for op, *_ in self._nodes if op not in IMPL and op != "Constant"})
        if unknown:
            raise UnsupportedOperatorError(
                f"{source}: chainrule cannot run the ONNX operator"
                f"{'s' * (len(unknown) > 1)} {', '.join(unknown)}; it knows "
                f"{', '.join(sorted(IMPL))}")
        if opset < 13:
            raise UnsupportedOperatorError(f"{source}: opset {opset}; chainrule loads opset 13 "
                                           f"and later (re-export with opset_version=13 or more)")
        self._constants, self._slots = {}, {}
        initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self._inputs = [n for n in self._inputs if n not in initializers]
        for name, array in initializers.items():
            trainable = array.dtype.kind == "f" and array.ndim > 0 and "/" not in name
            if not trainable and name not in stats:
                self._constants[name] = array
                continue
            owner, attr = self._place(name)
            from ..creation import from_numpy
            if name in stats:
                owner.register_buffer(attr, from_numpy(np.array(array)))
            else:
                owner.register_parameter(attr, nn.Parameter(from_numpy(np.array(array))))
            self._slots[name] = (owner, attr)

    def _place(self, name: str):
        """The submodule and attribute that hold initializer ``name`` ("0.weight": module "0",
        attribute "weight"); a name that is not a dotted path gets a safe attribute name."""
        parts = name.split(".")
        if not all(_SAFE.fullmatch(p) for p in parts) or len(parts) < 2:
            attr = re.sub(r"\W", "_", name)
            if not attr or attr[0].isdigit():
                attr = "_" + attr
            while attr in self._parameters or attr in self._buffers or attr in self._modules \
                    or hasattr(type(self), attr):
                attr += "_"
            return self, attr
        owner = self
        for p in parts[:-1]:
            child = owner._modules.get(p)
            if child is None:
                child = nn.Module()
                owner.add_module(p, child)
            owner = child
        return owner, parts[-1]

    def forward(self, *inputs):
        if len(inputs) != len(self._inputs):
            raise TypeError(f"{self._source}: the model takes {len(self._inputs)} input"
                            f"{'s' * (len(self._inputs) != 1)} ({', '.join(self._inputs)}), "
                            f"got {len(inputs)}")
        env = dict(self._constants)
        for name, (owner, attr) in self._slots.items():
            env[name] = getattr(owner, attr)
        env.update(zip(self._inputs, inputs))
        env[""] = None
        for op, ins, outs, attrs, name in self._nodes:
            if op == "Constant":
                env[outs[0]] = _constant(attrs)
                continue
            try:
                result = IMPL[op]([env[i] for i in ins], attrs)
            except UnsupportedOperatorError as e:
                raise UnsupportedOperatorError(f"{self._source}: node {name or op}: {e}") from None
            except (ValueError, RuntimeError, IndexError, TypeError) as e:
                raise type(e)(f"{self._source}: node {name or op} ({op}): {e}") from None
            if isinstance(result, (list, tuple)):
                env.update(zip(outs, result))
            else:
                env[outs[0]] = result
        out = [_t(env[o]) for o in self._outputs]
        return out[0] if len(out) == 1 else tuple(out)


def _constant(attrs):
    if "value" in attrs:
        return np.asarray(attrs["value"])
    for k, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                     ("value_int", np.int64), ("value_ints", np.int64)):
        if k in attrs:
            return np.asarray(attrs[k], dtype)
    raise UnsupportedOperatorError(f"Constant with {', '.join(attrs)}")


def load_model(path) -> OnnxModule:
    """The ONNX model at ``path`` (a path, bytes or an ``onnx.ModelProto``) as a chainrule
    module whose parameters are its float initializers."""
    onnx = _require_onnx()
    if isinstance(path, onnx.ModelProto):
        proto, source = path, "<ModelProto>"
    elif isinstance(path, (bytes, bytearray)):
        proto, source = onnx.load_from_string(bytes(path)), "<bytes>"
    else:
        source = str(path)
        try:
            proto = onnx.load(source)
        except FileNotFoundError:
            raise FileNotFoundError(2, "No such file or directory", source) from None
        except Exception as e:  # noqa: BLE001  (protobuf's DecodeError and friends)
            raise ValueError(f"{source}: not an ONNX model ({type(e).__name__}: {e})") from None
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    return OnnxModule(proto.graph, opset, source)
