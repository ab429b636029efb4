"""``cr.cuda``: the checks PyTorch scripts make before choosing a device. chainrule runs on the
CPU only, so no CUDA device is ever available; seeding and emptying the cache do nothing (as in
PyTorch without a GPU), and what needs a GPU raises."""

from __future__ import annotations

from .device import check_device


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def manual_seed(seed: int) -> None:
    """Does nothing: there is no GPU generator to seed (``cr.manual_seed`` seeds chainrule's)."""


def manual_seed_all(seed: int) -> None:
    """Does nothing: there is no GPU generator to seed (``cr.manual_seed`` seeds chainrule's)."""


def empty_cache() -> None:
    """Does nothing: there is no GPU memory to release."""


def _unavailable(op: str):
    check_device("cuda", f"cuda.{op}")


def synchronize(device=None) -> None:
    _unavailable("synchronize")


def current_device() -> int:
    _unavailable("current_device")


def get_device_name(device=None) -> str:
    _unavailable("get_device_name")
