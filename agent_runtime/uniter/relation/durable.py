"""Durable file operations: atomic replace, unlink and rmdir, each fsynced.

A file is replaced through ``<file>.preparing``: the bytes are written there,
fsynced, and the temporary file is renamed over the target, then the directory
is fsynced so the rename itself survives a power failure. A reader therefore
sees the old content or the new one, never a mix, whenever the writer dies.
Leftover ``*.preparing`` files (from a writer killed before its rename) are
harmless: the next write of that file truncates and reuses its one.

These calls block the calling greenlet and the gevent hub for the time of the
fsyncs (a local disk: tens of microseconds to a few milliseconds).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["PREPARING", "fsync_dir", "remove_dir", "remove_file", "replace_file"]

#: The suffix of a file being written.
PREPARING = ".preparing"

_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def fsync_dir(path: str) -> None:
    """fsync the directory ``path``, making the names in it (creations,
    renames, removals) durable."""
    fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(directory: str, name: str, data: bytes, mode: int = 0o644) -> None:
    """Atomically and durably make ``directory/name`` hold ``data``.

    On error the temporary file is removed and ``directory/name`` is as it
    was; the error (an ``OSError``) is raised.
    """
    path = os.path.join(directory, name)
    temporary = path + PREPARING
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_CLOEXEC | _O_NOFOLLOW
    fd = os.open(temporary, flags, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def remove_file(directory: str, name: str) -> bool:
    """Durably remove ``directory/name`` (and a leftover ``name.preparing``).
    Return False if it did not exist. Raises ``OSError`` for other failures
    (for instance ``IsADirectoryError`` when ``name`` is a directory)."""
    path = os.path.join(directory, name)
    try:
        os.unlink(path)
    except FileNotFoundError:
        existed = False
    else:
        existed = True
    try:
        os.unlink(path + PREPARING)
    except FileNotFoundError:
        pass
    else:
        existed = True
    if existed:
        fsync_dir(directory)
    return existed


def remove_dir(path: str, leftovers: Sequence[str] = ()) -> bool:
    """Durably remove the directory ``path`` after removing the files named in
    ``leftovers`` inside it. Return False if it did not exist. Raises
    ``OSError`` (``ENOTEMPTY``) if it holds anything else; the caller checks
    that first so that nothing is removed when the directory stays."""
    for name in leftovers:
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return False
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    return True
