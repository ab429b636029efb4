"""The two networks ``chainrule train --model`` knows."""

from __future__ import annotations

from .. import nn


def mlp() -> nn.Module:
    """784-512-256-10 with ReLU: about 98.3 % on MNIST after 10 epochs of SGD."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512), nn.ReLU(),
        nn.Linear(512, 256), nn.ReLU(),
        nn.Linear(256, 10),
    )


def cnn() -> nn.Module:
    """Two 3x3 conv layers with max-pooling, then two linear layers: about 99.2 % after 5 epochs."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(128, 10),
    )


MODELS = {"mlp": mlp, "cnn": cnn}


def build_model(name: str) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name]()
