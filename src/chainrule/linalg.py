"""``chainrule.linalg``, as ``torch.linalg``: norms (the ops are in ``ops/norms.py``)."""

from .ops.norms import linalg_norm as norm  # noqa: F401
from .ops.norms import matrix_norm, vector_norm  # noqa: F401

__all__ = ["norm", "vector_norm", "matrix_norm"]
