"""Ingest (the inputs docs/ROUTING.md describes): read metrics files through DuckDB, type and validate them, load them per run.

Both input shapes land in ``source_*`` tables with the run's id. Validation runs as SQL over a
staging table read with declared (all-VARCHAR for CSV) types, so every bad value is reported with
its file, column and row number. One transaction per ingest: a bad file leaves nothing behind.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Protocol, TypeVar

import duckdb

from ..engine import one_row
from ..errors import InputError
from ..export.export_record import file_digest, owned_top_level_file
from ..faults import checkpoint
from ..formatting import visible_controls
from ..render import quote_identifier, sql_literal
from ..vocabulary import STABILITIES
from ..warehouse import Warehouse, new_run_id, utc_now

STABILITY_VALUES = STABILITIES
LEAKAGE_VALUES = ("SAFE", "SUSPECT", "BLOCKED", "UNKNOWN")
MODEL_STATUS_VALUES = ("OK", "FAILED", "SKIPPED", "UNKNOWN")
TASK_TYPE_VALUES = ("REGRESSION", "BINARY_CLASSIFICATION", "MULTICLASS_CLASSIFICATION")
MODE_VALUES = ("CROSS_SECTIONAL", "SYMBOL_SPECIFIC", "SYMBOL")
STABILITY_METRICS = ("mean_overlap", "std_overlap", "mean_tau", "std_tau")

# column -> kind; kinds: text, double, integer, boolean, text_list, or ("enum", values)
CANDIDATE_COLUMNS: dict[str, Any] = {
    "target": "text", "symbol": "text", "mode": ("enum", MODE_VALUES), "score": "double",
    "score_ci_low": "double", "score_ci_high": "double", "stability": ("enum", STABILITY_VALUES),
    "sample_size": "integer", "leakage_status": ("enum", LEAKAGE_VALUES), "feature_set_id": "text",
    "metric_name": "text", "failed_model_families": "text_list", "model_status": ("enum", MODEL_STATUS_VALUES),
    "task_type": ("enum", TASK_TYPE_VALUES), "mean_overlap": "double", "std_overlap": "double",
    "mean_tau": "double", "std_tau": "double", "n_snapshots": "integer",
}
FEATURE_SELECTION_COLUMNS: dict[str, Any] = {
    "target": "text", "symbol": "text", "score": "double", "score_ci_low": "double", "score_ci_high": "double",
    "sample_size": "integer", "task_type": ("enum", TASK_TYPE_VALUES), "metric_name": "text",
    "feature_set_id": "text", "failed_model_families": "text_list", "model_status": ("enum", MODEL_STATUS_VALUES),
}
SNAPSHOT_COLUMNS: dict[str, Any] = {
    "target": "text", "symbol": "text", "snapshot_id": "text", "overlap": "double", "tau": "double",
}
LEAKAGE_COLUMNS: dict[str, Any] = {
    "target": "text", "symbol": "text", "leakage_status": ("enum", LEAKAGE_VALUES), "quarantine_confirmed": "boolean",
}


# Stability values must be finite and in range (NaN is a missing value): column -> (low, high or None).
STABILITY_RANGES: tuple[tuple[str, float, float | None], ...] = (
    ("mean_overlap", 0.0, 1.0), ("std_overlap", 0.0, None), ("mean_tau", -1.0, 1.0), ("std_tau", 0.0, None),
)
# A snapshot's overlap is a Jaccard index and its tau a Kendall tau.
SNAPSHOT_RANGES: tuple[tuple[str, float, float | None], ...] = (("overlap", 0.0, 1.0), ("tau", -1.0, 1.0))


@dataclass(frozen=True)
class InputSpec:
    name: str                 # logical source name
    table: str                # warehouse table
    columns: dict[str, Any]
    required: tuple[str, ...]
    keyed: bool               # one row per key: (target, symbol) plus key_extra
    key_extra: tuple[str, ...] = ()
    ranges: tuple[tuple[str, float, float | None], ...] = ()


CANDIDATES = InputSpec("routing_candidates", "source_routing_candidates", CANDIDATE_COLUMNS,
                       ("target", "score", "sample_size"), True, ranges=STABILITY_RANGES)
FEATURE_SELECTION = InputSpec("feature_selection", "source_feature_selection", FEATURE_SELECTION_COLUMNS,
                              ("target", "score", "sample_size"), True)
# A snapshot row without a snapshot_id has no key to repeat (like NULL in a SQL UNIQUE key).
SNAPSHOTS = InputSpec("stability_snapshots", "source_stability_snapshots", SNAPSHOT_COLUMNS,
                      ("target", "overlap", "tau"), True, ("snapshot_id",), SNAPSHOT_RANGES)
LEAKAGE = InputSpec("leakage", "source_leakage", LEAKAGE_COLUMNS, ("target", "leakage_status"), True)

MAX_SHOWN = 5

# Target and symbol are keys: a CSV written with ", " separators must mean the same as one without,
# and the raw files must join on the same names. White space is Unicode's White_Space set (tabs,
# line breaks, no-break and wide spaces); unlike Python's str.strip() it leaves the ASCII
# separator controls 0x1C-0x1F alone, which are not spacing and may be part of a name.
WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
TRIMMED_NAMES = ("target", "symbol", "snapshot_id")


# trim(x, characters) costs ~1.5 s per million values in DuckDB, while almost no name has white
# space around it: a regular expression (RE2, per code point) finds the few that do, and only
# those are trimmed. The result is trim(x, WHITESPACE) for every value, NULL included.
_WHITESPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"
_EDGE_WHITESPACE = sql_literal(f"^{_WHITESPACE_CLASS}|{_WHITESPACE_CLASS}$")


def trim_names(expr: str) -> str:
    """SQL that trims surrounding white space off a text expression."""
    return (f"(CASE WHEN regexp_matches({expr}, {_EDGE_WHITESPACE}) "
            f"THEN trim({expr}, {sql_literal(WHITESPACE)}) ELSE {expr} END)")


@dataclass
class IngestReport:
    run_id: str
    input_path: str
    input_shape: str
    input_fingerprint: str
    files: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        out = {"rows_read": 0, "cs_rows": 0, "symbol_rows": 0, "aggregate_rows_skipped": 0}
        for name in ("routing_candidates", "feature_selection"):
            for key in out:
                out[key] += self.files.get(name, {}).get(key, 0)
        return out

    def lines(self) -> list[str]:
        out = []
        for name, counts in self.files.items():
            details = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
            out.append(f"ingest: {name}: {details}")
        return out


SOURCE_NAMES = ("routing_candidates", "feature_selection", "stability_snapshots", "leakage")
RAW_SOURCES = SOURCE_NAMES[1:]


def locate_inputs(path: str | os.PathLike[str]) -> tuple[str, dict[str, Path]]:
    """('candidates'|'raw', {source name: file}) for a metrics file or directory.

    A file is read as it is, whatever wrote it. A directory is searched for the source files by
    name (case-insensitively, .parquet or .csv), leaving out the files a foxwarehouse export wrote
    there: the metrics folder is often the output folder too, and reading the previous plan's
    candidates back would hide refreshed raw metrics.
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"metrics path not found: {root}", path=root)
    if root.is_file():
        _check_format(root)
        return "candidates", {"routing_candidates": root}
    try:
        entries = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise InputError(f"{root}: cannot be listed: {exc}", path=root) from None
    return choose_inputs(str(root), [(e.name, e) for e in entries], owned_top_level_file, Path.is_file)


_Entry = TypeVar("_Entry")


def choose_inputs(root: str, entries: list[tuple[str, _Entry]], exported_by_us: Callable[[_Entry], bool],
                  is_file: Callable[[_Entry], bool]) -> tuple[str, dict[str, _Entry]]:
    """The input shape and files of a metrics folder `root` from its entries ((name, entry) sorted by
    name; an entry's text is how messages name it): the name rules of `locate_inputs`, for a local
    folder or one only Spark lists."""
    found: dict[str, list[_Entry]] = {}
    exported: list[_Entry] = []
    for name, entry in entries:
        stem, dot, ext = name.rpartition(".")
        if not dot or stem.lower() not in SOURCE_NAMES or ext.lower() not in ("parquet", "csv"):
            continue
        if exported_by_us(entry):
            exported.append(entry)
            continue
        if is_file(entry):
            found.setdefault(stem.lower(), []).append(entry)
    for name, matches in found.items():
        if len(matches) > 1:
            listed = " and ".join(str(m) for m in matches)
            raise InputError(f"{root}: {listed} are both the {name} file; keep one", path=root)
    files = {name: matches[0] for name, matches in found.items()}
    raw = {name: files[name] for name in RAW_SOURCES if name in files}
    candidates = files.get("routing_candidates")
    if candidates is not None and raw:
        raw_listed = ", ".join(str(p) for p in raw.values())
        raise InputError(
            f"{root}: ambiguous metrics: {candidates} (not written by foxwarehouse) and raw metrics {raw_listed}; "
            f"keep one, or pass the file itself as --metrics",
            path=root,
        )
    if candidates is not None:
        return "candidates", {"routing_candidates": candidates}
    if "feature_selection" in raw:
        return "raw", raw
    if exported and not raw:
        shown = exported[0]
        raise InputError(
            f"{root}: no metrics: {shown} was written by a foxwarehouse export (a plan's output, not metrics); "
            f"to re-plan from it, pass the file itself: --metrics {shown}",
            path=root,
        )
    present = f" ({', '.join(_base_name(p) for p in raw.values())} found without it)" if raw else ""
    raise InputError(
        f"{root}: no metrics found{present}: expected routing_candidates.(parquet|csv) or "
        f"feature_selection.(parquet|csv) (with optional stability_snapshots and leakage files)",
        path=root,
    )


def _base_name(entry: object) -> str:
    """The file name of a path or URI."""
    return str(entry).rstrip("/").rsplit("/", 1)[-1]


def _check_format(path: Path | str) -> str:
    suffix = PurePath(str(path)).suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InputError(f"{path}: unsupported file type {suffix or '(none)'}; use .parquet or .csv", path=path)
    return suffix[1:]


def fingerprint_files(files: dict[str, Path]) -> str:
    return combine_digests({name: file_digest(path) for name, path in files.items()})


def combine_digests(digests: dict[str, str]) -> str:
    """The input fingerprint from each source's SHA-256 (hex): the same whoever hashed the bytes
    (this machine for a local file, Spark's executors for a URI), and it changes with any byte."""
    digest = hashlib.sha256()
    for name in sorted(digests):
        digest.update(name.encode() + b"\0" + digests[name].encode() + b"\0")
    return digest.hexdigest()


def ingest(wh: Warehouse, path: str | os.PathLike[str], run_id: str | None = None) -> IngestReport:
    """Validate and load one metrics input as a new run (status 'ingested')."""
    shape, files = locate_inputs(path)
    try:
        fingerprint = fingerprint_files(files)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc}", path=os.fspath(path)) from None
    report = IngestReport(run_id or new_run_id(), str(path), shape, fingerprint)
    # The run records the absolute path of what was read (the candidates file itself when a folder
    # held one), so an export from any folder knows which file it must never overwrite.
    stored_path = os.path.abspath(files["routing_candidates"] if shape == "candidates" else path)
    return load_run(wh, report, stored_path, files, _load_file)


_File = TypeVar("_File")


def load_run(wh: Warehouse, report: IngestReport, stored_path: str, files: dict[str, _File],
             load: Callable[[duckdb.DuckDBPyConnection, InputSpec, _File, str], dict[str, int]]) -> IngestReport:
    """Record `report`'s run and load each of its `files` with `load` (which validates it and fills
    the source table) in one transaction: a bad file leaves nothing behind."""
    run_id, shape, fingerprint = report.run_id, report.input_shape, report.input_fingerprint
    specs = [CANDIDATES] if shape == "candidates" else [FEATURE_SELECTION, SNAPSHOTS, LEAKAGE]
    with wh.transaction() as con:
        con.execute(
            "INSERT INTO runs (run_id, seq, created_at, status, input_path, input_shape, input_fingerprint) "
            "VALUES (?, ?, ?, 'ingested', ?, ?, ?)",
            [run_id, wh.next_seq(), utc_now(), stored_path, shape, fingerprint],
        )
        checkpoint("ingest:after-run-row")
        for spec in specs:
            if spec.name in files:
                report.files[spec.name] = load(con, spec, files[spec.name], run_id)
        con.execute("UPDATE runs SET ingest_report = ? WHERE run_id = ?", [json.dumps(report.files), run_id])
        checkpoint("ingest:before-commit")
    checkpoint("ingest:committed")
    return report


def _load_file(con: duckdb.DuckDBPyConnection, spec: InputSpec, path: Path, run_id: str) -> dict[str, int]:
    fmt = _check_format(path)
    con.execute("DROP TABLE IF EXISTS temp.main.ingest_stage")
    try:
        if fmt == "parquet":
            con.execute("CREATE TEMP TABLE ingest_stage AS SELECT * FROM read_parquet(?)", [str(path)])
            _check_parquet_names(con, path)
        else:
            stage_csv(con, path)
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot be read as {fmt.upper()}: {_error_text(exc)}", path=path) from None
    checkpoint(f"ingest:after-stage:{spec.name}")
    try:
        stage = _StagedFile(DuckDBStage(con), spec, path)
        try:
            counts = stage.load(run_id)
        except (duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException,
                duckdb.BinderException) as exc:
            # The checks are meant to catch every bad value first; a value they missed still names the file.
            raise InputError(f"{path}: cannot be loaded: {_error_text(exc)}", path=path) from None
        checkpoint(f"ingest:after-insert:{spec.name}")
        return counts
    finally:
        _drop_stage(con)


def _drop_stage(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("DROP TABLE IF EXISTS temp.main.ingest_stage")
        con.execute("DROP TABLE IF EXISTS temp.main.ingest_merged")
    except duckdb.TransactionException:
        pass  # a failed statement aborted the ingest transaction: its rollback drops them, and that error is raised


def _column_key(name: str) -> str:
    """How a column (or struct field) name is matched: case-insensitively, without surrounding spaces or a BOM."""
    return name.strip().lower().lstrip("\ufeff")


def _check_parquet_names(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Reject a parquet file with two columns (or two `stability_metrics` fields) of one name.

    DuckDB reads a repeated name as `score_1` (also `SCORE` after `score`), so the staged table
    would silently use the first; the file's own schema has the real names.
    """
    schema = con.execute("SELECT name, coalesce(num_children, 0) FROM parquet_schema(?) ORDER BY column_id",
                         [str(path)]).fetchall()
    # Depth-first: the root, then each column followed by its nested elements.
    top: list[tuple[str, int]] = []   # (name, index of its first child)
    pos = 1
    for _ in range(int(schema[0][1]) if schema else 0):
        top.append((schema[pos][0], pos + 1))
        pos = _skip_element(schema, pos)
    _no_repeats(path, [name for name, _ in top], "column {name!r} appears more than once (columns {a} and {b})")
    for name, first in top:
        if _column_key(name) == "stability_metrics":
            fields, pos = [], first
            for _ in range(int(schema[first - 1][1])):
                fields.append(schema[pos][0])
                pos = _skip_element(schema, pos)
            _no_repeats(path, fields, f"column {name!r}: field {{name!r}} appears more than once (fields {{a}} and {{b}})")


def _skip_element(schema: list[tuple[Any, ...]], pos: int) -> int:
    """The position after the schema element at `pos` and all its nested elements."""
    children = int(schema[pos][1])
    pos += 1
    for _ in range(children):
        pos = _skip_element(schema, pos)
    return pos


def _no_repeats(path: Path | str, names: list[str], message: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        key = _column_key(name)
        if key in seen:
            raise InputError(f"{path}: " + message.format(name=name, a=seen[key] + 1, b=i + 1), path=path)
        seen[key] = i


def _error_text(exc: BaseException) -> str:
    """DuckDB's first line plus the line saying what is wrong (CSV errors put it third)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    detail = [line for line in lines[1:4] if not line.startswith(("Original Line", "Possible", "LINE ", "^"))]
    return "; ".join([lines[0]] + detail[:1])


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


def _csv_reader(fh: Any) -> tuple[Any, str]:
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


def _csv_columns(reader: Any, path: Path, errors: str) -> list[str]:
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
    if errors != "strict" and _not_utf8(header):
        raise InputError(f"{path}: the header row is not valid UTF-8 text; save the file as UTF-8", path=path)
    return columns


def _scan_csv(path: Path, errors: str) -> CsvLayout:
    with open(path, encoding="utf-8", errors=errors, newline="") as fh:
        reader, delimiter = _csv_reader(fh)
        width_errors: list[str] = []
        width_count = 0
        bad_text: dict[int, list[str]] = {}
        rows = longest = 0
        try:
            columns = _csv_columns(reader, path, errors)
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
                        if _not_utf8([value]):
                            bad_text.setdefault(i, []).append(f"row {rows}: {_show(value.encode('utf-8', 'surrogateescape'))}")
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
    con.execute(_READ_CSV, [str(path), delimiter, {name: "VARCHAR" for name in columns}, max_line_bytes])
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
            reader, delimiter = _csv_reader(fh)
            columns = _csv_columns(reader, path, "strict")
            if reader.line_num != 1:
                return None    # a header row over several lines: left to the scan
    except (OSError, UnicodeDecodeError, csv.Error, InputError):
        return None
    try:
        lines, bad, longest = one_row(con.cursor().execute(
            _LINE_CHECK.format(fields=len(columns) - 1), [str(path), _line_pattern(delimiter, len(columns)), delimiter]))
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
    d, field = _field_pattern(delimiter)
    return f"{field}(?:{d}{field}){{{width - 1}}}"


def _field_pattern(delimiter: str) -> tuple[str, str]:
    """RE2 (also Java's regex) of the delimiter and of one field the scan parses (quote '"', doubled inner quotes)."""
    d = f"\\x{{{ord(delimiter):02x}}}"
    return d, f'(?:"(?:[^"]|"")*"|(?:[^"{d}][^{d}]*)?)'


def _not_utf8(values: list[str]) -> bool:
    try:
        "".join(values).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class _Check:
    """A value check of a staged file: the rows where `condition` holds are bad."""
    condition: str   # SQL over the staged row
    shown: str       # SQL of the value a message shows for a bad row
    column: str      # the column as the message names it
    problem: str     # what is wrong, for many rows ("are negative")


class Stage(Protocol):
    """Where a staged file's rows are and how queries over them run: DuckDB's temp table here, a
    Spark view for the inputs only Spark reads. The checks are DuckDB SQL over `table`; a stage
    that is not DuckDB translates them."""

    table: str    # the staged rows (SQL name)
    merged: str   # the rowids of the mode-fallback copies left out (SQL name)
    rowid: str    # the column numbering the rows in file order (from any base)

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def columns(self) -> list[tuple[str, str]]:
        """The staged file's columns: (name, DuckDB type name)."""
        ...

    def fields(self, column: str) -> list[tuple[str, str]]:
        """The fields of struct `column` (quoted SQL): (name, DuckDB type name)."""
        ...

    def json_array(self, text: str) -> tuple[str, str]:
        """(SQL true when `text` is a JSON array, SQL of that array as a list of text)."""
        ...

    def create_merged(self, sql: str | None) -> None:
        """Drop `merged`; make it from `sql` unless None."""
        ...

    def insert(self, table: str, columns: str, row: str, select: str, where: str, run_id: str) -> None:
        """Insert the staged rows where `where` holds, in file order, into warehouse `table`."""
        ...


class DuckDBStage:
    """A file staged by DuckDB as the temp table ``ingest_stage`` of the ingest's connection."""

    table = "temp.main.ingest_stage"
    merged = "temp.main.ingest_merged"
    rowid = "rowid"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def columns(self) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in self.con.execute("DESCRIBE temp.main.ingest_stage").fetchall()]

    def fields(self, column: str) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in
                self.con.execute(f"DESCRIBE SELECT {column}.* FROM temp.main.ingest_stage").fetchall()]

    def json_array(self, text: str) -> tuple[str, str]:
        return f"json_valid({text}) AND json_type({text}) = 'ARRAY'", f"from_json({text}, '[\"VARCHAR\"]')"

    def create_merged(self, sql: str | None) -> None:
        self.con.execute("DROP TABLE IF EXISTS temp.main.ingest_merged")
        if sql is not None:
            self.con.execute(f"CREATE TEMP TABLE ingest_merged AS {sql}")

    def insert(self, table: str, columns: str, row: str, select: str, where: str, run_id: str) -> None:
        self.con.execute(
            f"INSERT INTO {table} (run_id, source_row, {columns}) "
            f"SELECT ?, {row}, {select} FROM temp.main.ingest_stage WHERE {where} ORDER BY rowid",
            [run_id],
        )


class _StagedFile:
    """One staged input file: column mapping, typed expressions, checks, and the insert."""

    def __init__(self, stage: Stage, spec: InputSpec, path: Path | str):
        self.stage, self.spec, self.path = stage, spec, path
        self.pending: list[_Check] = []
        self.types: dict[str, str] = {}
        self.names: dict[str, str] = {}
        for name, dtype in stage.columns():
            key = _column_key(name)
            if key in self.names:
                raise InputError(f"{path}: column {name!r} appears more than once", path=path)
            self.names[key] = name
            self.types[key] = dtype.upper()
        # FoxML's `stability_metrics` struct: its fields by key, with their own types.
        self.fields: dict[str, tuple[str, str]] = {}
        if self.types.get("stability_metrics", "").startswith("STRUCT"):
            column = quote_identifier(self.names["stability_metrics"])
            for name, dtype in stage.fields(column):
                key = _column_key(name)
                if key in self.fields:
                    raise InputError(f"{path}: column {self.names['stability_metrics']!r}: field {name!r} appears more "
                                     f"than once", path=path)
                self.fields[key] = (name, dtype.upper())
        count, base = self._one(f"SELECT count(*), coalesce(min({stage.rowid}), 0) FROM {stage.table}")
        self.row_count = int(count)
        # The 1-based data row number. A temp table made inside the ingest transaction numbers its
        # rows from a large transaction-local base (2^55 - 3968), not 0, so rowid is offset by its minimum.
        self.row = f"({stage.rowid} - {int(base)} + 1)"
        missing = [c for c in spec.required if c not in self.names]
        if missing:
            found = visible_controls(", ".join(self.names[k] for k in self.names), backslash=False) or "(none)"
            raise InputError(
                f"{path}: missing required column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} (columns found: {found[:300]})",
                path=path,
            )

    def _one(self, sql: str) -> tuple[Any, ...]:
        rows = self.stage.rows(sql)
        if len(rows) != 1:
            raise AssertionError(f"one row expected of: {sql}")
        return tuple(rows[0])

    # --- expressions ------------------------------------------------------------------------

    def _from_struct(self, column: str) -> bool:
        """True when `column` is read from a field of the `stability_metrics` struct."""
        return column not in self.names and column in STABILITY_METRICS + ("n_snapshots",) and column in self.fields

    def _raw(self, column: str) -> str | None:
        if column in self.names:
            return quote_identifier(self.names[column])
        if self._from_struct(column):
            return f"{quote_identifier(self.names['stability_metrics'])}.{quote_identifier(self.fields[column][0])}"
        return None

    def _label(self, column: str) -> str:
        """The column as messages name it: the file's own spelling, `stability_metrics.<field>` for a struct field."""
        if self._from_struct(column):
            return f"{self.names['stability_metrics']}.{self.fields[column][0]}"
        return self.names.get(column, column)

    def _kind_type(self, column: str) -> str:
        if column in self.names:
            return self.types[column]
        return self.fields[column][1]

    def typed(self, column: str, kind: Any) -> tuple[str, str | None]:
        """(typed expression, condition that marks a bad value or None)."""
        raw = self._raw(column)
        if raw is None:
            return _null_of(kind), None
        dtype = self._kind_type(column)
        nested = dtype.endswith("[]") or dtype.startswith(("STRUCT", "MAP", "LIST", "UNION"))
        if kind == "text_list":
            if dtype.endswith("[]") or dtype.startswith("LIST"):
                return f"list_transform(CAST({raw} AS VARCHAR[]), lambda x: trim(x))", None
            if nested:
                return "CAST(NULL AS VARCHAR[])", f"{raw} IS NOT NULL"
            text = f"trim(CAST({raw} AS VARCHAR))"
            is_array, array = self.stage.json_array(text)
            expr = (
                f"(CASE WHEN {raw} IS NULL OR {text} = '' THEN NULL "
                f"WHEN starts_with({text}, '[') THEN CASE WHEN {is_array} "
                f"THEN list_filter(list_transform({array}, lambda x: trim(x)), lambda x: x IS NOT NULL AND x <> '') END "
                f"ELSE list_filter(list_transform(string_split({text}, '|'), lambda x: trim(x)), lambda x: x <> '') END)"
            )
            bad = f"({raw} IS NOT NULL AND {text} <> '' AND {expr} IS NULL)"
            return expr, bad
        if nested:
            return _null_of(kind), f"{raw} IS NOT NULL"
        is_text = dtype == "VARCHAR"
        if kind == "text":
            if column in TRIMMED_NAMES:
                return trim_names(f"CAST({raw} AS VARCHAR)"), None
            return f"CAST({raw} AS VARCHAR)", None
        if isinstance(kind, tuple):
            allowed = ", ".join(sql_literal(v) for v in kind[1])
            expr = f"NULLIF(upper(trim(CAST({raw} AS VARCHAR))), '')"
            return expr, f"({expr} IS NOT NULL AND {expr} NOT IN ({allowed}))"
        if kind == "double":
            if is_text:
                expr = f"TRY_CAST(trim({raw}) AS DOUBLE)"
                return expr, f"({raw} IS NOT NULL AND trim({raw}) <> '' AND {expr} IS NULL)"
            if _numeric(dtype):
                return f"CAST({raw} AS DOUBLE)", None
            return "CAST(NULL AS DOUBLE)", f"{raw} IS NOT NULL"
        if kind == "integer":
            if is_text:
                as_double = f"TRY_CAST(trim({raw}) AS DOUBLE)"
                expr = (
                    f"(CASE WHEN regexp_full_match(trim({raw}), '[+-]?[0-9]+') THEN TRY_CAST(trim({raw}) AS BIGINT) "
                    f"WHEN isfinite({as_double}) AND {as_double} = trunc({as_double}) THEN TRY_CAST({as_double} AS BIGINT) END)"
                )
                return expr, f"({raw} IS NOT NULL AND trim({raw}) <> '' AND {expr} IS NULL)"
            if dtype in ("FLOAT", "DOUBLE", "REAL") or dtype.startswith("DECIMAL"):
                expr = f"(CASE WHEN isfinite(CAST({raw} AS DOUBLE)) AND {raw} = trunc({raw}) THEN TRY_CAST({raw} AS BIGINT) END)"
                return expr, f"({raw} IS NOT NULL AND {expr} IS NULL)"
            if _numeric(dtype):
                expr = f"TRY_CAST({raw} AS BIGINT)"
                return expr, f"({raw} IS NOT NULL AND {expr} IS NULL)"
            return "CAST(NULL AS BIGINT)", f"{raw} IS NOT NULL"
        if kind == "boolean":
            if dtype == "BOOLEAN":
                return raw, None
            if is_text:
                expr = f"TRY_CAST(trim({raw}) AS BOOLEAN)"
                return expr, f"({raw} IS NOT NULL AND trim({raw}) <> '' AND {expr} IS NULL)"
            if _numeric(dtype):
                return f"({raw} <> 0)", None
            return "CAST(NULL AS BOOLEAN)", f"{raw} IS NOT NULL"
        raise AssertionError(kind)

    # --- checks -----------------------------------------------------------------------------
    # The value checks are collected (check_values, check_ranges, check_required_values) and then
    # counted in one scan of the staged file (run_checks); only a check that finds rows runs again
    # to list up to 5 of them, in the order the checks were collected, so the first failing check
    # gives the same message as when each check was a query of its own.

    def _check(self, condition: str, shown: str, column: str, problem: str) -> None:
        self.pending.append(_Check(condition, shown, column, problem))

    def run_checks(self) -> None:
        """Count every collected check in one scan; raise for the first one that finds rows."""
        checks, self.pending = self.pending, []
        if not checks:
            return
        counts: list[int | None] = [None] * len(checks)
        if len(checks) > 1:
            # The checks are TRY_ casts and comparisons that do not fail; should one fail all the
            # same, its DuckDB error (which aborts the ingest transaction, so no query could follow)
            # is reported by _load_file as for a single check's query.
            filters = ", ".join(f"count(*) FILTER (WHERE {c.condition})" for c in checks)
            counts = [int(n) for n in self._one(f"SELECT {filters} FROM {self.stage.table}")]
        for check, known in zip(checks, counts):
            if known == 0:
                continue
            count, rows = self._fail_rows(check.condition, check.shown)
            if count:
                self._raise(check.column, check.problem, count, rows)

    def _fail_rows(self, condition: str, shown: str) -> tuple[int, list[tuple]]:
        count = int(self._one(f"SELECT count(*) FROM {self.stage.table} WHERE {condition}")[0])
        rows = self.stage.rows(
            f"SELECT {self.row}, {shown} FROM {self.stage.table} WHERE {condition} ORDER BY {self.stage.rowid} LIMIT {MAX_SHOWN}"
        ) if count else []
        return count, rows

    def _raise(self, column: str, problem: str, count: int, rows: list[tuple]) -> None:
        shown = "; ".join(f"row {r[0]}: {_show(r[1])}" for r in rows)
        more = f" (and {count - len(rows)} more)" if count > len(rows) else ""
        if count == 1:  # "1 row is negative", not "1 row are negative"
            problem = problem.replace("are ", "is ", 1) if problem.startswith("are ") else \
                problem.replace("have ", "has ", 1) if problem.startswith("have ") else problem
        raise InputError(f"{self.path}: column {column!r}: {count} row{'s' if count != 1 else ''} {problem}: {shown}{more}", path=self.path)

    def check_values(self) -> None:
        for column, kind in self.spec.columns.items():
            _, bad = self.typed(column, kind)
            if bad is None:
                continue
            raw = self._raw(column)
            self._check(bad, f"CAST({raw} AS VARCHAR)", self._label(column), _problem(kind))
        for column in STABILITY_METRICS + ("n_snapshots",):
            if self.spec is CANDIDATES and column in self.names and column in self.fields:
                # Given twice: which one is meant is ambiguous (an all-null struct field is no second value).
                field_sql = f"{quote_identifier(self.names['stability_metrics'])}.{quote_identifier(self.fields[column][0])}"
                self._check(f"{field_sql} IS NOT NULL", f"CAST({field_sql} AS VARCHAR)",
                            f"{self.names['stability_metrics']}.{self.fields[column][0]}",
                            f"also give {column}, which column {self.names[column]!r} gives; keep one")
        dtype = self.types.get("stability_metrics")
        if self.spec is CANDIDATES and dtype is not None and not dtype.startswith("STRUCT") and dtype != '"NULL"':
            # Not a struct of stability metrics: its metrics would be silently left out.
            raw = quote_identifier(self.names["stability_metrics"])
            self._check(f"{raw} IS NOT NULL", f"CAST({raw} AS VARCHAR)", self.names["stability_metrics"],
                        f"are not a struct with fields {', '.join(STABILITY_METRICS)} ({dtype})")

    def check_ranges(self) -> None:
        """Stability values: finite and in range; NaN is a missing value."""
        for column, low, high in self.spec.ranges:
            raw = self._raw(column)
            if raw is None:
                continue
            expr, _ = self.typed(column, "double")
            outside = f"{expr} < {low!r}" + (f" OR {expr} > {high!r}" if high is not None else "")
            allowed = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
            self._check(f"({expr} IS NOT NULL AND NOT isnan({expr}) AND (NOT isfinite({expr}) OR {outside}))",
                        f"CAST({raw} AS VARCHAR)", self._label(column), f"are not finite numbers {allowed}")

    def check_required_values(self) -> None:
        """Every row has a target; sample sizes are not negative."""
        typed_target = self.typed("target", "text")[0]
        self._check(f"{typed_target} IS NULL OR {typed_target} = ''", f"CAST({self._raw('target')} AS VARCHAR)",
                    "target", "have an empty target")
        if "sample_size" in self.spec.columns and self._raw("sample_size") is not None:
            expr, _ = self.typed("sample_size", "integer")
            self._check(f"{expr} < 0", expr, "sample_size", "are negative")

    def check_rules(self, typed_target: str, typed_symbol: str, aggregate: str, marked: str = "FALSE") -> None:
        """No two loaded rows share a key (target, symbol and the spec's extra key columns)."""
        if not self.spec.keyed:
            return
        extra = [(c, f"NULLIF({self.typed(c, 'text')[0]}, '')") for c in self.spec.key_extra]
        extra_cols = "".join(f", k{i}" for i in range(len(extra)))
        extra_select = "".join(f", {expr} AS k{i}" for i, (_, expr) in enumerate(extra))
        extra_where = "".join(f" AND {expr} IS NOT NULL" for _, expr in extra)
        # Counting the repeated keys is a plain hash aggregate; the query that lists them (with
        # every row number) runs only when there are some.
        repeated = self._one(
            f"""SELECT count(*) FROM (SELECT 1 FROM {self.stage.table} WHERE NOT ({aggregate}){extra_where}
                GROUP BY {typed_target}, {typed_symbol}{''.join(f', {expr}' for _, expr in extra)} HAVING count(*) > 1)"""
        )[0]
        if not repeated:
            return
        dupes = self.stage.rows(
            f"""SELECT list(r ORDER BY r) AS rows_, count(*) OVER () AS n, bool_or(m) AS marked, t, s{extra_cols}
                FROM (SELECT {typed_target} AS t, {typed_symbol} AS s, {self.row} AS r, {marked} AS m{extra_select}
                      FROM {self.stage.table} WHERE NOT ({aggregate}){extra_where})
                GROUP BY t, s{extra_cols} HAVING count(*) > 1 ORDER BY min(r) LIMIT {MAX_SHOWN}"""
        )
        if dupes:
            shown = "; ".join(
                f"target={_show(t)} {'(CS row)' if s is None else 'symbol=' + _show(s)}"
                + "".join(f" {c}={_show(v)}" for (c, _), v in zip(extra, values))
                + f" at rows {', '.join(map(str, rows_[:5]))}"
                for rows_, _, _, t, s, *values in dupes
            )
            note = ""
            if any(row[2] for row in dupes):
                note = (f"; a CS row marked in column {self.names.get('mode_fallback', 'mode_fallback')!r} (FoxML's mode "
                        f"fallback) is merged only when it is identical, in every column routing uses, to the row it copies")
            columns = ", ".join(repr(c) for c in ("target", "symbol", *self.spec.key_extra))
            raise InputError(f"{self.path}: columns {columns}: {dupes[0][1]} duplicate key{'s' if dupes[0][1] != 1 else ''}: "
                             f"{shown}{note}", path=self.path)

    def load(self, run_id: str) -> dict[str, int]:
        if self.row_count == 0 and self.spec in (CANDIDATES, FEATURE_SELECTION):
            raise InputError(f"{self.path}: has no data rows; refusing to build a plan from empty metrics", path=self.path)
        self.check_values()
        self.check_ranges()
        self.check_required_values()
        self.run_checks()
        exprs = {c: self.typed(c, k)[0] for c, k in self.spec.columns.items()}
        symbol_norm = f"(CASE WHEN {exprs['symbol']} IS NULL OR {exprs['symbol']} IN ('', '__AGG__') THEN NULL ELSE {exprs['symbol']} END)"
        mode = exprs.get("mode")
        aggregate = (
            f"({symbol_norm} IS NULL AND coalesce({mode} IN ('SYMBOL_SPECIFIC', 'SYMBOL'), FALSE))" if mode else "FALSE"
        )
        exprs["symbol"] = symbol_norm
        marked = self._mode_fallback_marked()
        merged = self._merge_mode_fallback(exprs, aggregate, marked)
        # Rows not loaded: aggregate rows, and the mode-fallback copies merged into the row they copy.
        skipped = (f"({aggregate} OR {self.stage.rowid} IN (SELECT rid FROM {self.stage.merged}))" if merged
                   else aggregate)
        self.check_rules(exprs["target"], symbol_norm, skipped, marked)
        if mode:
            exprs["mode"] = f"(CASE WHEN {mode} = 'SYMBOL' THEN 'SYMBOL_SPECIFIC' ELSE {mode} END)"
        select = ", ".join(f"{expr} AS {quote_identifier(col)}" for col, expr in exprs.items())
        columns = ", ".join(quote_identifier(c) for c in exprs)
        self.stage.insert(self.spec.table, columns, self.row, select, f"NOT ({skipped})", run_id)
        counts = {"rows_read": self.row_count}
        if self.spec in (CANDIDATES, FEATURE_SELECTION):
            cs, sym, agg = self._one(
                f"SELECT count(*) FILTER (WHERE NOT ({skipped}) AND {symbol_norm} IS NULL), "
                f"count(*) FILTER (WHERE {symbol_norm} IS NOT NULL), count(*) FILTER (WHERE {aggregate}) "
                f"FROM {self.stage.table}"
            )
            counts.update(cs_rows=int(cs), symbol_rows=int(sym), aggregate_rows_skipped=int(agg))
            if marked != "FALSE":
                counts["mode_fallback_rows_merged"] = merged
        return counts

    # --- FoxML's mode fallback ---------------------------------------------------------------

    def _mode_fallback_marked(self) -> str:
        """SQL true for a row FoxML's mode fallback marked (a non-blank `mode_fallback`); FALSE
        for a file without that column or another input shape than the candidates file."""
        if self.spec is not CANDIDATES or "mode_fallback" not in self.names:
            return "FALSE"
        raw = quote_identifier(self.names["mode_fallback"])
        if self.types["mode_fallback"].endswith("[]") or self.types["mode_fallback"].startswith(("STRUCT", "MAP", "LIST", "UNION")):
            return f"({raw} IS NOT NULL)"
        return f"coalesce(trim(CAST({raw} AS VARCHAR), {sql_literal(WHITESPACE)}) <> '', FALSE)"

    def _merge_mode_fallback(self, exprs: dict[str, str], aggregate: str, marked: str) -> int:
        """Find FoxML's mode-fallback copies to merge: for a target whose CS row appears more than
        once, every copy but at most one marked in `mode_fallback`, and all of them identical in
        every column routing uses, the first unmarked row is kept and the copies are left out.
        Their rowids go to temp.main.ingest_merged; returns how many. Anything else stays a duplicate."""
        if marked == "FALSE":
            self.stage.create_merged(None)
            return 0
        names = list(exprs)
        cols = ", ".join(f"{exprs[c]} AS c{i}" for i, c in enumerate(names))
        target = names.index("target")
        same = " AND ".join(f"r.c{i} IS NOT DISTINCT FROM f.c{i}" for i in range(len(names)))
        self.stage.create_merged(
            f"""WITH rows_ AS (
                    SELECT {self.stage.rowid} AS rid, {marked} AS marked, {cols}
                    FROM {self.stage.table} WHERE NOT ({aggregate}) AND {exprs['symbol']} IS NULL
                ), ranked AS (
                    SELECT *, row_number() OVER (PARTITION BY c{target} ORDER BY marked, rid) AS pos,
                           count(*) OVER (PARTITION BY c{target}) AS n,
                           sum(CASE WHEN marked THEN 0 ELSE 1 END) OVER (PARTITION BY c{target}) AS unmarked
                    FROM rows_
                ), mergeable AS (
                    SELECT r.c{target} AS t FROM ranked r JOIN ranked f ON f.c{target} = r.c{target} AND f.pos = 1
                    WHERE r.n > 1 AND r.unmarked <= 1
                    GROUP BY r.c{target} HAVING bool_and({same})
                )
                SELECT r.rid FROM ranked r JOIN mergeable m ON r.c{target} = m.t WHERE r.pos > 1"""
        )
        return int(self._one(f"SELECT count(*) FROM {self.stage.merged}")[0])


def _numeric(dtype: str) -> bool:
    return dtype in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                     "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL") or dtype.startswith("DECIMAL")


def _null_of(kind: Any) -> str:
    sql_type = {"double": "DOUBLE", "integer": "BIGINT", "boolean": "BOOLEAN", "text_list": "VARCHAR[]"}.get(kind, "VARCHAR")
    return f"CAST(NULL AS {sql_type})"


def _problem(kind: Any) -> str:
    if isinstance(kind, tuple):
        return f"have a value that is not one of {', '.join(kind[1])}"
    return {
        "double": "are not numbers",
        "integer": "are not whole numbers",
        "boolean": "are not true/false",
        "text_list": "are not a list of text (JSON array or '|'-separated)",
        "text": "are not text",
    }[kind]
