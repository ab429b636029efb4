"""One forward pass of a module, recorded for export: the graph's nodes in creation order, what
each node's inputs were, and which module made each node.

The pass runs in eval mode with the floating-point inputs requiring grad, so that every op that
touches them is recorded as a node of the autograd graph (the op's class and its positional and
keyword arguments: all an exporter needs). Forward pre-hooks and hooks on every submodule note
the span of node numbers each module's forward made, so a node is named by the innermost module
that made it; a module whose output left the recorded graph is refused, naming it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from ..autograd.function import _next_seq
from ..autograd.grad_mode import enable_grad
from ..autograd.replay import Graph
from ..tensor import Tensor
from .errors import OnnxExporterError


@dataclass
class Trace:
    inputs: list            # the traced input tensors, in order
    outputs: list           # the output tensors, in order
    nodes: list             # graph nodes, in creation order
    made: dict              # node -> the tensor it made
    node_inputs: dict       # node -> its inputs as it saw them (tensors: ``made`` of their node)
    producer: dict          # id(tensor) -> the node that made it, for every ``made`` tensor
    spans: list = field(default_factory=list)  # (first seq, last seq, path, type name)

    def module_of(self, node) -> tuple[str, str]:
        """The innermost module whose forward made ``node``: (path, class name); ("", "") when
        it was made outside any submodule's forward."""
        seq, best = getattr(node, "seq", None), ("", "")
        best_start = -1
        for start, end, path, kind in self.spans:
            if seq is not None and start < seq < end and start > best_start:
                best, best_start = (path, kind), start
        return best


def arguments(node) -> dict:
    """The node's forward arguments by name (positional inputs and keyword options, defaults
    filled in), as its op's ``forward`` declares them."""
    forward = type(node).forward
    params = list(inspect.signature(forward).parameters.values())
    if params and params[0].name == "ctx":
        params = params[1:]
    values = list(node.inputs)
    kwargs = dict(getattr(node, "kwargs", None) or {})
    bound = {}
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            bound[p.name] = tuple(values)
            values = []
        elif p.kind is p.VAR_KEYWORD:
            bound.update(kwargs)
            kwargs = {}
        elif values and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            bound[p.name] = values.pop(0)
        elif p.name in kwargs:
            bound[p.name] = kwargs.pop(p.name)
        elif p.default is not p.empty:
            bound[p.name] = p.default
    return bound


_state = {"exporting": 0}


def exporting() -> bool:
    """True while ``export`` runs a model's forward (``torch.onnx.is_in_onnx_export``)."""
    return _state["exporting"] > 0


def _tensors(obj) -> list:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def trace(model, args: tuple) -> Trace:
    """Run ``model(*args)`` once in eval mode and record what the graph holds."""
    inputs = [a.detach().requires_grad_(a.is_floating_point()) if isinstance(a, Tensor) else a
              for a in args]
    spans, stack, handles = [], [], []

    def pre(path, kind):
        def hook(module, _args):
            stack.append((_next_seq(), path, kind))
        return hook

    def post(path, kind):
        def hook(module, module_args, output):
            start, _, _ = stack.pop()
            spans.append((start, _next_seq(), path, kind))
            recorded = any(t.requires_grad for t in _tensors(module_args))
            for t in _tensors(output):
                if recorded and t.is_floating_point() and not t.requires_grad:
                    raise OnnxExporterError(
                        f"module '{path}' ({kind}) returned a tensor made outside the recorded "
                        f"graph (shape {tuple(t.shape)}): its forward computes with something "
                        f"chainrule does not record (NumPy on .numpy(), .detach(), no_grad), so "
                        f"the export could not follow it")
        return hook

    for path, module in model.named_modules():
        if not path:
            continue
        kind = type(module).__name__
        handles.append(module.register_forward_pre_hook(pre(path, kind)))
        handles.append(module.register_forward_hook(post(path, kind)))
    was_training = [(m, m.training) for m in model.modules()]
    frozen = [p for p in model.parameters() if not p.requires_grad and p.is_floating_point()]
    model.eval()
    _state["exporting"] += 1
    try:
        for p in frozen:  # recorded too (an Embedding's frozen table with integer inputs)
            p.requires_grad_(True)
        with enable_grad():
            out = model(*inputs)
    finally:
        _state["exporting"] -= 1
        for p in frozen:
            p.requires_grad_(False)
        for h in handles:
            h.remove()
        for m, mode in was_training:
            m.training = mode
    outputs = _tensors(out)
    if not outputs:
        raise OnnxExporterError(f"the model returned {type(out).__name__}, not a tensor or a "
                                f"tuple of tensors: nothing to export")
    ids = {id(x) for x in inputs} | {id(p) for p in model.parameters()}
    for k, t in enumerate(outputs):
        if t.grad_fn is None and id(t) not in ids:
            raise OnnxExporterError(
                f"output {k} of the model (shape {tuple(t.shape)}) was made outside the "
                f"recorded graph (no op that chainrule records leads to it from the inputs): "
                f"exported, it would be a constant")
    made, node_inputs, nodes, producer, kept = {}, {}, {}, {}, []
    for t in outputs:
        if t.grad_fn is None:
            continue
        g = Graph(t)
        for node in g.order:
            kept.append(g.made[node])  # keeps every id in producer alive
            producer[id(g.made[node])] = node
            if node not in nodes:
                nodes[node] = None
                made[node] = g.made[node]
                node_inputs[node] = g.inputs(node)
        producer[id(t)] = t.grad_fn
    order = sorted(nodes, key=lambda n: n.seq)
    result = Trace(inputs, outputs, order, made, node_inputs, producer, spans)
    result.kept = kept
    return result
