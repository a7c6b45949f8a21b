"""Ingest (the inputs docs/ROUTING.md describes): find a metrics input's files, fingerprint them, and
load them as one run.

Both input shapes land in ``source_*`` tables with the run's id. Each file is staged by DuckDB
(parquet as it is, CSV through ``csv_input`` with every column as text) and validated and loaded by
``staged.StagedFile``, so every bad value is reported with its file, column and row number. One
transaction per ingest: a bad file leaves nothing behind.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any, TypeVar

import duckdb

from ..errors import InputError
from ..export.export_record import file_digest, owned_top_level_file
from ..faults import checkpoint
from ..warehouse import Warehouse, new_run_id, utc_now
from .csv_input import stage_csv
from .specs import (
    CANDIDATES,
    FEATURE_SELECTION,
    LEAKAGE,
    RAW_SOURCES,
    SNAPSHOTS,
    SOURCE_NAMES,
    IngestReport,
    InputSpec,
    column_key,
    literal_file,
)
from .staged import DuckDBStage, StagedFile


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
        check_format(root)
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


def check_format(path: Path | str) -> str:
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
    fmt = check_format(path)
    con.execute("DROP TABLE IF EXISTS temp.main.ingest_stage")
    try:
        if fmt == "parquet":
            con.execute("CREATE TEMP TABLE ingest_stage AS SELECT * FROM read_parquet(?)", [literal_file(path)])
            _check_parquet_names(con, path)
        else:
            stage_csv(con, path)
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot be read as {fmt.upper()}: {error_text(exc)}", path=path) from None
    checkpoint(f"ingest:after-stage:{spec.name}")
    try:
        stage = StagedFile(DuckDBStage(con), spec, path)
        try:
            counts = stage.load(run_id)
        except (duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException,
                duckdb.BinderException) as exc:
            # The checks are meant to catch every bad value first; a value they missed still names the file.
            raise InputError(f"{path}: cannot be loaded: {error_text(exc)}", path=path) from None
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


def _check_parquet_names(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Reject a parquet file with two columns (or two `stability_metrics` fields) of one name.

    DuckDB reads a repeated name as `score_1` (also `SCORE` after `score`), so the staged table
    would silently use the first; the file's own schema has the real names.
    """
    schema = con.execute("SELECT name, coalesce(num_children, 0) FROM parquet_schema(?) ORDER BY column_id",
                         [literal_file(path)]).fetchall()
    # Depth-first: the root, then each column followed by its nested elements.
    top: list[tuple[str, int]] = []   # (name, index of its first child)
    pos = 1
    for _ in range(int(schema[0][1]) if schema else 0):
        top.append((schema[pos][0], pos + 1))
        pos = _skip_element(schema, pos)
    no_repeats(path, [name for name, _ in top], "column {name!r} appears more than once (columns {a} and {b})")
    for name, first in top:
        if column_key(name) == "stability_metrics":
            fields, pos = [], first
            for _ in range(int(schema[first - 1][1])):
                fields.append(schema[pos][0])
                pos = _skip_element(schema, pos)
            no_repeats(path, fields, f"column {name!r}: field {{name!r}} appears more than once (fields {{a}} and {{b}})")


def _skip_element(schema: list[tuple[Any, ...]], pos: int) -> int:
    """The position after the schema element at `pos` and all its nested elements."""
    children = int(schema[pos][1])
    pos += 1
    for _ in range(children):
        pos = _skip_element(schema, pos)
    return pos


def no_repeats(path: Path | str, names: list[str], message: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        key = column_key(name)
        if key in seen:
            raise InputError(f"{path}: " + message.format(name=name, a=seen[key] + 1, b=i + 1), path=path)
        seen[key] = i


def error_text(exc: BaseException) -> str:
    """DuckDB's first line plus the line saying what is wrong (CSV errors put it third)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    detail = [line for line in lines[1:4] if not line.startswith(("Original Line", "Possible", "LINE ", "^"))]
    return "; ".join([lines[0]] + detail[:1])
