"""Backpropagation through time: the gradient of the last step's loss at every earlier step.

    tanh RNN:  ∂L/∂h_(t−1) = W_hhᵀ ((1 − h_t²) ⊙ ∂L/∂h_t);   LSTM:  ∂L/∂c_(t−1) = f_t ⊙ ∂L/∂c_t + …

An RNN unrolled over T steps is a T-layer network whose layers share their weights: backward
through one step multiplies the gradient by W_hhᵀ and by tanh's derivative, T times over. With
PyTorch's initialisation (U(−1/√H, 1/√H), so W_hh's spectral radius is about 1/√3) that product
shrinks geometrically, and the first steps get almost nothing: the gradient vanishes through
time, and the loss cannot teach the RNN what it saw long ago. An LSTM's cell state adds a path
along which the gradient is multiplied only by the forget gate f_t, element by element: with f_t
near 1 it survives. With PyTorch's initialisation f_t starts near σ(0) = 1/2, so the LSTM
vanishes too, more slowly; a forget-gate bias of 1 (Jozefowicz et al. 2015; Keras's
unit_forget_bias) puts f_t near σ(1) ≈ 0.73 and keeps the gradient many orders of magnitude
larger.

Each model (hidden size 32, input size 4) reads the same 100 random inputs, one cell called in a
Python loop; the loss is the last hidden state's sum, L = Σ_i h_T,i, so ∂L/∂h_T is all ones for
each model. ``h_t.retain_grad()`` keeps ∂L/∂h_t at every step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import chainrule as cr
import chainrule.nn as nn

from chainrule.examples import Demo

MODELS = ("rnn", "lstm", "lstm_forget1")
TITLE = {"rnn": "tanh RNN", "lstm": "LSTM", "lstm_forget1": "LSTM, forget bias 1"}
COLOR = {"rnn": "#c62828", "lstm": "#1565c0", "lstm_forget1": "#2e7d32"}
STEPS, HIDDEN, INPUT, SEED = 100, 32, 4, 0
SHOWN = (100, 99, 90, 75, 50, 25, 10, 1)  # the steps printed


def build(model: str, hidden: int = HIDDEN, inputs: int = INPUT, seed: int = SEED):
    """The cell of ``model`` in float64, PyTorch's initialisation from ``seed``; "lstm_forget1"
    then sets the forget gate's bias to 1 (b_ih 1 and b_hh 0 on the f rows)."""
    if model not in MODELS:
        raise ValueError(f"bptt: no model {model!r}; the models are {', '.join(MODELS)}")
    cr.manual_seed(seed)
    if model == "rnn":
        return nn.RNNCell(inputs, hidden, dtype=cr.float64)
    cell = nn.LSTMCell(inputs, hidden, dtype=cr.float64)
    if model == "lstm_forget1":
        with cr.no_grad():
            cell.bias_ih[hidden:2 * hidden] = 1.0
            cell.bias_hh[hidden:2 * hidden] = 0.0
    return cell


def inputs(steps: int = STEPS, size: int = INPUT, seed: int = SEED) -> np.ndarray:
    """The input sequence, (steps, 1, size), standard normal from ``seed``."""
    return np.random.default_rng(seed).standard_normal((steps, 1, size))


def gradients_through_time(cell, xs: np.ndarray) -> dict:
    """Unroll ``cell`` over ``xs`` (T, N, I) from zero states, L = Σ h_T, and backward: the loss,
    and ‖∂L/∂h_t‖ for t = 1..T, an array."""
    lstm = isinstance(cell, nn.LSTMCell)
    h = cr.zeros(xs.shape[1], cell.hidden_size, dtype=cr.float64)
    c = cr.zeros(xs.shape[1], cell.hidden_size, dtype=cr.float64)
    hs = []
    for x in xs:
        if lstm:
            h, c = cell(cr.from_numpy(x), (h, c))
        else:
            h = cell(cr.from_numpy(x), h)
        h.retain_grad()
        hs.append(h)
    loss = h.sum()
    cell.zero_grad()
    loss.backward()

    return {"loss": float(loss), "h": np.array([np.linalg.norm(np.asarray(t.grad)) for t in hs])}


def three_steps() -> str:
    """``explain`` on a 3-step RNN (hidden size 2): W_hh's gradient as the sum over the steps."""
    cell = nn.RNNCell(2, 2, dtype=cr.float64)
    with cr.no_grad():
        cell.weight_ih.copy_(cr.tensor([[0.5, -0.3], [0.2, 0.4]], dtype=cr.float64))
        cell.weight_hh.copy_(cr.tensor([[0.9, -0.4], [0.3, 0.8]], dtype=cr.float64))
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    xs = [cr.tensor([[1.0, 0.0]], dtype=cr.float64), cr.tensor([[0.0, 1.0]], dtype=cr.float64),
          cr.tensor([[1.0, 1.0]], dtype=cr.float64)]
    h = h0 = cr.tensor([[0.5, -0.5]], dtype=cr.float64)
    hs = []
    for x in xs:
        h = cell(x, h)
        hs.append(h)
    names = {"W_hh": cell.weight_hh, "h0": h0, "h1": hs[0], "h2": hs[1], "h3": hs[2], "L": h.sum()}
    expl = cr.viz.explain(names["L"], wrt={"W_hh": cell.weight_hh}, names=names,
                          format="steps")
    return expl.text()


def save_plot(results: dict, path) -> str | None:
    """‖∂L/∂h_t‖ against t for each model, log scale; None when Matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    except ImportError:
        return None
    fig = Figure(figsize=(8, 4.6), layout="constrained")
    ax = fig.subplots()
    for model, r in results.items():
        t = np.arange(1, len(r["h"]) + 1)
        ax.plot(t, r["h"], "-", lw=2, color=COLOR[model],
                label=f"{TITLE[model]}: ‖∂L/∂h_t‖, first/last {r['h'][0] / r['h'][-1]:.1e}")
    ax.set_yscale("log")
    ax.set_xlim(1, len(t))
    ax.set(xlabel=f"time step t (the loss is on the last step, t = {len(t)})",
           ylabel="gradient norm (log scale)")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Backpropagation through time: the gradient of the last step's loss at each "
                 f"earlier step\n{len(t)} steps, hidden size {HIDDEN}, PyTorch's initialisation "
                 "(the green LSTM with forget-gate bias 1)", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from chainrule._io import atomic_write
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    return str(path)


def run(out_dir=None, steps: int = STEPS, seed: int = SEED) -> Demo:
    """Unroll the three models over the same ``steps`` inputs and compare ‖∂L/∂h_t‖."""
    demo = Demo()
    demo.intro(__doc__)
    xs = inputs(steps, seed=seed)
    cells = {m: build(m, seed=seed) for m in MODELS}
    results = {m: gradients_through_time(cell, xs) for m, cell in cells.items()}
    ratio = {m: r["h"][0] / r["h"][-1] for m, r in results.items()}
    # the geometric mean of ‖∂L/∂h_(t−1)‖ / ‖∂L/∂h_t‖: how much one step back keeps
    factor = {m: ratio[m] ** (1 / (steps - 1)) for m in MODELS}

    demo.say(f"Inputs: {steps} steps of N(0, 1) vectors of size {INPUT} (seed {seed}); hidden "
             f"size {HIDDEN}; float64.")
    demo.say("")
    demo.say("‖∂L/∂h_t‖, the gradient at step t of the loss on the last step:")
    demo.say(f"{'t':>5}" + "".join(f"{TITLE[m]:>22}" for m in MODELS))
    for t in (s for s in SHOWN if s <= steps):
        demo.say(f"{t:>5}" + "".join(f"{results[m]['h'][t - 1]:22.3e}" for m in MODELS))
    demo.say(f"{'first/last':>10}" + f"{ratio[MODELS[0]]:17.3e}"
             + "".join(f"{ratio[m]:22.3e}" for m in MODELS[1:]))
    demo.say(f"{'per step':>10}" + f"{factor[MODELS[0]]:17.3f}"
             + "".join(f"{factor[m]:22.3f}" for m in MODELS[1:]))
    demo.say("")
    demo.say(f"One step back keeps a factor {factor['rnn']:.2f} of the tanh RNN's gradient and "
             f"{factor['lstm_forget1']:.2f} of the LSTM's with forget bias 1: after "
             f"{steps - 1} steps that is {ratio['rnn']:.1e} against {ratio['lstm_forget1']:.1e}, "
             f"{np.log10(ratio['lstm_forget1'] / ratio['rnn']):.0f} orders of magnitude apart. "
             f"The LSTM with PyTorch's initialisation (f_t ≈ 1/2) keeps {ratio['lstm']:.1e}.")
    demo.say("")
    demo.say("Where W_hh's gradient comes from: explain on a tanh RNN cell unrolled for 3 steps "
             "(hidden size 2) writes it step by step, and as the sum over the steps:")
    text = three_steps()
    lines = [line.strip() for line in text.split("\n") if line.strip().startswith("∂L/∂W_hh")]
    for line in lines[-2::-1] + lines[-1:]:  # the steps in time order, then the sum
        demo.say("  " + line)
    demo.values.update(results=results, ratio=ratio, factor=factor, xs=xs, cells=cells,
                       three_steps=text)
    if out_dir is not None:
        demo.saved(save_plot(results, Path(out_dir) / "bptt.png"),
                   "the gradient norms per time step")
    return demo


if __name__ == "__main__":
    from chainrule.examples import main
    main("bptt")
