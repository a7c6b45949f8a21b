"""A team changes a routing rule, the whole loop as a user lives it.

`init` a project, plan the bundled example with the stock rules, then decide that SUSPECT leakage
blocks a signal like BLOCKED does: edit the rule in macros/rules.sql, watch the SQL unit tests fail
on exactly the cases the rule changes, turn real rows of the last run into a new test case, fix the
expectations, preview the change with `plan --dry-run`, ship it with a plain `plan` from inside the
project folder, check `explain` and `diff`, and see a re-plan say "no changes". The same story run
from another folder with `--project-dir` gives the same plan.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from helpers import EXAMPLES, CliResult, run_cli

METRICS = EXAMPLES / "routing_candidates" / "routing_candidates.parquet"
RULE_BEFORE = """'when': "block_on_leakage AND leakage_status = 'BLOCKED'\""""
RULE_AFTER = """'when': "block_on_leakage AND leakage_status IN ('BLOCKED', 'SUSPECT')\""""

# The cases the edited rule changes, and how their expectations change with it.
FAILING_CASES = {
    "candidate_signal_states.yaml::rule3_leakage_blocked",
    "candidate_signal_states.yaml::reasons_name_values_and_thresholds",
    "decision_trace.yaml::sample_size_decides_disallowed",
    "decision_trace.yaml::classified_stability_and_experimental_lane",
    "decision_trace.yaml::dev_mode_min_n_is_explained",
}
FIXES = {
    "candidate_signal_states.yaml": [
        ("- [ret, BBB, STRONG, SCORE_STRONG]", "- [ret, BBB, DISALLOWED, LEAKAGE_BLOCKED]"),
        ("leakage_status = BLOCKED)", "leakage_status BLOCKED in [BLOCKED, SUSPECT])"),
    ],
    "decision_trace.yaml": [
        ("leakage_status = 'BLOCKED'\"", "leakage_status IN ('BLOCKED', 'SUSPECT')\""),
        # (quoted now: the brackets would end a YAML flow list)
        ("block_on_leakage true and leakage_status UNKNOWN <> BLOCKED",
         '"block_on_leakage true and leakage_status UNKNOWN not in [BLOCKED, SUSPECT]"'),
        ("block_on_leakage true and leakage_status SAFE <> BLOCKED",
         '"block_on_leakage true and leakage_status SAFE not in [BLOCKED, SUSPECT]"'),
    ],
}
DOWNSTREAM = ("cs_decisions", "routing_decisions", "job_expansion", "training_jobs", "master_plan")


def assert_names_the_edit(text: str) -> None:
    """The 'models changed' line names the models the rule is rendered into, then their downstream."""
    line = re.search(r"^models changed: (.*) \(directly\); (.*) \(downstream\)$", text, flags=re.M)
    assert line, text
    assert "candidate_signal_states" in line.group(1).split(", "), line.group(0)
    assert set(DOWNSTREAM) <= set(line.group(2).split(", ")), line.group(0)


def suspect_pairs() -> set[tuple[str, str]]:
    rows = duckdb.sql(f"SELECT target, symbol FROM read_parquet('{METRICS}') "
                      f"WHERE leakage_status = 'SUSPECT' AND symbol IS NOT NULL").fetchall()
    return {(t, s) for t, s in rows}


def master(out: Path) -> dict:
    return json.loads((out / "training_plan" / "master_training_plan.json").read_text(encoding="utf-8"))


def run_count(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM runs").fetchone()
        return int(row[0]) if row else 0


def story(cli: Callable[..., CliResult], proj: Path, db: Path, out: Path) -> dict:
    """The loop after `init`; `cli` runs a command the way this variant of the story does."""
    def ok(*args: str) -> CliResult:
        result = cli(*args)
        assert result.code == 0 and "Traceback" not in result.err, (args, result)
        return result

    ok("plan")  # the stock rules, published
    stock = master(out)
    wmt_before = [j for j in stock["jobs"] if (j["target"], j["symbol"]) in suspect_pairs()]
    assert wmt_before, "the example has jobs for SUSPECT pairs under the stock rules"

    # Edit the rule, in one place.
    rules = proj / "macros" / "rules.sql"
    text = rules.read_text(encoding="utf-8")
    assert text.count(RULE_BEFORE) == 1
    rules.write_text(text.replace(RULE_BEFORE, RULE_AFTER), encoding="utf-8")

    # The SQL unit tests fail on the cases the rule changes, and only on those.
    failed = cli("test", "-q")
    assert failed.code == 1, failed
    failing = {Path(m).name for m in re.findall(r"^FAIL\s+(\S+)", failed.out, flags=re.M)}
    assert failing == FAILING_CASES, failed.out
    # ... and plan refuses to ship the edited rule while they fail.
    runs_before = run_count(db)
    gated = cli("plan")
    assert gated.code == 1 and "rule3_leakage_blocked" in gated.out + gated.err, gated
    assert run_count(db) == runs_before and master(out) == stock

    # A new case from real rows of the last run: the SUSPECT pairs.
    ok("create-test", "candidate_signal_states", "--run", "latest", "--where", "leakage_status = 'SUSPECT'",
       "--limit", "3", "--name", "suspect_leakage_is_blocked")
    case_file = proj / "tests" / "sql" / "candidate_signal_states.yaml"
    assert "suspect_leakage_is_blocked:" in case_file.read_text(encoding="utf-8")

    # Fix the expectations the rule rightly changed.
    for name, replacements in FIXES.items():
        path = proj / "tests" / "sql" / name
        text = path.read_text(encoding="utf-8")
        for old, new in replacements:
            assert old in text, (name, old)
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    passed = ok("test", "-q")
    assert " 0 failed" in passed.out, passed.out

    # Preview: the diff against the published plan, naming the edited model; nothing kept.
    preview = ok("plan", "--dry-run")
    text = preview.out
    assert_names_the_edit(text)
    assert "LEAKAGE_BLOCKED" in text or "ROUTE_BLOCKED" in text, text
    assert run_count(db) == runs_before and master(out) == stock

    # Ship it: a plain `plan`.
    ok("plan")
    shipped = master(out)
    assert not [j for j in shipped["jobs"] if (j["target"], j["symbol"]) in suspect_pairs()]
    assert shipped["metadata"]["models_fingerprint"] != stock["metadata"]["models_fingerprint"]

    # explain agrees with the decision, naming the rule and its values.
    target, symbol = sorted((j["target"], j["symbol"]) for j in wmt_before)[0]
    explained = ok("explain", target, symbol)
    assert "LEAKAGE_BLOCKED" in explained.out and "leakage_status SUSPECT in [BLOCKED, SUSPECT]" in explained.out
    assert "INCONSISTEN" not in explained.out.upper()

    # diff names the model and what it changed.
    changed = ok("diff", "latest~1", "latest")
    assert_names_the_edit(changed.out)

    # The same inputs, config and models again: no changes, no new run.
    runs = run_count(db)
    again = ok("plan")
    assert "no changes" in again.out + again.err
    assert run_count(db) == runs
    return shipped


def inside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict]:
    """The story inside the project folder, no flags: the project file says where the metrics are."""
    monkeypatch.chdir(tmp_path)
    assert run_cli(["init", "myproj"]).code == 0
    proj = tmp_path / "myproj"
    with (proj / "foxwarehouse.yml").open("a", encoding="utf-8") as f:
        f.write(f"metrics: {METRICS}\n")
    monkeypatch.chdir(proj)
    return proj, story(lambda *a: run_cli(a), proj, proj / "foxwarehouse.duckdb", proj / "METRICS")


def from_elsewhere(proj: Path, folder: Path) -> Callable[..., CliResult]:
    """Commands run in `folder` naming the project with --project-dir (and the warehouse/output there)."""
    def cli(*args: str) -> CliResult:
        command, rest = args[0], list(args[1:])
        extra = {"plan": ["--metrics", str(METRICS), "--db", str(folder / "w.duckdb"), "--out", str(folder / "out")],
                 "explain": ["--db", str(folder / "w.duckdb")], "diff": ["--db", str(folder / "w.duckdb")],
                 "create-test": ["--db", str(folder / "w.duckdb")]}.get(command, [])
        return run_cli(["--project-dir", str(proj), command, *rest, *extra])
    return cli


def assert_same_plan(a: dict, b: dict) -> None:
    assert a["jobs"] == b["jobs"]
    for key in ("plan_fingerprint", "models_fingerprint", "config_hash", "input_fingerprint"):
        assert a["metadata"][key] == b["metadata"][key], key


@pytest.mark.slow  # ~25 s: runs with the slow sweep of .ci/run
def test_a_team_changes_a_routing_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj, inside = inside_the_project(tmp_path, monkeypatch)
    # The edited project used from another folder plans the same.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = from_elsewhere(proj, elsewhere)("plan")
    assert result.code == 0, result
    assert_same_plan(master(elsewhere / "out"), inside)


@pytest.mark.slow
def test_the_same_story_with_project_dir_from_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, inside = inside_the_project(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert run_cli(["init", "theirs"]).code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    theirs = story(from_elsewhere(tmp_path / "theirs", elsewhere), tmp_path / "theirs", elsewhere / "w.duckdb",
                   elsewhere / "out")
    assert_same_plan(theirs, inside)
