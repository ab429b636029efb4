"""Hand-written mse_grad, relu_grad, lin_grad against autograd.

Runs the same code as ``chainrule demo linear-relu-linear-mse``: the derivation is in
src/chainrule/viz/demos/linear_relu_linear_mse.py, so that the installed command has it too.

    python examples/linear_relu_linear_mse.py [--out-dir DIR]
"""

from chainrule.viz.demos import main

if __name__ == "__main__":
    main("linear-relu-linear-mse")
