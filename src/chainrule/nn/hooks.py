"""Module hooks, as PyTorch's: what ``Module.__call__`` runs when a module (or every module) has
hooks, and the full backward hooks' machinery.

A call with hooks runs, in order: the forward pre-hooks (global ones first; each may replace the
positional arguments, or with ``with_kwargs`` the arguments and keyword arguments), then
``forward``, then the forward hooks (each may replace the output). With backward hooks, the
module's input and output tensors pass through identity ops (``BackwardHook``), as PyTorch's
``BackwardHookFunction``, so that backward hands the hooks the gradients with respect to them.
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict

import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.hooks import RemovableHandle, checked
from ..tensor import Tensor, _make

# global hooks, run for every module before its own (torch.nn.modules.module's globals)
_global_forward_pre_hooks: dict = OrderedDict()
_global_forward_hooks: dict = OrderedDict()
_global_forward_hooks_with_kwargs: dict = OrderedDict()
_global_forward_hooks_always_called: dict = OrderedDict()
_global_backward_pre_hooks: dict = OrderedDict()
_global_backward_hooks: dict = OrderedDict()
_global_hook_ids: dict = {}  # the id of every global hook not removed
# The id of every hook not removed, global or on a live module: all Module.__call__ looks at. Once
# a module with hooks has been copied or unpickled, also COPIED, for good (no handle removes the
# copy's hooks from here).
_live_hooks: dict = {}
COPIED = "copied"
_tracked = weakref.WeakSet()  # modules whose hooks leave _live_hooks when they die


def _add_global(table: dict, hook, flags=()) -> RemovableHandle:
    handle = RemovableHandle(table, extra_dict=[_global_hook_ids, _live_hooks, *flags])
    table[handle.id] = _global_hook_ids[handle.id] = _live_hooks[handle.id] = hook
    for d in flags:
        d[handle.id] = True
    return handle


def register_module_forward_pre_hook(hook) -> RemovableHandle:
    """``hook(module, args) -> None or new args`` before every module's forward (before the
    module's own pre-hooks)."""
    return _add_global(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs: bool = False,
                                 always_call: bool = False) -> RemovableHandle:
    """``hook(module, args, output) -> None or new output`` after every module's forward (before
    the module's own forward hooks); ``always_call``: also when forward raised."""
    flags = ([_global_forward_hooks_with_kwargs] if with_kwargs else []) + (
        [_global_forward_hooks_always_called] if always_call else [])
    return _add_global(_global_forward_hooks, hook, flags)


def register_module_full_backward_pre_hook(hook) -> RemovableHandle:
    """``hook(module, grad_output) -> None or new grad_output`` for every module, before the
    module's own backward pre-hooks."""
    return _add_global(_global_backward_pre_hooks, hook)


def register_module_full_backward_hook(hook) -> RemovableHandle:
    """``hook(module, grad_input, grad_output) -> None or new grad_input`` for every module,
    before the module's own backward hooks."""
    return _add_global(_global_backward_hooks, hook)


def add_hook(module, table: str, hook, prepend: bool, flags=()) -> RemovableHandle:
    """Register ``hook`` in ``module``'s dict ``table``; ``flags``: dicts of per-hook options
    (with_kwargs, always_call) where it is set, and whose entry the handle also removes."""
    hooks = getattr(module, table)
    ids = module._hook_ids
    handle = RemovableHandle(hooks, extra_dict=[ids, _live_hooks, *flags])
    hooks[handle.id] = ids[handle.id] = _live_hooks[handle.id] = hook
    for d in flags:
        d[handle.id] = True
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    if module not in _tracked:
        _tracked.add(module)
        weakref.finalize(module, _forget, ids).atexit = False
    return handle


def _forget(ids: dict) -> None:
    for key in list(ids):
        _live_hooks.pop(key, None)


def copied(module) -> None:
    """``module`` was copied or unpickled: if it has hooks, Module.__call__ must look for them."""
    if module._hook_ids:
        _live_hooks[COPIED] = None


# -- a call with hooks ----------------------------------------------------------------------------

def call_with_hooks(module, args: tuple, kwargs: dict):
    """``module(*args, **kwargs)`` with its hooks and the global ones (PyTorch's _call_impl)."""
    if not (module._hook_ids or _global_hook_ids):  # (the hooks are another module's)
        return module.forward(*args, **kwargs)
    result = None
    called = set()  # always_call hooks that ran
    try:
        backward_pre = [*_global_backward_pre_hooks.values(), *module._backward_pre_hooks.values()]
        backward = [*_global_backward_hooks.values(), *module._backward_hooks.values()]
        for key, hook in (*_global_forward_pre_hooks.items(), *module._forward_pre_hooks.items()):
            if key in module._forward_pre_hooks_with_kwargs:
                new = hook(module, args, kwargs)
                if new is not None:
                    if not (isinstance(new, tuple) and len(new) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {new}.")
                    args, kwargs = new
            else:
                new = hook(module, args)
                if new is not None:
                    args = new if isinstance(new, tuple) else (new,)
        bw_hook = None
        if backward or backward_pre:
            bw_hook = BackwardHook(module, backward, backward_pre)
            args = bw_hook.setup_input_hook(args)
        result = module.forward(*args, **kwargs)
        for key, hook in (*_global_forward_hooks.items(), *module._forward_hooks.items()):
            if (key in module._forward_hooks_always_called
                    or key in _global_forward_hooks_always_called):
                called.add(key)
            if key in module._forward_hooks_with_kwargs or key in _global_forward_hooks_with_kwargs:
                new = hook(module, args, kwargs, result)
            else:
                new = hook(module, args, result)
            if new is not None:
                result = new
        if bw_hook is not None:
            if not isinstance(result, (Tensor, tuple)):
                warnings.warn("For backward hooks to be called, module output should be a Tensor "
                              f"or a tuple of Tensors but received {type(result)}", stacklevel=3)
            result = bw_hook.setup_output_hook(result)
        return result
    except Exception:
        # the always_call forward hooks that have not run, then the error
        for table, with_kwargs, always in (
                (_global_forward_hooks, _global_forward_hooks_with_kwargs,
                 _global_forward_hooks_always_called),
                (module._forward_hooks, module._forward_hooks_with_kwargs,
                 module._forward_hooks_always_called)):
            for key, hook in list(table.items()):
                if key not in always or key in called:
                    continue
                try:
                    new = (hook(module, args, kwargs, result) if key in with_kwargs
                           else hook(module, args, result))
                    if new is not None:
                        result = new
                except Exception as err:
                    warnings.warn("module forward hook with ``always_call=True`` raised an "
                                  "exception that was silenced as another error was raised in "
                                  f"forward: {err}", stacklevel=3)
        raise


# -- full backward hooks --------------------------------------------------------------------------

class BackwardHookGather(Function):
    """anchor = 0, made from the tensors a module takes (or returns) that require grad: each
    of them reaches the module through a ``BackwardHookFunction`` that also takes the anchor, so
    this node runs once every one of their gradients has arrived, and hands those gradients (as
    the module's hooks leave them) on to the tensors."""

    torch_promotion = False

    @staticmethod
    def forward(ctx, *tensors):
        return np.zeros((), tensors[0].dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return ctx.hook.gathered(ctx)


class BackwardHookFunction(Function):
    """y = x: the tensor as the module sees it (an input) or as its caller does (an output).
    Its gradient goes to the module's ``BackwardHook``, and on to x from the gather node."""

    torch_promotion = False

    @staticmethod
    def forward(ctx, x, anchor):
        return x

    @staticmethod
    def backward(ctx, grad_output):
        ctx.gather.arrived[ctx.index] = grad_output
        return None, np.zeros((), ctx.gather.dtype)


class BackwardHook:
    """One call of a module with backward hooks (PyTorch's torch.utils.hooks.BackwardHook): the
    backward pre-hooks get the gradients with respect to the outputs, the backward hooks those
    with respect to the inputs as well."""

    def __init__(self, module, hooks: list, pre_hooks: list) -> None:
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs = None
        self.n_inputs = self.n_outputs = -1
        self.input_index = self.output_index = None

    def _wrap(self, values: tuple, side: str):
        """``values`` with each tensor that requires grad passed through a BackwardHookFunction;
        and the indices of the tensors among them (None: nothing to wrap)."""
        index = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        wanted = [i for i in index if values[i].requires_grad]
        if not (wanted and is_grad_enabled()):
            return values, None
        anchor = BackwardHookGather.apply(*[values[i] for i in wanted])
        gather = anchor.grad_fn
        gather.hook, gather.side, gather.wanted, gather.arrived = self, side, wanted, {}
        gather.dtype = anchor._data.dtype
        # what a gradient that did not arrive is made of (PyTorch passes zeros for a tensor)
        gather.zeros = [(v._data.shape, v._data.dtype) if isinstance(v, Tensor) else None
                        for v in values]
        out = list(values)
        for i in wanted:
            out[i] = BackwardHookFunction.apply(values[i], anchor)
            out[i].grad_fn.gather, out[i].grad_fn.index = gather, i
        return (tuple(out) if type(values) is tuple else type(values)(*out)), index

    def setup_input_hook(self, args: tuple) -> tuple:
        if not self.hooks:  # only pre-hooks: the inputs' gradients are not needed
            return args
        self.n_inputs = len(args)
        args, self.input_index = self._wrap(args, "input")
        return args

    def setup_output_hook(self, result):
        single = not isinstance(result, tuple)
        values = (result,) if single else result
        self.n_outputs = len(values)
        values, self.output_index = self._wrap(values, "output")
        return values[0] if single else values

    def gathered(self, node) -> tuple:
        """The gradients for the wrapped tensors, once all have arrived at the gather ``node``."""
        graph = any(isinstance(g, Tensor) for g in node.arrived.values())
        arrived = {i: _as_tensor(g) for i, g in node.arrived.items()}
        node.arrived = {}
        if node.side == "output":
            grads = self._outputs_done(node, arrived)
        else:
            grads = self._inputs_done(node, arrived)
        out = []
        for i, t in zip(node.wanted, node.inputs):
            g = grads[i]
            if g is not None:  # PyTorch's message names its own hook, 'hook'
                g = checked("hook", g, t)
                g = g if graph else np.array(g._data if isinstance(g, Tensor) else g)
            out.append(g)
        return tuple(out)

    def _outputs_done(self, node, arrived: dict) -> tuple:
        grad_outputs = _replacing(self.pre_hooks, lambda hook, g: hook(self.module, g),
                                  tuple(arrived.get(i) for i in range(self.n_outputs)),
                                  "Backward pre hook", "grad_output")
        self.grad_outputs = grad_outputs
        if self.input_index is None and self.hooks:  # no input requires grad: fire now
            warnings.warn("Full backward hook is firing when gradients are computed with respect "
                          "to module outputs since no inputs require gradients.", stacklevel=2)
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                new = hook(self.module, grad_inputs, grad_outputs)
                if new is not None and not (isinstance(new, tuple)
                                            and all(g is None for g in new)):
                    raise RuntimeError("Backward hook for Modules where no input requires "
                                       "gradient should always return None or None for all "
                                       "gradients.")
            self.grad_outputs = None
        return grad_outputs

    def _inputs_done(self, node, arrived: dict) -> tuple:
        if self.grad_outputs is None:  # the gradient reached the inputs without the outputs
            return [arrived.get(i) for i in range(self.n_inputs)]
        # every tensor input gets a gradient: zeros where none arrived, as PyTorch materializes
        grad_inputs = tuple(
            arrived[i] if i in arrived else _as_tensor(np.zeros(*z)) if z is not None else None
            for i, z in enumerate(node.zeros))
        grad_outputs = self.grad_outputs
        grad_inputs = _replacing(self.hooks, lambda hook, g: hook(self.module, g, grad_outputs),
                                 grad_inputs, "Backward hook", "grad_input")
        self.grad_outputs = None
        return grad_inputs


def _replacing(hooks: list, call, grads: tuple, who: str, what: str) -> tuple:
    """``call(hook, grads)`` for each hook in turn; a value it returns (as many gradients)
    replaces ``grads``."""
    for hook in hooks:
        new = call(hook, grads)
        if new is None:
            continue
        if len(new) != len(grads):
            raise RuntimeError(f"{who} returned an invalid number of {what}, got {len(new)}, but "
                               f"expected {len(grads)}")
        grads = tuple(new)
    return grads


def _as_tensor(g) -> Tensor:
    return g if isinstance(g, Tensor) else _make(np.asarray(g), None)
