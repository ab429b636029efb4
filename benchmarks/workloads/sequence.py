"""W7 and W8 (issue 18): sequence models on 64-symbol token sequences of length 64, batch 32.

Both: Embedding(64, d) -> body -> Linear(d, 64), cross-entropy on every position (the logits
flattened to (32 * 64, 64)), plain SGD. The target of position t is the symbol at t - 1 (position
0: its own), so the body must carry a symbol one step on, and the loss falls.

- W7: body = LSTM(256, 256), one layer, batch_first (d = 256).
- W8: body = a learned position embedding (64, 128) added, then a 2-layer TransformerEncoder,
  d_model 128, 4 heads, feed-forward 512, ReLU, post-norm (PyTorch's defaults), dropout 0,
  batch_first, no mask (d = 128).

No hand-written NumPy version: the NumPy columns of W7 and W8 stay empty."""

from __future__ import annotations

import numpy as np

from .frameworks import FrameworkNet

SYMBOLS, SEQ = 64, 64
LSTM_HIDDEN = 256
D_MODEL, HEADS, FF, LAYERS = 128, 4, 512, 2


def make_tokens(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of SEQ symbols (int64, uniform) and their targets: the previous symbol."""
    x = np.random.default_rng(seed).integers(0, SYMBOLS, (n, SEQ), dtype=np.int64)
    y = np.concatenate([x[:, :1], x[:, :-1]], axis=1)
    return x, y


def build_lstm(nn):
    """W7's model in PyTorch's API; ``nn`` is ``torch.nn`` or ``chainrule.nn``."""

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(SYMBOLS, LSTM_HIDDEN)
            self.lstm = nn.LSTM(LSTM_HIDDEN, LSTM_HIDDEN, batch_first=True)
            self.head = nn.Linear(LSTM_HIDDEN, SYMBOLS)

        def forward(self, x):
            out, _ = self.lstm(self.embedding(x))
            return self.head(out).reshape(-1, SYMBOLS)

    return CharLSTM()


def build_transformer(nn):
    """W8's model in PyTorch's API."""

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(SYMBOLS, D_MODEL)
            self.position = nn.Embedding(SEQ, D_MODEL)  # its weight is added whole
            layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.0,
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
            self.head = nn.Linear(D_MODEL, SYMBOLS)

        def forward(self, x):
            h = self.encoder(self.embedding(x) + self.position.weight)
            return self.head(h).reshape(-1, SYMBOLS)

    return Encoder()


def _uniform(rng, shape, fan_in):
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def _xavier(rng, shape):
    bound = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def init_lstm(seed: int) -> list[np.ndarray]:
    """W7's weights in ``parameters()`` order, PyTorch's default distributions."""
    rng, h = np.random.default_rng(seed), LSTM_HIDDEN
    return [rng.standard_normal((SYMBOLS, h), dtype=np.float32),      # embedding
            _uniform(rng, (4 * h, h), h), _uniform(rng, (4 * h, h), h),  # weight_ih, weight_hh
            _uniform(rng, (4 * h,), h), _uniform(rng, (4 * h,), h),      # bias_ih, bias_hh
            _uniform(rng, (SYMBOLS, h), h), _uniform(rng, (SYMBOLS,), h)]


def init_transformer(seed: int) -> list[np.ndarray]:
    """W8's weights in ``parameters()`` order, PyTorch's default distributions (the position
    embedding: N(0, 0.02²))."""
    rng, d = np.random.default_rng(seed), D_MODEL
    out = [rng.standard_normal((SYMBOLS, d), dtype=np.float32),
           (0.02 * rng.standard_normal((SEQ, d))).astype(np.float32)]
    for _ in range(LAYERS):
        out += [_xavier(rng, (3 * d, d)), np.zeros(3 * d, np.float32),         # in_proj
                _uniform(rng, (d, d), d), np.zeros(d, np.float32),             # out_proj
                _uniform(rng, (FF, d), d), _uniform(rng, (FF,), d),            # linear1
                _uniform(rng, (d, FF), FF), _uniform(rng, (d,), FF),           # linear2
                np.ones(d, np.float32), np.zeros(d, np.float32),               # norm1
                np.ones(d, np.float32), np.zeros(d, np.float32)]               # norm2
    return out + [_uniform(rng, (SYMBOLS, d), d), _uniform(rng, (SYMBOLS,), d)]


class SequenceNet(FrameworkNet):
    """FrameworkNet on token sequences: the targets of a batch flattened to (B * SEQ,)."""

    def batches(self, x: np.ndarray, y: np.ndarray, batch: int) -> list:
        x, y = self.lib.m.from_numpy(x), self.lib.m.from_numpy(y)
        return [(x[i:i + batch], y[i:i + batch].reshape(-1)) for i in range(0, x.shape[0], batch)]
