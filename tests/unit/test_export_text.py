"""The export's text pieces on their own: YAML-safe JSON text in SQL, and the derived view files."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import duckdb
import pytest

from foxwarehouse.export import export_views
from foxwarehouse.export.text_copy import YAML_UNSAFE_CODES, yaml_safe_sql
from foxwarehouse.export.writer import yaml_safe_json

SAMPLES = [
    "", "plain ascii", '{"a": "b"}', "tab\there", "del\x7f", "\x80", "\x85next line", "\x9f", "\xa0nbsp",
    "é", "naïve\x7f", "😀", "a\u2028b\u2029c", "\ufeffbom", "\ufffe\uffff", "\r\n", "é😀\r\n",
    "".join(map(chr, YAML_UNSAFE_CODES)), "mixed é and \x7f and \u2028",
]


def test_yaml_safe_sql_matches_the_python_rule() -> None:
    con = duckdb.connect()
    for text in SAMPLES:
        (got,) = con.execute(f"SELECT {yaml_safe_sql('$1')}", [text]).fetchone()
        assert got == yaml_safe_json(text), repr(text)


def _job_table(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str | None]]) -> str:
    con.execute("CREATE TABLE jobs (plan_order BIGINT, target VARCHAR, symbol VARCHAR, route VARCHAR, "
                "training_type VARCHAR, job_json VARCHAR)")
    con.executemany("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?)", [
        (i, target, symbol, "ROUTE_BOTH" if i % 3 else "ROUTE_SYMBOL_SPECIFIC", "symbol_specific",
         json.dumps({"i": i, "target": target, "symbol": symbol}, ensure_ascii=False))
        for i, (target, symbol) in enumerate(rows)])
    return "jobs"


def _expected(view: str, name: str, jobs: list[str]) -> str:
    head = json.dumps({"view": view, "name": name, "total_jobs": len(jobs)}, ensure_ascii=False)[:-1]
    return f'{head}, "jobs": [\n' + ",\n".join("  " + j for j in jobs) + "\n]}\n"


@pytest.mark.parametrize("chunk_rows", [1, 4, 50_000])
def test_view_files_are_the_groups_in_plan_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 chunk_rows: int) -> None:
    # Groups smaller and larger than a chunk, written from key ranges or by DuckDB alone.
    monkeypatch.setattr(export_views, "CHUNK_ROWS", chunk_rows)
    rows = [(f"t{i % 3}", None if i % 7 == 0 else f"S{(i * 5) % 6}é") for i in range(40)]
    rows += [("index", "."), ("a/b", "..")]
    con = duckdb.connect()
    table = _job_table(con, rows)
    old_umask = os.umask(0o077)
    try:
        written = export_views.write_derived_views(con, table, tmp_path / "plan")
    finally:
        os.umask(old_umask)
    jobs = con.execute("SELECT target, symbol, route, training_type, job_json FROM jobs ORDER BY plan_order").fetchall()
    for view, column in export_views.VIEWS.items():
        folder = tmp_path / "plan" / view
        at = ["target", "symbol", "route", "training_type"].index(column)
        names = sorted({job[at] for job in jobs if job[at] is not None})
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        assert list(index["entries"]) == names and written[view] == len(names)
        assert sorted(os.listdir(folder)) == sorted(["index.json"] + [e["file"] for e in index["entries"].values()])
        for name in names:
            entry = index["entries"][name]
            group = [job[4] for job in jobs if job[at] == name]
            assert entry == {"file": export_views.safe_file_stem(name) + ".json", "jobs": len(group)}
            path = folder / entry["file"]
            assert path.read_text(encoding="utf-8") == _expected(view, name, group), (view, name)
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not [p for p in (tmp_path / "plan").iterdir() if p.name.startswith(".tmp")]


def test_a_failed_view_leaves_no_temp_folder_behind(tmp_path: Path) -> None:
    con = duckdb.connect()
    table = _job_table(con, [("t", f"S{i}") for i in range(5)])
    (tmp_path / "plan").mkdir()
    (tmp_path / "plan" / "by_target").write_text("a file where the view's folder goes")
    with pytest.raises(OSError):
        export_views.write_derived_views(con, table, tmp_path / "plan")
    assert sorted(p.name for p in (tmp_path / "plan").iterdir()) == ["by_target"]
