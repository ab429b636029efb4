"""``cr.accelerator``: PyTorch's device-agnostic check, as in its tutorials'
``device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available()
else "cpu"``. chainrule has no accelerator."""

from __future__ import annotations


def is_available() -> bool:
    return False


def current_accelerator(check_available: bool = False) -> None:
    return None


def device_count() -> int:
    return 0
