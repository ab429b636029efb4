"""Newton's method on least squares: the Hessian by autograd, one step to lstsq.

Runs the same code as ``chainrule demo newton``: the derivation is in
src/chainrule/viz/demos/newton.py, so that the installed command has it too.

    python examples/newton.py [--out-dir DIR]
"""

from chainrule.viz.demos import main

if __name__ == "__main__":
    main("newton")
