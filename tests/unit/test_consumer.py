"""Trainer-side consumer API (`foxwarehouse.consumer`) and the master plan schema validator."""
from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from foxwarehouse.consumer import KNOWN_SCHEMA_VERSIONS, TrainingPlan, load_plan
from foxwarehouse.errors import FoxError, PlanError
from foxwarehouse.plan_schema import (
    SCHEMA_PATH,
    SchemaDefinitionError,
    _Compiler,
    load_schema,
    validate_plan_document,
    validate_plan_file,
)

LOGGER = "foxwarehouse.consumer"
FAMILIES = ["lightgbm", "xgboost"]


# --------------------------------------------------------------------------------------------------
# plan builders


def _job(target, symbol=None, route=None, training_type=None, families=None, priority=None, samples=10_000, **meta):
    if training_type is None:
        training_type = "cross_sectional" if symbol is None else "symbol_specific"
    if route is None:
        route = {
            "cross_sectional": "ROUTE_CROSS_SECTIONAL",
            "symbol_specific": "ROUTE_SYMBOL_SPECIFIC",
            "blocked": "ROUTE_BLOCKED",
        }[training_type]
    if families is None:
        families = [] if training_type == "blocked" else list(FAMILIES)
    if priority is None:
        priority = {"ROUTE_BOTH": 3, "ROUTE_EXPERIMENTAL_ONLY": 1, "ROUTE_BLOCKED": 0}.get(route, 2)
    prefix = {"cross_sectional": "cs", "symbol_specific": "sym", "blocked": "blocked"}[training_type]
    job_id = f"cs_{target}" if symbol is None else f"{prefix}_{target}_{symbol}"
    metadata = {"needs_cs_ensemble": route == "ROUTE_BOTH", "cs_state": "STRONG", "local_state": None}
    metadata.update(meta)
    return {
        "job_id": job_id,
        "target": target,
        "symbol": symbol,
        "route": route,
        "training_type": training_type,
        "model_families": families,
        "priority": priority,
        "estimated_samples": samples,
        "reason": "test",
        "metadata": metadata,
    }


def _plan(jobs):
    by_route, by_type, by_priority = {}, {}, {}
    for j in jobs:
        by_route[j["route"]] = by_route.get(j["route"], 0) + 1
        by_type[j["training_type"]] = by_type.get(j["training_type"], 0) + 1
        by_priority[str(j["priority"])] = by_priority.get(str(j["priority"]), 0) + 1
    return {
        "metadata": {
            "schema_version": "1.0",
            "run_id": "20261125T215000123456-1a2b3c",
            "generated_at": "2026-11-25T21:50:00.123456Z",
            "git_commit": None,
            "config_hash": "a" * 64,
            "input_fingerprint": "b" * 64,
            "plan_fingerprint": "c" * 64,
            "metrics_snapshot": "routing_candidates.parquet",
            "routing_plan_path": "routing_plan/routing_plan.json",
            "total_jobs": len(jobs),
            "model_families": list(FAMILIES),
        },
        "jobs": jobs,
        "summary": {
            "by_route": by_route,
            "by_type": by_type,
            "by_priority": by_priority,
            "total_cs_jobs": by_type.get("cross_sectional", 0),
            "total_symbol_jobs": by_type.get("symbol_specific", 0),
            "total_blocked": by_type.get("blocked", 0),
            "skipped_no_families": 0,
        },
    }


def _sample_doc():
    """t1: CS + AAPL (both) + MSFT (symbol only, lightgbm) + TSLA blocked;
    t2: symbol jobs only (GOOG experimental); t3: CS only (xgboost); t4: only blocked symbols."""
    return _plan(
        [
            _job("t1", "AAPL", route="ROUTE_BOTH"),
            _job("t1"),
            _job("t3", families=["xgboost"]),
            _job("t1", "MSFT", families=["lightgbm"]),
            _job("t2", "IBM"),
            _job("t2", "GOOG", route="ROUTE_EXPERIMENTAL_ONLY", families=["lightgbm"]),
            _job("t1", "TSLA", training_type="blocked"),
            _job("t4", "AAPL", training_type="blocked"),
            _job("t4", "MSFT", training_type="blocked"),
        ]
    )


def _write(tmp_path, doc, folder="training_plan"):
    d = tmp_path / folder
    d.mkdir(parents=True, exist_ok=True)
    f = d / "master_training_plan.json"
    f.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return f


@pytest.fixture
def plan(tmp_path):
    return load_plan(_write(tmp_path, _sample_doc()).parent)


# --------------------------------------------------------------------------------------------------
# missing plan -> allow all, one warning


def test_missing_path_allows_all_with_one_warning(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    p = load_plan(tmp_path / "nope" / "training_plan")
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "nope" in warnings[0].getMessage()
    assert p.is_allow_all
    assert p.should_train("anything")
    assert p.should_train("anything", "AAPL", family="catboost")
    assert p.filter_targets(["a", "b"]) == ["a", "b"]
    assert p.filter_targets(["a", "b"], training_type="symbol_specific") == ["a", "b"]
    assert p.filter_symbols("a", ["X", "Y"]) == ["X", "Y"]
    assert p.model_families("a") == []
    assert p.jobs() == []
    assert p.metadata == {} and p.summary == {}
    assert len(p) == 0


def test_folder_without_master_is_an_error_not_allow_all(tmp_path):
    # An empty plan folder is a damaged or half-copied plan: never a silent "train everything".
    (tmp_path / "training_plan").mkdir()
    with pytest.raises(PlanError, match="master_training_plan.json"):
        load_plan(tmp_path / "training_plan")


def test_allow_all_constructor():
    p = TrainingPlan.allow_all()
    assert p.is_allow_all and p.path is None and p.should_train("t", family="lightgbm")


# --------------------------------------------------------------------------------------------------
# corrupt plans -> PlanError naming the file


def _load_error(path) -> str:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert isinstance(info.value, FoxError)
    return str(info.value)


def test_empty_file_is_an_error(tmp_path):
    f = tmp_path / "master_training_plan.json"
    f.write_text("")
    msg = _load_error(f)
    assert str(f) in msg and "empty" in msg


def test_whitespace_only_file_is_an_error(tmp_path):
    f = tmp_path / "master_training_plan.json"
    f.write_text("  \n\n")
    assert "empty" in _load_error(tmp_path)


def test_truncated_json_is_an_error(tmp_path):
    f = _write(tmp_path, _sample_doc())
    text = f.read_text()
    f.write_text(text[: len(text) // 2])
    msg = _load_error(f)
    assert str(f) in msg
    assert "invalid JSON at line" in msg and "column" in msg and "truncated" in msg


def test_not_json_is_an_error(tmp_path):
    f = tmp_path / "master_training_plan.json"
    f.write_text("jobs: [1, 2]\n")
    msg = _load_error(f)
    assert "invalid JSON at line 1 column 1" in msg


def test_non_finite_number_is_an_error(tmp_path):
    doc = _sample_doc()
    f = _write(tmp_path, doc)
    f.write_text(f.read_text().replace('"estimated_samples": 10000', '"estimated_samples": NaN', 1))
    assert "NaN" in _load_error(f)


@pytest.mark.parametrize("payload, kind", [([], "array"), ("plan", '"plan"'), (3, "3"), (None, "null")])
def test_non_object_is_an_error(tmp_path, payload, kind):
    f = tmp_path / "master_training_plan.json"
    f.write_text(json.dumps(payload))
    msg = _load_error(f)
    assert str(f) in msg
    assert f"(root): expected object, got {kind}" in msg


def test_wrong_type_in_one_job_names_the_field(tmp_path):
    doc = _sample_doc()
    doc["jobs"][3]["priority"] = "x"
    msg = _load_error(_write(tmp_path, doc))
    assert 'jobs[3].priority: expected integer, got "x"' in msg
    assert "master_training_plan.json" in msg
    # exactly one violation reported for one mistake
    assert msg.count("jobs[") == 1


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["jobs"][0].update(priority=7), "jobs[0].priority: 7 is greater than the maximum 3"),
        (lambda d: d["jobs"][1].update(priority=True), "jobs[1].priority: expected integer, got true"),
        (lambda d: d["jobs"][2].update(estimated_samples=-1), "jobs[2].estimated_samples: -1 is less than the minimum 0"),
        (lambda d: d["jobs"][0].update(route="ROUTE_X"), 'jobs[0].route: "ROUTE_X" is not one of'),
        (lambda d: d["jobs"][0].update(training_type="both"), 'jobs[0].training_type: "both" is not one of'),
        (lambda d: d["jobs"][0].pop("reason"), "jobs[0].reason: required key is missing"),
        (lambda d: d["jobs"][0].update(prority=1), 'jobs[0].prority: unknown key (did you mean "priority"?)'),
        (lambda d: d["jobs"][0].update(model_families="lightgbm"), "jobs[0].model_families: expected array, got"),
        (lambda d: d["jobs"][0].update(model_families=["lightgbm", 3]), "jobs[0].model_families[1]: expected string, got 3"),
        (lambda d: d["jobs"][0].update(symbol=5), "jobs[0].symbol: expected string or null, got 5"),
        (lambda d: d["jobs"][0].update(metadata=[]), "jobs[0].metadata: expected object, got array"),
        (lambda d: d["metadata"].update(total_jobs="9"), 'metadata.total_jobs: expected integer, got "9"'),
        (lambda d: d["metadata"].pop("config_hash"), "metadata.config_hash: required key is missing"),
        (lambda d: d["metadata"].update(git_commit=1), "metadata.git_commit: expected string or null, got 1"),
        (lambda d: d["metadata"].update(git_dirty="yes"), 'metadata.git_dirty: expected boolean or null, got "yes"'),
        (lambda d: d["metadata"].update(models_fingerprint=1), "metadata.models_fingerprint: expected string or null, got 1"),
        (lambda d: d.pop("summary"), "summary: required key is missing"),
        (lambda d: d["summary"]["by_route"].update(ROUTE_NOPE=1), 'summary.by_route.ROUTE_NOPE: "ROUTE_NOPE" is not one of'),
        (lambda d: d["summary"]["by_priority"].update({"9": 1}), 'summary.by_priority["9"]: "9" is not one of'),
        (lambda d: d.update(jobs={}), "jobs: expected array, got object"),
        (lambda d: d.update(extra=1), "extra: unknown key"),
    ],
)
def test_schema_violations_name_the_field(tmp_path, mutate, expected):
    doc = _sample_doc()
    mutate(doc)
    assert expected in _load_error(_write(tmp_path, doc))


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["jobs"][3].update(job_id="cs_t1"), 'jobs[3].job_id: duplicate job_id "cs_t1" (first used by jobs[1])'),
        (lambda d: d["jobs"][1].update(symbol="AAPL"), 'jobs[1].symbol: a cross_sectional job must have symbol null, got "AAPL"'),
        (lambda d: d["jobs"][3].update(symbol=None), "jobs[3].symbol: a symbol_specific job needs a symbol, got null"),
        (lambda d: d["jobs"][1].update(route="ROUTE_BOTH"), 'jobs[1].route: "ROUTE_BOTH" is not a route of a cross_sectional job'),
        (lambda d: d["jobs"][6].update(route="ROUTE_BOTH"), 'jobs[6].route: "ROUTE_BOTH" is not a route of a blocked job'),
        (lambda d: d["jobs"].append(dict(_job("t1"), job_id="cs_t1_again")), "second cross_sectional job for target \"t1\""),
    ],
)
def test_inconsistent_plans_are_rejected(tmp_path, mutate, expected):
    doc = _sample_doc()
    mutate(doc)
    assert expected in _load_error(_write(tmp_path, doc))


def test_extra_keys_allowed_where_documented(tmp_path):
    doc = _sample_doc()
    doc["metadata"]["producer"] = "foxwarehouse 0.1"
    doc["summary"]["notes"] = ["x"]
    doc["jobs"][0]["metadata"]["reason_codes"] = ["SCORE_MISSING"]
    doc["jobs"][0]["metadata"]["cs_score"] = 0.5
    p = load_plan(_write(tmp_path, doc))
    assert p.metadata["producer"] == "foxwarehouse 0.1"


def test_integral_float_is_an_integer(tmp_path):
    doc = _sample_doc()
    doc["jobs"][0]["priority"] = 3.0
    assert validate_plan_document(doc) == []
    doc["jobs"][0]["priority"] = 2.5
    assert validate_plan_document(doc) == ["jobs[0].priority: expected integer, got 2.5"]


def test_unknown_schema_version(tmp_path):
    doc = _sample_doc()
    doc["metadata"]["schema_version"] = "2.0"
    doc["jobs"][0]["new_v2_field"] = {"x": 1}  # not reported: the 1.0 schema does not apply
    msg = _load_error(_write(tmp_path, doc))
    assert '"2.0"' in msg and '"1.0"' in msg
    assert "metadata.schema_version" in msg
    assert "new_v2_field" not in msg
    assert KNOWN_SCHEMA_VERSIONS == ("1.0",)


def test_schema_version_wrong_type(tmp_path):
    doc = _sample_doc()
    doc["metadata"]["schema_version"] = 1
    assert "metadata.schema_version: expected string, got 1" in _load_error(_write(tmp_path, doc))


def test_many_errors_are_capped(tmp_path):
    doc = _plan([_job(f"t{i}", priority="high") for i in range(12)])
    errors = validate_plan_document(doc, max_errors=3)
    assert errors[:3] == [f'jobs[{i}].priority: expected integer, got "high"' for i in range(3)]
    assert errors[3] == "(further errors not shown)"
    msg = _load_error(_write(tmp_path, doc))
    assert "jobs[0].priority" in msg and "jobs[9].priority" in msg and "jobs[10]" not in msg
    assert "(further errors not shown)" in msg
    # exactly at the cap: nothing was left out, so no "further errors" line
    doc = _plan([_job(f"t{i}", priority="high") for i in range(3)])
    doc["summary"]["by_priority"] = {}
    assert validate_plan_document(doc, max_errors=3)[-1] == 'jobs[2].priority: expected integer, got "high"'


def test_unreadable_path_is_an_error_not_allow_all(tmp_path):
    d = tmp_path / "training_plan" / "master_training_plan.json"
    d.mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(PlanError):
        load_plan(tmp_path / "training_plan")


# --------------------------------------------------------------------------------------------------
# folder vs file


def test_folder_and_file_paths_load_the_same_plan(tmp_path):
    f = _write(tmp_path, _sample_doc())
    by_file = load_plan(f)
    by_folder = load_plan(str(f.parent))
    by_export_dir = load_plan(tmp_path)  # DIR holding training_plan/
    for p in (by_file, by_folder, by_export_dir):
        assert not p.is_allow_all
        assert p.path == f
        assert p.jobs() == by_file.jobs()


def test_any_file_name_is_read_as_a_plan(tmp_path):
    f = tmp_path / "plan_copy.json"
    f.write_text(json.dumps(_sample_doc()))
    assert len(load_plan(f)) == 9


def test_properties(plan):
    assert plan.metadata["schema_version"] == "1.0"
    assert plan.summary["total_blocked"] == 3
    assert not plan.is_allow_all
    assert plan.path.name == "master_training_plan.json"
    assert len(plan) == 9
    # accessors return copies
    plan.metadata["run_id"] = "changed"
    assert plan.metadata["run_id"] != "changed"


# --------------------------------------------------------------------------------------------------
# filter_targets


def test_filter_targets_cross_sectional_logs(plan, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    targets = ["t4", "t1", "zz", "t3", "t2", "t1"]
    assert plan.filter_targets(targets) == ["t1", "t3", "t1"]
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.INFO]
    assert messages == ["Training plan filter applied: 6 → 3 targets"]


def test_filter_targets_ten_to_seven(tmp_path, caplog):
    doc = _plan([_job(f"t{i}") for i in range(7)])
    p = load_plan(_write(tmp_path, doc))
    caplog.set_level(logging.INFO, logger=LOGGER)
    out = p.filter_targets(f"t{i}" for i in reversed(range(10)))
    assert out == [f"t{i}" for i in reversed(range(7))]
    assert "Training plan filter applied: 10 → 7 targets" in caplog.messages


def test_filter_targets_symbol_specific_and_any(plan):
    targets = ["t1", "t2", "t3", "t4"]
    assert plan.filter_targets(targets, training_type="symbol_specific") == ["t1", "t2"]
    assert plan.filter_targets(targets, training_type=None) == ["t1", "t2", "t3"]
    with pytest.raises(ValueError):
        plan.filter_targets(targets, training_type="blocked")


def test_filter_targets_allow_all_logs(tmp_path, caplog):
    p = TrainingPlan.allow_all()
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert p.filter_targets(["a", "b"]) == ["a", "b"]
    assert "Training plan filter applied: 2 → 2 targets" in caplog.messages


# --------------------------------------------------------------------------------------------------
# filter_symbols, model_families


def test_filter_symbols(plan):
    symbols = ["TSLA", "MSFT", "NOPE", "AAPL"]
    assert plan.filter_symbols("t1", symbols) == ["MSFT", "AAPL"]  # TSLA is blocked
    assert plan.filter_symbols("t2", ["GOOG", "IBM", "AAPL"]) == ["GOOG", "IBM"]
    assert plan.filter_symbols("t3", symbols) == []  # CS only
    assert plan.filter_symbols("t4", ["AAPL", "MSFT"]) == []  # all blocked
    assert plan.filter_symbols("unknown", symbols) == []


def test_model_families(plan):
    assert plan.model_families("t1") == ["lightgbm", "xgboost"]
    assert plan.model_families("t3") == ["xgboost"]
    assert plan.model_families("t1", "MSFT") == ["lightgbm"]
    assert plan.model_families("t1", "TSLA") == []  # blocked
    assert plan.model_families("t2") == []  # no CS job
    assert plan.model_families("nope") == []
    plan.model_families("t1").append("mutated")
    assert plan.model_families("t1") == ["lightgbm", "xgboost"]


# --------------------------------------------------------------------------------------------------
# should_train


def test_should_train_targets_and_pairs(plan):
    assert plan.should_train("t1")
    assert plan.should_train("t3")
    assert not plan.should_train("t2")  # symbol jobs only: no CS model
    assert not plan.should_train("t4")  # every symbol blocked
    assert not plan.should_train("unlisted")
    assert plan.should_train("t1", "AAPL")
    assert plan.should_train("t2", "GOOG")
    assert not plan.should_train("t1", "TSLA")  # blocked job never trains
    assert not plan.should_train("t4", "AAPL")
    assert not plan.should_train("t1", "NOPE")  # pair not listed
    assert not plan.should_train("t3", "AAPL")  # CS-only target


def test_should_train_family_filter(plan):
    assert plan.should_train("t1", family="lightgbm")
    assert plan.should_train("t1", family="XGBoost")  # case-insensitive
    assert not plan.should_train("t1", family="catboost")
    assert plan.should_train("t3", family="xgboost")
    assert not plan.should_train("t3", family="lightgbm")
    assert plan.should_train("t1", "MSFT", family="lightgbm")
    assert not plan.should_train("t1", "MSFT", family="xgboost")
    assert not plan.should_train("t1", "TSLA", family="lightgbm")


def test_should_train_odd_arguments(plan):
    assert not plan.should_train(["t1"])
    assert not plan.should_train("t1", family=3)
    assert plan.should_train("t1", family=None) is True


def test_empty_plan_trains_nothing(tmp_path, caplog):
    p = load_plan(_write(tmp_path, _plan([])))
    assert not p.is_allow_all
    assert not p.should_train("t1")
    assert p.filter_targets(["t1"]) == []
    assert p.jobs() == []


# --------------------------------------------------------------------------------------------------
# jobs()


def test_jobs_filters_keep_plan_order(plan):
    assert [j["job_id"] for j in plan.jobs()] == [
        "sym_t1_AAPL",
        "cs_t1",
        "cs_t3",
        "sym_t1_MSFT",
        "sym_t2_IBM",
        "sym_t2_GOOG",
        "blocked_t1_TSLA",
        "blocked_t4_AAPL",
        "blocked_t4_MSFT",
    ]
    assert [j["job_id"] for j in plan.jobs(route="ROUTE_BOTH")] == ["sym_t1_AAPL"]
    assert [j["job_id"] for j in plan.jobs(training_type="cross_sectional")] == ["cs_t1", "cs_t3"]
    assert [j["job_id"] for j in plan.jobs(target="t1")] == ["sym_t1_AAPL", "cs_t1", "sym_t1_MSFT", "blocked_t1_TSLA"]
    assert [j["job_id"] for j in plan.jobs(symbol="AAPL")] == ["sym_t1_AAPL", "blocked_t4_AAPL"]
    assert [j["job_id"] for j in plan.jobs(min_priority=2)] == [
        "sym_t1_AAPL",
        "cs_t1",
        "cs_t3",
        "sym_t1_MSFT",
        "sym_t2_IBM",
    ]
    assert [j["job_id"] for j in plan.jobs(min_priority=3)] == ["sym_t1_AAPL"]
    assert [j["job_id"] for j in plan.jobs(target="t1", training_type="symbol_specific", min_priority=2)] == [
        "sym_t1_AAPL",
        "sym_t1_MSFT",
    ]
    assert plan.jobs(target="t1", route="ROUTE_EXPERIMENTAL_ONLY") == []


def test_jobs_rejects_unknown_filter_values(plan):
    with pytest.raises(ValueError):
        plan.jobs(route="BOTH")
    with pytest.raises(ValueError):
        plan.jobs(training_type="cs")


def test_jobs_returns_copies(plan):
    job = plan.jobs(target="t3")[0]
    job["model_families"].append("catboost")
    job["metadata"]["x"] = 1
    assert not plan.should_train("t3", family="catboost")
    assert "x" not in plan.jobs(target="t3")[0]["metadata"]


# --------------------------------------------------------------------------------------------------
# plan_schema module


def test_validate_plan_file(tmp_path):
    f = _write(tmp_path, _sample_doc())
    assert validate_plan_file(f) == []
    assert validate_plan_file(f.parent) == []
    assert validate_plan_file(tmp_path / "missing.json")[0].startswith("file not found")
    f.write_text('{"metadata": {,}')
    (msg,) = validate_plan_file(f)
    assert "line 1 column 15" in msg


def test_validate_plan_document_valid_and_invalid():
    doc = _sample_doc()
    assert validate_plan_document(doc) == []
    bad = copy.deepcopy(doc)
    bad["jobs"][3]["priority"] = "x"
    assert validate_plan_document(bad) == ['jobs[3].priority: expected integer, got "x"']



def test_the_provenance_keys_are_optional():
    """git_dirty and models_fingerprint came later: plans without them (older ones) stay valid."""
    doc = _sample_doc()
    assert "models_fingerprint" not in doc["metadata"] and validate_plan_document(doc) == []
    doc["metadata"].update(git_dirty=True, models_fingerprint="ab" * 32)
    assert validate_plan_document(doc) == []
    doc["metadata"].update(git_dirty=None, models_fingerprint=None)
    assert validate_plan_document(doc) == []


def test_schema_file_is_draft_2020_12_and_compiles():
    schema = load_schema()
    assert SCHEMA_PATH.name == "master_training_plan.schema.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    _Compiler(schema).compile(schema)


def test_validator_refuses_unsupported_keywords():
    with pytest.raises(SchemaDefinitionError):
        _Compiler({}).compile({"type": "string", "pattern": "^a"})


def test_consumer_imports_only_the_standard_library():
    code = (
        "import sys, foxwarehouse.consumer, foxwarehouse.plan_schema; "
        "print([m for m in ('duckdb','yaml','pyarrow','jinja2','sqlglot') if m in sys.modules])"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------------
# plans written by FoxML's own generator: no schema_version, loaded as legacy plans

FOXML_PLAN = (Path(__file__).resolve().parents[1] / "data" / "foxml" / "legacy_plan" / "globals" / "training_plan"
              / "master_training_plan.json")


def _foxml_doc():
    return json.loads(FOXML_PLAN.read_text(encoding="utf-8"))


def _warning_messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name.startswith("foxwarehouse") and r.levelno >= logging.WARNING]


def test_foxml_plan_loads_as_legacy_with_one_warning(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    p = load_plan(_write(tmp_path, _foxml_doc()))
    assert p.is_legacy
    messages = _warning_messages(caplog)
    assert len(messages) == 1 and "legacy" in messages[0] and "schema_version" in messages[0]
    assert p.jobs(training_type="cross_sectional")[0]["estimated_samples"] is None
    assert p.model_families("fwd_ret_15m") == FAMILIES
    assert TrainingPlan.from_document(_foxml_doc()).is_legacy


def test_legacy_mirror_only_folder_loads(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    folder = tmp_path / "training_plan"
    folder.mkdir()
    (folder / "training_plan.json").write_text(json.dumps(_foxml_doc()), encoding="utf-8")
    assert load_plan(folder).is_legacy
    assert len(_warning_messages(caplog)) == 2  # the mirror, and the legacy plan


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["jobs"][0].update(estimated_samples="many"), 'jobs[0].estimated_samples: expected integer or null'),
        (lambda d: d["jobs"][0].update(priority=9), "jobs[0].priority: 9 is greater than the maximum 3"),
        (lambda d: d["jobs"][0].update(route="ROUTE_X"), 'jobs[0].route: "ROUTE_X" is not one of'),
        (lambda d: d["jobs"][0].pop("training_type"), "jobs[0].training_type: required key is missing"),
        (lambda d: d["jobs"][0].update(prority=1), 'jobs[0].prority: unknown key (did you mean "priority"?)'),
        (lambda d: d["metadata"].update(total_jobs=7), "metadata.total_jobs: says 7 jobs but the plan has 6"),
        (lambda d: d["metadata"].pop("generated_at"), "metadata.generated_at: required key is missing"),
        (lambda d: d["metadata"].update(model_families="lightgbm"), "metadata.model_families: expected array"),
        (lambda d: d["summary"].pop("total_cs_jobs"), "summary.total_cs_jobs: required key is missing"),
        (lambda d: d.pop("summary"), "summary: required key is missing"),
        (lambda d: d["jobs"][1].update(symbol="AAPL"), "a cross_sectional job must have symbol null"),
        (lambda d: d["jobs"][2].update(job_id="cs_fwd_ret_15m"), 'duplicate job_id "cs_fwd_ret_15m"'),
    ],
)
def test_damaged_legacy_plans_are_rejected(tmp_path, mutate, expected):
    doc = _foxml_doc()
    mutate(doc)
    msg = _load_error(_write(tmp_path, doc))
    assert expected in msg
    assert "legacy FoxML plan" in msg


@pytest.mark.parametrize("version", [None, 1, 1.0, "", "2.0", "0.9"])
def test_a_present_but_invalid_schema_version_is_not_legacy(tmp_path, version):
    doc = _foxml_doc()
    doc["metadata"]["schema_version"] = version
    msg = _load_error(_write(tmp_path, doc))
    assert "metadata.schema_version" in msg and "legacy" not in msg


@pytest.mark.parametrize("key", ["input_fingerprint", "plan_fingerprint"])
def test_a_foxwarehouse_plan_that_lost_its_schema_version_is_not_legacy(tmp_path, key):
    doc = _sample_doc()
    del doc["metadata"]["schema_version"]
    for other in ("input_fingerprint", "plan_fingerprint"):
        if other != key:
            del doc["metadata"][other]
    msg = _load_error(_write(tmp_path, doc))
    assert "metadata.schema_version: required key is missing" in msg


def test_legacy_dev_mode_fallback_plan_merges_its_cs_jobs(tmp_path):
    """FoxML's dev-mode fallback writes one CS job per target and family."""
    doc = _foxml_doc()
    fallback = []
    for target in ("fwd_ret_15m", "fwd_ret_1d"):
        for family in FAMILIES:
            fallback.append({
                "job_id": f"dev_fallback_cs_{target}_{family}", "target": target, "symbol": None,
                "route": "ROUTE_CROSS_SECTIONAL", "training_type": "cross_sectional", "model_families": [family],
                "priority": 1, "estimated_samples": None, "reason": "Dev mode fallback: router produced 0 jobs",
                "metadata": {"cs_state": "UNKNOWN", "dev_mode_fallback": True},
            })
    doc["jobs"] = fallback
    doc["metadata"]["total_jobs"] = len(fallback)
    doc["summary"] = {"by_priority": {"1": 4}, "by_route": {"ROUTE_CROSS_SECTIONAL": 4},
                      "by_type": {"cross_sectional": 4}, "total_blocked": 0, "total_cs_jobs": 4,
                      "total_symbol_jobs": 0}
    p = load_plan(_write(tmp_path, doc))
    assert p.filter_targets(["fwd_ret_15m", "fwd_ret_1d", "x"]) == ["fwd_ret_15m", "fwd_ret_1d"]
    assert p.model_families("fwd_ret_1d") == FAMILIES
    assert p.should_train("fwd_ret_1d", family="xgboost")
    assert len(p.jobs(training_type="cross_sectional")) == 4  # the jobs as written
    assert p.pairs_to_train(["fwd_ret_15m"], []) == [("fwd_ret_15m", None)]


def test_job_looks_up_one_job(plan):
    assert plan.job("t1")["job_id"] == "cs_t1"
    assert plan.job("t1", "AAPL")["route"] == "ROUTE_BOTH"
    assert plan.job("t1", "TSLA") is None
    assert plan.job("t1", "TSLA", include_blocked=True)["training_type"] == "blocked"
    assert plan.job("t9") is None and TrainingPlan.allow_all().job("t1") is None
    plan.job("t1")["model_families"].append("x")
    assert plan.job("t1")["model_families"] == FAMILIES
