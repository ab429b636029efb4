"""``SummaryWriter``: torch.utils.tensorboard's writer, on tensorboardX's event-file writer.

The records, their checksums and the file header are tensorboardX's (``EventsWriter``). The writing
is done here, synchronously, for two reasons measured on tensorboardX 2.6: its ``flush()`` does not
write the events still waiting in its queue (a reader sees them only after ``close()``), and a
writer reopened in the same second truncates its own earlier file (the name has no pid or count).
Here ``flush()`` means on disk, and each file is named as torch names it:
``events.out.tfevents.<time>.<host>.<pid>.<n><filename_suffix>``.

Events go into the file at once, through its buffer; as in torch, they reach the disk every
``flush_secs`` (a timer thread), on ``flush()`` and on ``close()``. tensorboardX's flush also
fsyncs, some milliseconds each, so it is not done per ``max_queue`` events: with no queue to bound,
``max_queue`` is kept for the signature only.
"""

from __future__ import annotations

import atexit
import itertools
import os
import socket
import threading
import time
import weakref
from datetime import datetime

from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event, SessionLog

from . import summary as S

__all__ = ["FileWriter", "SummaryWriter"]

_COUNT = itertools.count()           # the <n> of the file names: unique within this process
_OPEN: weakref.WeakSet = weakref.WeakSet()  # FileWriters not yet closed, flushed at exit


@atexit.register
def _flush_at_exit() -> None:
    for fw in list(_OPEN):
        fw.flush()


class FileWriter:
    """One event file in ``log_dir``. ``add_event`` writes into the file's buffer; ``flush()``,
    ``close()`` and a timer thread every ``flush_secs`` put it on disk."""

    def __init__(self, log_dir, max_queue: int = 10, flush_secs: float = 120,
                 filename_suffix: str = "") -> None:
        self.log_dir = str(log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        self.max_queue = max_queue
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        # EventsWriter names the file <prefix>.out.tfevents.<time>.<host><suffix>
        self._events = EventsWriter(os.path.join(self.log_dir, "events"),
                                    f".{os.getpid()}.{next(_COUNT)}{filename_suffix}")
        self._events.flush()  # the header (file_version), so that the file is readable at once
        _OPEN.add(self)
        self._timer = _Timer(self, flush_secs)
        self._timer.start()

    def get_logdir(self) -> str:
        return self.log_dir

    def add_event(self, event: Event, step: int | None = None, walltime: float | None = None
                  ) -> None:
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"FileWriter of {self.log_dir} is closed")
            self._events.write_event(event)
            self._pending += 1

    def add_summary(self, summary, global_step: int | None = None,
                    walltime: float | None = None) -> None:
        self.add_event(Event(summary=summary), global_step, walltime)

    def _flush(self) -> None:
        if self._pending and not self._closed:
            self._events.flush()
            self._pending = 0

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def close(self) -> None:
        self._timer.stopped.set()
        with self._lock:
            if not self._closed:
                self._flush()
                self._events.close()
                self._closed = True
        _OPEN.discard(self)


class _Timer(threading.Thread):
    """Flushes one FileWriter every ``seconds`` until stopped."""

    def __init__(self, file_writer: FileWriter, seconds: float) -> None:
        super().__init__(name=f"tensorboard-flush {file_writer.log_dir}", daemon=True)
        self.file_writer, self.seconds, self.stopped = file_writer, seconds, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.seconds):
            self.file_writer.flush()


class SummaryWriter:
    """Writes TensorBoard event files into ``log_dir``; ``tensorboard --logdir runs`` shows them.

    The API of ``torch.utils.tensorboard.SummaryWriter``. ``log_dir`` defaults to
    ``runs/<Mon><DD>_<HH>-<MM>-<SS>_<host><comment>``. Values may be chainrule Tensors, NumPy
    arrays or Python numbers.

    Example::

        from chainrule.utils.tensorboard import SummaryWriter
        with SummaryWriter("runs/mlp") as writer:
            for step in range(100):
                writer.add_scalar("loss/train", 1 / (step + 1), step)
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix="") -> None:
        if not log_dir:
            now = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", now + "_" + socket.gethostname() + comment)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.default_bins = S.DEFAULT_BINS
        self.file_writer = self.all_writers = None
        self._get_file_writer()

    def _get_file_writer(self) -> FileWriter:
        """The file of ``log_dir``; after ``close()``, a new one (a new file in the same folder)."""
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs,
                                          self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                # TensorBoard hides the events of earlier files from purge_step on
                self.file_writer.add_event(Event(step=self.purge_step,
                                                 file_version="brain.Event:2"))
                self.file_writer.add_event(Event(step=self.purge_step,
                                                 session_log=SessionLog(status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self):
        """The folder the event files go into, as given (a str or a Path)."""
        return self.log_dir

    def add_scalar(self, tag: str, scalar_value, global_step: int | None = None,
                   walltime: float | None = None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """One number (a Tensor or array of one element too) at ``global_step``."""
        summary = S.scalar(tag, scalar_value, new_style=new_style,
                           double_precision=double_precision)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step: int | None = None,
                    walltime: float | None = None) -> None:
        """Several numbers on one chart ``main_tag``: each key is a run of its own, in the folder
        ``<log_dir>/<main_tag with / as _>_<key>``, as torch names it."""
        walltime = time.time() if walltime is None else walltime
        log_dir = self._get_file_writer().get_logdir()
        for tag, scalar_value in tag_scalar_dict.items():
            folder = log_dir + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(folder)
            if fw is None:
                fw = FileWriter(folder, self.max_queue, self.flush_secs, self.filename_suffix)
                self.all_writers[folder] = fw
            fw.add_summary(S.scalar(main_tag, scalar_value), global_step, walltime)

    def add_histogram(self, tag: str, values, global_step: int | None = None, bins="tensorflow",
                      walltime: float | None = None, max_bins: int | None = None) -> None:
        """A histogram of ``values``. ``bins='tensorflow'``: TensorFlow's exponential buckets
        (±1e-12·1.1^k); else NumPy's ``bins`` ('auto', 'fd', a count, or the edges)."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._get_file_writer().add_summary(S.histogram(tag, values, bins, max_bins=max_bins),
                                            global_step, walltime)

    def add_histogram_raw(self, tag: str, min, max, num, sum, sum_squares,  # noqa: A002
                          bucket_limits, bucket_counts, global_step: int | None = None,
                          walltime: float | None = None) -> None:
        """A histogram counted elsewhere: ``bucket_counts[i]`` values up to ``bucket_limits[i]``."""
        summary = S.histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits,
                                  bucket_counts)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_image(self, tag: str, img_tensor, global_step: int | None = None,
                  walltime: float | None = None, dataformats: str = "CHW") -> None:
        """An image: (3, H, W) by default; ``dataformats`` 'HWC', 'HW', ... for other layouts.
        uint8 values are 0..255; floats 0..1. Needs Pillow."""
        self._get_file_writer().add_summary(S.image(tag, img_tensor, dataformats=dataformats),
                                            global_step, walltime)

    def add_images(self, tag: str, img_tensor, global_step: int | None = None,
                   walltime: float | None = None, dataformats: str = "NCHW") -> None:
        """A batch of images as one grid, 8 per row: (N, 3, H, W) by default."""
        self._get_file_writer().add_summary(S.image(tag, img_tensor, dataformats=dataformats),
                                            global_step, walltime)

    def add_figure(self, tag: str, figure, global_step: int | None = None, close: bool = True,
                   walltime: float | None = None) -> None:
        """A matplotlib figure (or a list of them, as a grid) as an image; closes it unless
        ``close=False``."""
        if isinstance(figure, list):
            self.add_image(tag, S.figure_to_image(figure, close), global_step, walltime,
                           dataformats="NCHW")
        else:
            self.add_image(tag, S.figure_to_image(figure, close), global_step, walltime,
                           dataformats="CHW")

    def add_text(self, tag: str, text_string: str, global_step: int | None = None,
                 walltime: float | None = None) -> None:
        """Text (Markdown) under ``<tag>/text_summary``."""
        self._get_file_writer().add_summary(S.text(tag, text_string), global_step, walltime)

    def add_hparams(self, hparam_dict: dict, metric_dict: dict,
                    hparam_domain_discrete: dict | None = None, run_name: str | None = None,
                    global_step: int | None = None) -> None:
        """One row of TensorBoard's HPARAMS table: the hyperparameters (int, float, str, bool or
        None) and the metrics, written as torch writes them into a sub-run
        ``<log_dir>/<run_name>`` (default: the time), the metrics there as scalars too."""
        experiment, start, end = S.hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        if not run_name:
            run_name = str(time.time())
        log_dir = os.path.join(self._get_file_writer().get_logdir(), run_name)
        with SummaryWriter(log_dir=log_dir) as w:
            for summary in (experiment, start, end):
                w.file_writer.add_summary(summary, global_step)
            for k, v in metric_dict.items():
                w.add_scalar(k, v, global_step)

    def flush(self) -> None:
        """Writes everything added so far to disk."""
        if self.all_writers is None:
            return
        for fw in self.all_writers.values():
            fw.flush()

    def close(self) -> None:
        """Flushes and closes every file; a later ``add_*`` opens a new file in ``log_dir``."""
        if self.all_writers is None:
            return
        for fw in self.all_writers.values():
            fw.close()
        self.file_writer = self.all_writers = None

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SummaryWriter(log_dir={self.log_dir!r})"
