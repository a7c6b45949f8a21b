"""Where a command's ``--out FILE`` may write: never over the warehouse (or any DuckDB file), never
into a published plan, never over an existing file foxwarehouse did not write.

Every file written this way carries a marker (an HTML generator meta tag, a first-line Markdown
comment) so a later run recognises its own output and may replace it; anything else is refused.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

from .atomic import unusable_path, write_text_atomic
from .errors import OutputError
from .export.export_record import inside_published_export

DUCKDB_MAGIC = b"DUCK"          # a DuckDB database file has these bytes at offset 8
DUCKDB_MAGIC_OFFSET = 8
SNIFF_BYTES = 4096


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def is_duckdb_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(DUCKDB_MAGIC_OFFSET + len(DUCKDB_MAGIC))
    except OSError:
        return False
    return head[DUCKDB_MAGIC_OFFSET:] == DUCKDB_MAGIC


def _carries_marker(path: Path, markers: Sequence[str]) -> bool:
    """True when the file's first bytes (or, for older outputs, its last bytes) carry a marker."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
            fh.seek(max(size - SNIFF_BYTES, 0))
            tail = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    text = (head + b"\n" + tail).decode("utf-8", errors="replace")
    return any(marker in text for marker in markers)


def check_out_file(path: str | Path, markers: Sequence[str], db: str | Path | None = None) -> Path:
    """The path to write, or OutputError (one line naming the file) when writing it would destroy
    something: the warehouse `db`, any DuckDB file, a published plan, or a file not ours."""
    path = Path(path)
    if db is not None and _same_file(path, Path(db)):
        raise OutputError(f"refusing to write {path}: it is the warehouse file {db}", path=path)
    if path.is_dir():
        raise OutputError(f"refusing to write {path}: it is a folder; give a file name", path=path)
    # A file, device, dangling link or link loop in place of a folder above it, or a link that
    # leads nowhere at the path itself: say what is in the way instead of "[Errno 17] File exists".
    problem = unusable_path(path, "file")
    if problem is not None:
        raise OutputError(f"cannot write {path}: {problem}; choose another --out", path=path)
    # Also catches the .wal of a warehouse and any other DuckDB file, whatever --db says.
    if path.exists() and is_duckdb_file(path):
        raise OutputError(f"refusing to write {path}: it is a DuckDB database file", path=path)
    if inside_published_export(path):
        raise OutputError(f"refusing to write {path}: it is inside a published plan or its bookkeeping; "
                          f"choose a path outside the export folder", path=path)
    if path.exists() and (path.is_symlink() or not path.is_file()):
        raise OutputError(f"refusing to write {path}: it is not a regular file foxwarehouse wrote", path=path)
    if path.exists():
        try:
            empty = path.stat().st_size == 0
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc}", path=path) from None
        if not empty and not _carries_marker(path, markers):
            raise OutputError(f"refusing to overwrite {path}: foxwarehouse did not write it; "
                              f"remove it or choose another --out", path=path)
    return path


def write_out_file(path: str | Path, text: str, markers: Sequence[str], db: str | Path | None = None) -> Path:
    """Check `path` (see check_out_file) and write `text` atomically (temp file + rename)."""
    target = check_out_file(path, markers, db)
    try:
        write_text_atomic(target, text)
    except OSError as exc:
        disk_full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        reason = f"disk full ({exc.strerror})" if disk_full else (exc.strerror or str(exc))
        raise OutputError(f"cannot write {target}: {reason}; nothing was written", path=target) from None
    return target
