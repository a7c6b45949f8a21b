"""Derived views of a plan (by_target/, by_symbol/, by_route/, by_type/) and path-safe file names.

Each view folder holds one ``<NAME>.json`` per value and an ``index.json`` mapping values to files.
Per view, jobs are sorted once by (value, plan order) in DuckDB and streamed in bounded chunks of
rows; a value's file may span several chunks, so memory stays flat however large a group is.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import IO
from urllib.parse import quote

from .atomic import write_text_atomic
from .faults import checkpoint

VIEWS = {"by_target": "target", "by_symbol": "symbol", "by_route": "route", "by_type": "training_type"}
CHUNK_ROWS = 50_000
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


def write_derived_views(con, jobs_table: str, out_dir: Path) -> dict[str, int]:
    """Write every derived view folder under out_dir from `jobs_table` (plan_order, keys, job_json)."""
    written = {}
    for view, column in VIEWS.items():
        written[view] = _write_view(con, jobs_table, view, column, out_dir / view)
    return written


class _GroupFile:
    """One view file being written; closed and renamed into place when its group ends."""

    def __init__(self, folder: Path, view: str, name: str, count: int):
        self.name = name
        self.file_name = f"{safe_file_stem(name)}.json"
        self.path = folder / self.file_name
        self.tmp = folder / f".tmp-{self.file_name}"
        self.count = count
        self.first = True
        self.fh: IO[str] = open(self.tmp, "w", encoding="utf-8", newline="\n")
        head = json.dumps({"view": view, "name": name, "total_jobs": count}, ensure_ascii=False)[:-1]
        self.fh.write(f'{head}, "jobs": [\n')

    def write(self, text: str) -> None:
        self.fh.write(text if self.first else ",\n" + text)
        self.first = False

    def close(self) -> None:
        self.fh.write("\n]}\n")
        self.fh.close()
        self.tmp.replace(self.path)
        checkpoint(f"export:after-file:{self.path.parent.parent.name}/{self.path.parent.name}/{self.file_name}")


def _write_view(con, jobs_table: str, view: str, column: str, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE export_view_rows AS
            SELECT {column} AS name, row_number() OVER (ORDER BY {column}, plan_order) AS gseq, job_json
            FROM {jobs_table} WHERE {column} IS NOT NULL ORDER BY gseq"""
    )
    groups = con.execute(
        "SELECT name, count(*) FROM export_view_rows GROUP BY name ORDER BY name").fetchall()
    counts = dict(groups)
    total = sum(counts.values())
    index: dict[str, dict[str, object]] = {}
    current: _GroupFile | None = None
    try:
        for start in range(1, total + 1, CHUNK_ROWS):
            rows = con.execute(
                "SELECT name, string_agg('  ' || job_json, ',' || chr(10) ORDER BY gseq) FROM export_view_rows "
                "WHERE gseq BETWEEN ? AND ? GROUP BY name ORDER BY min(gseq)",
                [start, start + CHUNK_ROWS - 1],
            ).fetchall()
            for name, text in rows:
                if current is None or current.name != name:
                    if current is not None:
                        current.close()
                        index[current.name] = {"file": current.file_name, "jobs": current.count}
                    current = _GroupFile(folder, view, name, int(counts[name]))
                current.write(text)
        if current is not None:
            current.close()
            index[current.name] = {"file": current.file_name, "jobs": current.count}
    finally:
        if current is not None and not current.fh.closed:
            current.fh.close()
        con.execute("DROP TABLE IF EXISTS temp.main.export_view_rows")
    index_doc = {"view": view, "key": column, "entries": index}
    write_text_atomic(folder / "index.json", json.dumps(index_doc, ensure_ascii=False, indent=2) + "\n")
    checkpoint(f"export:after-file:{folder.parent.name}/{folder.name}/index.json")
    return len(index)
