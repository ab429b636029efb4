"""How the graph is written down: numbers, tensors, names, and each op's formula and local
derivative, shared by ``draw_graph`` and ``explain``."""

from __future__ import annotations

import numpy as np

# op -> forward formula in its inputs' names {0}, {1}
FORMULA = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} · {1}", "div": "{0} / {1}",
    "pow": "{0}^{1}", "neg": "-{0}", "exp": "exp({0})", "log": "log({0})", "sqrt": "√{0}",
    "abs": "|{0}|", "sin": "sin({0})", "cos": "cos({0})", "sigmoid": "σ({0})",
    "tanh": "tanh({0})", "relu": "relu({0})", "matmul": "{0} @ {1}", "sum": "Σ {0}",
    "mean": "mean({0})", "clone": "{0}", "to": "{0}",
}

# op -> local derivative ∂y/∂(input i), in the inputs' names {0}, {1}
LOCAL = {
    "add": ("1", "1"), "sub": ("1", "-1"), "mul": ("{1}", "{0}"), "div": ("1/{1}", "-{0}/{1}²"),
    "pow": ("{1}·{0}^({1}-1)", "{0}^{1}·log({0})"), "neg": ("-1",), "exp": ("exp({0})",),
    "log": ("1/{0}",), "sqrt": ("1/(2√{0})",), "abs": ("sign({0})",), "sin": ("cos({0})",),
    "cos": ("-sin({0})",), "sigmoid": ("σ({0})·(1 - σ({0}))",), "tanh": ("1 - tanh²({0})",),
    "relu": ("[{0} > 0]",), "clone": ("1",), "to": ("1",),
}

# ops whose backward multiplies the upstream gradient element by element by a local derivative
ELEMENTWISE = set(LOCAL) | {"maximum", "minimum", "clamp", "where", "leaky_relu", "gelu"}

# the symbol a gate shows in a drawing, as in CS231n's circuit diagrams
GATE = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "pow": "^", "matmul": "@",
        "neg": "−x", "sigmoid": "σ", "sum": "Σ"}


def number(v, precision: int = 4) -> str:
    """1.36787944 -> '1.3679' (``precision`` decimals), 0.000165743 -> '0.0001657' (below 0.1,
    ``precision`` significant digits), 1.0 -> '1', 1e-9 -> '1e-09'."""
    v = float(v)
    if not np.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) < 10.0 ** -precision or abs(v) >= 1e6):
        return f"{v:.{precision}g}"
    decimals = precision
    if v != 0 and abs(v) < 0.1:  # as many digits as it has meaning: not 0.0002 for 0.0001657
        decimals = precision - 1 - int(np.floor(np.log10(abs(v))))
    s = f"{v:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def is_scalar(a) -> bool:
    return np.size(a) == 1


def array(a, precision: int = 4, few: int = 25) -> str:
    """A tensor: all its entries, nested as its shape, when there are at most ``few``; else the
    shape and the first few entries."""
    a = np.asarray(a)
    if a.size == 1:
        return number(a.reshape(()), precision)
    if a.size <= few:
        return _nested(a, precision)
    head = ", ".join(number(x, precision) for x in a.reshape(-1)[:3])
    return f"{shape(a.shape)} [{head}, …]"


def _nested(a, precision):
    if a.ndim == 0:
        return number(a, precision)
    return "[" + ", ".join(_nested(x, precision) for x in a) + "]"


def plus(terms: list) -> str:
    """A sum written as in maths: ``6 + 27 − 0.1111``, not ``+ -0.1111``."""
    text = terms[0]
    for t in terms[1:]:
        text += f" − {t[1:]}" if _is_number(t) and t.startswith("-") else f" + {t}"
    return text


def operands(inputs, nm, precision: int = 4, numbers=(), node=None) -> list:
    """The names an op's formula uses for its inputs: the tensor's name (``nm``, a ``Names``),
    ``1`` for a seed of ones (ids in ``numbers``), a number for a constant, None for an option
    (and for a buffer of ``node``: running statistics get no name)."""
    names = []
    for i, a in enumerate(inputs):
        if node is not None and hasattr(a, "grad_fn") and hidden(node, i):
            names.append(None)
        elif hasattr(a, "grad_fn"):
            names.append("1" if id(a) in numbers else nm(a))
        elif isinstance(a, (bool, str, tuple, type(None), slice)):
            names.append(None)  # an option of the op, not an operand
        else:
            names.append(constant(a, precision) or "const")
    return names


def constant(a, precision: int = 4) -> str | None:
    """A number, or a one-element float array (``1 - y`` is written ``ONE[y.dtype] - y``), as
    text; None for anything else."""
    if isinstance(a, (int, float, np.number)) and not isinstance(a, bool):
        return array(a, precision)
    if isinstance(a, np.ndarray) and a.size == 1 and a.dtype.kind == "f":
        return array(a, precision)
    return None


def shape(s) -> str:
    return str(tuple(int(n) for n in s))


def op_of(node) -> str:
    return type(node).op_name()


def rule(node) -> str | None:
    """The op's own statement of its math: the first paragraph of its docstring, which by the
    house style reads "y = ...;  dL/dx = ..."."""
    doc = type(node).__doc__
    return " ".join(doc.strip().split("\n\n")[0].split()) if doc else None


def formula(node, names: list, bare: bool = False) -> str:
    """``h + 1``: the node's forward formula in its inputs' names (``bare``: the names are put in
    as they are, the caller parenthesised them)."""
    op = op_of(node)
    tensors = [n for n in names if n is not None]
    if op in ("sum", "mean") and _partial(node):
        dims = node.inputs[1]
        return f"{op}({names[0]}, dim={dims[0] if len(dims) == 1 else tuple(dims)})"
    if op == "pow" and len(names) == 2 and _small_power(names[1]):  # q², as in maths
        return wrap(names[0]) + power(names[1])
    if op == "linear" and len(names) == 3:  # y = x Wᵀ + b, the bias optional
        return _fill("{0} @ {1}ᵀ" + (" + {2}" if names[2] is not None else ""), names, bare)
    if op == "getitem" and _index_of(node) is not _NONE:  # s[0, 1], s[1:]
        return f"{wrap(names[0]) if not bare else names[0]}[{index(_index_of(node))}]"
    if op == "permute" and len(node.inputs) == 2 and tuple(node.inputs[1]) == (1, 0):
        return (wrap(names[0]) if not bare else names[0]) + "ᵀ"  # W.T
    if _templated(node, names):
        return _fill(FORMULA[op], names, bare)
    parts = _call(node, names)
    if parts is not None:
        return f"{op}({', '.join(parts)})"
    return f"{op}({', '.join(tensors)})"


# the options an op's formula shows as keywords (``softmax(z, dim=1)``), unless they hold the
# default given here; an op's other non-tensor inputs (the indices max returns, the output size
# a pool computed) are its inner workings, and running statistics are buffers: neither is shown
OPTIONS = {"dim": None, "stride": None, "kernel_size": None, "padding": 0, "dilation": 1,
           "groups": 1, "output_padding": 0, "keepdim": False, "training": True,
           "eps": 1e-5, "negative_slope": None, "reduction": "mean", "label_smoothing": 0.0,
           "ignore_index": -100, "ceil_mode": False, "count_include_pad": True, "alpha": None,
           "beta": None, "threshold": None, "value": None, "min_val": None, "max_val": None,
           "approximate": "none", "p": None}
BUFFERS = {"running_mean", "running_var"}


def _params(node) -> list | None:
    """The names of the node's positional inputs, from its forward's signature (None where that
    does not say: a forward of ``*args``)."""
    import inspect

    try:
        params = list(inspect.signature(type(node).forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL,) for p in params) or len(params) < len(node.inputs):
        return None
    return [p.name for p in params]


def hidden(node, i: int) -> bool:
    """Is input ``i`` of the node a buffer (a running statistic), not an operand to name?"""
    params = _params(node)
    return params is not None and i < len(params) and params[i] in BUFFERS


def _call(node, names) -> list | None:
    """The arguments of ``op(...)``: the operands' names, then the options as keywords."""
    params = _params(node)
    if params is None:
        return None
    args, options = [], {}
    for i, (a, n) in enumerate(zip(node.inputs, names)):
        param = params[i]
        if param in BUFFERS:
            continue
        if hasattr(a, "grad_fn"):
            args.append(n or "?")
        elif param in OPTIONS:
            options[param] = a
        elif param not in ("idx", "indices", "out_size", "divisor", "index", "mask", "shape"):
            if a is not None and n is not None and not isinstance(a, np.ndarray):
                args.append(n)
    options.update({k: v for k, v in (getattr(node, "kwargs", None) or {}).items()
                    if k in OPTIONS})
    for k, v in options.items():
        v = _option(v)
        if v is not None and (OPTIONS[k] is None or v != _option(OPTIONS[k])):
            args.append(f"{k}={v}")
    return args


def _option(v) -> str | None:
    """An option's value as written: ``1`` for ``(1, 1)``, ``'mean'`` for a string."""
    if v is None:
        return None
    if isinstance(v, (tuple, list)) and v and all(x == v[0] for x in v):
        v = v[0]
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, float, np.number)):
        return number(v)
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(_option(x) or "None" for x in v) + ")"
    return None


_NONE = object()


def _index_of(node):
    """The index of a getitem node (``_NONE`` if it kept none)."""
    if len(node.inputs) > 1:
        return node.inputs[1]
    return (getattr(node, "kwargs", None) or {}).get("index", getattr(node, "index", _NONE))


def getitem_rule(node, x: str, g: str) -> str:
    """``∂f/∂a at s[0, 1], 0 elsewhere``: getitem's backward in maths."""
    ix = _index_of(node)
    parts = ix if isinstance(ix, tuple) else (ix,)
    arrays = [np.asarray(getattr(p, "_data", p)) for p in parts
              if not isinstance(p, (slice, type(None), type(Ellipsis), int))]
    text = f"{g} at {x}[{index(ix)}], 0 elsewhere"
    if arrays and all(a.dtype != bool for a in arrays):
        try:
            rows = np.stack(np.broadcast_arrays(*arrays), -1).reshape(-1, len(arrays))
            if len(np.unique(rows, axis=0)) < len(rows):
                text += " (an entry picked twice gets the sum)"
        except ValueError:
            pass
    return text


def index(ix) -> str:
    """An index as written inside ``x[...]``: ``0, 1``, ``1:``, ``::2``, ``..., 0``, ``[0, 2]``."""
    if isinstance(ix, tuple):
        return ", ".join(_one_index(i) for i in ix) if ix else "()"
    return _one_index(ix)


def _one_index(i) -> str:
    if i is None:
        return "None"
    if i is Ellipsis:
        return "..."
    if isinstance(i, slice):
        text = ("" if i.start is None else str(i.start)) + ":" + (
            "" if i.stop is None else str(i.stop))
        return text + (f":{i.step}" if i.step is not None else "")
    a = np.asarray(getattr(i, "_data", i))
    if a.ndim == 0:
        return str(a.item())
    if a.dtype == bool:
        return "mask"
    return "[" + ", ".join(str(x) for x in a.reshape(-1)) + "]" if a.size <= 8 else "idx"


def _templated(node, names) -> bool:
    op = op_of(node)
    return (op in FORMULA and FORMULA[op].count("{1}") <= len(names) - 1
            and not (op in ("sum", "mean") and _partial(node)))


# how tightly an op's formula binds its operands: a · (b + c), a - (b - c); others are atoms
PRECEDENCE = {"add": 1, "sub": 1, "sum": 1, "mul": 2, "div": 2, "matmul": 2, "neg": 2,
              "pow": 3}
ATOM = 9


def nested(node, parts: list) -> tuple:
    """``formula`` with formulas for operands: ``parts[k]`` is ``(text, precedence)`` of input k
    (``(None, ATOM)`` for an option); returns ``(text, precedence)``, the operands parenthesised
    where the order of operations needs it, read left to right: ``1 · (3 · x^2)`` (the graph's
    grouping), ``1 - tanh(x) · tanh(x)``."""
    op = op_of(node)
    if op in ("clone", "to"):  # a copy, a cast: the same formula
        return parts[0]
    if not _templated(node, [t for t, _ in parts]):
        return formula(node, [t for t, _ in parts]), ATOM
    mine = PRECEDENCE.get(op, ATOM)
    template = FORMULA[op]
    names = []
    for k, (text, p) in enumerate(parts):
        inside = f"({{{k}}})" in template  # the template parenthesises it already
        right = k == 1  # written left to right: a · (b · c) keeps the graph's grouping
        if text is not None and not inside and (p < mine or p == mine and (right or op == "pow")):
            text = f"({text})"
        names.append(text)
    return formula(node, names, bare=True), mine


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _small_power(p) -> bool:
    """A whole exponent from -9 to 9 (not 1), written as a superscript."""
    return _is_number(p) and float(p) == int(float(p)) and abs(float(p)) < 10 and float(p) != 1


def power(p) -> str:
    """``²`` for 2, ``⁻¹`` for -1."""
    return str(int(float(p))).translate(_SUPERSCRIPT)


def _partial(node) -> bool:
    """A sum or mean over some axes only."""
    x, axes = node.inputs[0], node.inputs[1] if len(node.inputs) > 1 else None
    return isinstance(axes, tuple) and len(axes) < np.ndim(getattr(x, "_data", x))


def local(node, i: int, names: list) -> str | None:
    """``exp(e)``: ∂(node's output)/∂(input i) as a formula, where the op has a simple one."""
    op = op_of(node)
    if op == "pow" and i == 0 and _is_number(names[1]):
        p, x = float(names[1]), wrap(names[0])
        if p == 2:
            return f"2·{x}"
        return f"{number(p)}·{x}" + (power(p - 1) if _small_power(p - 1) else f"^{number(p - 1)}")
    rules = LOCAL.get(op)
    if rules is None or i >= len(rules):
        return None
    return _fill(rules[i], names)


def _fill(template: str, names: list, bare: bool = False) -> str:
    """Put the names into the template, parenthesised unless the template already does (or,
    ``bare``, unless the caller did: then only negative numbers are)."""
    for k, n in enumerate(names):
        if n is None and f"{{{k}}}" not in template:
            continue
        if bare:
            put = f"({n})" if _is_number(n) and float(n) < 0 else n or "?"
        else:
            put = wrap(n)
        template = template.replace(f"({{{k}}})", f"({n})").replace(f"{{{k}}}", put)
    return template


def gate(node, constants: list, precision: int = 4) -> str:
    """What a gate shows in the drawing: '+1', '×-1', '1/x', 'exp', '@'."""
    op = op_of(node)
    consts = [(i, c) for i, c in enumerate(constants) if c is not None]
    if len(node.inputs) == 2 and len(consts) == 1 and np.size(consts[0][1]) == 1:
        i, c = consts[0]
        c = number(np.asarray(c).reshape(()), precision)
        if op == "div":
            return f"{c}/x" if i == 0 else f"/{c}"
        if op == "pow":
            return (f"x{power(c)}" if _small_power(c) else f"x^{c}") if i == 1 else f"{c}^x"
        if op == "sub" and i == 0:
            return f"{c}−x"
        if op in GATE:
            return GATE[op] + c
    return GATE.get(op, op)


def _is_number(s) -> bool:
    try:
        float(s)
        return True
    except (TypeError, ValueError):
        return False


def wrap(name: str) -> str:
    """Parenthesise what would not read as one term inside a formula: a negative number, or an
    expression with an operator outside parentheses (``3 · x``, not ``tanh(x)``)."""
    if name is None:
        return "?"
    if _is_number(name) and float(name) < 0 or compound(name) or _module_path(name):
        return f"({name})"  # also x @ (0.weight)ᵀ
    return name


def partial(f: str, x: str) -> str:
    """``∂f/∂x``; a name that is itself a derivative in parentheses: ``∂g/∂(∂L/∂h)``."""
    return f"∂{whole(f)}/∂{whole(x)}"


def whole(name: str) -> str:
    """A name as one term after ∂: ``∂f/∂(∂L/∂h)``, ``∂f/∂(2.weight)``."""
    return (f"({name})" if "/" in name or compound(name) or _module_path(name)
            or any(c in "⁰¹²³⁴⁵⁶⁷⁸⁹⁻" for c in name) else name)  # ∂g/∂(x²), not ∂g/∂x²


def _module_path(name: str) -> bool:
    """A name that starts with a digit, as a Sequential's ``2.weight``: not a number."""
    return name[:1].isdigit() and not _is_number(name)


def compound(text: str) -> bool:
    """Does ``text`` hold a space outside parentheses, as ``a · b`` or ``1 - tanh²(x)`` do?"""
    depth = 0
    for c in text:
        depth += (c in "([") - (c in ")]")
        if c == " " and depth == 0:
            return True
    return False


class Names:
    """Names for the tensors of a graph: the ones given, then letters in order of first use."""

    def __init__(self, given=None, output=None, first=("f", "y", "L")):
        # f is the output's; no l or o, which read as 1 and 0
        self._letters = iter("abcdeghkmnpqrstuvwyzxij")
        self._count = 0
        self.by_id = {}
        for name, t in given or ():
            self.by_id.setdefault(id(t), name)
        self.used = set(self.by_id.values())
        if output is not None and id(output) not in self.by_id:  # the first of ``first`` free
            free = [n for n in first if n not in self.used]
            self.by_id[id(output)] = free[0] if free else self._fresh()
            self.used.add(self.by_id[id(output)])

    def __call__(self, t) -> str:
        name = self.by_id.get(id(t))
        if name is None:
            name = self._fresh()
            self.by_id[id(t)] = name
            self.used.add(name)
        return name

    def give(self, tid: int, name: str) -> None:
        """Name the tensor of id ``tid``, unless it has a name already."""
        self.used.add(self.by_id.setdefault(tid, name))

    def _fresh(self) -> str:
        for c in self._letters:
            if not self._clashes(c):
                return c
        self._count += 1
        while f"t{self._count}" in self.used:
            self._count += 1
        return f"t{self._count}"


    def _clashes(self, letter: str) -> bool:
        """Is ``letter`` a name given, or the stem of one (``b`` beside ``b1``, ``b_out``)?"""
        return any(n == letter or n.startswith(letter) and not n[len(letter)].isalpha()
                   for n in self.used)


def named(given):
    """``(pairs, tensors)`` from a tensor, a list of tensors, a dict name -> tensor or
    ``named_parameters()``: the (name, tensor) pairs given, and all the tensors (None for None)."""
    if given is None:
        return [], None
    if hasattr(given, "grad_fn"):
        return [], [given]
    items = list(given.items()) if isinstance(given, dict) else list(given)
    if items and all(isinstance(p, tuple) and len(p) == 2 for p in items):
        return items, [t for _, t in items]
    return [], items
