"""CS231n's sigmoid neuron gate by gate: values, gradients, the graph.

Runs the same code as ``chainrule demo sigmoid-graph``: the derivation is in
src/chainrule/viz/demos/sigmoid_graph.py, so that the installed command has it too.

    python examples/sigmoid_graph.py [--out-dir DIR]
    python examples/sigmoid_graph.py --svg docs/sigmoid_graph.svg   # the README's drawing
"""

from chainrule.viz.demos.sigmoid_graph import main

if __name__ == "__main__":
    main()
