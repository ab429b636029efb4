"""chainrule's character-level language models against their PyTorch twins: the same initial
weights (chainrule's, copied by name), the same batches in the same order, the same optimizer
(Adam, cosine-annealed per step) and steps; prints both final validation losses in bits per
character.

    python benchmarks/charlm_torch.py --model char-lstm            # the command's defaults
    python benchmarks/charlm_torch.py --model char-transformer --threads 1
    python benchmarks/charlm_torch.py --model char-lstm --epochs 1 --words 5000   # a quick look

chainrule trains through ``chainrule.training.text.train_text`` (what ``chainrule train`` runs),
into a temporary --out; PyTorch through the loop below, which repeats it line for line."""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="char-lstm", choices=["char-lstm", "char-transformer"])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="as chainrule train's --data-dir")
    p.add_argument("--words", type=int, default=None,
                   help="use only the first N words of the list (a quick look)")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


# -- the twins: chainrule's models in PyTorch, with the same parameter names --------------------

def twin(name: str, torch_nn=None):
    """The PyTorch model of chainrule's ``name`` (training/char_models.py), default sizes."""
    import torch
    from torch import nn

    class CharLSTM(nn.Module):
        def __init__(self, vocab_size=27, embedding_dim=64, hidden_size=256, num_layers=1):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True)
            self.head = nn.Linear(hidden_size, vocab_size)

        def forward(self, idx):
            out, _ = self.lstm(self.embedding(idx))
            return self.head(out)

    class CharTransformer(nn.Module):
        def __init__(self, vocab_size=27, block_size=32, d_model=128, nhead=4, num_layers=2,
                     dim_feedforward=512, dropout=0.0):
            super().__init__()
            self.token = nn.Embedding(vocab_size, d_model)
            self.position = nn.Embedding(block_size, d_model)
            layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                               activation="gelu", batch_first=True,
                                               norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab_size)

        def forward(self, idx):
            t = idx.shape[1]
            x = self.token(idx) + self.position(torch.arange(t))
            mask = nn.Transformer.generate_square_subsequent_mask(t, dtype=x.dtype)
            return self.head(self.norm(self.encoder(x, mask=mask, is_causal=True)))

    return {"char-lstm": CharLSTM, "char-transformer": CharTransformer}[name]()


def copy_into_twin(cr_model, torch_model, dtype=None) -> None:
    """Load chainrule's weights into the twin, by name (every name must match)."""
    import numpy as np
    import torch

    state = {k: torch.from_numpy(np.array(np.asarray(v), dtype=dtype or np.asarray(v).dtype))
             for k, v in cr_model.state_dict().items()}
    torch_model.load_state_dict(state, strict=True)


def torch_loss(model, x, y, reduction="mean"):
    import torch
    import torch.nn.functional as F

    logits = model(torch.from_numpy(x))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y.reshape(-1)),
                           ignore_index=-100, reduction=reduction)


def train_twin(model, cfg, train_words, val_words) -> float:
    """text.train_text's loop in PyTorch (no sampling, no files); returns the validation loss in
    nats per character."""
    import torch

    from chainrule.training.text import IGNORE, epoch_batches, make_batch

    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = -(-len(train_words) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps)
    model.train()
    for epoch in range(cfg.epochs):
        for x, y in epoch_batches(train_words, cfg.batch_size, cfg.seed, epoch):
            loss = torch_loss(model, x, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    total, count = 0.0, 0
    ordered = sorted(val_words, key=len)
    with torch.no_grad():
        for k in range(0, len(ordered), 512):
            x, y = make_batch(ordered[k:k + 512])
            total += torch_loss(model, x, y, reduction="sum").item()
            count += int((y != IGNORE).sum())
    return total / count


def main(argv=None) -> int:
    a = _args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    sys.path.insert(0, str(SRC))
    import torch

    import chainrule as cr
    from chainrule.datasets.words import Words
    from chainrule.training.char_models import build_char_model
    from chainrule.training.loop import TrainConfig
    from chainrule.training.text import text_config, train_text

    torch.set_num_threads(a.threads)
    cr.set_num_threads(a.threads)
    words = Words(a.data_dir).words
    words = words if a.words is None else words[:a.words]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = text_config(TrainConfig(dataset="words", model=a.model, epochs=a.epochs,
                                      batch_size=a.batch_size, lr=a.lr, optimizer=None,
                                      momentum=None, weight_decay=None, seed=a.seed,
                                      data_dir=a.data_dir, val_size=None, out=tmp,
                                      progress=False))
        started = time.perf_counter()
        got = train_text(cfg, words=words)
        cr_seconds = time.perf_counter() - started
    cr.manual_seed(cfg.seed)  # the initial weights train_text started from
    model = twin(a.model)
    copy_into_twin(build_char_model(a.model), model)
    started = time.perf_counter()
    torch_nats = train_twin(model, cfg, got["train_words"], got["val_words"])
    torch_seconds = time.perf_counter() - started
    print(f"\n{a.model}, {cfg.epochs} epoch(s), batch {cfg.batch_size}, adam lr {cfg.lr:g}, "
          f"{len(got['train_words'])} train / {len(got['val_words'])} validation words, "
          f"{a.threads} thread(s):")
    print(f"  chainrule  validation {got['val_loss']:.4f} nats = {got['val_bpc']:.4f} bits/char "
          f"({cr_seconds:.0f} s, sampling included)")
    print(f"  PyTorch    validation {torch_nats:.4f} nats = {torch_nats / math.log(2):.4f} "
          f"bits/char ({torch_seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
