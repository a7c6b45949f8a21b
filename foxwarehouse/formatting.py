"""How values and tables are shown as text and Markdown: the one home of the small formatters.

* values: :func:`format_value` (a value as SQL shows it, in audit and SQL-test messages),
  :func:`value_text` (plain text in plan diffs and ``explain``), :func:`cell_text` and
  :func:`to_json_value` (``query`` output: table, csv and json);
* tables: :func:`text_table` (an aligned plain-text table) and :func:`md_table_lines` (a Markdown
  table of cells already escaped with :func:`md_escape`, the one Markdown cell escaper).

The callers differ in small, user-visible ways (``NULL`` or ``null``, a truncation limit, whether
``<`` is escaped); those are parameters here, so every output stays exactly as it was.
"""
from __future__ import annotations

import base64
import datetime as _dt
import decimal
import json
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any


def format_value(value: Any) -> str:
    """A value as it appears in a diff: NULL, NaN, 'text', [list], {struct}."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def value_text(value: Any) -> str:
    """A value as plain text: null, true/false, [a, b] (items unquoted), a struct as sorted JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def to_json_value(value: Any) -> Any:
    """A Python value from DuckDB as strict JSON data (NaN and infinities become null)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_json_value(v) for v in value]
    return str(value)


def cell_text(value: Any) -> str:
    """A value as text for table and csv output: lists, structs and maps as compact JSON."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(to_json_value(value), ensure_ascii=False, separators=(", ", ": "))
    return str(to_json_value(value))


def text_table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[bool] = (),
               rule: bool = True) -> list[str]:
    """An aligned plain-text table: columns as wide as their widest cell, joined by `` | ``.

    `right[i]` right-aligns column i (numbers); `rule` adds a ``---+---`` line under the header.
    Trailing spaces are stripped from every line.
    """
    rows = [list(r) for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    align = list(right) + [False] * (len(widths) - len(right))

    def line(values: Sequence[str]) -> str:
        return " | ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, align)).rstrip()

    out = [line(list(headers))]
    if rule:
        out.append("-+-".join("-" * w for w in widths))
    out += [line(r) for r in rows]
    return out


# Control characters (C0 with tab and line breaks, DEL, C1) and the Unicode line separators: a name
# may hold them, but raw in a Markdown file they make it binary to many tools (NUL) or break its
# table rows. They are written as visible escapes (\x00, \n, \u2028); the backslash itself is
# escaped first, so a name that really contains the text "\x00" stays distinguishable.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible_controls(text: str, *, backslash: bool = True) -> str:
    """`text` with every control character written as a visible escape (backslashes doubled first
    unless `backslash` is false, where telling a NUL from the text "\\x00" does not matter)."""
    if backslash:
        text = text.replace("\\", "\\\\")
    return _CONTROL.sub(lambda m: _NAMED.get(m.group()) or
                        (f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"), text)


def md_escape(text: str, *, backslash: bool = True, breaks: str = "\r\n", lt: bool = False,
              limit: int | None = None) -> str:
    """Text made safe for one Markdown table cell.

    ``|`` is always escaped; `backslash` escapes ``\\`` first (so a trailing one cannot eat the
    cell's ``|``) and writes control characters as visible escapes (see visible_controls); each
    character of `breaks` becomes a space; `lt` writes ``<`` as ``&lt;`` (no HTML in a pull-request
    comment); `limit` cuts longer text to ``limit - 3`` characters plus ``...``.
    """
    if backslash:
        text = visible_controls(text)
    text = text.replace("|", "\\|")
    for char in breaks:
        text = text.replace(char, " ")
    if lt:
        text = text.replace("<", "&lt;")
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def md_table_lines(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table of cells that are already escaped (see md_escape)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
