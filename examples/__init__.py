"""The worked examples: ``python examples/NAME.py``, ``chainrule demo NAME``, or ``run_demo``.

This folder is the package ``chainrule.examples`` (``src/chainrule/examples`` links to it), so
that the installed command runs the very files a learner reads: one copy of each example.
``chainrule demo NAME --source`` prints where its file is.

Each example derives one classic backpropagation lesson with chainrule's tools (``explain``,
``draw_graph``, ``gradcheck``/``check_graph``, hooks, the monitor), prints the derivation and,
given an output directory, saves its graph or plot. ``run(out_dir)`` in each module returns a
``Demo``: the text, and the numbers the tests assert.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

# name -> (module, what it shows)
DEMOS = {
    "linear-regression": ("linear_regression",
                          "least squares by gradient descent, ∇ = Aᵀ(Ax − b), against lstsq"),
    "sigmoid-graph": ("sigmoid_graph",
                      "CS231n's sigmoid neuron gate by gate: values, gradients, the graph"),
    "bp-2-2-1": ("bp_2_2_1", "the 2-2-1 sigmoid network, and the copied NumPy bug gradcheck "
                 "catches"),
    "linear-relu-linear-mse": ("linear_relu_linear_mse",
                               "hand-written mse_grad, relu_grad, lin_grad against autograd"),
    "xor-sigmoid": ("xor_sigmoid", "XOR with four sigmoid hidden units: the loss falls, the "
                    "predictions approach 0 1 1 0"),
    "mnist-tanh-softmax": ("mnist_tanh_softmax", "softmax(tanh(x·W0 + b0)·W1 + b1) on real MNIST: "
                           "squared loss against cross-entropy"),
    "jacobians": ("jacobians", "tanh's and softmax's Jacobians by autograd and by formula; their "
                  "product is backprop"),
    "newton": ("newton", "least squares in one Newton step: the Hessian AᵀA by differentiating "
               "the gradient"),
    "gradient-penalty": ("gradient_penalty", "a WGAN-GP critic: a conv net trained on ‖∇ₓD‖, a "
                         "gradient of a gradient"),
    "grad-cam": ("grad_cam", "Grad-CAM with module hooks: where the CNN looks in an MNIST digit, "
                 "as heat maps"),
    "vanishing-gradients": ("vanishing_gradients", "a 10-layer MLP on MNIST four ways (sigmoid, "
                            "tanh, ReLU + He, ReLU + BatchNorm): gradient norms per layer"),
    "bptt": ("bptt", "backpropagation through time: ‖∂L/∂h_t‖ over 100 steps of a tanh RNN "
             "against an LSTM, the gradient vanishing through time"),
}


@dataclass
class Demo:
    """What a demo printed, the numbers it found, and the files it wrote."""

    lines: list = field(default_factory=list)
    values: dict = field(default_factory=dict)
    files: list = field(default_factory=list)

    def say(self, *parts) -> None:
        self.lines.append(" ".join(str(p) for p in parts))

    def saved(self, path, what: str, install: str = "pip install matplotlib") -> None:
        """Say where ``what`` was saved, or (``path`` None) that Matplotlib is missing."""
        if path is None:
            self.say(f"(Matplotlib is not installed, so no plot: {install})")
        else:
            self.files.append(path)
            self.say(f"Saved {what} to {path}")

    def intro(self, doc: str) -> None:
        """A demo's docstring as its first lines: the title, then the formula, indented."""
        title, formula = doc.strip().split("\n\n")[:2]
        self.say(title)
        self.say("")
        self.say("    " + formula.strip())
        self.say("")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def module(name: str):
    """The module of demo ``name`` ("sigmoid-graph" -> ``chainrule.examples.sigmoid_graph``)."""
    if name not in DEMOS:
        raise KeyError(f"demo: no demo named {name!r}; the demos are: {', '.join(DEMOS)}")
    return importlib.import_module(f".{DEMOS[name][0]}", __name__)


def positive(text: str) -> int:
    """An argparse type for the examples' scripts: an integer of at least 1."""
    import argparse
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def source(name: str) -> str:
    """The file of demo ``name``: the code ``chainrule demo NAME`` runs (examples/NAME.py in a
    checkout, the link resolved)."""
    from pathlib import Path
    return str(Path(module(name).__file__).resolve())


def run_demo(name: str, out_dir=None) -> str:
    """Run demo ``name`` and return what it prints; with ``out_dir``, also save its graph or
    plot there."""
    return module(name).run(out_dir).text


def main(name: str, argv=None) -> None:
    """The command line of ``python examples/NAME.py [--out-dir DIR]``."""
    import argparse
    parser = argparse.ArgumentParser(prog=f"{DEMOS[name][0]}.py", description=DEMOS[name][1])
    parser.add_argument("--out-dir", default=".", help="where to save the graph or plot "
                        "(default: the current directory)")
    args = parser.parse_args(argv)
    demo = module(name).run(args.out_dir)
    print(demo.text)


__all__ = ["DEMOS", "Demo", "run_demo", "module", "source"]
