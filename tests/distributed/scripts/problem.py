"""The problem the equivalence tests train on, in one process or several."""
import numpy as np

import chainrule as cr
from chainrule import nn, optim

STEPS, BATCH = 20, 64


def build(dtype: str, seed: int) -> nn.Module:
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 16), nn.Tanh(),
                          nn.Linear(16, 3))
    return model.to(getattr(cr, dtype))


def batches(dtype: str):
    rng = np.random.RandomState(1)
    for _ in range(STEPS):
        yield rng.randn(BATCH, 10).astype(dtype), rng.randint(0, 3, BATCH)


def make_optimizer(name: str, params):
    if name == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.Adam(params, lr=0.01)


def build_bn(seed: int) -> nn.Module:
    """With BatchNorm: one process's BatchNorm on the whole batch is 2 ranks' SyncBatchNorm."""
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(10, 16), nn.BatchNorm1d(16), nn.Tanh(),
                         nn.Linear(16, 3)).double()
