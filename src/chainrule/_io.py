"""Writing files atomically: a temporary file beside the target, then one rename.

The temporary file is named ``.{name}.{pid}.{random}.tmp{suffix}``. A process killed mid-write
leaves it behind; the next write of the same file removes such leftovers whose writer is dead
(or, for names without a pid, written before this process started), never a live writer's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from pathlib import Path

_STARTED = time.time()


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (else set and reset)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def _remove_leftovers(path: Path) -> None:
    """Delete temporary files of earlier writes of ``path`` whose writer died mid-write."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp"
                         rf"(?:{re.escape(path.suffix)})?")
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            m = pattern.fullmatch(entry.name)
            if m is None:
                continue
            with contextlib.suppress(OSError):
                pid = int(m[1]) if m[1] else None
                if (not _alive(pid) if pid is not None
                        else entry.stat().st_mtime < _STARTED):
                    os.unlink(entry.path)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not possible everywhere (Windows)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path, write, durable: bool = False) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path``; an interruption leaves the
    previous file untouched and no temporary file behind. The file gets the permissions the
    umask allows (as ``open`` would give it, not ``mkstemp``'s 0600); ``durable`` also syncs it
    to disk before the rename and the folder after it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.",
                               suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        if durable:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


def probe_writable(path, size: int = 0) -> None:
    """Raise the OSError a write of ``path`` would meet (a read-only folder, a full disk): create
    the temporary file ``atomic_write`` would, reserve ``size`` bytes in it where the file system
    can, and remove it. The folder must exist."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.",
                               suffix=".tmp" + path.suffix, dir=path.parent)
    try:
        if size > 0 and hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(fd, 0, size)
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise OSError(e.errno, e.strerror, tmp) from None
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write_text(path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
