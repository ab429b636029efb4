"""The device idiom of PyTorch scripts (``device = cr.device("cpu")``, ``x.to(device)``).

chainrule computes on the CPU only: every device argument accepts "cpu" (with or without an
index) and refuses the others with an error that says so, where PyTorch would move the data.
"""

from __future__ import annotations

# PyTorch's device types: any of them makes a device object; only "cpu" holds tensors here
_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga",
          "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")


class device:
    """A device: ``type`` ("cpu", "cuda", ...) and ``index`` (an int or None), as ``torch.device``.

    >>> cr.device("cpu"), cr.device("cuda", 0), str(cr.device("cpu"))
    (device(type='cpu'), device(type='cuda', index=0), 'cpu')

    Unlike PyTorch's, a device compares equal to its string: ``x.device == "cpu"`` is True.
    """

    __slots__ = ("_type", "_index")

    def __init__(self, type: "str | device", index: int | None = None):
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, int) and not isinstance(type, bool):
            raise RuntimeError(f"device({type}): an index alone names an accelerator, and "
                               f"chainrule runs on the CPU only; use cr.device('cpu')")
        elif not isinstance(type, str):
            raise TypeError(f"device: expected a string or a device, got {type.__class__.__name__}")
        else:
            name, sep, number = type.partition(":")
            if sep:
                if index is not None:
                    raise RuntimeError(f"device: type ({type!r}) must not include an index "
                                       f"because the index is given separately ({index})")
                if not number.isdigit() or (len(number) > 1 and number[0] == "0"):
                    raise RuntimeError(f"Invalid device string: {type!r}")
                index = int(number)
            if name not in _TYPES:
                raise RuntimeError(f"Expected one of {', '.join(_TYPES)} device type at start of "
                                   f"device string: {type}")
            type = name
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)
                                  or index < 0):
            raise RuntimeError(f"device: index must be a non-negative int, got {index!r}")
        object.__setattr__(self, "_type", type)
        object.__setattr__(self, "_index", index)

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __setattr__(self, name, value):
        raise AttributeError(f"attribute {name!r} of 'device' objects is not writable")

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        index = "" if self._index is None else f", index={self._index}"
        return f"device(type='{self._type}'{index})"

    def __eq__(self, other) -> bool:
        if isinstance(other, device):
            return (self._type, self._index) == (other._type, other._index)
        if isinstance(other, str):
            return str(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))  # equal to its string's hash, as equality says

    def __reduce__(self):
        return device, (self._type, self._index)

    def __enter__(self) -> "device":
        """``with cr.device("cpu"):`` makes tensors on the CPU, as everywhere; another device
        raises."""
        check_device(self, "device.__enter__")
        return self

    def __exit__(self, *exc) -> None:
        return None


CPU = device("cpu")


def set_default_device(dev) -> None:
    """``cr.set_default_device("cpu")`` (or None) is accepted: the CPU is always the default.
    Another device raises, as chainrule runs on the CPU only."""
    check_device(dev, "set_default_device")


def get_default_device() -> device:
    return CPU


def _is_device(obj) -> bool:
    """Whether a positional argument of ``to(...)`` names a device (not a dtype)."""
    return isinstance(obj, device) or (isinstance(obj, str) and obj.partition(":")[0] in _TYPES)


def check_device(dev, op: str) -> None:
    """Accept None, "cpu", "cpu:N" or a CPU ``device``; refuse any other device, naming ``op``."""
    if dev is None or dev == "cpu":
        return
    d = dev if isinstance(dev, device) else device(dev)
    if d.type != "cpu":
        raise RuntimeError(
            f"{op}: chainrule runs on the CPU only; device '{d}' is not available "
            f"(cr.cuda.is_available() is False). Use device='cpu', or choose it as PyTorch "
            f"scripts do: device = 'cuda' if cr.cuda.is_available() else 'cpu'")


def to_args(op: str, args: tuple, kwargs: dict, tensor_type: type):
    """Parse PyTorch's ``to(...)`` forms: ``(dtype)``, ``(device, dtype)``, ``(tensor)``, with
    ``non_blocking``, ``copy`` and ``memory_format``; check the device; return (dtype, copy)."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"{op}() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    dev, dtype = kwargs.get("device"), kwargs.get("dtype")
    rest = list(args)
    if rest and _is_device(rest[0]):
        dev = rest.pop(0)
        if rest and not isinstance(rest[0], bool):
            dtype = rest.pop(0)
    elif rest and isinstance(rest[0], tensor_type):
        dtype = rest.pop(0).dtype
    elif rest and rest[0] is not None and not isinstance(rest[0], bool):
        dtype = rest.pop(0)
    if len(rest) > 2 or not all(isinstance(a, bool) for a in rest):
        raise TypeError(f"{op}() received an invalid combination of arguments: {args!r}; "
                        f"expected (dtype), (device, dtype), (tensor), then non_blocking, copy")
    check_device(dev, op)
    copy = rest[1] if len(rest) == 2 else kwargs.get("copy", False)
    return dtype, copy
