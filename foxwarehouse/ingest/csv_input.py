"""CSV input: the dialect a metrics CSV file is read with (delimiter from its header, strict
quoting), the scan whose messages name rows and lines, and the staged read of the file by DuckDB
with every column as text.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..engine import one_row
from ..errors import InputError
from .specs import MAX_SHOWN, literal_file, show_value

CSV_DELIMITERS = (",", ";", "\t", "|")


@dataclass
class CsvLayout:
    delimiter: str
    columns: list[str]
    rows: int
    max_line_bytes: int


def scan_csv(path: Path) -> CsvLayout:
    """Parse a CSV file strictly with the standard library before DuckDB reads it.

    DuckDB's dialect sniffer can skip leading lines, read a ragged file as one column or accept an
    unterminated quote. This pass fixes the dialect (quote '"', the delimiter that gives the header
    a ``target`` column, else ','), and rejects a file that is empty, has duplicate column names,
    rows of another width than the header, a bad quote or bytes that are not UTF-8, naming the
    file, the column and the rows. DuckDB then reads the file with exactly this dialect.
    """
    old_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        try:
            return _scan_csv(path, "strict")
        except UnicodeDecodeError:
            return _scan_csv(path, "surrogateescape")
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc}", path=path) from None
    finally:
        csv.field_size_limit(old_limit)


def csv_reader(fh: Any) -> tuple[Any, str]:
    """A strict csv reader of the open file and its delimiter: the one that gives the first line a
    ``target`` column, else ','."""
    first = fh.readline().lstrip("\ufeff")
    delimiter = ","
    for candidate in CSV_DELIMITERS:
        try:
            names = next(csv.reader([first], delimiter=candidate), [])
        except csv.Error:
            continue
        if "target" in [n.strip().lower() for n in names]:
            delimiter = candidate
            break
    fh.seek(0)
    return csv.reader(fh, delimiter=delimiter, quotechar='"', doublequote=True, strict=True), delimiter


def csv_columns(reader: Any, path: Path, errors: str) -> list[str]:
    """The column names from the header row (blank ones named by position).

    Raises InputError for an empty file, a repeated column name or a header that is not UTF-8
    (csv.Error for bad quoting in the header row).
    """
    header = next(reader, None)
    if header is None or header == []:
        raise InputError(f"{path}: is empty (no header row); expected a header with target, score, sample_size", path=path)
    header = [header[0].lstrip("\ufeff")] + header[1:]
    columns = [name if name.strip() else f"column{i}" for i, name in enumerate(header)]
    seen: dict[str, int] = {}
    for i, name in enumerate(columns):
        key = name.strip().lower()
        if key in seen:
            raise InputError(f"{path}: column {name!r} appears more than once (columns {seen[key] + 1} and {i + 1})", path=path)
        seen[key] = i
    if errors != "strict" and not_utf8(header):
        raise InputError(f"{path}: the header row is not valid UTF-8 text; save the file as UTF-8", path=path)
    return columns


def _scan_csv(path: Path, errors: str) -> CsvLayout:
    with open(path, encoding="utf-8", errors=errors, newline="") as fh:
        reader, delimiter = csv_reader(fh)
        width_errors: list[str] = []
        width_count = 0
        bad_text: dict[int, list[str]] = {}
        rows = longest = 0
        try:
            columns = csv_columns(reader, path, errors)
            for row in reader:
                if not row:
                    continue  # a blank line (DuckDB skips it too)
                rows += 1
                longest = max(longest, sum(map(len, row)) + 3 * len(row))
                if len(row) != len(columns):
                    width_count += 1
                    if len(width_errors) < MAX_SHOWN:
                        width_errors.append(f"row {rows} (line {reader.line_num}) has {len(row)} fields")
                    continue
                if errors != "strict":
                    for i, value in enumerate(row):
                        if not_utf8([value]):
                            bad_text.setdefault(i, []).append(f"row {rows}: {show_value(value.encode('utf-8', 'surrogateescape'))}")
        except csv.Error as exc:
            raise malformed_csv(path, reader.line_num, rows + 1, exc) from None
    if width_count:
        raise ragged_csv(path, columns, width_count, width_errors)
    for i, problems in bad_text.items():
        raise not_utf8_csv(path, columns[i], len(problems), problems[:MAX_SHOWN])
    return CsvLayout(delimiter, columns, rows, max(_MIN_LINE_BYTES, 4 * longest + 1024))


# The CSV grammar's messages (also given for files Spark reads).

def malformed_csv(path: Path | str, line: int, row: int, exc: csv.Error) -> InputError:
    return InputError(f"{path}: malformed CSV at line {line} (row {row}): {exc}", path=path, line=line)


def ragged_csv(path: Path | str, columns: list[str], count: int, shown: list[str]) -> InputError:
    """`count` rows of another width than the header's; `shown`: "row R (line L) has N fields" of the first ones."""
    more = f" (and {count - len(shown)} more)" if count > len(shown) else ""
    return InputError(
        f"{path}: {count} row{'s do' if count != 1 else ' does'} not have the header's {len(columns)} "
        f"columns ({', '.join(columns)[:200]}): {'; '.join(shown)}{more}",
        path=path,
    )


def not_utf8_csv(path: Path | str, column: str, count: int, shown: list[str]) -> InputError:
    """`count` values of `column` are not UTF-8; `shown`: "row R: b'...'" of the first ones."""
    more = f" (and {count - len(shown)} more)" if count > len(shown) else ""
    return InputError(
        f"{path}: column {column!r}: {count} row{'s are' if count != 1 else ' is'} not valid UTF-8 "
        f"text: {'; '.join(shown)}{more}; save the file as UTF-8",
        path=path,
    )


# The staged read of a CSV file: the dialect the scan fixed, every column text, nothing guessed.
_READ_CSV = ("CREATE TEMP TABLE ingest_stage AS SELECT * FROM read_csv(?, delim = ?, quote = '\"', escape = '\"', "
             "header = true, skip = 0, auto_detect = false, columns = ?, null_padding = false, strict_mode = true, "
             "comment = '', max_line_size = ?)")
# The line limit of a staged read of a file whose lines are all short (scan_csv's smallest).
_MIN_LINE_BYTES = 2 * 1024 * 1024


def stage_csv(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Stage a CSV file as `ingest_stage` (all columns text), strictly, as scan_csv's dialect says.

    The scan costs about a second and a half per million rows and exists for its messages, which
    name rows and lines; DuckDB's strict read alone is more lenient (it accepts a trailing
    delimiter and a space after a closing quote). So DuckDB first checks, on a cursor of its own
    (a failed statement there leaves the ingest's transaction alone), that every line is a record
    the scan parses the same way (_LINE_CHECK). When it is, the file is read without the scan;
    the scan still runs, before any message, when that read fails or its row count differs from
    the lines, so every bad file is reported exactly as by the scan-first read.
    """
    quick = _quick_layout(con, path)
    if quick is None:
        layout = scan_csv(path)
        _checked_read(path, layout, _read_csv(con, path, layout.delimiter, layout.columns, layout.max_line_bytes))
        return
    delimiter, columns, rows = quick
    try:
        read = _read_csv(con, path, delimiter, columns, _MIN_LINE_BYTES)
    except duckdb.Error:
        scan_csv(path)   # the scan's message first, as before; else the read's own error
        raise
    if read != rows:
        _checked_read(path, scan_csv(path), read)


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, delimiter: str, columns: list[str],
              max_line_bytes: int) -> int:
    """Stage the file as `ingest_stage` (all columns text); returns the number of rows read."""
    con.execute(_READ_CSV, [literal_file(path), delimiter, {name: "VARCHAR" for name in columns}, max_line_bytes])
    return int(one_row(con.execute("SELECT count(*) FROM temp.main.ingest_stage"))[0])


def _checked_read(path: Path, layout: CsvLayout, read: int) -> None:
    """The scan and DuckDB must agree on the number of rows (else a quoting problem went unseen)."""
    if read != layout.rows:
        raise InputError(f"{path}: CSV read inconsistently ({read} rows, expected {layout.rows}); check its quoting", path=path)


def _quick_layout(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, list[str], int] | None:
    """(delimiter, columns, rows) when every line of the file after a one-line header is one record
    the scan accepts and its lines are short enough for the scan to pick the smallest line limit
    (then a read with that limit is the very read the scan would lead to); else None."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader, delimiter = csv_reader(fh)
            columns = csv_columns(reader, path, "strict")
            if reader.line_num != 1:
                return None    # a header row over several lines: left to the scan
    except (OSError, UnicodeDecodeError, csv.Error, InputError):
        return None
    try:
        lines, bad, longest = one_row(con.cursor().execute(
            _LINE_CHECK.format(fields=len(columns) - 1), [literal_file(path), _line_pattern(delimiter, len(columns)), delimiter]))
    except duckdb.Error:
        return None
    # scan_csv's limit is max(_MIN_LINE_BYTES, 4 * longest + 1024), longest counting the row's
    # characters plus 3 per field: at most a line's characters plus 3 per column.
    if bad or not lines or 4 * ((longest or 0) + 3 * len(columns)) + 1024 > _MIN_LINE_BYTES:
        return None
    return delimiter, columns, int(lines) - 1


# Every line of the file as text (no quoting; chr(1) as the delimiter: a line holding one fails
# the read, and the file goes to the scan): how many are not blank, how many the scan would not
# parse as one record of the header's width, and the longest.
_LINE_CHECK = """
    SELECT count(*) FILTER (WHERE line <> ''),
           count(*) FILTER (WHERE line <> '' AND (contains(line, chr(13)) OR CASE
               WHEN contains(line, '"') THEN NOT regexp_full_match(line, $2)
               ELSE strlen(line) - strlen(replace(line, $3, '')) <> {fields} END)),
           max(length(line))
    FROM read_csv($1, delim = chr(1), quote = '', escape = '', header = false, skip = 0, auto_detect = false,
                  columns = {{'line': 'VARCHAR'}}, null_padding = false, strict_mode = true, comment = '',
                  max_line_size = 2097152)"""


def _line_pattern(delimiter: str, width: int) -> str:
    """RE2 for one line the scan parses into exactly `width` fields (quote '"', doubled inner quotes)."""
    d, field = field_pattern(delimiter)
    return f"{field}(?:{d}{field}){{{width - 1}}}"


def field_pattern(delimiter: str) -> tuple[str, str]:
    """RE2 (also Java's regex) of the delimiter and of one field the scan parses (quote '"', doubled inner quotes)."""
    d = f"\\x{{{ord(delimiter):02x}}}"
    return d, f'(?:"(?:[^"]|"")*"|(?:[^"{d}][^{d}]*)?)'


def not_utf8(values: list[str]) -> bool:
    try:
        "".join(values).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
