"""A WGAN-GP critic trained on a gradient penalty, a gradient of a gradient.

Runs the same code as ``chainrule demo gradient-penalty``: the derivation is in
src/chainrule/viz/demos/gradient_penalty.py, so that the installed command has it too.

    python examples/gradient_penalty.py [--out-dir DIR]
"""

from chainrule.viz.demos import main

if __name__ == "__main__":
    main("gradient-penalty")
