"""An English word list for character-level language models (makemore's task, on a dictionary).

The corpus is the system's word list, one word a line: ``/usr/share/dict/words``, which Debian's
and Ubuntu's ``wamerican`` package installs (``apt-get install wamerican``; macOS and Fedora ship
one too). It is never copied into the project: chainrule reads it where it is."""

from __future__ import annotations

import os
import re
from pathlib import Path

VOCAB = ".abcdefghijklmnopqrstuvwxyz"  # "." (index 0) starts and ends every word
INSTALL = "apt-get install wamerican"
SYSTEM_LIST = Path("/usr/share/dict/words")
FILE_NAMES = ("words", "words.txt")
_WORD = re.compile(r"[a-z]+")


def encode(word: str) -> list[int]:
    """The indices of ``word``'s letters in ``VOCAB``."""
    return [VOCAB.index(ch) for ch in word]


def decode(indices) -> str:
    return "".join(VOCAB[int(i)] for i in indices)


class Words:
    """The lowercase words of an English word list: every line that is letters a-z only once
    lowercased (no possessives ``'s``, no accents), deduplicated, in the file's order.

    Looked for as a file ``words`` or ``words.txt`` in ``root`` or its ``words/``; without
    ``root`` in ``$CHAINRULE_DATA`` (and its ``words/``), then ``~/.cache/chainrule/words/``, then
    the system's ``/usr/share/dict/words``. Debian's ``wamerican`` (2020.12.07) gives 73,445
    words of 1 to 22 letters, 8.1 on average.

    >>> words = Words().words      # ['a', 'aa', 'aaa', 'aachen', ...]
    """

    folder = "words"

    def __init__(self, root: str | os.PathLike | None = None):
        candidates = self._candidates(root)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            where = ", ".join(str(p) for p in candidates)
            raise FileNotFoundError(
                f"words: no word list found (looked for {where}); install one with "
                f"`{INSTALL}` (Debian, Ubuntu), or give --data-dir a folder holding a file "
                f"'words' with one word a line")
        self.path = path
        text = path.read_text(encoding="utf-8", errors="replace")
        seen = dict.fromkeys(w for w in (line.strip().lower() for line in text.splitlines())
                             if _WORD.fullmatch(w))
        self.words = list(seen)
        if not self.words:
            raise ValueError(f"{path}: holds no word of letters a-z (one word a line expected)")

    @classmethod
    def _candidates(cls, root) -> list[Path]:
        if root is not None:
            bases = [Path(root).expanduser()]
        else:
            env = os.environ.get("CHAINRULE_DATA")
            cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "chainrule"
            bases = ([Path(env).expanduser()] if env else []) + [cache]
        found = [b / sub / name for b in bases for sub in ("", cls.folder) for name in FILE_NAMES]
        if root is None:
            found.append(SYSTEM_LIST)
        return list(dict.fromkeys(found))

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        return f"Words({len(self.words)} words, path={self.path})"
