"""``cr.backends``: the flags PyTorch scripts check or set (``backends.mps.is_available()``,
``backends.cudnn.benchmark = True``). chainrule runs on the CPU with NumPy: no backend here is
available, and the flags are kept but change nothing."""

from . import cudnn, mps

__all__ = ["cudnn", "mps"]
