"""The atomic single-file writer: a temp file in the same folder, renamed into place.

A reader of the path sees the previous content or the new one, never a partial file. Every file
the package writes goes through here: :func:`atomic_stream` for a file written piece by piece,
:func:`write_text_atomic` / :func:`write_json_atomic` for a whole text, :func:`copy_file_atomic`
for a copy, and :func:`temp_file_beside` and :func:`rename_into_place` for a complete file made elsewhere (a staged export file,
a compacted warehouse), and :func:`temp_folder_beside`, :func:`write_unseen_file` and
:func:`move_folder_into_place` for a folder of many small files made whole before it is seen
(the derived views). Publishing a whole export (folders, the lock, user files) is
foxwarehouse/export/publish.py.

:func:`unusable_path` says, in words, why a path given on the command line (``--db``, ``--out``,
``init DIR``) cannot be made or written: a file, device, dangling link or link loop where a folder
must be, or in the way of a folder still to be made.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .faults import checkpoint

# mkstemp makes 0600; plan files must be readable by the trainer's user.
FILE_MODE = 0o644


@contextmanager
def atomic_stream(path: Path, *, fsync: bool = False, binary: bool = False,
                  before_rename: str | None = None) -> Iterator[IO[Any]]:
    """A file handle on a temp file next to `path`; renamed over `path` when the block succeeds.

    The temp file is removed when the block raises, so a failed write leaves the old file alone.
    `fsync` flushes the data to disk before the rename (for bookkeeping a crash must not lose);
    `before_rename` names the fault checkpoint hit between the complete temp file and the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        if binary:
            fh: IO[Any] = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        with fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        if before_rename is not None:
            checkpoint(before_rename)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text_atomic(path: Path, text: str, *, fsync: bool = False) -> None:
    """Write a file through a temp file in the same folder and rename it into place."""
    with atomic_stream(path, fsync=fsync) as fh:
        fh.write(text)


def write_json_atomic(path: Path, data: Any, *, indent: int | None = 2, sort_keys: bool = False,
                      ensure_ascii: bool = True, fsync: bool = False) -> None:
    """Write `data` as JSON (plus a final newline) atomically."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    write_text_atomic(path, text + "\n", fsync=fsync)


def copy_file_atomic(src: Path, dst: Path) -> None:
    """Copy `src` byte for byte to `dst` atomically."""
    with open(src, "rb") as source, atomic_stream(dst, binary=True) as fh:
        shutil.copyfileobj(source, fh)


def temp_file_beside(path: Path) -> Path:
    """An empty temp file in `path`'s folder, for a writer that is not Python (DuckDB's ``COPY``)
    to fill; the caller renames it over `path` with :func:`rename_into_place`, or removes it."""
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{Path(path).name}-", dir=Path(path).parent)
    os.close(fd)
    return Path(tmp)


def rename_into_place(src: Path, dst: Path) -> None:
    """Rename a complete file over `dst` (same file system): readers see the old file or the new one."""
    os.replace(src, dst)


def temp_folder_beside(path: Path) -> Path:
    """An empty folder next to `path`, private to this process, made like any folder (the umask
    applies), for a folder of many files: each is written under its final name with
    :func:`write_unseen_file` (no temp file and rename per file), then :func:`move_folder_into_place`
    moves the complete folder to `path`."""
    while True:
        folder = Path(path).parent / f".tmp-{Path(path).name}-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            os.mkdir(folder)
            return folder
        except FileExistsError:
            continue


def write_unseen_file(path: Path, data: bytes) -> None:
    """Write a file into a folder from :func:`temp_folder_beside` (nobody reads it before the move)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)   # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def move_folder_into_place(src: Path, dst: Path) -> None:
    """Rename the complete folder `src` to `dst`: readers see no folder or the complete one. Into a
    folder already there, file by file, each atomically; `src` is removed."""
    try:
        os.rename(src, dst)   # also replaces an empty folder
        return
    except OSError:
        if not Path(dst).is_dir():
            raise
    for entry in sorted(os.listdir(src)):
        os.replace(Path(src) / entry, Path(dst) / entry)
    os.rmdir(src)


def entry_kind(path: str | os.PathLike[str]) -> str | None:
    """What is at `path`, in words ("a folder", "a file", "a dangling symbolic link to X", ...),
    following symbolic links; None when nothing is there."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if not os.path.lexists(path):
            return None
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        if exc.errno == errno.ENOENT and path.is_symlink():
            return f"a dangling symbolic link (to {os.readlink(path)}, which does not exist)"
        return f"unreadable ({exc.strerror})"
    mode = st.st_mode
    link = "a symbolic link to " if path.is_symlink() else ""
    for test, kind in ((stat.S_ISDIR, "folder"), (stat.S_ISREG, "file"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "named pipe (FIFO)"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return f"{link}a {kind}"
    return f"{link}a special file"


def unusable_path(path: str | os.PathLike[str], want: str = "file") -> str | None:
    """Why `path` cannot be used as a `want` ("file" or "folder"), or None when nothing in the way.

    Checks the path itself (a folder where a file goes, or anything but a folder where a folder
    goes) and the nearest existing entry above it, which must be a folder for the missing ones to be
    made. Whether that folder is writable is left to the write itself (root ignores file modes).
    """
    path = Path(path)
    kind = entry_kind(path)
    if kind is not None:
        if want == "folder" and kind != "a folder" and kind != "a symbolic link to a folder":
            return f"{path} is {kind}, not a folder"
        if want == "file" and kind.endswith("a folder"):
            return f"{path} is {kind}, not a file"
        if kind.startswith(("a dangling", "a symbolic link loop", "unreadable")):
            return f"{path} is {kind}"
        return None
    for parent in path.parents:
        kind = entry_kind(parent)
        if kind is None:
            continue
        if not kind.endswith("a folder"):
            return f"{parent} is {kind}, not a folder"
        return None
    return None
