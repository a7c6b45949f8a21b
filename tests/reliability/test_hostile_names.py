"""Hostile target and symbol names round-trip exactly through the warehouse and every export file.

Quotes, semicolons, SQL comments and keywords, path separators and traversal, newlines, control
characters (C0, DEL, C1), line/paragraph separators, BOM, zero-width and combining characters,
right-to-left text, emoji, YAML and Markdown syntax, percent escapes and very long names: as
targets and as symbols, from parquet and from CSV. Derived-view files never leave their folder.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from foxwarehouse.export.export_views import safe_file_stem
from helpers import SIMPLE_CONFIG, run_cli, tree_bytes, write_candidates, write_config
from reliability_helpers import assert_runs_intact, check_complete_export, strict_json, warehouse_snapshot
from reliability_log import record


# Every name is used as a target (with a CS row and one symbol row) and as a symbol of one target.
NAMES: dict[str, list[str]] = {
    "quotes": ["a'b", 'a"b', "'", '"', "''", '""', "it's \"quoted\"", "`tick`", "ʼmodifier apostrophe"],
    "sql": ["x; DROP TABLE runs; --", "'; DROP TABLE runs; --", "--comment", "/* c */", "SELECT", "select * from runs",
            "NULL", "null", "TRUE", "run_id", "$$dollar$$", "E'\\x41'"],
    "paths": ["../up", "../../../../etc/passwd", "a/b", "/abs", "a\\b", "..\\win", ".", "..", ".hidden", "~", "~user",
              "CON", "nul.txt", "index", "INDEX", "index.json", "%2F", "%2e%2e", "%EMPTY", "a%b", "a b", "trailing."],
    "whitespace and controls": ["nl\nx", "crlf\r\nx", "cr\rx", "tab\tx", " lead", "trail ", "\x01ctl", "\x1fus", "esc\x1b[31m",
                                "del\x7f", "nel\x85x", "c1\x9fx", "ls\u2028x", "ps\u2029x", "\ufeffbom", "zw\u200bj"],
    "unicode": ["目標", "🦊", "שלום", "مرحبا", "e\u0301", "é", "Ω≈ç√", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\ufffd"],
    "yaml and markdown": ["yes", "No", "~", "&anchor", "*alias", "!tag", "#hash", "@at", "key: value", "- dash", "[a, b]",
                          "{a: b}", "|pipe|", "> quote", "<script>", "**bold**"],
    "long": ["L" * 300, "ß" * 200, "%" * 120],
}
ALL = sorted({n for group in NAMES.values() for n in group})
SYMBOL_ONLY = ["__agg__", "0", "-1"]   # not valid targets (whitespace-only symbols are the CS marker)
# Target and symbol lose surrounding white space on ingest (Unicode White_Space); the rest of a name is kept.
WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
CARRIER = "hostile_carrier"


def hostile_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"target": CARRIER, "symbol": None, "score": 0.8, "sample_size": 10000}]
    rows += [{"target": CARRIER, "symbol": s, "score": 0.8, "sample_size": 2000, "stability": "STABLE"}
             for s in ALL + SYMBOL_ONLY]
    for name in ALL:
        rows.append({"target": name, "symbol": None, "score": 0.8, "sample_size": 10000})
        rows.append({"target": name, "symbol": "S", "score": 0.6, "sample_size": 2000, "stability": "STABLE"})
    return rows


def expected_pairs() -> set[tuple[str, str | None]]:
    return {(r["target"].strip(WHITESPACE), r["symbol"].strip(WHITESPACE) if r["symbol"] is not None else None)
            for r in hostile_rows()}


def check_round_trip(ws: Path, out: Path, db: Path, pairs: set[tuple[str, str | None]]) -> dict[str, int]:
    """Every name is exactly itself in the warehouse, every export file and the jobs feed."""
    checked: dict[str, int] = {}
    targets = {t for t, _ in pairs}
    symbols_of: dict[str, set[str]] = {}
    for t, s in pairs:
        if s is not None:
            symbols_of.setdefault(t, set()).add(s)
    # warehouse
    con = duckdb.connect(str(db), read_only=True)
    try:
        run_id = con.execute("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1").fetchone()[0]
        stored = set(con.execute("SELECT target, symbol FROM routing_candidates WHERE run_id = ?", [run_id]).fetchall())
        decisions = set(con.execute("SELECT target, symbol FROM routing_decisions WHERE run_id = ?", [run_id]).fetchall())
    finally:
        con.close()
    assert stored == pairs
    assert decisions == {p for p in pairs if p[1] is not None}
    checked["warehouse"] = len(stored)
    # every file, including the hidden bookkeeping folder, resolves inside the export folder
    root = out.resolve()
    for path in out.rglob("*"):
        assert path.resolve().is_relative_to(root), f"{path} leaves {root}"
    assert {p.name for p in ws.iterdir()} <= {"w.duckdb", "w.duckdb.wal", "out", "config.yaml", "metrics.parquet",
                                              "metrics.csv"}
    assert {p.name for p in out.iterdir()} == {".foxwarehouse", "routing_candidates.parquet", "routing_plan",
                                               "training_plan"}
    assert {p.name for p in (out / "routing_plan").iterdir()} == {"routing_plan.json", "routing_plan.yaml", "routing_plan.md",
                                                                  ".foxwarehouse-manifest.json"}
    assert {p.name for p in (out / "training_plan").iterdir()} == {
        "master_training_plan.json", "training_plan.json", "training_plan.yaml", "training_plan.md",
        "by_target", "by_symbol", "by_route", "by_type", ".foxwarehouse-manifest.json"}
    state = sorted(p.name for p in (out / ".foxwarehouse").iterdir())
    assert not [name for name in state if name.startswith(("staging-", "kept-"))], state
    # master, training_plan.json, YAML mirrors, derived views (check_complete_export compares them)
    master = check_complete_export(out)
    jobs = master["jobs"]
    job_pairs = {(j["target"], j["symbol"]) for j in jobs}
    assert job_pairs == {(t, None) for t in targets} | {p for p in pairs if p[1] is not None}
    for job in jobs:
        prefix = "cs_" if job["symbol"] is None else "sym_"
        expected_id = prefix + job["target"] + ("" if job["symbol"] is None else "_" + job["symbol"])
        assert job["job_id"] == expected_id
    checked["master_training_plan.json"] = len(jobs)
    # both YAML readers, the C one and the pure-Python one
    for loader in {yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)}:
        doc = yaml.load((out / "training_plan" / "training_plan.yaml").read_text(encoding="utf-8"), Loader=loader)
        assert doc["jobs"] == jobs
        routing_yaml = yaml.load((out / "routing_plan" / "routing_plan.yaml").read_text(encoding="utf-8"), Loader=loader)
        assert set(routing_yaml["targets"]) == targets
    checked["training_plan.yaml"] = len(doc["jobs"])
    routing = strict_json((out / "routing_plan" / "routing_plan.json").read_bytes())
    assert set(routing["targets"]) == targets
    for target, entry in routing["targets"].items():
        assert set(entry["symbols"]) == symbols_of.get(target, set())
    assert routing_yaml["targets"] == routing["targets"]
    checked["routing_plan.json"] = len(routing["targets"])
    # derived views: exactly one file per name, inside its folder, holding that name's jobs
    for view, key in (("by_target", "target"), ("by_symbol", "symbol")):
        index = strict_json((out / "training_plan" / view / "index.json").read_bytes())
        names = {j[key] for j in jobs if j[key] is not None}
        assert set(index["entries"]) == names
        for name, entry in index["entries"].items():
            doc = strict_json((out / "training_plan" / view / entry["file"]).read_bytes())
            assert doc["name"] == name and all(j[key] == name for j in doc["jobs"])
        checked[f"{view}/"] = len(names)
    # routing_candidates.parquet
    con = duckdb.connect()
    try:
        exported = set(con.execute("SELECT target, symbol FROM read_parquet(?)",
                                   [str(out / "routing_candidates.parquet")]).fetchall())
    finally:
        con.close()
    assert exported == pairs
    checked["routing_candidates.parquet"] = len(exported)
    # Markdown: every table row stays one line (newlines and pipes escaped)
    for md in (out / "training_plan" / "training_plan.md", out / "routing_plan" / "routing_plan.md"):
        lines = md.read_text(encoding="utf-8").split("\n")
        in_table = False
        for line in lines:
            if line.startswith("|"):
                in_table = True
                assert line.endswith("|"), f"{md.name}: a table row was broken: {line!r}"
            elif in_table:
                assert line == "", f"{md.name}: a name broke out of its table: {line!r}"
                in_table = False
        checked[md.name] = len(lines)
    # the jobs feed
    feed = run_cli(["jobs", "--db", db])
    assert feed.code == 0, feed
    feed_jobs = [json.loads(line) for line in feed.out.split("\n") if line.strip()]
    assert {(j["target"], j["symbol"]) for j in feed_jobs} == job_pairs
    checked["jobs feed"] = len(feed_jobs)
    return checked


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    write_config(tmp_path / "config.yaml", SIMPLE_CONFIG)
    return tmp_path


def plan(ws: Path, metrics: Path) -> Any:
    return run_cli(["plan", "--metrics", metrics, "--config", ws / "config.yaml", "--db", ws / "w.duckdb",
                    "--out", ws / "out"])


def test_hostile_names_round_trip_from_parquet(ws: Path) -> None:
    metrics = write_candidates(ws / "metrics.parquet", hostile_rows())
    result = plan(ws, metrics)
    assert result.code == 0, result
    checked = check_round_trip(ws, ws / "out", ws / "w.duckdb", expected_pairs())
    for group, names in NAMES.items():
        record("hostile_names", f"parquet: {group}", "round-trip exact", names=len(names), nothing_lost=True)
    record("hostile_names", "parquet: symbol-only names", "round-trip exact", names=len(SYMBOL_ONLY), nothing_lost=True)
    record("hostile_names", "parquet: files checked", "round-trip exact", files=checked, nothing_lost=True)


def _csv(rows: list[dict[str, Any]], lineterminator: str = "\n", quoting: int = csv.QUOTE_MINIMAL) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=lineterminator, quoting=quoting)
    writer.writerow(["target", "symbol", "score", "sample_size", "stability"])
    for r in rows:
        writer.writerow([r["target"], r["symbol"] or "", r["score"], r["sample_size"], r.get("stability") or ""])
    return buf.getvalue()


@pytest.mark.parametrize("style", ["crlf-minimal-quoting", "lf-quote-all"])
def test_hostile_names_round_trip_from_csv(ws: Path, style: str) -> None:
    """The same names from a CSV file, quoted the two ways Python's csv module writes them."""
    rows = hostile_rows()
    text = _csv(rows, "\r\n") if style == "crlf-minimal-quoting" else _csv(rows, "\n", csv.QUOTE_ALL)
    (ws / "metrics.csv").write_text(text, encoding="utf-8", newline="")
    result = plan(ws, ws / "metrics.csv")
    assert result.code == 0, result
    check_round_trip(ws, ws / "out", ws / "w.duckdb", expected_pairs())
    record("hostile_names", f"csv ({style}): all groups", "round-trip exact", rows=len(rows), nothing_lost=True)


def test_unquoted_carriage_return_in_csv_is_a_clean_input_error(ws: Path) -> None:
    """A CR left unquoted (Python's csv writer does that with a '\\n' terminator) ends a record:
    the rows come out ragged, which is exit 2 naming the rows, with nothing lost."""
    good = write_candidates(ws / "metrics.parquet", hostile_rows()[:3])
    assert plan(ws, good).code == 0
    before_db, before_out = warehouse_snapshot(ws / "w.duckdb"), tree_bytes(ws / "out")
    rows = [{"target": "t", "symbol": None, "score": 0.8, "sample_size": 10000},
            {"target": "t", "symbol": "cr\rx", "score": 0.8, "sample_size": 2000}]
    (ws / "metrics.csv").write_text(_csv(rows), encoding="utf-8", newline="")
    result = plan(ws, ws / "metrics.csv")
    assert result.code == 2 and "Traceback" not in result.err, result
    for word in ("metrics.csv", "row 2 (line 3) has 2 fields", "row 3 (line 4) has 4 fields"):
        assert word in result.err, result
    assert_runs_intact(before_db, warehouse_snapshot(ws / "w.duckdb"), allow_new=False)
    assert tree_bytes(ws / "out") == before_out
    record("hostile_names", "csv: unquoted CR (ragged rows)", "exit 2", nothing_lost=True)


def test_empty_symbol_is_the_cs_row_and_empty_target_is_refused(ws: Path) -> None:
    metrics = write_candidates(ws / "metrics.parquet", [
        {"target": "t", "symbol": "", "score": 0.8, "sample_size": 10000},
        {"target": "t", "symbol": "A", "score": 0.8, "sample_size": 2000}])
    result = plan(ws, metrics)
    assert result.code == 0, result
    master = check_complete_export(ws / "out")
    assert {(j["target"], j["symbol"]) for j in master["jobs"]} == {("t", None), ("t", "A")}
    before_db, before_out = warehouse_snapshot(ws / "w.duckdb"), tree_bytes(ws / "out")
    bad = write_candidates(ws / "empty_target.parquet", [{"target": "", "symbol": "A", "score": 0.8, "sample_size": 2000}])
    result = plan(ws, bad)
    assert result.code == 2 and "column 'target'" in result.err and "row 1" in result.err, result
    assert_runs_intact(before_db, warehouse_snapshot(ws / "w.duckdb"), allow_new=False)
    assert tree_bytes(ws / "out") == before_out
    record("hostile_names", "empty symbol (CS row) / empty target (refused)", "as specified", nothing_lost=True)


def test_job_id_collision_from_names_is_a_build_error_naming_both_pairs(ws: Path) -> None:
    """('a_b', 'c') and ('a', 'b_c') both make job id sym_a_b_c: exit 2, earlier runs and export kept."""
    good = write_candidates(ws / "metrics.parquet", hostile_rows()[:3])
    assert plan(ws, good).code == 0
    before_db, before_out = warehouse_snapshot(ws / "w.duckdb"), tree_bytes(ws / "out")
    metrics = write_candidates(ws / "collide.parquet", [
        {"target": "a_b", "symbol": None, "score": 0.8, "sample_size": 10000},
        {"target": "a_b", "symbol": "c", "score": 0.8, "sample_size": 2000},
        {"target": "a", "symbol": None, "score": 0.8, "sample_size": 10000},
        {"target": "a", "symbol": "b_c", "score": 0.8, "sample_size": 2000}])
    result = plan(ws, metrics)
    assert result.code == 2 and "sym_a_b_c" in result.err and "Traceback" not in result.err, result
    assert "target='a_b', symbol='c'" in result.err and "target='a', symbol='b_c'" in result.err
    after = warehouse_snapshot(ws / "w.duckdb")
    new = assert_runs_intact(before_db, after)
    assert [after["runs"][r]["row"]["status"] for r in new] == ["failed"]
    assert tree_bytes(ws / "out") == before_out
    record("hostile_names", "job_id collision between names", "exit 2 (run marked failed)", nothing_lost=True)


@pytest.mark.parametrize("group", sorted(NAMES))
def test_safe_file_stem_is_contained_and_unique(group: str) -> None:
    names = NAMES[group] + [n.upper() for n in NAMES[group]] + ["", "%EMPTY", "index", "Index"]
    stems = {}
    for name in names:
        stem = safe_file_stem(name)
        assert stem and "/" not in stem and "\\" not in stem and "\x00" not in stem
        assert not stem.startswith(".") and stem.lower() != "index"
        assert len((stem + ".json").encode("utf-8")) <= 200
        assert stem.isascii() and stem.isprintable()
        assert stems.setdefault(stem, name) == name, f"{name!r} and {stems[stem]!r} share the file {stem}.json"
    record("hostile_names", f"file names: {group}", "contained and unique", names=len(set(names)), nothing_lost=True)
