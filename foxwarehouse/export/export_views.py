"""Derived views of a plan (by_target/, by_symbol/, by_route/, by_type/) and path-safe file names.

Each view folder holds one ``<NAME>.json`` per value and an ``index.json`` mapping values to files.
Small groups are read from the export's job table a key range at a time (at most CHUNK_ROWS jobs,
sorted by key and plan order, so memory stays flat whatever the group sizes) and each group's file
is written from its slice of the rows; a large group's file is written by DuckDB in one scan.

A view has up to one file per symbol (tens of thousands), so the per-file cost is what counts:
rather than a temp file renamed into place per file, the files of a view are written under their
final names into a private temp folder beside the view's, which is renamed into place once the
view is complete. A reader of the export folder sees no view folder or a complete one, never a
partial file under a final name.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from ..atomic import move_folder_into_place, temp_folder_beside, write_unseen_file
from ..engine import CHUNK_ROWS
from ..faults import checkpoint
from .text_copy import copy_text

VIEWS = {"by_target": "target", "by_symbol": "symbol", "by_route": "route", "by_type": "training_type"}
MAX_NAME_BYTES = 160
_TAIL = "\n]}\n"


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


def _write_view(con, jobs_table: str, view: str, column: str, folder: Path) -> int:
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = temp_folder_beside(folder)
    try:
        index = _write_files(con, jobs_table, view, column, folder, work)
        index_doc = {"view": view, "key": column, "entries": index}
        write_unseen_file(work / "index.json", (json.dumps(index_doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        checkpoint(f"export:after-file:{folder.parent.name}/{folder.name}/index.json")
        move_folder_into_place(work, folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return len(index)


def _write_files(con, jobs_table: str, view: str, column: str, folder: Path,
                 work: Path) -> dict[str, dict[str, object]]:
    groups = con.execute(
        f"SELECT {column}, count(*) FROM {jobs_table} WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall()
    index: dict[str, dict[str, object]] = {}
    where = f"{folder.parent.name}/{folder.name}"
    for first, last in _batches(groups):
        if first == last and groups[first][1] > CHUNK_ROWS:
            # One large group: DuckDB writes its file itself, scanning the job table (made in plan
            # order) for the group's jobs: no sort, and the text never passes through Python.
            name, count = str(groups[first][0]), int(groups[first][1])
            file_name = f"{safe_file_stem(name)}.json"
            copy_text(con, work / file_name, f"SELECT '  ' || job_json FROM {jobs_table} WHERE {column} = ?",
                      [name], prefix=_head(view, name, count), separator=",\n", suffix=_TAIL)
            checkpoint(f"export:after-file:{where}/{file_name}")
            index[name] = {"file": file_name, "jobs": count}
            continue
        # Many small groups: their jobs in one query, sorted by group then plan order; each
        # group's file is its slice of the rows (the same ORDER BY as the group list above).
        rows = [text for (text,) in con.execute(
            f"SELECT '  ' || job_json FROM {jobs_table} WHERE {column} >= ? AND {column} <= ? "
            f"ORDER BY {column}, plan_order",
            [groups[first][0], groups[last][0]],
        ).fetchall()]
        at = 0
        for name, count in groups[first:last + 1]:
            file_name = f"{safe_file_stem(name)}.json"
            text = _head(view, name, count) + ",\n".join(rows[at:at + count]) + _TAIL
            write_unseen_file(work / file_name, text.encode("utf-8"))
            checkpoint(f"export:after-file:{where}/{file_name}")
            index[name] = {"file": file_name, "jobs": int(count)}
            at += count
        if at != len(rows):
            raise RuntimeError(f"{where}: {len(rows)} jobs read for groups of {at} jobs")
    return index


def _head(view: str, name: str, count: int) -> str:
    return json.dumps({"view": view, "name": name, "total_jobs": int(count)}, ensure_ascii=False)[:-1] + \
        ', "jobs": [\n'


def _batches(groups: list[tuple[str, int]]) -> Iterator[tuple[int, int]]:
    """Index ranges (first, last) of the groups: runs of small groups of at most CHUNK_ROWS jobs in
    all, and each group larger than CHUNK_ROWS alone."""
    i = 0
    while i < len(groups):
        if groups[i][1] > CHUNK_ROWS:
            yield i, i
            i += 1
            continue
        j, total = i, 0
        while j < len(groups) and groups[j][1] <= CHUNK_ROWS and total + groups[j][1] <= CHUNK_ROWS:
            total += groups[j][1]
            j += 1
        yield i, j - 1
        i = j
