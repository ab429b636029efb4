"""In-place ops inside a graph: ``y += 1``, ``y.relu_()``, ``y[mask] = 0``, ``y[1] += 1`` on a
tensor that is part of a graph, as PyTorch allows them.

The op is computed out of place from the tensor's old value, written into the tensor's memory,
and its node becomes the tensor's ``grad_fn`` (input 0 of that node is the old value, with the old
history). Nodes made before the change keep using the old history: when the engine follows an
edge to a tensor whose ``grad_fn`` is newer than the node it comes from, it walks back along the
in-place nodes to the history the node saw (``history_at``).

Views (``y[0:2]``, ``y.view(-1)``, ``y.T``) share their base's memory, so an in-place change of one
changes the other. Changing a view changes its base: the base is changed in place by an op that
writes the view's new values into it, and the view's history becomes a fresh view of the new
base. Changing a base leaves its views *stale*: a view used again afterwards gets a fresh history
too, when an op uses it (``fresh``), as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from . import state, versions


def rebase(self, op: str, fn, *args, **kwargs):
    """Change ``self`` in place to ``fn(old, *args, **kwargs)``, ``old`` a tensor holding self's
    current value and history (an argument that is ``self`` itself means ``old`` too); returns
    ``self``."""
    view = self.grad_fn
    if (view is not None and view.view  # a view of another tensor of the graph: change the base
            and versions._owner(self._data) is versions._owner(view.inputs[0]._data)):
        return _rebase_view(self, op, fn, args, kwargs)
    data = self._data
    if view is None and versions._owner(data) is not data:
        raise RuntimeError(
            f"{op}: this tensor shares its memory with another array (a view of a tensor that "
            "needs no gradient, or made by detach() or from_numpy); an in-place op that joins it "
            "to the graph would leave the other one out. clone() it first, or change the base")
    old = _make(data, view)
    new = fn(old, *(old if a is self else a for a in args), **kwargs)
    node = new.grad_fn
    if new._data.shape != data.shape:
        raise RuntimeError(f"{op}: output with shape {list(data.shape)} doesn't match the "
                           f"broadcast shape {list(new._data.shape)}")
    if node is None:  # nothing to record after all (e.g. the value is a constant)
        np.copyto(data, new._data, casting="unsafe")
        versions.bump(data)
        return self
    _keep_old(node, old)
    _unlink(node, self, old)
    np.copyto(data, new._data, casting="unsafe")
    versions.bump(data)
    node.saved = tuple(data if s is new._data else s for s in node.saved)  # its output is self now
    node.seq = _next_seq()  # made after the change it records
    _replaces(node, self)
    self.requires_grad = True
    state.rebased = True  # views of self, if any, are stale now
    return self


def _keep_old(node, old):
    """``node`` is about to have its input ``old`` overwritten: if it saved that memory, it
    keeps a copy instead (the values it saw)."""
    saved = getattr(node, "saved", ())
    data = old._data
    if any(s is not None and versions._owner(s) is versions._owner(data) for s in saved
           if isinstance(s, np.ndarray)):
        before = data.copy()
        node.saved = tuple(before if s is data else s for s in saved)
        old._data = before
    else:
        node.saved = saved


def _unlink(node, t, old):
    """The nodes made for this in-place op (``node``'s history, back to ``t``'s previous node)
    that take ``t`` itself as an input take ``old`` instead: the same value and history, and no
    cycle ``t`` → its new node → ... → them → ``t``, which only Python's cyclic collector would
    free (with all the arrays the graph saved)."""
    floor = old.grad_fn.seq if old.grad_fn is not None else -1
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        inputs = n.inputs
        if any(x is t for x in inputs):
            n.inputs = tuple(old if x is t else x for x in inputs)
        for x in inputs:
            fn = getattr(x, "grad_fn", None)
            if fn is not None and fn.seq > floor:
                stack.append(fn)


def _replaces(node, t):
    """``node`` becomes ``t``'s grad_fn in place of the one it had: nodes made earlier still see
    the old one (``history_at``)."""
    previous = t.grad_fn
    node.inplace = True
    node.replaced = previous
    if previous is not None and previous._retained is not None:  # retain_grad() follows t
        node._retained, previous._retained = previous._retained, None
    t.grad_fn = node


def _rebase_view(self, op, fn, args, kwargs):
    """``rebase`` of a view: compute the view's new value, write it into the base (an in-place
    op on the base, recorded), and give the view a fresh history on the new base."""
    view = self.grad_fn
    base = view.inputs[0]
    if base.requires_grad and base.grad_fn is None:
        raise RuntimeError(f"{op}: a view of a leaf Variable that requires grad is being used in "
                           "an in-place operation.")
    if type(view).op_name() == "expand":
        raise RuntimeError(f"{op}: unsupported operation: more than one element of the written-to "
                           "tensor refers to a single memory location (it is an expand() view); "
                           "clone() it first")
    old = _make(self._data, view)  # self's value and history now (self gets a new history below)
    new = fn(old, *(old if a is self else a for a in args), **kwargs)
    if new.grad_fn is not None:
        _keep_old(new.grad_fn, old)
    rebase(base, op, _write_view, view, new)
    _replaces(_again(view, base).grad_fn, self)
    self.requires_grad = True
    return self


def _write_view(base, view, value):
    """``base`` with the part that ``view`` (a view node of it) shows replaced by ``value``."""
    from ..ops.shape import IndexPut, Permute, View
    kind = type(view).op_name()
    if kind == "getitem":
        return IndexPut.apply(base, value, index=view.index)
    if kind == "view":
        value = View.apply(value, base._data.shape)
    elif kind == "permute":
        value = Permute.apply(value, tuple(np.argsort(view.dims)))
    return IndexPut.apply(base, value, index=...)


def _again(view, base):
    """The same view of ``base`` again: a tensor whose node is a fresh view node."""
    from ..ops.shape import Expand, GetItem, Permute, View
    kind = type(view).op_name()
    if kind == "getitem":
        return GetItem.apply(base, index=view.index)
    if kind == "view":
        return View.apply(base, view.out_shape)
    if kind == "permute":
        return Permute.apply(base, view.dims)
    return Expand.apply(base, view.out_shape)


def fresh(t):
    """Give ``t`` a fresh history if it is a stale view (its base changed in place, in a graph,
    after the view was made), as PyTorch does when a view is used again; returns ``t``."""
    view = t.grad_fn
    if view is not None and view.view:
        base = fresh(view.inputs[0])
        if (base.grad_fn is not None and base.grad_fn.seq > view.seq
                and versions._owner(t._data) is versions._owner(base._data)):  # (still a view:
            _replaces(_again(view, base).grad_fn, t)  # not a copy an in-place op kept of it)
    return t


def history_at(fn, seq, t=None):
    """The node that made a tensor as a node created at ``seq`` saw it: ``fn`` (the tensor
    ``t``'s grad_fn now) with the in-place nodes made after ``seq`` peeled off, and the history
    ``t`` had before a later ``detach_()``."""
    if fn is None:
        past = getattr(t, "_past", None)  # (grad_fn, when it was detached)
        if past is None or past[1] < seq:
            return None
        fn = past[0]
    while fn is not None and fn.seq > seq:
        if not fn.inplace:
            raise RuntimeError(f"{fn.name()}: the graph's creation order is inconsistent")
        fn = fn.replaced
    return fn


from .function import _next_seq  # noqa: E402
from ..tensor import _make  # noqa: E402
