"""Opening files named by a user: regular files only, with the size bounded before anything is read.

A FIFO without a writer blocks an ``open()`` for ever, ``/dev/zero`` or ``/dev/urandom`` never end, and a
directory raises an unhelpful ``IsADirectoryError`` (issue 20); every file the CLI reads goes through here.
"""

from __future__ import annotations

import os
import stat


def open_regular(path: str, what: str = "file"):
    """``path`` opened for reading in binary, if it is a regular file; ``ValueError`` for a FIFO, a device, a
    socket or a directory (a FIFO without a writer would block for ever, ``/dev/zero`` never ends).

    ``O_NONBLOCK`` makes opening a FIFO return at once; the type is then checked on the open descriptor
    (``fstat``), so a path swapped between a check and the open is still caught.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
            raise ValueError(f"{what} {printable_path(path)} is {kind}; only regular files are read")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of regular file ``path``, refused before reading when it is larger than ``max_bytes``."""
    with open_regular(path, what) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise ValueError(f"{what} {printable_path(path)} is {size:,} bytes; at most {max_bytes:,} are read")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while being read
        raise ValueError(f"{what} {printable_path(path)} is more than {max_bytes:,} bytes; at most {max_bytes:,} "
                         "are read")
    return data


def printable_path(path) -> str:
    """A path for a message: quoted, control characters escaped, at most 200 characters."""
    return repr("".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(path)[:200]))
