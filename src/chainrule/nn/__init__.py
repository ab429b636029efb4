"""``chainrule.nn``: modules, layers, losses, initialisation, and ``functional`` (as PyTorch)::

    from chainrule import nn
    import chainrule.nn.functional as F

    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    loss = F.cross_entropy(model(images), labels)   # images (N, 784), labels (N,)
"""

from . import functional, init  # noqa: F401
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh  # noqa: F401
from .container import ModuleDict, ModuleList, Sequential  # noqa: F401
from .conv import Conv2d  # noqa: F401
from .dropout import Dropout  # noqa: F401
from .flatten import Flatten, Unflatten  # noqa: F401
from .linear import Identity, Linear  # noqa: F401
from .loss import (  # noqa: F401
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss,
)
from .module import Module  # noqa: F401
from .normalization import BatchNorm1d, BatchNorm2d  # noqa: F401
from .parameter import Parameter  # noqa: F401
from .pooling import AvgPool2d, MaxPool2d  # noqa: F401
