"""`foxwarehouse diff` (docs/DIFF.md): job, decision and config differences between two plans."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from helpers import config_with

from foxwarehouse.diff.plan_diff import diff, install_macros
from foxwarehouse.diff.diff_format import render, use_color

# SIMPLE_CONFIG: min 0.50 / strong 0.70 on both sides, experimental lane from 0.30 (DRIFTING/UNKNOWN),
# min sample size 5000 (CS) / 1000 (symbol), experimental cap fraction 1.0.
BASE = [
    {"target": "T1", "symbol": None, "score": 0.80, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "AAPL", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "MSFT", "score": 0.60, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T1", "symbol": "GOOG", "score": 0.20, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T2", "symbol": None, "score": 0.20, "sample_size": 10_000, "stability": "STABLE"},
    {"target": "T2", "symbol": "AAPL", "score": 0.80, "sample_size": 5_000, "stability": "STABLE"},
    {"target": "T2", "symbol": "NVDA", "score": 0.40, "sample_size": 5_000, "stability": "UNKNOWN"},
]


def changed_rows() -> list[dict[str, Any]]:
    """BASE with known changes; see test_known_changes_are_reported_exactly for their effects."""
    rows = []
    for row in BASE:
        row = dict(row)
        key = (row["target"], row["symbol"])
        if key == ("T1", None):
            row["sample_size"] = 20_000                  # input moves, decision does not; CS job n changes
        elif key == ("T1", "AAPL"):
            row["score"] = 0.20                          # STRONG -> DISALLOWED: BOTH -> CROSS_SECTIONAL
        elif key == ("T1", "MSFT"):
            row["leakage_status"] = "BLOCKED"            # -> DISALLOWED: BOTH -> CROSS_SECTIONAL
        elif key == ("T1", "GOOG"):
            continue                                     # pair removed (it had no job)
        elif key == ("T2", "AAPL"):
            row["sample_size"] = 500                     # SYMBOL_SPECIFIC -> BLOCKED
        elif key == ("T2", "NVDA"):
            row["score"] = 0.80                          # EXPERIMENTAL_ONLY -> SYMBOL_SPECIFIC
        rows.append(row)
    rows.append({"target": "T1", "symbol": "TSLA", "score": 0.90, "sample_size": 3_000, "stability": "STABLE"})
    return rows


def diff_json(fw, *refs: Any, extra: tuple = ()) -> dict[str, Any]:
    result = fw.cli("diff", *refs, "--db", fw.db, "--format", "json", *extra)
    assert result.code == 0, result
    return json.loads(result.out)


@pytest.fixture
def two_runs(fw):
    first = fw.plan(BASE, out="out1")
    second = fw.plan(changed_rows(), out="out2")
    return first, second


# --- known changes --------------------------------------------------------------------------

def test_known_changes_are_reported_exactly(fw, two_runs):
    first, second = two_runs
    d = diff_json(fw, "latest~1", "latest")
    assert d["a"]["run_id"] == first.master["metadata"]["run_id"]
    assert d["b"]["run_id"] == second.master["metadata"]["run_id"]
    assert d["identical"] is False

    jobs = d["jobs"]
    assert [j["job_id"] for j in jobs["added"]] == ["sym_T1_TSLA"]
    assert [j["job_id"] for j in jobs["removed"]] == ["sym_T1_AAPL", "sym_T1_MSFT", "sym_T2_AAPL"]
    assert {j["job_id"]: j["changed"] for j in jobs["changed"]} == {
        "cs_T1": ["estimated_samples"],
        "sym_T2_NVDA": ["route", "priority"],
    }
    nvda = next(j for j in jobs["changed"] if j["job_id"] == "sym_T2_NVDA")
    assert (nvda["a"]["route"], nvda["b"]["route"]) == ("ROUTE_EXPERIMENTAL_ONLY", "ROUTE_SYMBOL_SPECIFIC")
    assert (nvda["a"]["priority"], nvda["b"]["priority"]) == (1, 2)
    assert jobs["added"][0]["a"] is None and jobs["added"][0]["b"]["priority"] == 3
    assert jobs["removed"][0]["b"] is None and jobs["removed"][0]["a"]["route"] == "ROUTE_BOTH"
    assert jobs["counts"] == {"a": 5, "b": 3, "added": 1, "removed": 3, "changed": 2, "unchanged": 0}
    assert jobs["changed_columns"] == {"estimated_samples": 1, "priority": 1, "route": 1}

    dec = d["decisions"]
    assert dec["available"] is True
    assert [(r["kind"], r["target"], r["symbol"]) for r in dec["added"]] == [("pair", "T1", "TSLA")]
    assert [(r["kind"], r["target"], r["symbol"]) for r in dec["removed"]] == [("pair", "T1", "GOOG")]
    changed = {(r["target"], r["symbol"]): r for r in dec["changed"]}
    assert set(changed) == {("T1", "AAPL"), ("T1", "MSFT"), ("T2", "AAPL"), ("T2", "NVDA")}
    assert {k: r["moved_inputs"] for k, r in changed.items()} == {
        ("T1", "AAPL"): ["score"],
        ("T1", "MSFT"): ["leakage_status"],
        ("T2", "AAPL"): ["sample_size"],
        ("T2", "NVDA"): ["score"],
    }
    for r in changed.values():
        assert r["changed"][:2] == ["route", "local_state"]
    aapl = changed[("T1", "AAPL")]
    assert (aapl["a"]["score"], aapl["b"]["score"]) == (0.8, 0.2)
    assert (aapl["a"]["local_state"], aapl["b"]["local_state"]) == ("STRONG", "DISALLOWED")
    assert changed[("T1", "MSFT")]["b"]["leakage_status"] == "BLOCKED"
    assert (changed[("T2", "AAPL")]["a"]["sample_size"], changed[("T2", "AAPL")]["b"]["sample_size"]) == (5000, 500)
    # The CS row of T1 moved (sample_size) but its decision did not: not a decision change.
    assert all(r["kind"] == "pair" for r in dec["changed"])
    assert dec["counts"] == {"a": 7, "b": 7, "added": 1, "removed": 1, "changed": 4, "unchanged": 2}
    assert {(t["kind"], t["a"], t["b"]): t["count"] for t in dec["transitions"]} == {
        ("pair", "ROUTE_BOTH", "ROUTE_CROSS_SECTIONAL"): 2,
        ("pair", "ROUTE_SYMBOL_SPECIFIC", "ROUTE_BLOCKED"): 1,
        ("pair", "ROUTE_EXPERIMENTAL_ONLY", "ROUTE_SYMBOL_SPECIFIC"): 1,
        ("pair", None, "ROUTE_BOTH"): 1,
        ("pair", "ROUTE_CROSS_SECTIONAL", None): 1,
    }
    assert dec["transitions"][0] == {"kind": "pair", "a": "ROUTE_BOTH", "b": "ROUTE_CROSS_SECTIONAL", "count": 2}
    assert d["config"] == {"available": True, "config_hash_equal": True, "reason": None, "changes": []}
    assert d["warnings"] == []


def test_cs_decision_change_is_listed_with_its_inputs(fw):
    fw.plan(BASE, out="out1")
    rows = [dict(r, score=0.1) if (r["target"], r["symbol"]) == ("T1", None) else r for r in BASE]
    fw.plan(rows, out="out2")
    d = diff_json(fw, "latest~1", "latest")
    cs = [r for r in d["decisions"]["changed"] if r["kind"] == "cs"]
    assert len(cs) == 1 and cs[0]["target"] == "T1" and cs[0]["symbol"] is None
    assert (cs[0]["a"]["route"], cs[0]["b"]["route"]) == ("ENABLED", "DISABLED")
    assert cs[0]["moved_inputs"] == ["score"]
    assert {"kind": "cs", "a": "ENABLED", "b": "DISABLED", "count": 1} in d["decisions"]["transitions"]
    assert [j["job_id"] for j in d["jobs"]["removed"]] == ["cs_T1"]


def test_text_format_lists_the_changes_without_colour(fw, two_runs):
    result = fw.cli("diff", "latest~1", "latest", "--db", fw.db)
    assert result.code == 0, result
    out = result.out
    assert "\033[" not in out  # captured stdout is not a terminal
    assert "jobs: 5 → 3: 1 added, 3 removed, 2 changed, 0 unchanged" in out
    assert "+ sym_T1_TSLA" in out and "- sym_T1_AAPL" in out
    assert "route: ROUTE_EXPERIMENTAL_ONLY → ROUTE_SYMBOL_SPECIFIC; priority: 1 → 2" in out
    assert "ROUTE_BOTH → ROUTE_CROSS_SECTIONAL" in out
    assert "inputs: score 0.8 → 0.2" in out
    assert "config: unchanged" in out
    assert out.rstrip().endswith("result: plans differ")


def test_markdown_format_is_ready_for_a_pull_request(fw, two_runs):
    result = fw.cli("diff", "latest~1", "latest", "--db", fw.db, "--format", "markdown")
    assert result.code == 0, result
    md = result.out
    assert md.startswith("### Plan diff: `latest~1` → `latest` — plans differ")
    assert "| kind | from | to | count |" in md
    assert "| pair | ROUTE_BOTH | ROUTE_CROSS_SECTIONAL | 2 |" in md
    assert "<summary>Jobs removed (3)</summary>" in md
    assert "| `sym_T2_NVDA` | route: ROUTE_EXPERIMENTAL_ONLY → ROUTE_SYMBOL_SPECIFIC<br>priority: 1 → 2 |" in md
    assert md.count("<details>") == md.count("</details>")


# --- empty diffs and exit codes -------------------------------------------------------------

def test_identical_inputs_give_an_empty_diff_and_exit_0(fw):
    fw.plan(BASE, out="out1")
    fw.plan(BASE, out="out2")
    d = diff_json(fw, "latest~1", "latest", extra=("--exit-code",))
    assert d["identical"] is True
    for section in ("jobs", "decisions"):
        assert d[section]["added"] == d[section]["removed"] == d[section]["changed"] == []
    assert d["jobs"]["counts"]["unchanged"] == 5
    assert d["decisions"]["transitions"] == []
    assert d["config"]["changes"] == []
    text = fw.cli("diff", "latest~1", "latest", "--db", fw.db, "--exit-code")
    assert text.code == 0 and "result: plans are identical" in text.out


def test_exit_code_1_only_when_plans_differ_and_asked(fw, two_runs):
    assert fw.cli("diff", "latest~1", "latest", "--db", fw.db, "--exit-code").code == 1
    assert fw.cli("diff", "latest~1", "latest", "--db", fw.db).code == 0
    assert fw.cli("diff", "latest", "latest", "--db", fw.db, "--exit-code").code == 0
    assert fw.cli("diff", "latest~1", "latest", "--db", fw.db, "--exit-code", "--format", "json").code == 1


def test_run_against_its_own_exported_json_is_empty(fw, two_runs):
    _, second = two_runs
    master = second.out / "training_plan" / "master_training_plan.json"
    for a, b in (("latest", master), (master, "latest"), ("latest", second.out)):
        d = diff_json(fw, a, b, extra=("--exit-code",))
        assert d["identical"] is True, d
        assert d["jobs"]["counts"]["unchanged"] == 3
        assert d["decisions"]["available"] is True
        assert d["config"]["available"] is True and d["config"]["changes"] == []
    file_side = diff_json(fw, "latest", master)["b"]
    assert file_side["kind"] == "file" and file_side["path"] == str(master.absolute())
    assert file_side["decisions_from_run"] == second.master["metadata"]["run_id"]


def test_a_json_side_without_its_run_has_only_jobs(fw, two_runs, tmp_path):
    first, second = two_runs
    edited = json.loads((first.out / "training_plan" / "master_training_plan.json").read_text())
    edited["metadata"]["run_id"] = "not-in-this-warehouse"
    path = tmp_path / "elsewhere" / "plan.json"
    path.parent.mkdir()
    path.write_text(json.dumps(edited))
    d = diff_json(fw, path, "latest")
    assert d["decisions"]["available"] is False
    assert "not available for a JSON side" in d["decisions"]["reason"]
    assert d["config"]["available"] is False and d["config"]["config_hash_equal"] is True
    assert [j["job_id"] for j in d["jobs"]["removed"]] == ["sym_T1_AAPL", "sym_T1_MSFT", "sym_T2_AAPL"]
    # two plan files, no warehouse at all
    other = tmp_path / "no_such.duckdb"
    result = fw.cli("diff", path, second.out, "--db", other, "--format", "json", "--exit-code")
    assert result.code == 1, result
    assert json.loads(result.out)["jobs"]["counts"]["added"] == 1
    assert not other.exists()


def test_duplicate_job_ids_in_a_file_warn_about_the_grain(fw, two_runs, tmp_path):
    first, _ = two_runs
    doc = json.loads((first.out / "training_plan" / "master_training_plan.json").read_text())
    doc["jobs"].append(dict(doc["jobs"][0]))
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(doc))
    d = diff_json(fw, "latest~1", path)
    assert any("job_id is not unique" in w for w in d["warnings"])


# --- config changes ------------------------------------------------------------------------

def test_config_change_is_listed_with_dotted_keys(fw, tmp_path):
    fw.plan(BASE, out="out1")
    cfg = tmp_path / "prefer_cs.yaml"
    fw.config(config_with(**{"routing.both_strong_behavior": "PREFER_CS", "routing.dev_mode": True}), name=cfg.name)
    fw.plan(BASE, config=cfg, out="out2")
    d = diff_json(fw, "latest~1", "latest")
    assert d["config"]["changes"] == [
        {"key": "routing.both_strong_behavior", "change": "changed", "a": "ROUTE_BOTH", "b": "PREFER_CS"},
        {"key": "routing.dev_mode", "change": "changed", "a": False, "b": True},
    ]
    assert d["config"]["config_hash_equal"] is False
    assert {(t["a"], t["b"]): t["count"] for t in d["decisions"]["transitions"]} == {
        ("ROUTE_BOTH", "ROUTE_CROSS_SECTIONAL"): 2}
    assert all(r["moved_inputs"] == [] for r in d["decisions"]["changed"])
    text = fw.cli("diff", "latest~1", "latest", "--db", fw.db).out
    assert 'routing.both_strong_behavior  "ROUTE_BOTH" → "PREFER_CS"' in text


def test_config_keys_only_on_one_side_are_added_or_removed(fw):
    from foxwarehouse.diff.plan_diff import config_changes

    a = {"training_plan": {"model_families_by_route": {"ROUTE_BOTH": ["lightgbm"]}, "include_blocked": False}}
    b = {"training_plan": {"model_families_by_route": {}, "include_blocked": False}}
    assert config_changes(a, b) == [
        {"key": "training_plan.model_families_by_route", "change": "added", "a": None, "b": {}},
        {"key": "training_plan.model_families_by_route.ROUTE_BOTH", "change": "removed", "a": ["lightgbm"], "b": None},
    ]


# --- references ---------------------------------------------------------------------------

def test_latest_n_and_id_prefixes_resolve(fw):
    plans = [fw.plan(BASE, out=f"out{i}") for i in range(3)]
    ids = [p.master["metadata"]["run_id"] for p in plans]
    d = diff_json(fw, "latest~2", "latest~1")
    assert (d["a"]["run_id"], d["b"]["run_id"]) == (ids[0], ids[1])
    assert (d["a"]["ref"], d["b"]["ref"]) == ("latest~2", "latest~1")
    d = diff_json(fw, ids[0], ids[2])
    assert (d["a"]["run_id"], d["b"]["run_id"]) == (ids[0], ids[2])
    d = diff_json(fw, ids[2][:-2], "latest~0")
    assert d["a"]["run_id"] == d["b"]["run_id"] == ids[2]


def _error(fw, *refs: Any, db: Any = None) -> str:
    result = fw.cli("diff", *refs, "--db", db or fw.db)
    assert result.code == 2, result
    assert "Traceback" not in result.err and result.out == ""
    assert result.err.startswith("error: ") and result.err.count("\n") == 1
    return result.err


def test_bad_references_exit_2_with_a_clear_message(fw, two_runs, tmp_path):
    assert "unknown run 'nope'" in _error(fw, "nope", "latest")
    assert "'latest~7' does not exist" in _error(fw, "latest~7", "latest")
    assert "no such file" in _error(fw, "latest", tmp_path / "missing.json")
    assert "no master_training_plan.json" in _error(fw, "latest", tmp_path)
    truncated = tmp_path / "truncated.json"
    full = (two_runs[0].out / "training_plan" / "master_training_plan.json").read_text()
    truncated.write_text(full[: len(full) // 2])
    assert f"cannot read plan file {truncated}" in _error(fw, truncated, "latest")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json at all")
    assert "cannot read plan file" in _error(fw, "latest", garbage)
    not_a_plan = tmp_path / "other.json"
    not_a_plan.write_text('{"hello": 1}')
    assert "is not a training plan" in _error(fw, "latest", not_a_plan)
    no_ids = tmp_path / "no_ids.json"
    no_ids.write_text('{"metadata": {}, "jobs": [{"target": "T1", "route": "ROUTE_BOTH"}]}')
    assert "is not a training plan" in _error(fw, "latest", no_ids)
    assert "warehouse not found" in _error(fw, "latest", "latest~1", db=tmp_path / "none.duckdb")


def test_a_run_that_is_not_built_has_no_plan_to_compare(fw):
    fw.plan(BASE, out="out1")
    assert fw.cli("ingest", fw.candidates(BASE, name="again.parquet"), "--db", fw.db).code == 0
    con = duckdb.connect(str(fw.db))
    try:
        run_id = con.execute("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1").fetchone()[0]
    finally:
        con.close()
    assert "is ingested: it has no plan to compare" in _error(fw, run_id, "latest")


# --- the library, the macros, formats --------------------------------------------------------

def test_json_document_has_the_documented_stable_keys(fw, two_runs):
    first = fw.cli("diff", "latest~1", "latest", "--db", fw.db, "--format", "json")
    again = fw.cli("diff", "latest~1", "latest", "--db", fw.db, "--format", "json")
    assert first.out == again.out
    d = json.loads(first.out)
    assert list(d) == sorted(d)
    assert set(d) == {"a", "b", "config", "decisions", "format_version", "identical", "jobs", "limit", "models",
                      "warnings"}
    assert d["format_version"] == 2
    assert set(d["a"]) == {"ref", "kind", "run_id", "path", "config_hash", "input_fingerprint",
                           "plan_fingerprint", "models_fingerprint", "decisions_from_run", "note"}
    assert set(d["models"]) == {"available", "status", "fingerprint_a", "fingerprint_b", "direct", "downstream",
                                "changes", "reason"}
    assert d["models"]["status"] == "unchanged"
    assert set(d["jobs"]) == {"counts", "changed_columns", "added", "removed", "changed", "truncated"}
    assert set(d["decisions"]) == {"available", "reason", "counts", "changed_columns", "moved_inputs",
                                   "transitions", "added", "removed", "changed", "truncated"}
    assert set(d["config"]) == {"available", "config_hash_equal", "reason", "changes"}
    assert set(d["jobs"]["removed"][0]) == {"job_id", "target", "symbol", "changed", "a", "b"}
    assert set(d["jobs"]["removed"][0]["a"]) == {"route", "training_type", "model_families", "priority",
                                                 "estimated_samples", "target", "symbol"}
    assert set(d["decisions"]["changed"][0]) == {"kind", "target", "symbol", "changed", "moved_inputs", "a", "b"}
    assert set(d["decisions"]["changed"][0]["a"]) == {"route", "cs_state", "local_state", "reason_codes",
                                                      "score", "stability", "sample_size", "leakage_status"}


def test_limit_truncates_lists_but_not_counts(fw, two_runs):
    d = diff_json(fw, "latest~1", "latest", extra=("--limit", "1"))
    assert d["limit"] == 1
    assert len(d["jobs"]["removed"]) == 1 and d["jobs"]["counts"]["removed"] == 3
    assert d["jobs"]["truncated"] is True and d["decisions"]["truncated"] is True
    text = fw.cli("diff", "latest~1", "latest", "--db", fw.db, "--limit", "1").out
    assert "… 2 more removed jobs (use --limit 0 to list all)" in text
    assert fw.cli("diff", "latest~1", "latest", "--db", fw.db, "--limit", "-1").code == 2


def test_library_function_and_colour(fw, two_runs, monkeypatch):
    result = diff("latest~1", "latest", db=fw.db)
    assert result.identical is False and result.warnings == []
    coloured = render(result, "text", color=True)
    assert "\033[32m+\033[0m sym_T1_TSLA" in coloured
    assert "\033[" not in render(result, "text", color=False)

    class Tty:
        def isatty(self) -> bool:
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert use_color(Tty()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(Tty()) is False


def test_analysts_can_call_the_macros(fw, two_runs):
    first, second = two_runs
    a, b = first.master["metadata"]["run_id"], second.master["metadata"]["run_id"]
    con = duckdb.connect(str(fw.db), read_only=True)
    try:
        names = install_macros(con)
        assert {"plan_job_diff", "plan_decision_diff", "plan_route_transitions", "plan_decisions"} <= set(names)
        rows = con.execute("SELECT job_id, change FROM plan_job_diff(?, ?) ORDER BY job_id", [a, b]).fetchall()
        assert rows == [("cs_T1", "changed"), ("sym_T1_AAPL", "removed"), ("sym_T1_MSFT", "removed"),
                        ("sym_T1_TSLA", "added"), ("sym_T2_AAPL", "removed"), ("sym_T2_NVDA", "changed")]
        matrix = con.execute("SELECT route_a, route_b, n FROM plan_route_transitions(?, ?) LIMIT 1", [a, b]).fetchall()
        assert matrix == [("ROUTE_BOTH", "ROUTE_CROSS_SECTIONAL", 2)]
        assert con.execute("SELECT count(*) FROM plan_decision_diff(?, ?)", [a, a]).fetchone()[0] == 0
    finally:
        con.close()


def test_diff_leaves_the_warehouse_untouched(fw, two_runs):
    before = fw.db.read_bytes()
    assert fw.cli("diff", "latest~1", "latest", "--db", fw.db).code == 0
    assert fw.db.read_bytes() == before


def test_plan_file_with_glob_characters_in_its_name(fw, two_runs, tmp_path):
    _, second = two_runs
    odd = tmp_path / "plan[1]*.json"
    shutil.copyfile(second.out / "training_plan" / "master_training_plan.json", odd)
    d = diff_json(fw, "latest", odd, extra=("--exit-code",))
    assert d["identical"] is True
    assert Path(d["b"]["path"]).name == "plan[1]*.json"


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("FOXWAREHOUSE_SLOW_TESTS"),
                    reason="about 5 minutes (two 1M-candidate plans); set FOXWAREHOUSE_SLOW_TESTS=1")
def test_a_million_candidate_diff_finishes_in_seconds(fw, tmp_path):
    import time

    from foxwarehouse.config import packaged_config_path
    from foxwarehouse.synthetic import generate

    made = generate(tmp_path / "gen", 200, 4999, seed=1, shape="candidates")
    base = Path(made["files"]["routing_candidates"])
    changed = tmp_path / "changed.parquet"
    con = duckdb.connect()
    try:
        con.execute(f"""COPY (
            SELECT * REPLACE (CASE WHEN symbol IS NOT NULL AND hash(target || symbol) % 100 = 0
                                   THEN score * 0.3 ELSE score END AS score)
            FROM read_parquet('{base}') WHERE NOT (symbol IS NOT NULL AND hash(target || symbol) % 1000 = 7)
            UNION ALL
            SELECT * REPLACE (symbol || '_NEW' AS symbol) FROM read_parquet('{base}')
            WHERE symbol IS NOT NULL AND hash(target || symbol) % 1000 = 8
        ) TO '{changed}' (FORMAT parquet)""")
    finally:
        con.close()
    fw.plan(base, config=packaged_config_path(), out="out1")
    fw.plan(changed, config=packaged_config_path(), out="out2")
    started = time.perf_counter()
    result = diff("latest~1", "latest", db=fw.db, limit=50)
    elapsed = time.perf_counter() - started
    assert result.data["decisions"]["counts"]["a"] == 1_000_000
    assert result.data["decisions"]["counts"]["changed"] > 0 and not result.identical
    assert elapsed < 15, f"diff of 1M candidates took {elapsed:.1f} s"
