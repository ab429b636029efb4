"""softmax(tanh(x·W0 + b0)·W1 + b1) on real MNIST: squared loss against cross-entropy.

Runs the same code as ``chainrule demo mnist-tanh-softmax``: the derivation is in
src/chainrule/viz/demos/mnist_tanh_softmax.py, so that the installed command has it too. Needs the
MNIST files: ``--data-dir`` or ``$CHAINRULE_DATA`` (see the README's Data section).

    python examples/mnist_tanh_softmax.py [--out-dir DIR] [--epochs N] [--hidden H]
                                          [--data-dir DIR] [--limit N]
"""

from chainrule.viz.demos.mnist_tanh_softmax import main

if __name__ == "__main__":
    main()
