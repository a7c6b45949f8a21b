"""Plan files written by DuckDB itself: one text row per line, framed by a prefix and a suffix.

DuckDB's CSV writer with no quoting and no escaping writes a one-column query's values verbatim,
with ``PREFIX`` before the first row, ``NEW_LINE`` between two rows and ``SUFFIX`` after the last
(the same machinery its ``FORMAT json, ARRAY true`` uses). So a plan file whose rows are JSON text
made in SQL is written without the text ever reaching Python: the master training plan, its YAML
mirror and the routing plan stream from the query straight to disk, in plan order.

The file is written to a temp name in the target folder and renamed into place, like every file of
the package (foxwarehouse/atomic.py).
"""
from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import FILE_MODE, rename_into_place, temp_file_beside
from ..faults import checkpoint
from ..render import sql_literal

# A delimiter no row holds (JSON escapes every control character), so a row is never split.
_OPTIONS = "FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER chr(1)"

# Characters a YAML reader rejects or reads as a line break or byte-order mark (see
# writer.yaml_safe_json): in SQL, a row holding one gets each of them replaced by its \\uXXXX escape.
YAML_UNSAFE_CODES = (*range(0x7F, 0xA0), 0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)
_YAML_UNSAFE_RE = "[\\x{7f}-\\x{9f}\\x{2028}\\x{2029}\\x{feff}\\x{fffe}\\x{ffff}]"


def yaml_safe_sql(expr: str) -> str:
    """SQL for the JSON text `expr` made safe to embed in YAML (writer.yaml_safe_json, in SQL)."""
    escaped = expr
    for code in YAML_UNSAFE_CODES:
        escape = sql_literal(f"\\u{code:04x}")
        escaped = f"replace({escaped}, chr({code}), {escape})"
    # Every unsafe character is DEL or non-ASCII: the cheap byte/character count test skips the
    # regular expression (most of the cost of a YAML mirror) for the usual all-ASCII row.
    maybe = f"(contains({expr}, chr(127)) OR strlen({expr}) <> length({expr}))"
    return (f"CASE WHEN {maybe} AND regexp_matches({expr}, {sql_literal(_YAML_UNSAFE_RE)}) "
            f"THEN {escaped} ELSE {expr} END")


@dataclass
class Part:
    """One COPY of a file written in parts: a one-column query, its parameters and its framing."""

    query: str
    params: list[Any] | dict[str, Any] | None
    prefix: str
    separator: str
    suffix: str


def copy_text(con: Any, path: Path, query: str, params: list[Any] | dict[str, Any] | None, *, prefix: str,
              separator: str, suffix: str, before_rename: str | None = None) -> None:
    """Write `prefix`, the rows of the one-column `query` joined by `separator`, then `suffix`, to `path`.

    With no rows the file is `prefix` + `suffix`. The rows come in the query's order (the warehouse
    keeps insertion order, so a scan of a table made with ORDER BY needs no sort). Atomic: a temp
    file in the same folder renamed over `path`; `before_rename` names the fault checkpoint between.
    """
    copy_parts(con, path, [Part(query, params, prefix, separator, suffix)], before_rename=before_rename)


def copy_parts(con: Any, path: Path, parts: list[Part], before_rename: str | None = None) -> None:
    """Write the parts one after another into `path` (atomically, as copy_text).

    A file whose rows must be sorted is written in parts of bounded size: one sort of every row
    would spill to disk under the warehouse's memory limit, a part's sort stays in memory. The
    first part is copied straight into the file, each later one into a temp file appended to it
    (in the kernel where it can: os.copy_file_range).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    extra: str | None = None
    try:
        for i, part in enumerate(parts):
            # DuckDB needs both PREFIX and SUFFIX non-empty, and reads an empty NEW_LINE as "the
            # default": the callers' framing strings are never empty.
            options = (f"{_OPTIONS}, PREFIX {sql_literal(part.prefix)}, SUFFIX {sql_literal(part.suffix)}, "
                       f"NEW_LINE {sql_literal(part.separator)}")
            if i == 0:
                con.execute(f"COPY ({part.query}) TO {sql_literal(tmp)} ({options})", part.params)
                continue
            extra = _temp_name(path)
            con.execute(f"COPY ({part.query}) TO {sql_literal(extra)} ({options})", part.params)
            _append(extra, tmp)
            os.unlink(extra)
            extra = None
        os.chmod(tmp, FILE_MODE)
        if before_rename is not None:
            checkpoint(before_rename)
        rename_into_place(Path(tmp), path)
    except BaseException:
        for name in (tmp, extra):
            if name is not None:
                try:
                    os.unlink(name)
                except FileNotFoundError:
                    pass
        raise


def _temp_name(path: Path) -> str:
    return str(temp_file_beside(path))


def _append(source: str, dest: str) -> None:
    """Append file `source` to file `dest`."""
    # Not opened for appending: copy_file_range refuses an O_APPEND target.
    with open(source, "rb") as src, open(dest, "r+b") as dst:
        dst.seek(0, os.SEEK_END)
        size = os.fstat(src.fileno()).st_size
        copy_range = getattr(os, "copy_file_range", None)
        done = 0
        if copy_range is not None:
            try:
                while done < size:
                    n = copy_range(src.fileno(), dst.fileno(), size - done)
                    if n == 0:
                        break
                    done += n
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP) or done:
                    raise
        if done < size:
            src.seek(done)
            shutil.copyfileobj(src, dst, 1 << 20)
