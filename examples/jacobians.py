"""tanh's and softmax's Jacobians, by autograd and by formula, and their product.

Runs the same code as ``chainrule demo jacobians``: the derivation is in
src/chainrule/viz/demos/jacobians.py, so that the installed command has it too.

    python examples/jacobians.py [--out-dir DIR]
"""

from chainrule.viz.demos import main

if __name__ == "__main__":
    main("jacobians")
