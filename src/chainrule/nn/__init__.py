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

# -- layers (issue 15): convolution, pooling, resizing, dropout, normalisation, embedding --
from .conv import Conv1d, ConvTranspose1d, ConvTranspose2d  # noqa: F401
from .dropout import Dropout1d, Dropout2d, Dropout3d  # noqa: F401
from .normalization import GroupNorm, InstanceNorm1d, InstanceNorm2d, LayerNorm  # noqa: F401
from .pixelshuffle import PixelShuffle, PixelUnshuffle  # noqa: F401
from .pooling import (  # noqa: F401
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d,
    MaxPool1d,
)
from .sparse import Embedding  # noqa: F401
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: F401

# -- activations, losses, parameter containers and nn.utils (issue 15) --
from . import utils  # noqa: F401
from .activation import (  # noqa: F401
    CELU, ELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish, PReLU, ReLU6, SiLU,
    Softmin, Softplus, Softsign, Threshold,
)
from .container import ParameterDict, ParameterList  # noqa: F401
from .loss import (  # noqa: F401
    CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, HuberLoss, KLDivLoss,
    MarginRankingLoss, MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SmoothL1Loss,
    TripletMarginLoss,
)

# -- recurrent layers (issue 18) --
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase  # noqa: F401

# -- data-parallel training on several processes (issue 19) --
from . import parallel  # noqa: F401  (DistributedDataParallel; MPI starts only in init_process_group)
from .syncbatchnorm import SyncBatchNorm  # noqa: F401

# -- attention and the Transformer (issue 18) --
from .attention import MultiheadAttention  # noqa: F401
from .transformer import (  # noqa: F401
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer,
)
