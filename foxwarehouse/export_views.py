"""Derived views of a plan (by_target/, by_symbol/, by_route/, by_type/) and path-safe file names.

Each view folder holds one ``<NAME>.json`` per value and an ``index.json`` mapping values to files.
Jobs are streamed from DuckDB in bounded chunks of groups, never built as Python objects.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from .atomic import write_text_atomic
from .jobs_json import JOB_JSON_SQL

VIEWS = {"by_target": "target", "by_symbol": "symbol", "by_route": "route", "by_type": "training_type"}
CHUNK_JOBS = 50_000
MAX_NAME_BYTES = 160


def safe_file_stem(name: str) -> str:
    """A file name stem that never leaves its folder: unsafe bytes percent-encoded, long names hashed.

    Letters, digits, '-', '_' and '.' stay (a leading '.' is encoded); the empty name is '%EMPTY';
    'index' is encoded so it cannot shadow index.json.
    """
    if name == "":
        return "%EMPTY"
    stem = quote(name, safe="").replace("~", "%7E")
    if stem.startswith("."):
        stem = "%2E" + stem[1:]
    if stem.lower() == "index":
        stem = "%" + format(ord(stem[0]), "02X") + stem[1:]
    if len(stem) > MAX_NAME_BYTES:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        stem = stem[:120].rstrip("%0123456789ABCDEF") + "~" + digest
    return stem


def write_derived_views(con, master: str, run_id: str, out_dir: Path) -> dict[str, int]:
    """Write every derived view folder under out_dir; returns files written per view."""
    written = {}
    for view, column in VIEWS.items():
        folder = out_dir / view
        folder.mkdir(parents=True, exist_ok=True)
        index: dict[str, dict[str, object]] = {}
        for name, count, jobs_text in _grouped_jobs(con, master, run_id, column):
            stem = safe_file_stem(name)
            file_name = f"{stem}.json"
            head = json.dumps({"view": view, "name": name, "total_jobs": count}, ensure_ascii=False)[:-1]
            body = f'{head}, "jobs": [\n{jobs_text}\n]}}\n'
            write_text_atomic(folder / file_name, body)
            index[name] = {"file": file_name, "jobs": count}
        index_doc = {"view": view, "key": column, "entries": index}
        write_text_atomic(folder / "index.json", json.dumps(index_doc, ensure_ascii=False, indent=2) + "\n")
        written[view] = len(index)
    return written


def _grouped_jobs(con, master: str, run_id: str, column: str) -> Iterator[tuple[str, int, str]]:
    groups = con.execute(
        f"SELECT {column} AS name, count(*) AS n FROM {master} WHERE run_id = ? AND {column} IS NOT NULL "
        f"GROUP BY {column} ORDER BY {column}",
        [run_id],
    ).fetchall()
    start = 0
    while start < len(groups):
        end, total = start, 0
        while end < len(groups) and (total == 0 or total + groups[end][1] <= CHUNK_JOBS):
            total += groups[end][1]
            end += 1
        first, last = groups[start][0], groups[end - 1][0]
        rows = con.execute(
            f"SELECT {column}, count(*), string_agg('  ' || {JOB_JSON_SQL}, ',' || chr(10) ORDER BY plan_order) "
            f"FROM {master} WHERE run_id = ? AND {column} >= ? AND {column} <= ? "
            f"GROUP BY {column} ORDER BY {column}",
            [run_id, first, last],
        ).fetchall()
        yield from ((name, int(n), text) for name, n, text in rows)
        start = end
