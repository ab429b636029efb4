"""The ``Summary`` protocol buffers that ``SummaryWriter`` writes, as
``torch.utils.tensorboard.summary`` makes them, from tensorboardX's proto classes.

Where tensorboardX's own summary functions differ from torch's, these follow torch: tags are kept
as given (tensorboardX rewrites characters it finds illegal), float images are clipped to [0, 1]
before they become bytes (tensorboardX lets 1.2 wrap around to a dark pixel), scalars have the
``new_style`` form, and hyperparameters have discrete domains. Inputs may be chainrule Tensors,
NumPy arrays, Python numbers or lists (and anything tensorboardX converts, such as torch tensors).
"""

from __future__ import annotations

import numpy as np
from google.protobuf import struct_pb2
from tensorboardX.proto.api_pb2 import (DataType, Experiment, HParamInfo, MetricInfo, MetricName,
                                        Status)
from tensorboardX.proto.plugin_hparams_pb2 import (HParamsPluginData, SessionEndInfo,
                                                   SessionStartInfo)
from tensorboardX.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboardX.proto.tensor_pb2 import TensorProto
from tensorboardX.summary import make_histogram, text  # noqa: F401  (text: same as torch's)

from ...tensor import Tensor

__all__ = ["scalar", "histogram", "histogram_raw", "image", "text", "hparams", "figure_to_image",
           "convert_to_HWC", "make_grid", "make_np"]

# TensorBoard's hparams plugin: its name, version and the three tags it looks for
_HPARAMS = "hparams"
_EXPERIMENT_TAG = "_hparams_/experiment"
_SESSION_START_INFO_TAG = "_hparams_/session_start_info"
_SESSION_END_INFO_TAG = "_hparams_/session_end_info"


def _default_bins() -> list[float]:
    """TensorFlow's histogram buckets: ±1e-12 · 1.1^k up to 1e20, and 0 (1,547 edges)."""
    v, buckets = 1e-12, []
    while v < 1e20:
        buckets.append(v)
        v *= 1.1
    return [-b for b in reversed(buckets)] + [0] + buckets


DEFAULT_BINS = _default_bins()


def make_np(x) -> np.ndarray:
    """``x`` as a NumPy array: a chainrule Tensor's values (detached), an array as it is, a number
    or list as an array; other array types (torch, JAX, ...) through tensorboardX's converter."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, Tensor):
        return x.detach().numpy()
    if isinstance(x, (list, tuple, np.generic, int, float, bool)):
        return np.asarray(x)
    from tensorboardX.x2num import make_np as convert
    return convert(x)


def scalar(name: str, tensor, new_style: bool = False, double_precision: bool = False) -> Summary:
    """One number, as a ``simple_value`` (or, with ``new_style``, a tensor of the scalars plugin,
    float32 or with ``double_precision`` float64)."""
    value = make_np(tensor).squeeze()
    if value.ndim != 0:
        raise ValueError(f"add_scalar: {name!r} needs one number; got an array of shape "
                         f"{make_np(tensor).shape} ({value.size} elements)")
    value = float(value)
    if not new_style:
        return Summary(value=[Summary.Value(tag=name, simple_value=value)])
    proto = (TensorProto(double_val=[value], dtype="DT_DOUBLE") if double_precision
             else TensorProto(float_val=[value], dtype="DT_FLOAT"))
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    return Summary(value=[Summary.Value(tag=name, tensor=proto, metadata=metadata)])


def histogram(name: str, values, bins, max_bins: int | None = None) -> Summary:
    """A histogram of all of ``values`` (any shape), with NumPy's ``bins`` (edges, a count or a
    rule such as 'auto'), and min, max, num, sum and sum of squares."""
    values = make_np(values).astype(float)
    if values.size == 0:
        raise ValueError(f"add_histogram: {name!r} has no values (shape {values.shape})")
    return Summary(value=[Summary.Value(tag=name, histo=make_histogram(values, bins, max_bins))])


def histogram_raw(name: str, min, max, num, sum, sum_squares, bucket_limits,  # noqa: A002
                  bucket_counts) -> Summary:
    """A histogram already counted: ``bucket_counts[i]`` values at most ``bucket_limits[i]``."""
    if len(bucket_limits) != len(bucket_counts):
        raise ValueError(f"add_histogram_raw: {name!r} has {len(bucket_limits)} bucket limits "
                         f"but {len(bucket_counts)} bucket counts; they must be as many")
    hist = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares,
                          bucket_limit=bucket_limits, bucket=bucket_counts)
    return Summary(value=[Summary.Value(tag=name, histo=hist)])


def make_grid(images: np.ndarray, ncols: int = 8) -> np.ndarray:
    """N images (N, C, H, W), C 1 or 3, on one (3, H·rows, W·min(N, ncols)) canvas, row by row."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"add_images: a batch of images must be (N, C, H, W) with C 1 or 3; "
                         f"got shape {images.shape} (after dataformats)")
    if images.shape[1] == 1:
        images = np.concatenate([images] * 3, axis=1)
    n, _, h, w = images.shape
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    canvas = np.zeros((3, h * nrows, w * ncols), dtype=images.dtype)
    for i in range(n):
        y, x = divmod(i, ncols)
        canvas[:, y * h:(y + 1) * h, x * w:(x + 1) * w] = images[i]
    return canvas


def convert_to_HWC(tensor: np.ndarray, input_format: str) -> np.ndarray:  # noqa: N802 (torch's)
    """An image in ``input_format`` (letters of NCHW: 'CHW', 'HWC', 'HW', 'NCHW', 'NHWC', ...) as
    (H, W, C): one channel becomes three grey ones, a batch becomes a grid of 8 per row."""
    fmt = input_format.upper()
    if len(set(fmt)) != len(fmt) or not set(fmt) <= set("NCHW") or len(fmt) < 2:
        raise ValueError(f"dataformats {input_format!r}: use each of the letters N, C, H, W at "
                         f"most once, e.g. 'CHW', 'HWC', 'HW' or 'NCHW'")
    if tensor.ndim != len(fmt):
        raise ValueError(f"dataformats {input_format!r} names {len(fmt)} dimensions but the "
                         f"image has {tensor.ndim}: shape {tensor.shape}")
    if len(fmt) == 4:
        grid = make_grid(tensor.transpose([fmt.find(c) for c in "NCHW"]))
        return grid.transpose(1, 2, 0)
    if len(fmt) == 3:
        if "N" in fmt:
            raise ValueError(f"dataformats {input_format!r}: a single image is 'CHW', 'HWC' or "
                             f"'HW'; a batch is 'NCHW' or 'NHWC' (add_images)")
        hwc = tensor.transpose([fmt.find(c) for c in "HWC"])
        return np.concatenate([hwc] * 3, axis=2) if hwc.shape[2] == 1 else hwc
    if fmt not in ("HW", "WH"):
        raise ValueError(f"dataformats {input_format!r}: an image of two dimensions is 'HW' or "
                         f"'WH'")
    hw = tensor.transpose([fmt.find(c) for c in "HW"])
    return np.stack([hw] * 3, axis=2)


def image(tag: str, tensor, dataformats: str = "NCHW") -> Summary:
    """An image as PNG: uint8 values are taken as 0..255, any other type as 0..1 (clipped)."""
    try:
        from tensorboardX.summary import make_image
        import PIL  # noqa: F401  (make_image needs it; say so before anything else fails)
    except ImportError as e:
        raise ImportError("add_image needs Pillow to encode PNG: pip install pillow "
                          "(or pip install 'chainrule[train]')") from e
    array = make_np(tensor)
    hwc = convert_to_HWC(array, dataformats)
    if hwc.shape[2] not in (3, 4):
        raise ValueError(f"add_image: {tag!r} has {hwc.shape[2]} channels (shape {array.shape}, "
                         f"dataformats {dataformats!r}); an image has 1, 3 or 4")
    scale = 1 if hwc.dtype == np.uint8 else 255
    pixels = (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    return Summary(value=[Summary.Value(tag=tag, image=make_image(pixels))])


def figure_to_image(figures, close: bool = True) -> np.ndarray:
    """A matplotlib figure rendered to a uint8 (3, H, W) array; a list of them to (N, 3, H, W)."""
    try:
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as e:
        raise ImportError("add_figure needs matplotlib: pip install matplotlib "
                          "(or pip install 'chainrule[train]')") from e

    def render(figure):
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        if close:
            plt.close(figure)
        return np.ascontiguousarray(rgba[:, :, :3].transpose(2, 0, 1))

    if isinstance(figures, list):
        return np.stack([render(f) for f in figures])
    return render(figures)


def _plugin(content) -> SummaryMetadata:
    data = HParamsPluginData(version=0, **content)
    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
        plugin_name=_HPARAMS, content=data.SerializeToString()))


def hparams(hparam_dict: dict, metric_dict: dict, hparam_domain_discrete: dict | None = None
            ) -> tuple[Summary, Summary, Summary]:
    """The hparams plugin's three summaries: the experiment (names of the hyperparameters, their
    types and discrete domains, and of the metrics), the session's values, and its end."""
    if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
        raise TypeError(f"add_hparams: hparam_dict and metric_dict should be dictionaries; got "
                        f"{type(hparam_dict).__name__} and {type(metric_dict).__name__}")
    domains = hparam_domain_discrete or {}
    if not isinstance(domains, dict):
        raise TypeError(f"add_hparams: hparam_domain_discrete should be a dictionary; got "
                        f"{type(domains).__name__}")
    for k, values in domains.items():
        if (k not in hparam_dict or not isinstance(values, list)
                or not all(isinstance(d, type(hparam_dict[k])) for d in values)):
            raise TypeError(f"add_hparams: hparam_domain_discrete[{k!r}] should be a list of "
                            f"values of the same type as hparam_dict[{k!r}]")

    infos, start = [], SessionStartInfo()
    for k, v in hparam_dict.items():
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_)):  # before int: True is an int too
            kind, field, v = "DATA_TYPE_BOOL", "bool_value", bool(v)
        elif isinstance(v, str):
            kind, field = "DATA_TYPE_STRING", "string_value"
        elif isinstance(v, (int, float, np.integer, np.floating, Tensor)):
            array = make_np(v)
            if array.size != 1:
                raise ValueError(f"add_hparams: hyperparameter {k!r} is a tensor of shape "
                                 f"{array.shape}; it must hold one number")
            kind, field, v = "DATA_TYPE_FLOAT64", "number_value", float(array.reshape(()))
        else:
            raise ValueError(f"add_hparams: hyperparameter {k!r} is a {type(v).__name__}; a value "
                             f"should be one of int, float, str, bool, a one-element Tensor or "
                             f"None")
        setattr(start.hparams[k], field, v)
        domain = None
        if k in domains:
            domain = struct_pb2.ListValue(values=[
                struct_pb2.Value(**{field: float(d) if field == "number_value" else d})
                for d in domains[k]])
        infos.append(HParamInfo(name=k, type=DataType.Value(kind), domain_discrete=domain))

    metrics = [MetricInfo(name=MetricName(tag=k)) for k in metric_dict]
    experiment = Experiment(hparam_infos=infos, metric_infos=metrics)
    end = SessionEndInfo(status=Status.Value("STATUS_SUCCESS"))
    return (Summary(value=[Summary.Value(tag=_EXPERIMENT_TAG,
                                         metadata=_plugin({"experiment": experiment}))]),
            Summary(value=[Summary.Value(tag=_SESSION_START_INFO_TAG,
                                         metadata=_plugin({"session_start_info": start}))]),
            Summary(value=[Summary.Value(tag=_SESSION_END_INFO_TAG,
                                         metadata=_plugin({"session_end_info": end}))]))
