"""``chainrule.utils.tensorboard``: TensorBoard logs with ``torch.utils.tensorboard``'s API.

    from chainrule.utils.tensorboard import SummaryWriter
    writer = SummaryWriter()              # runs/<Mon><DD>_<HH>-<MM>-<SS>_<host>
    writer.add_scalar("loss/train", loss, step)
    writer.close()                        # then: tensorboard --logdir runs

tensorboardX writes the event files; it comes with ``pip install 'chainrule[tensorboard]'``
(with the ``tensorboard`` program that shows them), and ``import chainrule`` does not need it.
"""

try:
    import tensorboardX  # noqa: F401
except ImportError as e:
    raise ImportError("chainrule.utils.tensorboard needs tensorboardX to write TensorBoard event "
                      "files: pip install 'chainrule[tensorboard]'") from e

from .writer import FileWriter, SummaryWriter

__all__ = ["FileWriter", "SummaryWriter"]
