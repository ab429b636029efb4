"""``chainrule.utils``: PyTorch's ``torch.utils`` paths (``chainrule.utils.data``,
``chainrule.utils.tensorboard``, loaded on first use), and
``empty_cache()``, which releases the arrays kept for reuse."""

from ..ops._pool import empty_cache
from . import data

__all__ = ["data", "empty_cache"]


def __getattr__(name):
    # tensorboard loads on first use (it imports tensorboardX, an extra)
    if name == "tensorboard":
        import importlib
        return importlib.import_module(f"{__name__}.tensorboard")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
