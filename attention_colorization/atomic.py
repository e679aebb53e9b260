"""Atomic file writes: a temporary file in the destination folder, then a rename.

A reader, a crash or a ``kill -9`` never sees a half-written file: either the
old file (or none) or the complete new one.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile


@contextlib.contextmanager
def atomic_open(path: os.PathLike, mode: str = "wb"):
    """Opens a temporary file beside ``path``; renames it to ``path`` on success.

    On any exception the temporary file is removed and the exception re-raised.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        # mkstemp makes the file 0600; give it the permissions open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)
