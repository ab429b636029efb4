"""Training on MNIST from Python or the command line: models, the loop, checkpoints, evaluation."""

from .loop import TrainConfig, evaluate_model, load_checkpoint, train
from .models import build_model

__all__ = ["TrainConfig", "train", "evaluate_model", "load_checkpoint", "build_model"]
