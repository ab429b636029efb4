"""PyTorch's ``torch.nn.modules`` path: ``chainrule.nn.modules.module`` holds ``Module`` and the
global module hooks."""

from . import module

__all__ = ["module"]
