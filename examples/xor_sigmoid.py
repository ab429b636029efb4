"""XOR with four sigmoid hidden units: the loss falls, the predictions approach 0 1 1 0.

Runs the same code as ``chainrule demo xor-sigmoid``: the derivation is in
src/chainrule/viz/demos/xor_sigmoid.py, so that the installed command has it too.

    python examples/xor_sigmoid.py [--out-dir DIR]
"""

from chainrule.viz.demos import main

if __name__ == "__main__":
    main("xor-sigmoid")
