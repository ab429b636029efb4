"""``chainrule.utils``: PyTorch's ``torch.utils`` paths (``chainrule.utils.data``)."""

from . import data

__all__ = ["data"]
