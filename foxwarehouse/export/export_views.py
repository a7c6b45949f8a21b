"""Derived views of a plan (by_target/, by_symbol/, by_route/, by_type/) and path-safe file names.

Each view folder holds one ``<NAME>.json`` per value and an ``index.json`` mapping values to files.
Many small groups are read from the export's job table per query by key range (bounded chunks, so
memory stays flat whatever the group sizes); a large group's file is written by DuckDB in one scan.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import quote

from ..atomic import atomic_stream, write_json_atomic
from ..engine import CHUNK_ROWS
from ..faults import checkpoint
from .text_copy import copy_text

VIEWS = {"by_target": "target", "by_symbol": "symbol", "by_route": "route", "by_type": "training_type"}
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
    """One view file being written: the jobs of one group, comma-separated inside the frame."""

    def __init__(self, fh: IO[str], file_name: str, name: str, count: int):
        self.fh = fh
        self.file_name = file_name
        self.name = name
        self.count = count
        self.first = True

    def write(self, text: str) -> None:
        self.fh.write(text if self.first else ",\n" + text)
        self.first = False


@contextmanager
def _group_file(folder: Path, view: str, name: str, count: int) -> Iterator[_GroupFile]:
    """A view file streamed atomically; renamed into place when its group ends."""
    file_name = f"{safe_file_stem(name)}.json"
    with atomic_stream(folder / file_name) as fh:
        head = json.dumps({"view": view, "name": name, "total_jobs": count}, ensure_ascii=False)[:-1]
        fh.write(f'{head}, "jobs": [\n')
        group = _GroupFile(fh, file_name, name, count)
        yield group
        fh.write("\n]}\n")
    checkpoint(f"export:after-file:{folder.parent.name}/{folder.name}/{file_name}")


def _write_view(con, jobs_table: str, view: str, column: str, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    groups = con.execute(
        f"SELECT {column}, count(*) FROM {jobs_table} WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall()
    index: dict[str, dict[str, object]] = {}
    for kind, first, last in _batches(groups):
        if kind == "range":
            # Many small groups: one query for a key range of at most CHUNK_ROWS jobs.
            rows = con.execute(
                f"SELECT {column}, count(*), string_agg('  ' || job_json, ',' || chr(10) ORDER BY plan_order) "
                f"FROM {jobs_table} WHERE {column} >= ? AND {column} <= ? GROUP BY 1 ORDER BY 1",
                [first, last],
            ).fetchall()
            for name, count, text in rows:
                with _group_file(folder, view, name, int(count)) as group:
                    group.write(text)
                index[name] = {"file": group.file_name, "jobs": group.count}
        else:
            # One large group: DuckDB writes its file itself, scanning the job table (made in plan
            # order) for the group's jobs: no sort, and the text never passes through Python.
            name, count = str(first), int(last)
            file_name = f"{safe_file_stem(name)}.json"
            head = json.dumps({"view": view, "name": name, "total_jobs": count}, ensure_ascii=False)[:-1]
            copy_text(con, folder / file_name, f"SELECT '  ' || job_json FROM {jobs_table} WHERE {column} = ?",
                      [name], prefix=f'{head}, "jobs": [\n', separator=",\n", suffix="\n]}\n")
            checkpoint(f"export:after-file:{folder.parent.name}/{folder.name}/{file_name}")
            index[name] = {"file": file_name, "jobs": count}
    index_doc = {"view": view, "key": column, "entries": index}
    write_json_atomic(folder / "index.json", index_doc, indent=2, ensure_ascii=False)
    checkpoint(f"export:after-file:{folder.parent.name}/{folder.name}/index.json")
    return len(index)


def _batches(groups: list[tuple[str, int]]) -> Iterator[tuple[str, str, str | int]]:
    """('range', first, last) for runs of small groups, ('group', name, count) for a large one."""
    i = 0
    while i < len(groups):
        name, count = groups[i]
        if count > CHUNK_ROWS:
            yield "group", name, count
            i += 1
            continue
        j, total = i, 0
        while j < len(groups) and groups[j][1] <= CHUNK_ROWS and total + groups[j][1] <= CHUNK_ROWS:
            total += groups[j][1]
            j += 1
        yield "range", groups[i][0], groups[j - 1][0]
        i = j
