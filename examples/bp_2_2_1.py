"""The 2-2-1 sigmoid network, and the copied NumPy bug gradcheck catches.

Runs the same code as ``chainrule demo bp-2-2-1``: the derivation is in
src/chainrule/viz/demos/bp_2_2_1.py, so that the installed command has it too.

    python examples/bp_2_2_1.py [--out-dir DIR]
"""

from chainrule.viz.demos import main

if __name__ == "__main__":
    main("bp-2-2-1")
