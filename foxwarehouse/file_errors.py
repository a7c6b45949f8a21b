"""What a failed read or write of a file means, as one line: disk full, permission
denied, or a damaged warehouse, each naming the file.

DuckDB reports these as its own exception classes, sometimes with the real message wrapped in JSON
(asynchronous writes) and sometimes as a plain ``duckdb.Error`` (a block checksum); the OS reports
them as OSError. The warehouse, the builder, the export and, as a last net, the command line turn
them into a FoxError here, so none reaches a user as a traceback.
"""
from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import duckdb

from .errors import FoxError, WarehouseError, duckdb_detail

# What DuckDB's or the OS's error text says when the file system, not the SQL, failed (disk full,
# permission denied and a damaged warehouse are exit 2 with one line naming the file).
_DISK_FULL = ("no space left on device", "disk quota exceeded", "file too large", '"errno":"28"')
_DENIED = ("permission denied", "read-only file system", "operation not permitted")
# DuckDB errors that mean the file's bytes are not what foxwarehouse wrote: unreadable blocks, a
# catalog or table that cannot be deserialised, a table or column of the schema that is missing.
_DAMAGE = (duckdb.IOException, duckdb.SerializationException, duckdb.InternalException,
           duckdb.FatalException, duckdb.CatalogException, duckdb.BinderException)
DAMAGED = "is damaged or not a foxwarehouse warehouse"


def is_corrupt(exc: BaseException) -> bool:
    """DuckDB reports a block whose checksum does not match as a plain duckdb.Error."""
    text = str(exc).lower()
    return "corrupt database file" in text or "not a valid duckdb database file" in text


def storage_problem(exc: BaseException) -> str | None:
    """'disk full' or 'permission denied' when an OSError or a DuckDB error says so, else None."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return "disk full"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "permission denied" if exc.errno != errno.EROFS else "read-only file system"
        return None
    text = str(exc).lower()
    if any(word in text for word in _DISK_FULL):
        return "disk full"
    if "read-only file system" in text:
        return "read-only file system"
    if any(word in text for word in _DENIED):
        return "permission denied"
    return None


_NESTED_MESSAGE = re.compile(r'"exception_message":\s*"((?:[^"\\]|\\.)*)"')


def error_detail(exc: BaseException) -> str:
    """An OSError's or DuckDB error's text as one short line: DuckDB's asynchronous writes wrap the
    real message in JSON ({"exception_type": ..., "exception_message": ...}); that message is kept."""
    if isinstance(exc, OSError) and not isinstance(exc, duckdb.Error):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    nested = _NESTED_MESSAGE.search(str(exc))
    if nested:
        try:
            return str(json.loads(f'"{nested.group(1)}"'))
        except ValueError:
            return nested.group(1)
    return duckdb_detail(exc, kind=False)


def warehouse_error(path: str | os.PathLike[str], exc: BaseException) -> FoxError:
    """The one-line error for a DuckDB error (or OSError) that escaped work on warehouse `path`.

    A full disk or a refused write names the file (DuckDB rolled the failed transaction back, so
    earlier runs are as they were); what DuckDB raises reading its own file means the file is
    damaged (truncated, overwritten, a table or column missing). A FoxError passes unchanged.
    """
    if isinstance(exc, FoxError):
        return exc
    path = Path(path)
    detail = error_detail(exc)
    problem = storage_problem(exc)
    if problem is not None:
        return WarehouseError(f"cannot write warehouse {path}: {problem} ({detail}); earlier runs are unchanged",
                              path=path)
    if isinstance(exc, _DAMAGE) or isinstance(exc, OSError) or is_corrupt(exc):
        return WarehouseError(f"warehouse {path} {DAMAGED}: {detail}", path=path)
    return WarehouseError(f"warehouse {path}: {detail}", path=path)


def command_failure(db: str | os.PathLike[str] | None, exc: BaseException) -> str:
    """The one line for an OSError or DuckDB error that reached the command line unconverted: a
    DuckDB error is about the warehouse `db`; an OSError names its own file."""
    if isinstance(exc, duckdb.Error) and db is not None:
        return warehouse_error(db, exc).message
    problem = storage_problem(exc)
    detail = error_detail(exc)
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot use {exc.filename}: {problem + ' (' + detail + ')' if problem else detail}"
    return f"{problem}: {detail}" if problem else detail


def is_storage_failure(exc: BaseException, path: str | os.PathLike[str]) -> bool:
    """True for a DuckDB error about the warehouse file `path` rather than a statement's SQL: a
    full disk, a refused write, or unreadable bytes of that file (the builder reports these as
    warehouse errors, not as the model whose statement happened to hit them). An IO error about
    another file (a model reading a missing parquet, say) is the statement's."""
    if isinstance(exc, duckdb.InterruptException):
        return False
    if storage_problem(exc) is not None or isinstance(exc, duckdb.FatalException) or is_corrupt(exc):
        return True
    return isinstance(exc, (duckdb.IOException, duckdb.SerializationException)) and Path(path).name in str(exc)
