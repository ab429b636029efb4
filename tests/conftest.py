"""Fixtures shared across the test folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import chainrule as cr

ROOT = Path(__file__).resolve().parents[1]
REAL_ROOTS = [os.environ.get("CHAINRULE_DATA"), ROOT / ".." / "shared" / "data"]


@pytest.fixture(scope="module")
def mnist_root():
    """The folder holding the real MNIST files ($CHAINRULE_DATA or ../shared/data)."""
    for root in filter(None, REAL_ROOTS):
        try:
            cr.datasets.MNIST(root=root, train=False)
        except FileNotFoundError:
            continue
        return str(root)
    pytest.skip("real MNIST files not found (set CHAINRULE_DATA or put them in ../shared/data)")
