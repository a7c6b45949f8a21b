"""The bad-input corpus (tests/data/bad/, made by tests/data/make_bad_corpus.py): one test per entry.

Every entry is planned on top of a workspace that already holds a good run and its export. Each
either is handled correctly (exit 0 and a check of what it means), or stops with exit 2 and one
message naming the file, the column and the rows, with no traceback, no new run, no changed
earlier run and not one byte changed in the export folder.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb
import pytest

from helpers import SIMPLE_CONFIG, run_cli, tree_bytes, write_config
from reliability_helpers import assert_runs_intact, check_complete_export, copy_workspace, warehouse_snapshot
from reliability_log import record


DATA = Path(__file__).resolve().parents[1] / "data"
BAD = DATA / "bad"

_spec = importlib.util.spec_from_file_location("make_bad_corpus", DATA / "make_bad_corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)


@dataclass
class Outcome:
    """What a planned case looks like from outside: its exit, its message and what it wrote."""

    code: int
    err: str
    out: Path
    db: Path
    master: dict[str, Any] = field(default_factory=dict)

    @property
    def routing(self) -> dict[str, Any]:
        return json.loads((self.out / "routing_plan" / "routing_plan.json").read_text(encoding="utf-8"))

    def candidates(self) -> list[dict[str, Any]]:
        con = duckdb.connect()
        try:
            cur = con.execute("SELECT * FROM read_parquet(?)", [str(self.out / "routing_candidates.parquet")])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            con.close()


@dataclass(frozen=True)
class Expect:
    outcome: str                       # "exit 2" or "accepted"
    klass: str                         # the class of bad input, for docs/RELIABILITY.md
    words: tuple[str, ...] = ()        # exit 2: words the message must contain (the file name is implied)
    check: Callable[[Outcome, "Baseline"], None] | None = None


def reject(klass: str, *words: str) -> Expect:
    return Expect("exit 2", klass, words)


def accept(klass: str, check: Callable[[Outcome, "Baseline"], None]) -> Expect:
    return Expect("accepted", klass, (), check)


# --- checks of accepted cases -------------------------------------------------------------------

@dataclass
class Baseline:
    jobs: list[dict[str, Any]]
    routing: dict[str, Any]


def same_plan_as_good_rows(o: Outcome, base: Baseline) -> None:
    assert o.master["jobs"] == base.jobs
    assert o.routing["targets"] == base.routing["targets"]


def pair(o: Outcome, target: str, symbol: str) -> dict[str, Any]:
    return o.routing["targets"][target]["symbols"][symbol]


def check_aggregate_rows(o: Outcome, base: Baseline) -> None:
    assert "1 aggregate rows skipped" in o.err
    same_plan_as_good_rows(o, base)  # CROSS_SECTIONAL-labelled symbol rows stay symbol rows


def check_embedded_newlines(o: Outcome, base: Baseline) -> None:
    symbols = o.routing["targets"]["ret_5m"]["symbols"]
    assert set(symbols) == {"line one\nline two", 'say "hi"', "CCC"}
    assert {j["symbol"] for j in o.master["jobs"]} >= {"line one\nline two"}


def check_quoted_commas(o: Outcome, base: Baseline) -> None:
    targets = o.routing["targets"]
    assert "ret,with,commas_5m" in targets and "AAA" in targets["ret,with,commas_5m"]["symbols"]
    assert "B,B" in targets["ret_5m"]["symbols"]
    assert targets["ret_5m"]["cross_sectional"]["reason_code"] == "NO_CS_METRICS"


def check_missing_scores(o: Outcome, base: Baseline) -> None:
    targets = o.routing["targets"]
    for target in ("ret_5m", "ret_1d"):
        assert targets[target]["cross_sectional"]["reason_code"] == "SCORE_MISSING"
    for symbol in ("AAA", "BBB", "CCC"):
        assert pair(o, "ret_5m", symbol)["local_state"] == "DISALLOWED"
        assert "SCORE_MISSING" in pair(o, "ret_5m", symbol)["reason_codes"]
    scores = {(r["target"], r["symbol"]): r["score"] for r in o.candidates()}
    assert scores[("ret_5m", None)] is None and scores[("ret_5m", "AAA")] is None  # NaN/inf never stored as numbers
    assert scores[("ret_1d", "AAA")] == 0.9


def check_mixed_case(o: Outcome, base: Baseline) -> None:
    rows = {(r["target"], r["symbol"]): r for r in o.candidates()}
    assert rows[("ret_5m", "AAA")]["stability"] == "STABLE"
    assert rows[("ret_5m", "AAA")]["leakage_status"] == "SAFE"
    assert rows[("ret_5m", "AAA")]["mode"] == "SYMBOL_SPECIFIC"
    assert rows[("ret_5m", "BBB")]["leakage_status"] == "SUSPECT"
    assert rows[("ret_1d", "AAA")]["task_type"] == "BINARY_CLASSIFICATION"
    same_plan_as_good_rows(o, base)  # SUSPECT leakage does not block


def check_null_sample_size(o: Outcome, base: Baseline) -> None:
    assert "SAMPLE_SIZE" in pair(o, "ret_5m", "AAA")["reason_codes"]
    assert {(r["target"], r["symbol"]): r["sample_size"] for r in o.candidates()}[("ret_5m", "AAA")] == 0


def check_one_mb_target(o: Outcome, base: Baseline) -> None:
    big = "T" * (corpus.ONE_MB - 3) + "_5m"
    assert big in o.routing["targets"]
    assert any(j["target"] == big for j in o.master["jobs"])
    index = json.loads((o.out / "training_plan" / "by_target" / "index.json").read_text(encoding="utf-8"))
    entry = index["entries"][big]
    assert len(entry["file"].encode()) < 200
    doc = json.loads((o.out / "training_plan" / "by_target" / entry["file"]).read_text(encoding="utf-8"))
    assert doc["name"] == big


def check_struct_metrics(o: Outcome, base: Baseline) -> None:
    assert pair(o, "ret_5m", "AAA")["local_state"] == "DISALLOWED"          # std_overlap 0.5: DIVERGED
    assert "STABILITY_NOT_ALLOWED" in pair(o, "ret_5m", "AAA")["reason_codes"]
    assert pair(o, "ret_5m", "BBB")["local_state"] == "WEAK_BUT_OK"         # classified STABLE


def check_stability_edge_values(o: Outcome, base: Baseline) -> None:
    rows = {(r["target"], r["symbol"]): r for r in o.candidates()}
    assert rows[("ret_5m", None)]["std_overlap"] == 0.0 and rows[("ret_5m", None)]["mean_tau"] == -1.0
    assert rows[("ret_5m", "AAA")]["std_tau"] == 0.0 and rows[("ret_5m", "AAA")]["mean_overlap"] == 1.0
    assert rows[("ret_5m", "BBB")]["std_overlap"] is None and rows[("ret_5m", "BBB")]["mean_tau"] is None  # NaN: missing
    assert rows[("ret_5m", "CCC")]["mean_overlap"] == 0.0 and rows[("ret_5m", "CCC")]["mean_tau"] == 1.0
    same_plan_as_good_rows(o, base)  # the stability labels are given


def check_struct_partial_fields(o: Outcome, base: Baseline) -> None:
    rows = {(r["target"], r["symbol"]): r for r in o.candidates()}
    assert rows[("ret_5m", "AAA")]["std_overlap"] == 0.5 and rows[("ret_5m", "AAA")]["mean_overlap"] == 0.9
    assert rows[("ret_5m", "AAA")]["mean_tau"] is None and rows[("ret_5m", "AAA")]["std_tau"] is None
    # without tau the metrics do not classify the pair: its stability stays UNKNOWN
    assert "stability UNKNOWN " in " ".join(pair(o, "ret_5m", "AAA")["reason"])


def check_raw_capitalised_leakage(o: Outcome, base: Baseline) -> None:
    check_raw_accepted(o, base)
    assert "LEAKAGE_BLOCKED" in pair(o, "ret_1d", "AAA")["reason_codes"]   # Leakage.parquet is the leakage file


def check_raw_accepted(o: Outcome, base: Baseline) -> None:
    assert set(o.routing["targets"]) == {"ret_5m", "ret_1d"}


def check_raw_mixed_case(o: Outcome, base: Baseline) -> None:
    check_raw_accepted(o, base)
    assert "LEAKAGE_BLOCKED" not in pair(o, "ret_1d", "AAA")["reason_codes"]  # BLOCKED + quarantine -> SUSPECT


def check_foxml_keys(o: Outcome, base: Baseline) -> None:
    assert "routing.require_safe_features_only is not used by foxwarehouse" in o.err
    assert "routing.log_decision_reasons is not used by foxwarehouse" in o.err


# --- the expectations table: every corpus entry -> its outcome -----------------------------------

COL, ROW = "column", "row"

EXPECTATIONS: dict[str, Expect] = {
    # missing required columns
    "c_missing_target.csv": reject("missing required column", "missing required column", "target"),
    "c_missing_score.parquet": reject("missing required column", "missing required column", "score"),
    "c_missing_sample_size.csv": reject("missing required column", "missing required column", "sample_size"),
    # wrong types
    "c_wrong_type_one_row.csv": reject("wrong type", "column 'score'", "row 4", "'abc'"),
    "c_score_text_column.parquet": reject("wrong type", "column 'score'", "row 2", "'high'"),
    "c_score_boolean_column.parquet": reject("wrong type", "column 'score'", "row 1", "(and 1 more)"),
    "c_sample_size_fraction.csv": reject("wrong type", "column 'sample_size'", "row 3", "1500.5"),
    "c_sample_size_nan.csv": reject("wrong type", "column 'sample_size'", "row 2", "NaN"),
    "c_sample_size_too_large.csv": reject("wrong type", "column 'sample_size'", "row 2"),
    "c_n_snapshots_text.csv": reject("wrong type", "column 'n_snapshots'", "row 5", "'many'"),
    "c_bad_failed_families.csv": reject("wrong type", "column 'failed_model_families'", "row 2"),
    # negative sample_size
    "c_sample_size_negative.parquet": reject("negative sample_size", "column 'sample_size'", "negative", "row 2", "-5"),
    # duplicate keys
    "c_duplicate_pair.csv": reject("duplicate key", "'target', 'symbol'", "duplicate", "symbol='AAA'", "rows 2, 5"),
    "c_duplicate_cs_row.parquet": reject("duplicate key", "'target', 'symbol'", "duplicate", "(CS row)", "rows 1, 7"),
    # unknown enum values
    "c_unknown_stability.csv": reject("unknown enum value", "column 'stability'", "row 3", "'SHAKY'"),
    "c_unknown_leakage_status.parquet": reject("unknown enum value", "column 'leakage_status'", "row 4", "'LEAKY'"),
    "c_unknown_task_type.csv": reject("unknown enum value", "column 'task_type'", "row 6", "'REGRESION'"),
    "c_unknown_mode.csv": reject("unknown enum value", "column 'mode'", "row 2", "'PER_SYMBOL'"),
    "c_unknown_model_status.parquet": reject("unknown enum value", "column 'model_status'", "row 3", "'BROKEN'"),
    # empty targets
    "c_empty_target.csv": reject("empty target", "column 'target'", "empty target", "row 2", "row 3"),
    "c_null_target.parquet": reject("empty target", "column 'target'", "empty target", "row 1"),
    # unreadable / truncated files
    "c_truncated.parquet": reject("unreadable or truncated file", "cannot be read as PARQUET"),
    "c_not_parquet.parquet": reject("unreadable or truncated file", "cannot be read as PARQUET"),
    "c_zero_bytes.parquet": reject("unreadable or truncated file", "cannot be read as PARQUET", "too small"),
    "c_zero_bytes.csv": reject("unreadable or truncated file", "is empty"),
    "c_unsupported_type.txt": reject("unreadable or truncated file", "unsupported file type .txt"),
    "c_unterminated_quote.csv": reject("unreadable or truncated file", "malformed CSV", "line 7", "row 5"),
    "c_ragged_row.csv": reject("CSV structure", "row 3", "line 4", "8 fields", "7 columns"),
    "c_short_row.csv": reject("CSV structure", "row 4", "line 5", "3 fields"),
    "c_duplicate_column.csv": reject("CSV structure", "column 'Score'", "appears more than once", "columns 3 and 8"),
    "c_not_utf8.csv": reject("non-UTF-8 bytes", "column 'symbol'", "row 3", "UTF-8", "CAF\\xc9"),
    # zero rows
    "c_header_only.csv": reject("zero rows", "has no data rows"),
    "c_zero_rows.parquet": reject("zero rows", "has no data rows"),
    # handled correctly
    "c_bom.csv": accept("CSV with a BOM", same_plan_as_good_rows),
    "c_crlf.csv": accept("CSV dialect", same_plan_as_good_rows),
    "c_semicolon.csv": accept("CSV dialect", same_plan_as_good_rows),
    "c_blank_lines.csv": accept("CSV dialect", same_plan_as_good_rows),
    "c_quoted_commas.csv": accept("quoted commas", check_quoted_commas),
    "c_embedded_newlines.csv": accept("embedded newlines and quotes", check_embedded_newlines),
    "c_nan_inf_scores.csv": accept("NaN and ±inf", check_missing_scores),
    "c_nan_inf_scores.parquet": accept("NaN and ±inf", check_missing_scores),
    "c_mixed_case_enums.csv": accept("mixed-case enums", check_mixed_case),
    "c_null_sample_size.csv": accept("null values", check_null_sample_size),
    "c_extra_columns.csv": accept("extra columns", same_plan_as_good_rows),
    "c_aggregate_rows.csv": accept("aggregate rows", check_aggregate_rows),
    "c_sample_size_as_double.parquet": accept("integer stored as double", same_plan_as_good_rows),
    "c_stability_metrics_struct.parquet": accept("struct column", check_struct_metrics),
    "c_one_mb_target.parquet": accept("1 MB target name", check_one_mb_target),
    # columns repeated under one name (compared case-insensitively; DuckDB renames parquet repeats)
    "c_duplicate_score_column.parquet": reject("duplicate column", "column 'score' appears more than once", "columns 3 and 4"),
    "c_duplicate_column_case.parquet": reject("duplicate column", "column 'SCORE' appears more than once", "columns 3 and 8"),
    "c_stability_struct_duplicate_field.parquet": reject("duplicate column", "column 'stability_metrics'",
                                                         "field 'MEAN_OVERLAP' appears more than once"),
    # stability metrics: finite and in range (NaN = missing)
    "c_mean_overlap_infinite.parquet": reject("stability metric out of range", "column 'mean_overlap'", "[0, 1]", "row 2: 'inf'"),
    "c_mean_overlap_above_one.csv": reject("stability metric out of range", "column 'mean_overlap'", "[0, 1]", "row 3: '1.0001'"),
    "c_mean_tau_out_of_range.csv": reject("stability metric out of range", "column 'mean_tau'", "[-1, 1]",
                                          "row 2: '7.0'", "row 4: '-1.5'"),
    "c_std_overlap_negative.csv": reject("stability metric out of range", "column 'std_overlap'", ">= 0", "row 5: '-0.01'"),
    "c_std_tau_infinite.csv": reject("stability metric out of range", "column 'std_tau'", "row 1: 'Infinity'"),
    "c_stability_struct_out_of_range.parquet": reject("stability metric out of range", "column 'stability_metrics.mean_tau'",
                                                      "[-1, 1]", "row 3: '7.0'", "row 6: '-inf'"),
    "c_stability_edge_values.csv": accept("stability metric edge values", check_stability_edge_values),
    # the struct column's types and fields
    "c_stability_struct_text_fields.parquet": reject("wrong type", "column 'stability_metrics.std_overlap'", "row 2: 'x'"),
    "c_stability_metrics_not_a_struct.parquet": reject("wrong type", "column 'stability_metrics'", "row 1", "struct"),
    "c_stability_integer_column.parquet": reject("unknown enum value", "column 'stability'", "row 1: '1'", "(and 1 more)"),
    "c_stability_struct_numeric_text.parquet": accept("struct column", check_struct_metrics),
    "c_stability_struct_partial_fields.parquet": accept("struct column", check_struct_partial_fields),
    # raw metrics directories
    "raw_no_feature_selection": reject("raw metrics directory", "no metrics found", "feature_selection"),
    "raw_no_metrics": reject("raw metrics directory", "no metrics found"),
    "raw_both_formats": reject("raw metrics directory", "feature_selection.parquet", "feature_selection.csv", "keep one"),
    "raw_snapshots_missing_tau": reject("missing required column", "stability_snapshots.csv", "missing required column tau"),
    "raw_snapshots_bad_overlap": reject("wrong type", "stability_snapshots.csv", "column 'overlap'", "row 2", "'eighty percent'"),
    "raw_leakage_unknown_status": reject("unknown enum value", "leakage.csv", "column 'leakage_status'", "row 2", "'QUARANTINED'"),
    "raw_leakage_bad_quarantine": reject("wrong type", "leakage.csv", "column 'quarantine_confirmed'", "row 2", "'maybe'"),
    "raw_leakage_duplicate": reject("duplicate key", "leakage.csv", "duplicate", "rows 1, 3"),
    "raw_feature_selection_zero_rows": reject("zero rows", "feature_selection.csv", "has no data rows"),
    "raw_truncated_snapshots": reject("unreadable or truncated file", "stability_snapshots.parquet", "cannot be read as PARQUET"),
    "raw_leakage_capitalised": accept("raw metrics directory", check_raw_capitalised_leakage),
    "raw_leakage_two_spellings": reject("raw metrics directory", "Leakage.parquet", "leakage.csv", "both the leakage file",
                                        "keep one"),
    "raw_snapshots_duplicate": reject("duplicate key", "stability_snapshots.csv", "'snapshot_id'", "duplicate",
                                      "symbol='AAA' snapshot_id='s2' at rows 2, 4"),
    "raw_snapshots_cs_markers_collide": reject("duplicate key", "stability_snapshots.csv", "duplicate",
                                               "(CS row) snapshot_id='s1' at rows 3, 4"),
    "raw_leakage_cs_markers_collide": reject("duplicate key", "leakage.csv", "duplicate", "(CS row) at rows 3, 4"),
    "raw_feature_selection_duplicate_column": reject("duplicate column", "feature_selection.parquet",
                                                     "column 'Score' appears more than once", "columns 3 and 6"),
    "raw_snapshots_overlap_out_of_range": reject("stability metric out of range", "stability_snapshots.csv",
                                                 "column 'overlap'", "[0, 1]", "row 3: '1.5'"),
    "raw_snapshots_tau_infinite": reject("stability metric out of range", "stability_snapshots.parquet", "column 'tau'",
                                         "[-1, 1]", "row 2: 'inf'"),
    "raw_empty_optional_files": accept("zero rows", check_raw_accepted),
    "raw_mixed_case_and_nan": accept("mixed-case enums", check_raw_mixed_case),
    # routing configs (planned with good metrics)
    "config_invalid_yaml.yaml": reject("config: invalid YAML", "not valid YAML", "line 6"),
    "config_not_utf8.yaml": reject("config: unreadable", "cannot be read"),
    "config_not_a_mapping.yaml": reject("config: wrong type", "must be a mapping"),
    "config_empty.yaml": reject("config: missing required key", "routing.cross_sectional.min_score", "required key is missing"),
    "config_missing_required.yaml": reject("config: missing required key", "routing.symbol.min_score", "required key is missing"),
    "config_wrong_type.yaml": reject("config: wrong type", "routing.block_on_leakage", "expected true or false"),
    "config_bool_as_number.yaml": reject("config: wrong type", "routing.dev_mode", "expected true or false"),
    "config_families_not_a_list.yaml": reject("config: wrong type", "training_plan.model_families", "expected a list"),
    "config_bad_enum.yaml": reject("config: bad enum", "routing.both_strong_behavior", "'ROUTE_ALL'"),
    "config_bad_stability.yaml": reject("config: bad enum", "routing.stability_allowlist.symbol[1]", "'SHAKY'"),
    "config_bad_dump_format.yaml": reject("config: bad enum", "routing.dump_plan_as[1]", "'PDF'"),
    "config_bad_route_key.yaml": reject("config: bad enum", "training_plan.model_families_by_route.ROUTE_EVERYWHERE"),
    "config_fraction_out_of_range.yaml": reject("config: fraction outside [0,1]", "routing.experimental.max_fraction_symbols_per_target", "[0, 1]"),
    "config_negative_count.yaml": reject("config: wrong type", "routing.min_sample_size.symbol", ">= 0"),
    "config_threshold_infinite.yaml": reject("config: wrong type", "routing.cross_sectional.strong_score", "finite"),
    "config_threshold_no_default.yaml": reject("config: missing required key", "routing.cross_sectional.min_score.regression.default"),
    "config_unknown_key.yaml": reject("config: unknown key", "routing.min_sample_sizes", "did you mean routing.min_sample_size"),
    "config_experimental_without_min.yaml": reject("config: missing required key", "routing.experimental.min_score"),
    "config_foxml_only_keys.yaml": accept("config: FoxML-only keys", check_foxml_keys),
}

CASES = sorted(p.name for p in BAD.iterdir())


# --- the workspace every case starts from ------------------------------------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Baseline]:
    """A workspace with one good run exported: the "earlier run" no bad input may touch."""
    root = tmp_path_factory.mktemp("bad-inputs-template")
    ws = root / "ws"
    ws.mkdir()
    good = ws / "good.parquet"
    corpus.write_parquet(ws, "good.parquet", corpus.good_columns())
    config = write_config(ws / "config.yaml", SIMPLE_CONFIG)
    result = run_cli(["plan", "--metrics", good, "--config", config, "--db", ws / "w.duckdb", "--out", ws / "out"])
    assert result.code == 0, result
    master = json.loads((ws / "out" / "training_plan" / "master_training_plan.json").read_text(encoding="utf-8"))
    routing = json.loads((ws / "out" / "routing_plan" / "routing_plan.json").read_text(encoding="utf-8"))
    return ws, Baseline(master["jobs"], routing)


def test_every_corpus_entry_has_an_expectation() -> None:
    assert set(CASES) == set(EXPECTATIONS), (
        f"no expectation for {sorted(set(CASES) - set(EXPECTATIONS))}; "
        f"no corpus file for {sorted(set(EXPECTATIONS) - set(CASES))} (run tests/data/make_bad_corpus.py)")


def test_corpus_is_what_the_generator_makes(tmp_path: Path) -> None:
    """The committed corpus is the generator's output (text files byte for byte, parquet by name)."""
    fresh = tmp_path / "bad"
    assert corpus.main(["make_bad_corpus.py", str(fresh)]) == 0
    mine = sorted(p.relative_to(BAD).as_posix() for p in BAD.rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file())
    assert mine == theirs
    for name in mine:
        if not name.endswith(".parquet"):
            assert (BAD / name).read_bytes() == (fresh / name).read_bytes(), f"{name} is stale: rerun the generator"


@pytest.mark.parametrize("name", CASES)
def test_bad_input(name: str, template: tuple[Path, Baseline], tmp_path: Path) -> None:
    expect = EXPECTATIONS[name]
    ws = copy_workspace(template[0], tmp_path / "ws")
    db, out = ws / "w.duckdb", ws / "out"
    case = BAD / name
    if name.startswith("config_"):
        metrics, config = ws / "good.parquet", case
    else:
        metrics, config = case, ws / "config.yaml"
    before_db = warehouse_snapshot(db)
    before_out = tree_bytes(out)

    result = run_cli(["plan", "--metrics", metrics, "--config", config, "--db", db, "--out", out])

    assert "Traceback" not in result.err + result.out
    after_db = warehouse_snapshot(db)
    if expect.outcome == "exit 2":
        assert result.code == 2, result
        message = result.err.strip()
        assert message.startswith("error: ") and name in message, result
        for word in expect.words:
            assert word in message, f"{word!r} not in {message!r}"
        assert_runs_intact(before_db, after_db, allow_new=False)
        assert tree_bytes(out) == before_out, "a rejected input changed the export folder"
        record("bad_inputs", name, "exit 2", klass=expect.klass, message=message[:300], nothing_lost=True)
    else:
        assert result.code == 0, result
        new = assert_runs_intact(before_db, after_db)
        assert len(new) == 1 and after_db["runs"][new[0]]["row"]["status"] == "exported"
        master = check_complete_export(out)
        assert master["metadata"]["run_id"] == new[0]
        outcome = Outcome(result.code, result.err, out, db, master)
        expect.check(outcome, template[1])
        record("bad_inputs", name, "accepted", klass=expect.klass, jobs=len(master["jobs"]), nothing_lost=True)
