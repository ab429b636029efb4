"""The sigmoid neuron of CS231n's backpropagation notes, gate by gate.

    f(w, x) = 1 / (1 + exp(-(w0·x0 + w1·x1 + w2)))

with w0 = 2, x0 = -1, w1 = -3, x1 = -2, w2 = -3, built from primitive ops (mul, add, neg, exp,
add 1, reciprocal) so that every gate shows in the drawing. Forward, f = 0.73. Backward, the
gradient is -0.53 after the reciprocal (d(1/z)/dz = -1/z²) and -0.20 after the exp; the inputs
get w0 -0.20, x0 0.39, w1 -0.39, x1 -0.59, w2 0.20. The same neuron with one ``sigmoid`` op gives
the same gradients, because dσ/dz = σ(z)(1 - σ(z)) = 0.73 · 0.27 = 0.20.
"""

from __future__ import annotations

from pathlib import Path

import chainrule as cr

from chainrule.examples import Demo

VALUES = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}


def inputs(values=VALUES) -> dict:
    return {k: cr.tensor(v, dtype=cr.float64, requires_grad=True) for k, v in values.items()}


def gates(t: dict):
    """The neuron from primitive gates; returns f and every named tensor."""
    a = t["w0"] * t["x0"]
    b = t["w1"] * t["x1"]
    c = a + b
    d = c + t["w2"]  # the neuron's input: w·x + b
    e = -d           # neg
    h = e.exp()      # exp
    z = h + 1        # add 1
    f = 1 / z        # reciprocal
    return f, {**t, "a": a, "b": b, "c": c, "d": d, "e": e, "h": h, "z": z}


def one_sigmoid(t: dict):
    """The same neuron with one sigmoid op."""
    d = t["w0"] * t["x0"] + t["w1"] * t["x1"] + t["w2"]
    return cr.sigmoid(d), {**t, "d": d}


def graph(values=VALUES):
    """The drawing of the gate-by-gate neuron after backward (for the README)."""
    f, names = gates(inputs(values))
    f.backward()
    return cr.viz.draw_graph(f, params=names)


def run(out_dir=None, svg=None) -> Demo:
    demo = Demo()
    say = demo.say
    say(__doc__.strip().split("\n\n")[0])
    say("")
    f, names = gates(inputs())
    names["z"].retain_grad()
    names["e"].retain_grad()
    f.backward()
    say(cr.viz.explain(f, names=names, format="steps").text())
    leaves = {k: names[k].grad.item() for k in VALUES}
    demo.values.update(f=f.item(), grad_z=names["z"].grad.item(), grad_e=names["e"].grad.item(),
                       grads=leaves)
    say("")
    say(f"Output f = {f.item():.2f}; gradient after the reciprocal {names['z'].grad.item():.2f}, "
        f"after the exp {names['e'].grad.item():.2f}")
    say("Gradients: " + ", ".join(f"{k} {v:.2f}" for k, v in leaves.items()))

    say("")
    say("The same neuron with one sigmoid op, σ(d) with dσ/dd = σ(d)(1 - σ(d)):")
    s, names_s = one_sigmoid(inputs())
    s.backward()
    say(cr.viz.explain(s, names=names_s, format="steps").text())
    same = {k: names_s[k].grad.item() for k in VALUES}
    demo.values.update(f_sigmoid=s.item(), grads_sigmoid=same)
    agree = all(abs(same[k] - leaves[k]) < 1e-12 for k in VALUES)
    say(f"Same gradients as gate by gate: {agree}")

    drawing = cr.viz.draw_graph(f, params=names)
    for path in filter(None, [svg, Path(out_dir) / "sigmoid_graph.svg" if out_dir else None]):
        written = drawing.render(path)
        demo.files.append(written)
        say(f"Saved the graph to {written}")
    return demo


def main(argv=None) -> None:
    import argparse
    parser = argparse.ArgumentParser(description="CS231n's sigmoid neuron, gate by gate")
    parser.add_argument("--out-dir", default=".", help="where to save sigmoid_graph.svg")
    parser.add_argument("--svg", help="write the drawing to this path only (e.g. the README's "
                        "docs/sigmoid_graph.svg)")
    args = parser.parse_args(argv)
    print(run(None if args.svg else args.out_dir, svg=args.svg).text)


if __name__ == "__main__":
    main()
