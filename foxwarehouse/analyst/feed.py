"""The scheduler feed: stream a run's jobs from the final view as JSON lines or CSV.

Lines are produced by DuckDB in chunks of plan order, so a plan of any size streams with flat memory.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import duckdb

from .. import options
from ..engine import CHUNK_ROWS, one_row
from ..jobs_json import JOB_JSON_SQL
from ..warehouse import PUBLISHED, Warehouse

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("job_id", "target", "symbol", "route", "training_type", "model_families", "priority",
               "estimated_samples", "reason")


def _csv_field(expr: str) -> str:
    return f"""coalesce('"' || replace(CAST({expr} AS VARCHAR), '"', '""') || '"', '')"""


CSV_LINE_SQL = " || ',' || ".join(
    _csv_field("array_to_string(model_families, '|')") if c == "model_families" else _csv_field(c)
    for c in CSV_COLUMNS
)


def stream_jobs(db: str | Path, out: IO[str], run: str | None = PUBLISHED, fmt: str = "jsonl",
                route: str | None = None, training_type: str | None = None, target: str | None = None,
                symbol: str | None = None, min_priority: int | None = None,
                note: Callable[[str], None] | None = None) -> int:
    """Write the jobs of `run` (default: the published run, what the trainer reads) to `out`;
    returns the number of jobs written.

    route and training_type must be values of the vocabulary (any case). A target or symbol the run
    does not hold gives no jobs and, when `note` is given, one line through it: a filter on free
    text cannot be validated, but an empty answer should not look like "no jobs".
    """
    fmt = options.choice("format", fmt, FORMATS)
    route = options.route(route)
    training_type = options.training_type(training_type)
    line_sql = JOB_JSON_SQL if fmt == "jsonl" else CSV_LINE_SQL
    filters: list[str] = []
    params: list[Any] = []
    for column, value in (("route", route), ("training_type", training_type), ("target", target), ("symbol", symbol)):
        if value is not None:
            filters.append(f"{column} = ?")
            params.append(value)
    if min_priority is not None:
        filters.append("priority >= ?")
        params.append(min_priority)
    where = "".join(f" AND {f}" for f in filters)
    written = 0
    with Warehouse(db, read_only=True) as wh:
        run_id = wh.resolve_run(PUBLISHED if run is None else run)
        if note is not None:
            for column, value in (("target", target), ("symbol", symbol)):
                if value is None:
                    continue
                try:
                    (found,) = one_row(wh.con.execute(
                        f"SELECT count(*) FROM routing_decisions WHERE run_id = ? AND {column} = ?",
                        [run_id, value]))
                except duckdb.Error:  # an older or partial warehouse: the note is a courtesy only
                    continue
                if found == 0:
                    note(f"note: run {run_id} has no {column} {value!r}; no jobs match")
        if fmt == "csv":
            out.write(",".join(CSV_COLUMNS) + "\n")
        (total,) = one_row(wh.con.execute("SELECT count(*) FROM master_plan WHERE run_id = ?", [run_id]))
        for text, n in _chunks(wh, run_id, line_sql, where, params, int(total)):
            out.write(text + "\n")
            written += n
    return written


def _chunks(wh: Warehouse, run_id: str, line_sql: str, where: str, params: list, total: int) -> Iterator[tuple[str, int]]:
    for start in range(1, total + 1, CHUNK_ROWS):
        text, n = one_row(wh.con.execute(
            f"SELECT string_agg(line, chr(10) ORDER BY plan_order), count(*) FROM ("
            f"SELECT plan_order, {line_sql} AS line FROM master_plan "
            f"WHERE run_id = ? AND plan_order BETWEEN ? AND ?{where})",
            [run_id, start, start + CHUNK_ROWS - 1, *params],
        ))
        if text:
            yield text, int(n)
