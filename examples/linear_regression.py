"""Least squares by gradient descent, ∇ = Aᵀ(Ax − b), against lstsq.

Runs the same code as ``chainrule demo linear-regression``: the derivation is in
src/chainrule/viz/demos/linear_regression.py, so that the installed command has it too.

    python examples/linear_regression.py [--out-dir DIR]
"""

from chainrule.viz.demos import main

if __name__ == "__main__":
    main("linear-regression")
