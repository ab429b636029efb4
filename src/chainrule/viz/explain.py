"""``explain``: the backward pass written out as the chain rule, one node at a time.

    z = h + 1 = 1.3679;  ∂f/∂h = ∂f/∂z · ∂z/∂h = -0.5344 · 1 = -0.5344

Each step shows the node's forward formula and value, then for each input the upstream gradient,
the local gradient and their product; where a value feeds several nodes the branches add, and
where an input was broadcast its gradient is summed back over the broadcast axes.

The graph of a gradient (``g, = autograd.grad(L, x, create_graph=True)``) is explained the same
way, the chain rule of the chain rule: its forward pass is L's backward pass as it was recorded,
its gradients are second derivatives (see ``recorded``).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

import numpy as np

from ..autograd import replay as R
from . import notation as N
from . import recorded
from .unrolled import Unrolled, describe, name_states


@dataclass
class GradTerm:
    """One input's share of the gradient at one step."""

    input: str                  # the input's name
    index: int                  # its position among the op's inputs
    value: np.ndarray           # the share, reduced to the input's shape
    local: str | None = None    # the local derivative as a formula ("exp(e)"), where simple
    local_value: np.ndarray | None = None  # ... and its value (elementwise ops)
    summed_axes: tuple = ()     # axes summed because the input was broadcast
    branch: tuple | None = None  # (k, n): the k-th of the n nodes this input feeds
    text: str = ""
    note: str = ""


@dataclass
class Step:
    """One node of the graph: its forward formula and value, and the gradients it passes back."""

    node: object
    op: str
    name: str                   # the name of the node's output
    formula: str                # "h + 1"
    value: np.ndarray           # the node's forward value
    upstream: np.ndarray | None  # ∂f/∂(this output), summed over its branches
    forward_text: str = ""      # "z = h + 1 = 0.3679 + 1 = 1.3679"
    constants: list = field(default_factory=list)  # ["c = -1  (a constant)"]: first used here
    branches: list = field(default_factory=list)  # [(consumer's name, share)] when > 1
    grads: list = field(default_factory=list)     # [GradTerm]
    text: str = ""


class Explanation(list):
    """The steps of the backward pass (a list of ``Step``), with ``text()`` and ``markdown()``."""

    def __init__(self, steps, output_name, leaves, skipped, precision=4, derivative=None,
                 one_line=None, refused=()):
        super().__init__(steps)
        self.refused = list(refused)  # [node name] whose saved values changed in place since
        self.precision = precision
        self.output_name = output_name
        self.leaves = leaves    # [(name, gradient or None, [shares])]
        self.skipped = skipped  # [why] for nodes that could not be run again
        self.derivative = derivative  # a recorded.Derivative when the output is a gradient
        self.one_line = one_line      # the output's formula in the leaves, when it is short
        self.time_steps = {}  # leaf name -> [names of what each step makes]: a loop's weight

    def text(self) -> str:
        f, d = self.output_name, self.derivative
        if d is None:
            lines = ["Forward pass"] + [f"  {line}" for s in reversed(self)
                                        for line in s.constants + [s.forward_text]]
            lines += ["", f"Backward pass (the chain rule, from {f} back to the inputs)"]
        else:
            lines = self._intro() + ["", self._forward_head()]
            parts = self._parts()
            for head, steps in parts:
                pad = "    " if head else "  "
                lines += [f"  {head}:"] if head else []
                for s in steps:
                    lines += [pad + c for c in s.constants] + [pad + s.forward_text]
            if self.one_line:
                lines.append(f"  in one line: {f} = {self.one_line}")
            lines += ["", f"Backward pass of {f} (the chain rule through those operations, from "
                      f"{f} back to the inputs)"]
        for s in self:
            lines += ["  " + line for line in s.text.split("\n")]
        lines += ["", self._gradients_head()] + [f"  {line}" for line in self._leaf_lines()]
        lines += [f"  (not shown: {why})" for why in self.skipped]
        lines += [f"  ({self._refused_note()})"] if self.refused else []
        return "\n".join(lines)

    def _refused_note(self) -> str:
        return (f"backward() raises on this graph instead: {', '.join(self.refused)} saved a value "
                "that was changed in place afterwards (these are the gradients with the value it "
                "saw)")

    def markdown(self) -> str:
        f, d = self.output_name, self.derivative
        if d is None:
            lines, parts = ["**Forward pass**", ""], [("", list(reversed(self)))]
        else:
            lines, parts = [" ".join(self._intro()), "", f"**{self._forward_head()}**", ""], \
                self._parts()
        k = 0
        for head, steps in parts:
            lines += [f"*{head}:*", ""] if head else []
            for s in steps:
                k += 1
                lines += [f"- `{c}`" for c in s.constants] + [f"{k}. `{s.forward_text}`"]
            lines += [""] if head else []
        if d is not None and self.one_line:
            lines += ([""] if lines[-1] else []) + [f"In one line: `{f} = {self.one_line}`"]
        if lines[-1]:
            lines.append("")
        lines += ["**Backward pass**" if d is None else f"**Backward pass of {f}**", ""]
        for k, s in enumerate(self, 1):
            parts = [f"`{p.strip()}`" if not p.strip().startswith("(") else f"*{p.strip()}*"
                     for p in s.text.replace(";  ", "\n").split("\n")]
            lines.append(f"{k}. " + "  \n   ".join(parts))
        lines += ["", f"**{self._gradients_head()}**", ""]
        lines += [f"- `{line}`" for line in self._leaf_lines()]
        lines += ["", f"*({self._refused_note()})*"] if self.refused else []
        return "\n".join(lines)

    # -- the graph of a gradient -----------------------------------------------------------------

    def _intro(self) -> list:
        """What the output of a gradient's graph is, and what its gradients are."""
        f, d = self.output_name, self.derivative
        by = f"{d.function_name}'s backward pass" if d.function is not None else "a backward pass"
        of = f" of {d.function_name}" if d.function is not None and d.order == 1 else ""
        how = (f": {by} computed it, and create_graph=True recorded how" if d.direct
               else f", which {by} computed; create_graph=True recorded how")
        lines = [f"{d.what(f)}{how}.",
                 f"The chain rule through that record gives the gradients of {f}: "
                 f"{recorded.ordinal(d.order + 1)} derivatives{of}."]
        if self and not N.is_scalar(self[0].value):
            lines.append(f"({f} is not a scalar: its gradients here are those of Σ {f}, as "
                         f"{f}.sum().backward() gives them.)")
        return lines

    def _forward_head(self) -> str:
        f, d = self.output_name, self.derivative
        if d.function is None:
            return f"Forward pass of {f} (the operations the backward pass recorded)"
        return f"Forward pass of {f}"

    def _parts(self) -> list:
        """[(heading, steps in forward order)] of a gradient's forward pass: in two parts when the
        function L is known, L's own forward pass and L's backward pass as it was recorded."""
        f, d = self.output_name, self.derivative
        steps = list(reversed(self))
        if d.function is None:
            return [("", steps)]
        L = d.function_name
        mine = [s for s in steps if s.node in d.forward]
        rest = [s for s in steps if s.node not in d.forward]
        computes = f" (it computes {d.equation(f)})" if d.direct else ", and what follows it"
        parts = [(f"{L}'s backward pass, as it was recorded{computes}", rest)]
        if mine:
            parts.insert(0, (f"{L}'s forward pass (the values its backward pass reuses)", mine))
        return parts

    def _second(self, name) -> str:
        """' = ∂²L/∂x²' after ∂g/∂x, where g = ∂L/∂x is a scalar."""
        d = self.derivative
        if d is None or not (d.function is not None and d.direct and d.wrt and d.order == 1
                             and self and N.is_scalar(self[0].value)):
            return ""
        L, x = d.function_name, N.whole(d.wrt)
        return f" = ∂²{L}/∂{x}²" if name == d.wrt else f" = ∂²{L}/∂{N.whole(name)}∂{x}"

    def _gradients_head(self) -> str:
        d = self.derivative
        if d is None:
            return "Gradients"
        return f"Gradients of {self.output_name} ({recorded.ordinal(d.order + 1)} derivatives)"

    def _leaf_lines(self):
        f, p = self.output_name, self.precision
        for name, g, shares in self.leaves:
            d_f = N.partial(f, name) + self._second(name)
            if g is None:
                yield f"{d_f} = unknown"
            elif len(shares) > 1:
                steps = self.time_steps.get(name)
                why = (describe(len(shares), steps) if steps
                       else f"the sum of its {len(shares)} branches")
                yield (f"{d_f} = " + N.plus([N.array(s, p) for s in shares])
                       + f" = {N.array(g, p)}   ({why})")
            else:
                yield f"{d_f} = {N.array(g, p)}"

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Explanation: {len(self)} steps of the backward pass of {self.output_name}>"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    _shown = False  # explain() printed or displayed it already

    def _ipython_display_(self):
        """As a cell's value: shown once, not again after ``explain`` showed it."""
        if self._shown:
            self._shown = False  # displayed again later, it shows
            return
        from IPython.display import Markdown, display
        display(Markdown(self.markdown()))


def explain(output, wrt=None, precision: int = 4, format: str = "text", names=None,
            file=None, expand_modules: bool = False) -> Explanation:
    """Walk the backward pass of ``output`` in order and write each step of the chain rule.

    ``wrt``: the tensors whose gradients you want (a tensor, a list, a dict name -> tensor or
    ``model.named_parameters()``); only the nodes between them and ``output`` are shown. Default:
    every leaf that requires grad. ``names``: a dict name -> tensor naming any tensor of the graph
    (others get letters; the output is ``f``). ``format``: "text" or "markdown" print to ``file``
    (default stdout); "steps" prints nothing. Returns the ``Explanation``, a list of ``Step``
    records, whose ``text()`` and ``markdown()`` give the printed forms.

    The gradients are those ``output.backward()`` computes (seeded with ones), found by running
    each node's backward again: calling ``explain`` before or after ``backward`` is the same, but
    call it before an optimizer step, which changes the parameters the graph refers to.

    In-place ops (``y.relu_()``, ``y += 1``, ``y[1:].add_(1)``) are told as they happened: every
    node with the inputs it saw, the value before the change under a name of its own, and the
    in-place node marked ``(in place: d overwrites b)``. A value that was overwritten and cannot
    be made again (no copy kept, a random op) is written ``?`` with the reason, and the gradients
    that need it ``unknown``: never the new values in place of the old.

    A gradient's graph (``create_graph=True``) is told as such: its output is ``g``, a first
    derivative; the seed of the backward pass that recorded it is written 1; its gradients are
    second derivatives. Name the function too (``names={"x": x, "L": loss}``) to see which ops
    were L's forward pass and which its backward pass, and the gradients of L the latter holds
    named ``∂L/∂h``::

        x = cr.tensor(2.0, requires_grad=True)
        (g,) = cr.autograd.grad(x ** 3, x, create_graph=True)
        cr.viz.explain(g, names={"x": x})   # g = 1 · (3 · x²) = 12;  ∂g/∂x = 12

    ``expand_modules``: False (the default) shows one step per op, a module's fused op (linear,
    conv2d, batch_norm, cross_entropy, softmax, ...) as one step with its rule; True opens each
    fused op into the primitive ops it stands for (linear as ``x @ Wᵀ`` then ``+ b``, the bias's
    gradient summed over the batch; cross-entropy as log_softmax, the pick of each row's target,
    the mean), with the same gradients at the leaves.
    """
    if format not in ("text", "markdown", "steps"):
        raise ValueError(f"explain: format must be 'text', 'markdown' or 'steps', got {format!r}")
    if expand_modules and getattr(output, "grad_fn", None) is not None:
        from .expand import counterpart, expand
        output, new, notes = expand(output)
        names = [(n, counterpart(new, t)) for n, t in N.named(names)[0]]
        pairs, tensors = N.named(wrt)
        wrt = ([(n, counterpart(new, t)) for n, t in pairs] if pairs
               else None if tensors is None else [counterpart(new, t) for t in tensors])
        return _explain(output, wrt, precision, format, names, file, notes)
    return _explain(output, wrt, precision, format, names, file)


def _explain(output, wrt, precision, format, names, file, notes=None) -> Explanation:
    """``explain``; ``notes``: id(tensor) -> what it is, for the constants an opened module made
    (listed before the step that first uses them)."""
    wrt_pairs, wanted = N.named(wrt)
    given = N.named(names)[0] + wrt_pairs
    tr = R.trace(output)
    deriv = recorded.derivative(tr.graph, output, given)
    direct = deriv is not None and deriv.direct
    nm = N.Names(given, output, ("g", "f", "y") if direct else ("f", "y", "L"))
    forward = list(reversed(tr.order))
    targets = None if wanted is None else {tr.key(t) for t in wanted}
    keep = _relevant(forward, targets, tr)
    fmt = _Fmt(precision, nm(output), deriv.seeds if deriv else ())
    name_states(nm, tr.graph)
    recorded.name_tensors(nm, tr.graph, deriv, fmt.numbers, keep)
    unrolled = Unrolled(tr.graph, {id(t): n for n, t in given})
    steps = [_step(node, tr, nm, fmt, keep, targets, unrolled) for node in tr.order
             if node in keep]
    if notes:
        _constants(steps, tr, nm, fmt, {id(t) for _, t in given}, notes)
    if deriv is not None:
        _constants(steps, tr, nm, fmt, {id(t) for _, t in given})
        for s in steps:
            if any(id(t) in fmt.numbers for t in tr.inputs(s.node)):
                s.forward_text += f"   ({deriv.seed_note()})"
    leaves, time_steps = _leaves(forward, tr, nm, wanted, unrolled)
    one_line = _one_line(output, tr, nm, fmt) if deriv is not None else None
    refused = [s.node.name() for s in reversed(steps) if s.node in tr.stale and s.grads]
    # a node that could not be run again says why in its step; the others, below the gradients
    skipped = [why for node, why in tr.skipped.items() if node not in keep]
    out = Explanation(steps, nm(output), leaves, skipped, precision, deriv, one_line, refused)
    out.time_steps = time_steps
    if format != "steps":
        out._shown = _show(out, format, file)
    return out


def _show(out, format, file) -> bool:
    """Print the explanation; in a Jupyter notebook, display it as Markdown instead (once: the
    cell's value, the same Explanation, then shows nothing)."""
    shell = sys.modules.get("IPython")
    shell = shell.get_ipython() if file is None and shell is not None else None
    if shell is not None and "IPKernelApp" in getattr(shell, "config", {}):
        from IPython.display import Markdown, display
        display(Markdown(out.markdown()))
    else:
        print(out.text() if format == "text" else out.markdown(), file=file or sys.stdout)
    return True


class _Fmt:
    def __init__(self, precision, f, numbers=()):
        self.p, self.f = precision, f
        self.numbers = set(numbers)  # ids of tensors written as their value (the seed, 1)

    def __call__(self, a) -> str:
        return "?" if a is None else N.array(a, self.p)  # None: a value not known

    def d(self, name) -> str:
        return N.partial(self.f, name)


def _constants(steps, tr, nm, fmt, given, notes=None):
    """In a gradient's graph, the values of the constants a recorded backward pass made (``c =
    -1``), each listed before the step that first uses it: those are not the caller's, so the
    names they got say nothing. ``notes``: only those constants, each with what it is."""
    seen = set()
    for s in reversed(steps):
        for i, t in enumerate(tr.inputs(s.node)):
            if (hasattr(t, "grad_fn") and t.grad_fn is None and not t.requires_grad
                    and id(t) not in seen | given | fmt.numbers
                    and (notes is None or id(t) in notes)):
                seen.add(id(t))
                value = tr.graph.input_value(s.node, i)
                why = "a constant" if notes is None else notes[id(t)]
                s.constants.append(f"{nm(t)} = {fmt(value)}   ({why})")


def _relevant(forward, targets, tr):
    """The nodes on some path from a target to the output (all of them without targets)."""
    if targets is None:
        return set(forward)
    keep = set()
    for node in forward:
        if any(hasattr(t, "grad_fn") and (tr.key(t) in targets or t.grad_fn in keep)
               for t in tr.inputs(node)):
            keep.add(node)
    return keep


def _step(node, tr, nm, fmt, keep, targets, unrolled=None) -> Step:
    out, inputs, value = tr.made[node], tr.inputs(node), tr.graph.value(node)
    name, names = nm(out), N.operands(inputs, nm, fmt.p, fmt.numbers, node)
    formula = N.formula(node, names)
    upstream = tr.grad.get(node)
    step = Step(node, N.op_of(node), name, formula, value, upstream)
    step.forward_text = _forward_text(node, name, formula, value, tr, nm, fmt)
    lines = []
    shares = tr.branches.get(node, [])
    if len(shares) > 1 and upstream is not None:
        made = unrolled.steps(shares) if unrolled is not None else None
        uses = unrolled.order(shares) if made is not None else list(reversed(shares))
        parts = [(nm(tr.made[c]), tr.edges[c, i][1]) for c, i in uses]
        step.branches = parts
        why = (describe(len(parts), [nm(t) for t in made]) if made is not None
               else f"the sum of its {len(parts)} branches: via " + ", ".join(n for n, _ in parts))
        lines.append(f"{fmt.d(name)} = " + N.plus([fmt(g) for _, g in parts])
                     + f" = {fmt(upstream)}   ({why})")
    head = f"{name} = {formula} = {fmt(value)};  "
    if len(head) > 40:  # a tensor: the gradients go below
        lines.append(head[:-3])
        head = "    "
    for i, t in enumerate(inputs):
        if (node, i) not in tr.edges:
            continue
        if targets is not None and tr.key(t) not in targets and t.grad_fn not in keep:
            continue  # leads to none of the tensors asked about
        term = _term(node, i, t, tr, nm, fmt, names, is_root=node is tr.order[0])
        found = unrolled.step(tr.branches.get(tr.key(t), []), (node, i)) if unrolled else None
        if found is not None:  # one use of a loop's weight: say which step
            term.text += f"   (time step {found[0]} of {found[1]}, making {nm(found[2])})"
        step.grads.append(term)
        lines.append((head if len(step.grads) == 1 else " " * len(head)) + term.text)
        if term.note:
            lines.append(" " * len(head) + term.note)
    if (step.grads and step.op not in N.ELEMENTWISE | {"matmul", "sum", "mean", "getitem"}
            and not formula.endswith("ᵀ") and _maths(node) is None and N.rule(node)):
        lines.append(" " * len(head) + f"({step.op}: {N.rule(node)})")
    if not step.grads:
        why = _why(tr.skipped.get(node), node, names) or ("unknown: a node after it could not be run again"
                                       if node in tr.blocked else "no gradient flows back here")
        lines.append(head + f"({why})")
    if node in tr.stale and step.grads:
        lines.append(" " * len(head) + "(backward() raises here: this op saved a value that was "
                     "changed in place afterwards; the gradients above use the value it saw)")
    step.text = "\n".join(lines)
    return step


def _why(why, node, names) -> str | None:
    """The reason a node could not be run again, with the explanation's names for its inputs,
    and, for a value an optimizer step changed, what to do instead."""
    if why is None:
        return None
    found = re.match(rf"{re.escape(node.name())}: input (\d+) ", why)
    if found is None:
        return why
    name = names[int(found.group(1))]
    if "after the op used it" in why:
        return (f"unknown: {name} was changed in place after this step used it, by an optimizer "
                f"step or under no_grad, and its old value was not kept; call explain before "
                f"optimizer.step()")
    return f"unknown: {name}" + why[found.end() - 1:]


def _forward_text(node, name, formula, value, tr, nm, fmt) -> str:
    text = f"{name} = {formula}"
    values = [tr.graph.input_value(node, i) for i in range(len(node.inputs))]
    operands = [v for a, v in zip(node.inputs, values) if hasattr(a, "grad_fn")]
    if (operands and all(v is not None and N.is_scalar(v) for v in operands)
            and N.op_of(node) in N.FORMULA):
        nums = [fmt(v) if hasattr(a, "grad_fn") else N.constant(a, fmt.p)
                for a, v in zip(node.inputs, values)]
        with_numbers = N.formula(node, nums)
        if with_numbers not in (formula, fmt(value)):
            text += f" = {with_numbers}"
    text += f" = {fmt(value)}"
    if value is None:
        text += "   (changed in place afterwards, and not kept)"
    over = tr.inputs(node)[0] if node.inputs else None
    if (getattr(node, "inplace", False) and not getattr(node, "view", False)
            and getattr(over, "grad_fn", 0) is node.replaced):
        text += f"   (in place: {name} overwrites {nm(over)})"
    return text


def _term(node, i, t, tr, nm, fmt, names, is_root) -> GradTerm:
    raw, share = tr.edges[node, i]
    x, y = nm(t), nm(tr.made[node])
    wanted = tr.graph.wanted(node)
    op = N.op_of(node)
    up = tr.grad[node]
    key = tr.key(t)
    n = len(tr.branches.get(key, []))
    branch = (tr.branches[key].index((node, i)) + 1, n) if n > 1 else None
    lhs = f"{fmt.d(x)} {'+=' if branch else '='} "
    term = GradTerm(x, i, share, branch=branch)
    seeded = is_root and np.size(up) > 0 and bool(np.all(np.asarray(up) == 1))  # the seed, ones
    scalar = N.is_scalar(up) and N.is_scalar(raw)
    upstream = "" if seeded else fmt.d(y)
    if op in N.ELEMENTWISE:
        local_raw = R.backward(node, tr.contexts[node], np.ones_like(up), wanted)[i][0]
        term.local, term.local_value = N.local(node, i, names), local_raw
        value = fmt(local_raw.reshape(-1)[0] if np.all(local_raw == local_raw.reshape(-1)[0])
                    else local_raw)
        local = [term.local] if term.local and term.local != value else []
        if scalar:  # every number written out: -0.5344 · 0.3679
            up_value = "" if seeded else f"{fmt(up)} · "
            chain = ([] if seeded else [f"{upstream} · {N.partial(y, x)}"])
            chain += [up_value + (_factor(s) if up_value else s) for s in local + [value]]
        else:  # tensors: the rule, then the result
            chain = [f"{upstream} ⊙ {_factor(s)}" for s in [N.partial(y, x)] + (local or [value])]
            if (len(node.inputs) == 1 and term.local and 1 < local_raw.size <= 4
                    and local_raw.shape == np.shape(up)):  # a small vector: its Jacobian
                jac = np.diag(np.asarray(local_raw, np.float64).reshape(-1))
                term.note = (f"(the Jacobian ∂{y}/∂{x} is diagonal, diag({term.local}) = "
                             f"{fmt(jac)}: each entry of {y} depends on its own entry of {x}, "
                             f"so ⊙ is the product with it)")
    elif op == "matmul":
        other = names[1 - i] or "B"
        term.local = (f"{fmt.d(y)} @ {N.whole(other)}ᵀ" if i == 0
                      else f"{N.whole(other)}ᵀ @ {fmt.d(y)}")
        chain = [term.local]
    elif op == "getitem" and i == 0:
        term.local = N.getitem_rule(node, x, upstream or "1")
        chain = [term.local]
    elif op == "permute" and i == 0 and N.formula(node, names).endswith("ᵀ"):
        term.local = f"({upstream})ᵀ" if upstream else "1ᵀ"
        chain = [term.local]
    elif op in ("sum", "mean"):
        n = np.size(t._data) // max(np.size(up), 1)
        term.local = "1" if op == "sum" else f"1/{n}"
        what = (upstream or "1") if op == "sum" else (f"{upstream} / {n}" if upstream else f"1/{n}")
        chain = [f"{what}, copied to every entry of {x} {N.shape(t.shape)}"]
    elif (maths := _maths(node)) is not None and i < len(maths) and maths[i]:
        g = upstream or "1"
        term.local = maths[i].format(*[N.whole(n) if n else "?" for n in names], g=g, y=y,
                                     for_s="" if y == "s" else f" for s = {y}")
        if not upstream:  # the output itself: ∂f/∂f = 1 drops out of the product
            term.local = term.local.replace(" · 1 /", " /")
        chain = [term.local] + _numbers(op, i, node, tr, raw, fmt)
    else:
        chain = [f"{op} backward of {upstream or 1}"]
    if raw.shape != share.shape:
        axes = _summed_axes(raw.shape, share.shape)
        term.summed_axes = axes
        where = f"axis {axes[0]}" if len(axes) == 1 else f"axes {axes}"
        chain = [f"Σ over {where} of ({c})" for c in chain]
        batch = " (the batch axis)" if axes[0] == 0 and raw.ndim > share.ndim else ""
        term.note = (f"({x} {N.shape(share.shape)} was broadcast to {N.shape(raw.shape)} in "
                     f"{y} = {N.formula(node, names)}: each copy gets a gradient, so {x}'s "
                     f"gradient is their sum over {where}{batch})")
        rows = np.reshape(raw, (raw.shape[0], -1)) if axes == (0,) else None
        if rows is not None and 1 < len(rows) <= 6 and rows.shape[1] <= 6:  # the sum, in numbers
            chain.append(N.plus([fmt(r.reshape(share.shape)) for r in rows]))
    chain.append(fmt(share))
    term.text = lhs + " = ".join(_dedupe(chain))
    return term


# op -> ∂L/∂(input i) in maths, in the inputs' names {0}, {1}, ..., the upstream gradient {g}
# (∂L/∂y) and the output's name {y}; None: no gradient flows to that input
MATHS = {
    "linear": ("{g} @ {1}", "({g})ᵀ @ {0}", "Σ over the batch of {g}"),
    "conv2d": ("{g} convolved with the flipped kernel {1} (a transposed convolution)",
               "the cross-correlation of {0} with {g}",
               "Σ of {g} over the batch and every position"),
    "max_pool2d": ("{g} routed to the max of each window of {0}, 0 elsewhere",),
    "avg_pool2d": ("{g} shared out evenly over each window of {0}",),
    "softmax": ("Jᵀ {g}, J = diag(s) − s sᵀ{for_s}: s ⊙ ({g} − Σ {g} ⊙ s)",),
    "log_softmax": ("{g} − softmax({0}) · Σ {g}",),
    "cross_entropy": ("(softmax({0}) − one-hot({1})) · {g} / N, N the batch size",),
    "binary_cross_entropy_with_logits": ("(σ({0}) − {1}) · {g} / N, N the number of entries",),
    "binary_cross_entropy": ("({0} − {1}) / ({0} (1 − {0})) · {g} / N, N the number of entries",),
    "mse_loss": ("2 ({0} − {1}) · {g} / N", "−2 ({0} − {1}) · {g} / N"),
    "batch_norm": ("(γ/σ) ⊙ ({g} − mean({g}) − x̂ ⊙ mean({g} ⊙ x̂)), x̂ = ({0} − μ)/σ over the "
                   "batch", None, None, "Σ over the batch of {g} ⊙ x̂",
                   "Σ over the batch of {g}"),
}
MATHS["conv1d"], MATHS["max_pool1d"], MATHS["avg_pool1d"] = (
    MATHS["conv2d"], MATHS["max_pool2d"], MATHS["avg_pool2d"])


def _maths(node) -> tuple | None:
    """The node's row of ``MATHS``. A one-step rnn (an ``RNNCell``: y = act(gx + h W_hhᵀ +
    b_hh)) has its own, with act' written from the output y; the whole time loop keeps its rule."""
    op = N.op_of(node)
    if op != "rnn":
        return MATHS.get(op)
    options = R.options(node)
    if len(options.get("batch_sizes", ())) != 1:
        return None
    da = "{g} ⊙ " + ("[{y} > 0]" if options.get("nonlinearity") == "relu" else "(1 − {y}²)")
    return da, f"({da}) @ {{2}}", f"({da})ᵀ @ {{1}}", f"Σ over the batch of {da}"


def _numbers(op, i, node, tr, raw, fmt) -> list:
    """The numbers behind a composite op's gradient, where they are few: softmax's Jacobian as
    a matrix, cross-entropy's softmax and one-hot."""
    if op == "softmax" and N.is_scalar(node.inputs[1]) and tr.graph.value(node) is not None:
        s = np.asarray(tr.graph.value(node))
        if s.ndim <= 2 and s.shape[-1] <= 4 and s.size // s.shape[-1] == 1:
            s = s.reshape(-1)
            return [f"Jᵀ {fmt(np.asarray(tr.grad[node]).reshape(-1))} with J = "
                    f"{fmt(np.diag(s) - np.outer(s, s))}"]
    if op == "linear" and i == 2:  # the bias: one row of ∂L/∂y per example, summed
        g = np.asarray(tr.grad[node])
        g = g.reshape(-1, g.shape[-1]) if g.ndim else g.reshape(1, 1)
        if 1 < len(g) <= 6 and g.shape[1] <= 6:
            return [N.plus([fmt(row) for row in g])]
    if op == "cross_entropy" and i == 0:
        z, y = tr.graph.input_value(node, 0), tr.graph.input_value(node, 1)
        if z is not None and y is not None and np.size(z) <= 12 and np.ndim(y) == 1:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            hot = np.eye(z.shape[1], dtype=z.dtype)[np.asarray(y)]
            g = tr.grad[node]
            times = "" if N.is_scalar(g) and float(np.reshape(g, -1)[0]) == 1 else f" · {fmt(g)}"
            return [f"({fmt(e / e.sum(axis=1, keepdims=True))} − {fmt(hot)}){times} / {len(y)}"]
    return []


def _factor(s: str) -> str:
    """A local derivative as a factor of a product: ``(1 - tanh²(x))``, ``(-0.1111)``."""
    return f"({s})" if N.compound(s) or s.startswith("-") else s


def _one_line(output, tr, nm, fmt, limit: int = 80) -> str | None:
    """The output's formula written out down to the leaves (``1 · (3 · x²)``), when the graph
    has more than one node and the formula is at most ``limit`` characters."""
    if not 1 < len(tr.order) <= 12:
        return None
    memo = {}

    def expr(t):  # (text, precedence)
        if t.grad_fn is None or id(t) in fmt.numbers:
            return ("1" if id(t) in fmt.numbers else nm(t)), N.ATOM
        if id(t) not in memo:
            parts = [expr(a) if hasattr(a, "grad_fn") else (
                None if isinstance(a, (bool, str, tuple, type(None), slice))
                else N.constant(a, fmt.p) or "const", N.ATOM) for a in tr.inputs(t.grad_fn)]
            memo[id(t)] = N.nested(t.grad_fn, parts)
        return memo[id(t)]

    text = expr(output)[0]
    return text if len(text) <= limit else None


def _dedupe(parts):
    out = []
    for p in parts:
        if not out or out[-1] != p:
            out.append(p)
    return out


def _summed_axes(big, small) -> tuple:
    lead = len(big) - len(small)
    return tuple(range(lead)) + tuple(i + lead for i, n in enumerate(small)
                                      if n == 1 and big[i + lead] != 1)


def _leaves(forward, tr, nm, wanted, unrolled=None):
    """(name, gradient, shares) for the wanted tensors, or every leaf that requires grad; and
    name -> [what each step makes] for those a loop used once per time step."""
    if wanted is not None:
        targets = wanted
    else:
        seen, targets = set(), []
        for node in forward:
            for t in tr.inputs(node):
                if R.wants_grad(t) and t.grad_fn is None and id(t) not in seen:
                    seen.add(id(t))
                    targets.append(t)
    rows, steps = [], {}
    for t in targets:
        uses = list(reversed(tr.branches.get(tr.key(t), [])))
        made = unrolled.steps(uses) if unrolled is not None else None
        if made is not None:  # the shares in the order of the steps
            uses = unrolled.order(uses)
            steps[nm(t)] = [nm(m) for m in made]
        rows.append((nm(t), tr.grad.get(tr.key(t)), [tr.edges[u][1] for u in uses]))
    return rows, steps
