"""The error hierarchy: every expected failure is a FoxError carrying one readable message.

The CLI turns a FoxError into that message on stderr and its exit code, never a traceback.
Besides the message, an error may carry where it happened (``path``, ``line``, ``column``,
``model``, ``key``) so a library caller can act on it without parsing the text.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

#: The longest DuckDB detail kept in a message: enough for the error and its LINE context, short
#: enough that one failing statement over a wide table does not flood the terminal.
DETAIL_LIMIT = 300

_FIELDS = ("path", "line", "column", "model", "key")


class FoxError(Exception):
    """Base class for every error foxwarehouse reports to a user."""

    exit_code = 2
    #: The CLI prints the message as one line (control characters in quoted names as escapes);
    #: errors that list rows or point into SQL on purpose (audits, models) keep their line breaks.
    one_line = True

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 column: int | None = None, model: str | None = None, key: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.column = column
        self.model = model
        self.key = key

    @property
    def fields(self) -> dict[str, Any]:
        """The structured fields that are set (path, line, column, model, key)."""
        return {name: getattr(self, name) for name in _FIELDS if getattr(self, name) is not None}

    def __str__(self) -> str:
        return self.message


class InputError(FoxError):
    """A metrics file is missing, unreadable or breaks the input contract."""


class ConfigError(FoxError):
    """The routing config is invalid; the message names the dotted key."""


class ModelError(FoxError):
    """A SQL model or macro cannot be rendered, parsed, ordered or executed."""

    one_line = False


class BuildError(FoxError):
    """A build produced an invalid plan (duplicate job ids and the like)."""


class AuditError(FoxError):
    """A post-build audit returned failing rows."""

    one_line = False


class WarehouseError(FoxError):
    """The warehouse file cannot be opened, is busy, or has an unknown schema."""


class WarehouseBusy(WarehouseError):
    """Another process holds the warehouse (DuckDB's file lock); waiting longer, or later, gets in."""


class EmptyResultError(WarehouseError):
    """A query that always yields one row (a count, an aggregate, a setting) yielded none."""


class RunNotFound(FoxError):
    """A run reference (id, latest, latest~N) does not resolve."""


class PlanError(FoxError):
    """A training plan on disk is corrupt or does not match the schema."""


class OutputError(FoxError):
    """An output folder cannot take an export: in use by another export, or holding files foxwarehouse did not write."""


class UsageError(FoxError):
    """A command-line option or argument has a value the command cannot use."""


class ProjectError(FoxError):
    """The project directory (its sql/, config/ or model docs) is missing or malformed."""


class ExportError(FoxError):
    """A run cannot be exported: it is not built, or the export folder cannot be written."""


class QueryError(FoxError):
    """An analyst query, lookup or report over the warehouse cannot run."""


class TestGateError(FoxError):
    """`plan` or `build` stopped before ingesting anything: a SQL unit test of the project failed.

    ``failures`` holds the report of each failing case (and each test file that does not load).
    """

    __test__ = False  # not a pytest test class
    exit_code = 1
    one_line = False

    def __init__(self, message: str, failures: list[str] | None = None, **fields: Any):
        super().__init__(message, **fields)
        self.failures = list(failures or [])


_LINE_MARK = re.compile(r"^LINE \d+:")
_KIND_PREFIX = re.compile(r"^[A-Z][A-Za-z ]* Error: ")


def duckdb_detail(exc: BaseException, *, kind: bool = True, limit: int = DETAIL_LIMIT) -> str:
    """DuckDB's error text as one line that keeps its ``LINE n:`` context and caret.

    DuckDB puts the useful part of a SQL error below its first line (the offending SQL line and a
    caret under the position); the CLI prints one line per error, so the pieces are joined with
    " | ". ``kind=False`` drops the leading "Parser Error: " style prefix for messages that name
    the failure themselves.
    """
    lines = [line.rstrip() for line in str(exc).strip().splitlines()]
    if not lines or not lines[0].strip():
        return type(exc).__name__
    first = lines[0].strip()
    if not kind:
        first = _KIND_PREFIX.sub("", first)
    parts = [first]
    for index, line in enumerate(lines[1:], start=1):
        stripped = line.strip()
        if _LINE_MARK.match(stripped):
            parts.append(stripped)
            caret = lines[index + 1] if index + 1 < len(lines) else ""
            if caret.strip() and set(caret.strip()) == {"^"}:
                # The caret lines up with the SQL text after "LINE n: "; once joined into one line it
                # cannot, so say which character of the quoted SQL it points at instead.
                sql_start = len(line) - len(stripped) + len(stripped.split(":", 1)[0]) + 2  # after "LINE n: "
                column = len(caret) - len(caret.lstrip()) - sql_start + 1
                parts.append(f"^ at character {max(column, 1)}")
            break
    text = " | ".join(parts)
    if len(text) > limit:
        text = text[:limit - 3].rstrip() + "..."
    return text


def did_you_mean(word: Any, known: Any, listing: str = "known") -> str:
    """The hint an unknown-name message ends with: '; did you mean X?' for the nearest of `known`,
    else '; LISTING: a, b, c' (config keys, project-file keys, model and column names)."""
    import difflib

    known = [str(k) for k in known]
    close = difflib.get_close_matches(str(word), known, n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else f"; {listing}: {', '.join(known)}"
