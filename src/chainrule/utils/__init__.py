"""``chainrule.utils``: PyTorch's ``torch.utils`` paths (``chainrule.utils.data``), and
``empty_cache()``, which releases the arrays kept for reuse."""

from ..ops._pool import empty_cache
from . import data

__all__ = ["data", "empty_cache"]
