"""``export``: a traced forward pass (``_trace``) written as an ONNX graph.

Each node of the recorded graph goes through its op's function in ``_symbolic``; parameters and
buffers become initializers named by their module path (``0.weight``); other tensors the graph
holds (constants made in a forward) become initializers named after the node that uses them.
The model is checked with ``onnx.checker`` before anything is written, and written atomically.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from .._io import atomic_write
from ..tensor import Tensor
from . import _symbolic
from ._trace import arguments, trace
from .errors import OnnxExporterError, UnsupportedOperatorError

DEFAULT_OPSET = 20  # torch.onnx's default
MIN_OPSET, MAX_OPSET = 13, 23


@dataclass
class Value:
    """A tensor of the ONNX graph as a converter sees it: its name, and its traced shape and
    dtype."""
    name: str
    shape: tuple
    dtype: np.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class Builder:
    Value = Value

    def __init__(self, onnx, opset: int):
        self.onnx, self.opset = onnx, opset
        self.nodes, self.initializers = [], {}
        self.scope, self.op = "", ""
        self.node_class = None  # the op class being translated
        self._taken: set = set()
        self._consts: dict = {}

    def _unique(self, name: str) -> str:
        base, k = name, 0
        while name in self._taken:
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        return name

    def add(self, op: str, inputs: list, outputs: int = 1, **attrs):
        """Add a node; its output name(s)."""
        name = self._unique(f"/{self.scope.replace('.', '/')}/{op}" if self.scope else f"/{op}")
        outs = [self._unique(f"{name}_output_{i}") for i in range(outputs)]
        names = [i.name if isinstance(i, Value) else i for i in inputs]
        self.nodes.append(self.onnx.helper.make_node(op, names, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def const(self, array, name: str | None = None) -> str:
        """An initializer holding ``array`` (equal small constants share one)."""
        array = np.asarray(array)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 64 else None
        if name is None and key in self._consts:
            return self._consts[key]
        if name is None:
            where = f"/{self.scope.replace('.', '/')}" if self.scope else ""
            name = f"{where}/{self.op or 'Constant'}_constant"
        name = self._unique(name)
        self.initializers[name] = array
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(list(values), np.int64))

    def scalar(self, value, like) -> str:
        """A 0-d constant of ``like``'s dtype (float32 when ``like`` is None)."""
        dtype = like.dtype if like is not None else np.float32
        value = np.asarray(value, dtype)
        return self.const(value.reshape(()) if value.size == 1 else value)

    def operand(self, v, like, cast: bool = False):
        """A Value as is (``cast``: cast to ``like``'s dtype if it has another); a Python number
        as a constant of ``like``'s dtype."""
        if isinstance(v, Value):
            if cast and like is not None and np.dtype(v.dtype) != np.dtype(like.dtype):
                return self.add("Cast", [v], to=self.onnx_type(like.dtype))
            return v
        if isinstance(v, (np.ndarray, np.generic)):
            v = np.asarray(v)
            return self.const(v.astype(like.dtype) if cast and like is not None else v)
        if like is None or isinstance(v, bool):
            return self.const(np.asarray(v))
        return self.scalar(v, like)

    def reduce(self, op: str, x, axes, keepdims: int):
        """A Reduce* node: axes as an input (opset 18 on; ReduceSum from 13), else attribute."""
        if axes is None:
            return self.add(op, [x], keepdims=keepdims)
        if op == "ReduceSum" or self.opset >= 18:
            return self.add(op, [x, self.ints(axes)], keepdims=keepdims)
        return self.add(op, [x], axes=list(axes), keepdims=keepdims)

    def onnx_type(self, dtype) -> int:
        return self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _require_onnx():
    try:
        import onnx
    except ImportError as e:
        raise ImportError(f"chainrule.onnx needs the onnx package ({e}): "
                          f"pip install 'chainrule[onnx]'") from None
    return onnx


def _dynamic(dynamic_axes, name, ndim) -> dict:
    """axis -> dim name for ``name`` from torch's ``dynamic_axes`` (a dict or a list of axes)."""
    axes = (dynamic_axes or {}).get(name)
    if axes is None:
        return {}
    if isinstance(axes, dict):
        out = {int(k) % ndim: str(v) for k, v in axes.items()}
    else:
        out = {int(k) % ndim: f"{name}_dynamic_axes_{i + 1}" for i, k in enumerate(axes)}
    return out


def _value_info(onnx, name, shape, dtype, dynamic, unknown=False):
    dims = [None if unknown else dynamic.get(i, n) for i, n in enumerate(shape)]
    return onnx.helper.make_tensor_value_info(
        name, onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), dims)


def _prune(graph_outputs, nodes, initializers):
    """Drop the Identity nodes inside the graph (their readers read their input), the nodes no
    output needs, and the initializers no node reads."""
    alias = {}
    for node in nodes:
        for k, i in enumerate(node.input):
            node.input[k] = alias.get(i, i)
        if node.op_type == "Identity" and node.output[0] not in graph_outputs:
            alias[node.output[0]] = node.input[0]
    nodes = [n for n in nodes if n.output[0] not in alias]
    needed, kept = set(graph_outputs), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    kept.reverse()
    return kept, {k: v for k, v in initializers.items() if k in needed}


def _constants(t, params) -> list:
    """(node, argument, value) of every constant a node of ``t`` reads: tensors that are not an
    input, a parameter or a buffer, or made by a node, and index arrays of indexing ops."""
    inputs = {id(x) for x in t.inputs}
    found = []
    for node in t.nodes:
        for k, x in enumerate(t.node_inputs[node]):
            if isinstance(x, Tensor) and id(x) not in inputs and id(x) not in params \
                    and t.producer.get(id(x)) is None:
                found.append((node, k, x._data))
        if type(node).__name__ in ("ScaledDotProductAttention", "PackedSelfAttention"):
            bias = arguments(node).get("bias")  # a mask as an array (bool masks become one)
            if isinstance(bias, np.ndarray):
                found.append((node, "bias", bias))
        if type(node).__name__ == "GetItem":
            index = arguments(node).get("index")
            for item in index if isinstance(index, tuple) else (index,):
                if isinstance(item, np.ndarray):
                    found.append((node, "index", item))
    return found


def _check_same_graph(model, args, t) -> None:
    """Trace again on other values of the inputs (floats: other signs; integers: the same values
    shuffled, so that indices stay in range). A graph that changes (control flow on values) or
    a constant that changes (a mask or an index computed from the input outside the recorded
    graph, as ``x > 0`` or ``argmax``) would be exported wrongly, baked in as traced: refuse it,
    naming the op and its module."""
    from ..creation import from_numpy
    rng = np.random.default_rng(0)
    other = []
    for a in args:
        v = a._data
        if v.dtype.kind == "f" and v.size:  # signs flipped, and noise: masks and branches move
            spread = float(np.nanstd(v)) or 1.0
            v = (rng.standard_normal(v.shape) * spread - v).astype(v.dtype)
        elif v.size > 1:  # integers (indices) and booleans: the same values, shuffled
            v = rng.permutation(v.reshape(-1)).reshape(v.shape)
        other.append(a if v is a._data else from_numpy(v))
    try:
        t2 = trace(model, tuple(other))
    except Exception:  # noqa: BLE001  (the model refuses other values: nothing to compare)
        return
    params = {id(p) for p in model.parameters()} | {id(p) for p in model.buffers()
                                                      if p is not None}
    first = [type(n) for n in t.nodes]
    second = [type(n) for n in t2.nodes]
    if first != second:
        k = next((i for i, (a, b) in enumerate(zip(first, second)) if a is not b),
                 min(len(first), len(second)))
        node = (t.nodes + t2.nodes)[k] if k < len(t.nodes) else t2.nodes[k]
        path, kind = (t if k < len(t.nodes) else t2).module_of(node)
        raise OnnxExporterError(
            f"onnx.export: the model's graph depends on the values of its input (another input "
            f"gave another sequence of ops from the op {type(node).__name__}"
            f"{_where(path, kind, model)} on): control flow on values cannot be exported")
    for (node, k, a), (_, _, b) in zip(_constants(t, params), _constants(t2, params)):
        if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            path, kind = t.module_of(node)
            raise OnnxExporterError(
                f"onnx.export: the op {type(node).__name__}{_where(path, kind, model)} reads a "
                f"value computed from the input outside the recorded graph (a comparison, an "
                f"argmax, .item(), NumPy): exported, it would keep the traced value")


def _where(path, kind, model) -> str:
    return (f" in module '{path}' ({kind})" if path else
            f" in the forward of the model itself ({type(model).__name__})")


def build_model(model, args, input_names=None, output_names=None, dynamic_axes=None,
                opset_version=None, do_constant_folding=True, export_params=True,
                keep_initializers_as_inputs=False):
    """The ``onnx.ModelProto`` of ``model`` traced on ``args`` (checked by onnx's checker)."""
    onnx = _require_onnx()
    from onnx import numpy_helper

    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"onnx.export: opset_version {opset} is not supported; give one from "
                         f"{MIN_OPSET} to {MAX_OPSET} (default {DEFAULT_OPSET})")
    if isinstance(args, Tensor) or not isinstance(args, (tuple, list)):
        args = (args,)
    args = tuple(args)
    if args and isinstance(args[-1], dict):
        raise OnnxExporterError("onnx.export: keyword arguments in args (a trailing dict) are "
                                "not supported; pass the inputs positionally")
    for i, a in enumerate(args):
        if not isinstance(a, Tensor):
            raise OnnxExporterError(f"onnx.export: args[{i}] is a {type(a).__name__}; every "
                                    f"input must be a tensor")
    t = trace(model, args)
    _check_same_graph(model, args, t)
    names = list(input_names or [])
    names += [f"input_{i}" if len(t.inputs) > 1 else "input" for i in
              range(len(names), len(t.inputs))]
    outs = list(output_names or [])
    outs += [f"output_{i}" if len(t.outputs) > 1 else "output" for i in
             range(len(outs), len(t.outputs))]
    if len(set(names + outs)) != len(names + outs):
        raise ValueError(f"onnx.export: input and output names must differ from one another "
                         f"(input_names {names}, output_names {outs})")
    unknown = set(dynamic_axes or {}) - set(names) - set(outs)
    if unknown:
        raise ValueError(f"onnx.export: dynamic_axes names {sorted(unknown)}, which are not "
                         f"among the inputs {names} or the outputs {outs}")

    b = Builder(onnx, opset)
    b._taken.update(names + outs)
    known = {id(x): Value(n, tuple(x.shape), x._data.dtype) for x, n in zip(t.inputs, names)}
    made_by = {}        # node -> the Value holding its output
    dependent = set()   # nodes whose output is computed from an input
    keep = set()        # nodes computed from parameters alone (not folded)
    inputs_ids = set(known)
    params = {}
    for n, p in model.named_parameters():
        params.setdefault(id(p), (n, p))
    for n, p in model.named_buffers():
        if p is not None:
            params.setdefault(id(p), (n, p))

    def value(x):
        node = t.producer.get(id(x))
        if node in made_by:
            return made_by[node]
        if id(x) in known:
            return known[id(x)]
        if id(x) in params:
            n, p = params[id(x)]
            name = b.const(p._data, name=n)
        else:  # a constant: made in a forward, or computed from parameters alone (folded)
            name = b.const(x._data)
        v = known[id(x)] = Value(name, tuple(x.shape), x._data.dtype)
        return v

    def trainable(x):  # a parameter, or made from one: kept as nodes, so it stays trainable
        node = t.producer.get(id(x))
        return (id(x) in params and x.requires_grad) or node in keep

    def from_input(x):
        return id(x) in inputs_ids or t.producer.get(id(x)) in dependent

    def convert_args(node):
        swap = {id(o): n for o, n in zip(node.inputs, t.node_inputs[node])}

        def conv(v):
            if isinstance(v, Tensor):
                return value(swap.get(id(v), v))
            if isinstance(v, tuple) and any(isinstance(e, Tensor) for e in v):
                return tuple(conv(e) for e in v)
            return v
        return {k: conv(v) for k, v in arguments(node).items()}

    for node in t.nodes:
        inputs = [x for x in t.node_inputs[node] if isinstance(x, Tensor)]
        if do_constant_folding and not any(from_input(x) or trainable(x) for x in inputs):
            continue  # computed from buffers and constants alone: its value is a constant
        if any(from_input(x) for x in inputs):
            dependent.add(node)
        else:
            keep.add(node)
        path, kind = t.module_of(node)
        op = type(node).__name__
        where = _where(path, kind, model).removeprefix(" in ")
        made = t.made[node]
        fn = _symbolic.SYMBOLIC.get(type(node))
        if fn is None:
            raise UnsupportedOperatorError(
                f"onnx.export: the op {op} ({type(node).__module__}.{op}) in {where} has no "
                f"ONNX translation; nothing was written")
        b.scope, b.op, b.node_class = path, op, type(node)
        y = Value("", tuple(made.shape), made._data.dtype)
        try:
            out = fn(b, convert_args(node), y)
        except UnsupportedOperatorError as e:
            raise UnsupportedOperatorError(f"onnx.export: the op {op} in {where}: {e}; nothing "
                                           f"was written") from None
        made_by[node] = Value(out, y.shape, y.dtype)
    b.scope = b.op = ""

    graph_outputs = []
    for o, name in zip(t.outputs, outs):
        v = value(o)
        b.nodes.append(onnx.helper.make_node("Identity", [v.name], [name],
                                             name=b._unique(f"/Identity_{name}")))
        graph_outputs.append((name, v))
    nodes, inits = _prune(outs, b.nodes, b.initializers)
    # an Identity straight into an output: the node before it writes the output itself
    producer = {o: n for n in nodes for o in n.output}
    uses = {}
    for n in nodes:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    for n in list(nodes):
        if n.op_type == "Identity" and n.output[0] in outs and n.input[0] in producer \
                and uses.get(n.input[0]) == 1 and n.input[0] not in outs:
            src = producer[n.input[0]]
            src.output[list(src.output).index(n.input[0])] = n.output[0]
            nodes.remove(n)

    dyn_in = {n: _dynamic(dynamic_axes, n, x.ndim) for x, n in zip(t.inputs, names)}
    any_dynamic = any(dyn_in.values())
    graph_inputs = [_value_info(onnx, n, x.shape, x._data.dtype, dyn_in[n])
                    for x, n in zip(t.inputs, names)]
    outputs = []
    for (name, v), o in zip(graph_outputs, t.outputs):
        dyn = _dynamic(dynamic_axes, name, o.ndim)
        outputs.append(_value_info(onnx, name, o.shape, o._data.dtype, dyn,
                                   unknown=any_dynamic and not dyn))
    # (ascontiguousarray makes a 0-d constant 1-d: reshaped back, a scalar stays a scalar)
    tensors = [numpy_helper.from_array(np.ascontiguousarray(a).reshape(np.shape(a)), k)
               for k, a in inits.items()]
    if keep_initializers_as_inputs:
        graph_inputs += [_value_info(onnx, k, a.shape, a.dtype, {}) for k, a in inits.items()]
    graph = onnx.helper.make_graph(nodes, type(model).__name__, graph_inputs, outputs,
                                   initializer=tensors)
    from .. import __version__
    proto = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
        producer_name="chainrule", producer_version=__version__)
    proto.ir_version = min(proto.ir_version, 10)  # what onnxruntime reads
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        # a bug of chainrule's, not of the model
        raise OnnxExporterError(f"onnx.export: the exported graph fails onnx's checker (a bug "
                                f"in chainrule.onnx; nothing was written): {e}") from None
    return proto


# torch.onnx.export's options of its dynamo exporter and of TorchScript's: accepted, no effect
_DYNAMO_OPTIONS = {"report", "optimize", "verify", "profile", "dump_exported_program",
                   "artifacts_dir", "custom_translation_table", "operator_export_type",
                   "custom_opsets", "export_modules_as_functions", "autograd_inlining"}


def export(model, args=(), f=None, *, kwargs=None, verbose=None, input_names=None,
           output_names=None, opset_version=None, dynamo=False, external_data=False,
           dynamic_shapes=None, export_params=True, keep_initializers_as_inputs=False,
           dynamic_axes=None, training=None, do_constant_folding=True, **ignored):
    """``chainrule.onnx.export``: see its docstring."""
    unknown = set(ignored) - _DYNAMO_OPTIONS
    if unknown:
        raise TypeError(f"onnx.export() got an unexpected keyword argument "
                        f"{sorted(unknown)[0]!r}")
    if kwargs:
        raise OnnxExporterError("onnx.export: kwargs= is not supported; pass the inputs in args")
    if dynamic_shapes is not None:
        raise OnnxExporterError("onnx.export: dynamic_shapes (the dynamo exporter's) is not "
                                "supported; use dynamic_axes={'input': {0: 'batch'}, ...}")
    if training not in (None, False, 0) and str(training) not in ("TrainingMode.EVAL", "0"):
        raise OnnxExporterError("onnx.export: only training=TrainingMode.EVAL is supported (the "
                                "model is exported as in eval mode)")
    if not export_params:
        raise OnnxExporterError("onnx.export: export_params=False is not supported; the "
                                "parameters are always written as initializers")
    proto = build_model(model, args, input_names, output_names, dynamic_axes, opset_version,
                        do_constant_folding, export_params, keep_initializers_as_inputs)
    data = proto.SerializeToString()
    if verbose:
        print(proto.graph)
    if f is None:
        return proto
    if isinstance(f, (str, os.PathLike)):
        atomic_write(f, lambda tmp: _write(tmp, data))
    elif isinstance(f, io.IOBase) or hasattr(f, "write"):
        f.write(data)
    else:
        raise TypeError(f"onnx.export: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
    return proto


def _write(path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
