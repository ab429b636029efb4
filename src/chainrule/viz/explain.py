"""``explain``: the backward pass written out as the chain rule, one node at a time.

    z = h + 1 = 1.3679;  ∂f/∂h = ∂f/∂z · ∂z/∂h = -0.5344 · 1 = -0.5344

Each step shows the node's forward formula and value, then for each input the upstream gradient,
the local gradient and their product; where a value feeds several nodes the branches add, and
where an input was broadcast its gradient is summed back over the broadcast axes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from ..autograd import replay as R
from . import notation as N


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
    branches: list = field(default_factory=list)  # [(consumer's name, share)] when > 1
    grads: list = field(default_factory=list)     # [GradTerm]
    text: str = ""


class Explanation(list):
    """The steps of the backward pass (a list of ``Step``), with ``text()`` and ``markdown()``."""

    def __init__(self, steps, output_name, leaves, skipped, precision=4):
        super().__init__(steps)
        self.precision = precision
        self.output_name = output_name
        self.leaves = leaves    # [(name, gradient or None, [shares])]
        self.skipped = skipped  # [why] for nodes that could not be run again

    def text(self) -> str:
        f = self.output_name
        lines = ["Forward pass"] + [f"  {s.forward_text}" for s in reversed(self)]
        lines += ["", f"Backward pass (the chain rule, from {f} back to the inputs)"]
        for s in self:
            lines += ["  " + line for line in s.text.split("\n")]
        lines += ["", "Gradients"] + [f"  {line}" for line in self._leaf_lines()]
        lines += [f"  (not shown: {why})" for why in self.skipped]
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = ["**Forward pass**", ""]
        lines += [f"{k}. `{s.forward_text}`" for k, s in enumerate(reversed(self), 1)]
        lines += ["", "**Backward pass**", ""]
        for k, s in enumerate(self, 1):
            parts = [f"`{p.strip()}`" if not p.strip().startswith("(") else f"*{p.strip()}*"
                     for p in s.text.replace(";  ", "\n").split("\n")]
            lines.append(f"{k}. " + "  \n   ".join(parts))
        lines += ["", "**Gradients**", ""] + [f"- `{line}`" for line in self._leaf_lines()]
        return "\n".join(lines)

    def _leaf_lines(self):
        f, p = self.output_name, self.precision
        for name, g, shares in self.leaves:
            if g is None:
                yield f"∂{f}/∂{name} = unknown"
            elif len(shares) > 1:
                yield (f"∂{f}/∂{name} = " + " + ".join(N.array(s, p) for s in shares)
                       + f" = {N.array(g, p)}   (the sum of its {len(shares)} branches)")
            else:
                yield f"∂{f}/∂{name} = {N.array(g, p)}"

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Explanation: {len(self)} steps of the backward pass of {self.output_name}>"

    def _repr_markdown_(self) -> str:
        return self.markdown()


def explain(output, wrt=None, precision: int = 4, format: str = "text", names=None,
            file=None) -> Explanation:
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
    """
    if format not in ("text", "markdown", "steps"):
        raise ValueError(f"explain: format must be 'text', 'markdown' or 'steps', got {format!r}")
    wrt_pairs, wanted = N.named(wrt)
    nm = N.Names(N.named(names)[0] + wrt_pairs, output)
    tr = R.trace(output)
    forward = list(reversed(tr.order))
    targets = None if wanted is None else {id(t) for t in wanted}
    keep = _relevant(forward, targets)
    for node in forward:  # letters in the order the forward pass made the tensors
        if node in keep:
            for t in node.inputs:
                if hasattr(t, "grad_fn"):
                    nm(t)
            nm(tr.made[node])
    fmt = _Fmt(precision, nm(output))
    steps = [_step(node, tr, nm, fmt, keep, targets) for node in tr.order if node in keep]
    leaves = _leaves(forward, tr, nm, wanted)
    out = Explanation(steps, nm(output), leaves, list(tr.skipped.values()), precision)
    if format != "steps":
        print(out.text() if format == "text" else out.markdown(), file=file or sys.stdout)
    return out


class _Fmt:
    def __init__(self, precision, f):
        self.p, self.f = precision, f

    def __call__(self, a) -> str:
        return N.array(a, self.p)

    def d(self, name) -> str:
        return f"∂{self.f}/∂{name}"


def _relevant(forward, targets):
    """The nodes on some path from a target to the output (all of them without targets)."""
    if targets is None:
        return set(forward)
    keep = set()
    for node in forward:
        if any(id(t) in targets or getattr(t, "grad_fn", None) in keep for t in node.inputs):
            keep.add(node)
    return keep


def _input_names(node, nm, fmt):
    names = []
    for a in node.inputs:
        if hasattr(a, "grad_fn"):
            names.append(nm(a))
        elif isinstance(a, (bool, str, tuple, type(None), slice)):
            names.append(None)  # an option of the op, not an operand
        elif isinstance(a, (int, float, np.number)):
            names.append(fmt(a))
        else:
            names.append("const")
    return names


def _step(node, tr, nm, fmt, keep, targets) -> Step:
    out = tr.made[node]
    name, names = nm(out), _input_names(node, nm, fmt)
    formula = N.formula(node, names)
    upstream = tr.grad.get(node)
    step = Step(node, N.op_of(node), name, formula, out.data, upstream)
    step.forward_text = _forward_text(node, name, formula, out, fmt)
    lines = []
    shares = tr.branches.get(node, [])
    if len(shares) > 1 and upstream is not None:
        parts = [(nm(tr.made[c]), tr.edges[c, i][1]) for c, i in reversed(shares)]
        step.branches = parts
        lines.append(f"{fmt.d(name)} = " + " + ".join(fmt(g) for _, g in parts)
                     + f" = {fmt(upstream)}   (the sum of its {len(parts)} branches: via "
                     + ", ".join(n for n, _ in parts) + ")")
    head = f"{name} = {formula} = {fmt(out.data)};  "
    if len(head) > 40:  # a tensor: the gradients go below
        lines.append(head[:-3])
        head = "    "
    for i, t in enumerate(node.inputs):
        if (node, i) not in tr.edges:
            continue
        if targets is not None and id(t) not in targets and t.grad_fn not in keep:
            continue  # leads to none of the tensors asked about
        term = _term(node, i, t, tr, nm, fmt, names, is_root=node is tr.order[0])
        step.grads.append(term)
        lines.append((head if len(step.grads) == 1 else " " * len(head)) + term.text)
        if term.note:
            lines.append(" " * len(head) + term.note)
    if step.grads and step.op not in N.ELEMENTWISE | {"matmul", "sum", "mean"} and N.rule(node):
        lines.append(" " * len(head) + f"({step.op}: {N.rule(node)})")
    if not step.grads:
        why = tr.skipped.get(node) or ("unknown: a node after it could not be run again"
                                       if node in tr.blocked else "no gradient flows back here")
        lines.append(head + f"({why})")
    step.text = "\n".join(lines)
    return step


def _forward_text(node, name, formula, out, fmt) -> str:
    text = f"{name} = {formula}"
    operands = [a for a in node.inputs if hasattr(a, "grad_fn")]
    if operands and all(N.is_scalar(a.data) for a in operands) and N.op_of(node) in N.FORMULA:
        nums = [fmt(a.data) if hasattr(a, "grad_fn") else (fmt(a) if isinstance(a, (int, float))
                else None) for a in node.inputs]
        with_numbers = N.formula(node, nums)
        if with_numbers not in (formula, fmt(out.data)):
            text += f" = {with_numbers}"
    return text + f" = {fmt(out.data)}"


def _term(node, i, t, tr, nm, fmt, names, is_root) -> GradTerm:
    raw, share = tr.edges[node, i]
    x, y = nm(t), nm(tr.made[node])
    op = N.op_of(node)
    up = tr.grad[node]
    key = tr.key(t)
    n = len(tr.branches.get(key, []))
    branch = (tr.branches[key].index((node, i)) + 1, n) if n > 1 else None
    lhs = f"{fmt.d(x)} {'+=' if branch else '='} "
    term = GradTerm(x, i, share, branch=branch)
    seeded = is_root and N.is_scalar(up) and float(np.reshape(up, -1)[0]) == 1
    scalar = N.is_scalar(up) and N.is_scalar(raw)
    upstream = "" if seeded else fmt.d(y)
    if op in N.ELEMENTWISE:
        local_raw = R.backward(node, tr.contexts[node], np.ones_like(up))[i][0]
        term.local, term.local_value = N.local(node, i, names), local_raw
        value = fmt(local_raw.reshape(-1)[0] if np.all(local_raw == local_raw.reshape(-1)[0])
                    else local_raw)
        local = [term.local] if term.local and term.local != value else []
        if scalar:  # every number written out: -0.5344 · 0.3679
            up_value = "" if seeded else f"{fmt(up)} · "
            chain = ([] if seeded else [f"{upstream} · ∂{y}/∂{x}"])
            chain += [up_value + s for s in local + [value]]
        else:  # tensors: the rule, then the result
            chain = [f"{upstream} ⊙ {s}" for s in [f"∂{y}/∂{x}"] + (local or [value])]
    elif op == "matmul":
        other = names[1 - i] or "B"
        term.local = f"{fmt.d(y)} @ {other}ᵀ" if i == 0 else f"{other}ᵀ @ {fmt.d(y)}"
        chain = [term.local]
    elif op in ("sum", "mean"):
        n = np.size(t.data) // max(np.size(up), 1)
        term.local = "1" if op == "sum" else f"1/{n}"
        what = (upstream or "1") if op == "sum" else (f"{upstream} / {n}" if upstream else f"1/{n}")
        chain = [f"{what}, copied to every entry of {x} {N.shape(t.shape)}"]
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
    chain.append(fmt(share))
    term.text = lhs + " = ".join(_dedupe(chain))
    return term


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


def _leaves(forward, tr, nm, wanted):
    """(name, gradient, shares) for the wanted tensors, or every leaf that requires grad."""
    if wanted is not None:
        targets = wanted
    else:
        seen, targets = set(), []
        for node in forward:
            for t in node.inputs:
                if R.wants_grad(t) and t.grad_fn is None and id(t) not in seen:
                    seen.add(id(t))
                    targets.append(t)
    rows = []
    for t in targets:
        key = tr.key(t)
        shares = [tr.edges[c, i][1] for c, i in reversed(tr.branches.get(key, []))]
        rows.append((nm(t), tr.grad.get(key), shares))
    return rows
