"""The pool of recycled big arrays: its cap, and ``cr.utils.empty_cache()`` releasing it."""

import gc

import numpy as np

import chainrule as cr
from chainrule.ops import _pool


def _held() -> int:
    """What the pool keeps, by its own accounting (checked against the arrays it holds)."""
    total = sum(a.nbytes for arrays in _pool._POOL.values() for a in arrays)
    assert total == _pool._pool_bytes
    return total


def test_empty_cache_releases_what_a_gone_model_left_in_the_pool():
    cr.utils.empty_cache()
    model = cr.nn.Sequential(cr.nn.Conv2d(1, 16, 3, padding=1), cr.nn.ReLU(),
                             cr.nn.MaxPool2d(2), cr.nn.Flatten(), cr.nn.Linear(16 * 14 * 14, 10))
    x = cr.tensor(np.random.default_rng(0).random((64, 1, 28, 28), np.float32))
    for _ in range(2):
        loss = model(x).sum()
        loss.backward()
    del model, x, loss
    gc.collect()
    assert _held() > 4 << 20  # conv's and ReLU's 3.2 MiB arrays and more stay after the model
    cr.utils.empty_cache()
    assert _held() == 0 and _pool._POOL == {}
    again = cr.nn.functional.relu(cr.ones(512, 1024))  # the pool works again afterwards
    assert _held() == 2 << 20 and float(again.sum()) == 512 * 1024


def test_pool_keeps_at_most_its_cap(monkeypatch):
    cr.utils.empty_cache()
    monkeypatch.setattr(_pool, "_POOL_BYTES", 8 << 20)
    for k in range(40):  # 40 kinds of 1 MiB arrays, all freed at once
        _pool._scratch((256, 1024 + k), np.float32)
    assert 7 << 20 <= _held() <= 8 << 20
    big = _pool._scratch((3 << 20,), np.float32)  # 12 MiB: over a quarter of the cap, not kept
    assert not any(a is big for arrays in _pool._POOL.values() for a in arrays)
    cr.utils.empty_cache()


def test_empty_cache_leaves_arrays_in_use_alone():
    cr.utils.empty_cache()
    y = cr.nn.functional.relu(cr.ones(512, 1024))
    cr.utils.empty_cache()
    z = cr.nn.functional.relu(cr.full((512, 1024), 2.0))
    assert float(y.sum()) == 512 * 1024 and float(z.sum()) == 2 * 512 * 1024
    cr.utils.empty_cache()
