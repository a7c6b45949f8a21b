"""FoxML's consumer functions (`foxwarehouse.foxml`) and plans written by FoxML's own generator.

Every function is asked the same questions on a plan with jobs, a plan without jobs and no plan,
authoritative (the default) and with ``fail_open=True``; on a FoxML-generated plan (the hand-written
fixture in tests/data/foxml/) and on the same plan as foxwarehouse writes it.
"""
from __future__ import annotations

import copy
import inspect
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, run_cli

from foxwarehouse import foxml
from foxwarehouse.consumer import TrainingPlan, load_plan
from foxwarehouse.errors import PlanError

FIXTURE = ROOT / "tests" / "data" / "foxml" / "legacy_plan"
FOXML_PLAN_DIR = FIXTURE / "globals" / "training_plan"
FAMILIES = ["lightgbm", "xgboost"]
TARGETS = ["fwd_ret_15m", "fwd_ret_1d", "fwd_ret_5d"]
SYMBOLS = ["AAPL", "MSFT", "NVDA", "TSLA", "GOOG"]
MODES = [False, True]  # fail_open


def _warnings(caplog):
    return [r for r in caplog.records if r.name.startswith("foxwarehouse") and r.levelno >= logging.WARNING]


def _foxml_doc() -> dict:
    return json.loads((FOXML_PLAN_DIR / "master_training_plan.json").read_text(encoding="utf-8"))


def _as_foxwarehouse(doc: dict) -> dict:
    """The same jobs as foxwarehouse writes them (schema 1.0)."""
    doc = copy.deepcopy(doc)
    meta = doc["metadata"]
    meta.update(schema_version="1.0", config_hash="a" * 64, input_fingerprint="b" * 64, plan_fingerprint="c" * 64)
    for job in doc["jobs"]:
        job["estimated_samples"] = 10_000
        job["metadata"].pop("sample_size", None)
    doc["summary"]["skipped_no_families"] = 0
    return doc


def _without_jobs(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc["jobs"] = []
    doc["metadata"]["total_jobs"] = 0
    summary = doc["summary"]
    summary.update(by_route={}, by_type={}, by_priority={}, total_cs_jobs=0, total_symbol_jobs=0, total_blocked=0)
    return doc


def _without_cs_jobs(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc["jobs"] = [j for j in doc["jobs"] if j["training_type"] != "cross_sectional"]
    doc["metadata"]["total_jobs"] = len(doc["jobs"])
    doc["summary"]["by_route"].pop("ROUTE_CROSS_SECTIONAL")
    doc["summary"]["by_type"].pop("cross_sectional")
    doc["summary"]["by_priority"]["2"] -= 1
    doc["summary"]["total_cs_jobs"] = 0
    return doc


def _write(folder: Path, doc: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "master_training_plan.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return folder


@pytest.fixture(params=["foxml", "foxwarehouse"])
def shape(request):
    """Which writer's shape the plan has: FoxML's generator (legacy) or foxwarehouse."""
    return request.param


@pytest.fixture
def plan_dir(shape, tmp_path):
    """A training_plan folder with jobs."""
    if shape == "foxml":
        return FOXML_PLAN_DIR
    return _write(tmp_path / "training_plan", _as_foxwarehouse(_foxml_doc()))


@pytest.fixture
def empty_dir(shape, tmp_path):
    """A training_plan folder whose plan has no job."""
    doc = _without_jobs(_foxml_doc())
    return _write(tmp_path / "empty" / "training_plan", doc if shape == "foxml" else _as_foxwarehouse(doc))


@pytest.fixture
def plan(plan_dir):
    return foxml.load_training_plan(plan_dir)


@pytest.fixture
def empty(empty_dir):
    return foxml.load_training_plan(empty_dir)


@pytest.fixture
def no_cs(shape):
    doc = _without_cs_jobs(_foxml_doc())
    return doc if shape == "foxml" else _as_foxwarehouse(doc)


# --------------------------------------------------------------------------------------------------
# the module: standard library only, FoxML's names and signatures

# Written by hand from FoxML_Core's TRAINING/orchestration/training_plan_consumer.py:
# (name, [(parameter, default or EMPTY)]) in FoxML's order.
EMPTY = inspect.Parameter.empty
FOXML_SIGNATURES = {
    "load_training_plan": [("training_plan_dir", EMPTY)],
    "filter_targets_by_training_plan": [("targets", EMPTY), ("training_plan", EMPTY),
                                        ("training_type", "cross_sectional")],
    "filter_symbols_by_training_plan": [("target", EMPTY), ("symbols", EMPTY), ("training_plan", EMPTY)],
    "get_training_jobs_for_target_symbol": [("training_plan", EMPTY), ("target", EMPTY), ("symbol", None)],
    "get_cs_jobs": [("training_plan", EMPTY)],
    "get_symbol_jobs": [("training_plan", EMPTY)],
    "get_jobs_for_target": [("training_plan", EMPTY), ("target", EMPTY)],
    "get_jobs_for_symbol": [("training_plan", EMPTY), ("symbol", EMPTY)],
    "get_model_families_for_job": [("training_plan", EMPTY), ("target", EMPTY), ("symbol", None),
                                   ("training_type", None)],
    "should_train_target_symbol": [("training_plan", EMPTY), ("target", EMPTY), ("symbol", None),
                                   ("training_type", None)],
    "apply_training_plan_filter": [("targets", EMPTY), ("symbols", EMPTY), ("training_plan_dir", EMPTY),
                                   ("use_cs_plan", True), ("use_symbol_plan", True)],
    "validate_training_plan": [("training_plan", EMPTY)],
    "get_training_plan_summary": [("training_plan", EMPTY)],
}
# The functions whose answers FoxML fails open on (they take the keyword-only fail_open=False).
FAIL_OPEN_FUNCTIONS = {"filter_targets_by_training_plan", "filter_symbols_by_training_plan",
                       "get_model_families_for_job", "should_train_target_symbol", "apply_training_plan_filter"}


@pytest.mark.parametrize("name", sorted(FOXML_SIGNATURES))
def test_signature_matches_foxml(name):
    params = list(inspect.signature(getattr(foxml, name)).parameters.values())
    positional = [p for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert [(p.name, p.default) for p in positional] == FOXML_SIGNATURES[name]
    extra = [p for p in params if p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not EMPTY for p in extra)
    assert [p.name for p in extra] == (["fail_open"] if name in FAIL_OPEN_FUNCTIONS else [])
    if extra:
        assert extra[0].default is False


def test_module_lists_every_function():
    assert set(FOXML_SIGNATURES) <= set(foxml.__all__)


def test_foxml_imports_only_the_standard_library():
    code = ("import sys, foxwarehouse.foxml; "
            "print([m for m in ('duckdb','yaml','pyarrow','jinja2','sqlglot') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------------
# a plan FoxML's generator wrote loads, as a legacy plan, with one warning


def test_foxml_generated_plan_loads_with_one_warning_via_load_plan(caplog):
    caplog.set_level(logging.DEBUG)
    plan = load_plan(FOXML_PLAN_DIR)
    warnings = _warnings(caplog)
    assert len(warnings) == 1, [w.getMessage() for w in warnings]
    assert "legacy" in warnings[0].getMessage() and "FoxML" in warnings[0].getMessage()
    assert plan.is_legacy and not plan.is_allow_all
    assert len(plan) == 6
    assert plan.filter_targets(TARGETS) == ["fwd_ret_15m"]
    assert plan.filter_symbols("fwd_ret_15m", SYMBOLS) == ["AAPL", "MSFT", "TSLA"]
    assert not plan.should_train("fwd_ret_15m", "NVDA")


def test_foxml_generated_plan_loads_with_one_warning_via_load_training_plan(caplog):
    caplog.set_level(logging.DEBUG)
    plan = foxml.load_training_plan(FOXML_PLAN_DIR)
    assert len(_warnings(caplog)) == 1
    assert isinstance(plan, dict)
    assert plan == _foxml_doc()  # the document itself, as FoxML's loader returns it


def test_foxml_run_folder_loads_like_its_training_plan_folder(caplog):
    """The folder FoxML's trainer looks in (<output_dir>/globals) holds training_plan/."""
    caplog.set_level(logging.DEBUG)
    assert load_plan(FIXTURE / "globals").jobs() == load_plan(FOXML_PLAN_DIR).jobs()


def test_a_foxwarehouse_plan_loads_without_a_warning(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    plan = load_plan(_write(tmp_path / "training_plan", _as_foxwarehouse(_foxml_doc())))
    assert _warnings(caplog) == []
    assert not plan.is_legacy


# --------------------------------------------------------------------------------------------------
# load_training_plan


def test_load_training_plan_with_and_without_jobs(plan, empty, plan_dir):
    assert isinstance(plan, dict) and len(plan["jobs"]) == 6
    assert plan == json.loads((plan_dir / "master_training_plan.json").read_text(encoding="utf-8"))
    assert isinstance(empty, dict) and empty["jobs"] == []


def test_load_training_plan_missing_is_none_with_one_warning(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    assert foxml.load_training_plan(tmp_path / "nope" / "training_plan") is None
    assert len(_warnings(caplog)) == 1
    caplog.clear()
    assert foxml.load_training_plan(None) is None
    assert len(_warnings(caplog)) == 1


def test_load_training_plan_damaged_raises(tmp_path):
    folder = tmp_path / "training_plan"
    folder.mkdir()
    (folder / "master_training_plan.json").write_text('{"metadata": {', encoding="utf-8")
    with pytest.raises(PlanError, match="truncated"):
        foxml.load_training_plan(folder)


# --------------------------------------------------------------------------------------------------
# filter_targets_by_training_plan


@pytest.mark.parametrize("fail_open", MODES)
def test_filter_targets(plan, empty, no_cs, fail_open):
    f = foxml.filter_targets_by_training_plan
    assert f(TARGETS, plan, fail_open=fail_open) == ["fwd_ret_15m"]
    assert f(TARGETS, plan, "symbol_specific", fail_open=fail_open) == ["fwd_ret_15m", "fwd_ret_1d"]
    assert f([], plan, fail_open=fail_open) == []
    # no job of the type asked for: authoritative trains none, FoxML all
    assert f(TARGETS, no_cs, fail_open=fail_open) == (TARGETS if fail_open else [])
    assert f(TARGETS, empty, fail_open=fail_open) == (TARGETS if fail_open else [])
    assert f(TARGETS, None, fail_open=fail_open) == TARGETS


def test_filter_targets_logs_the_count(plan, caplog):
    caplog.set_level(logging.INFO)
    foxml.filter_targets_by_training_plan(TARGETS, plan)
    assert "Training plan filter applied: 3 → 1 targets" in caplog.text


def test_filter_targets_refuses_a_damaged_plan():
    with pytest.raises(PlanError):
        foxml.filter_targets_by_training_plan(TARGETS, {"jobs": "x"}, fail_open=True)


# --------------------------------------------------------------------------------------------------
# filter_symbols_by_training_plan


@pytest.mark.parametrize("fail_open", MODES)
def test_filter_symbols(plan, empty, fail_open):
    f = foxml.filter_symbols_by_training_plan
    assert f("fwd_ret_15m", SYMBOLS, plan, fail_open=fail_open) == ["AAPL", "MSFT", "TSLA"]
    assert f("fwd_ret_1d", SYMBOLS, plan, fail_open=fail_open) == ["AAPL"]
    assert f("fwd_ret_15m", [], plan, fail_open=fail_open) == []
    # a target without symbol jobs, a plan without jobs
    assert f("fwd_ret_5d", SYMBOLS, plan, fail_open=fail_open) == (SYMBOLS if fail_open else [])
    assert f("fwd_ret_15m", SYMBOLS, empty, fail_open=fail_open) == (SYMBOLS if fail_open else [])
    assert f("fwd_ret_15m", SYMBOLS, None, fail_open=fail_open) == SYMBOLS


# --------------------------------------------------------------------------------------------------
# get_model_families_for_job


@pytest.mark.parametrize("fail_open", MODES)
def test_get_model_families_for_job(plan, empty, fail_open):
    f = foxml.get_model_families_for_job
    assert f(plan, "fwd_ret_15m", fail_open=fail_open) == FAMILIES
    assert f(plan, "fwd_ret_15m", training_type="cross_sectional", fail_open=fail_open) == FAMILIES
    assert f(plan, "fwd_ret_15m", "AAPL", fail_open=fail_open) == FAMILIES
    # no job (fwd_ret_1d has no CS job), a blocked pair, a job of another type, a plan without jobs:
    # authoritative [] (train nothing), FoxML the plan's metadata families
    fallback = FAMILIES if fail_open else []
    assert f(plan, "fwd_ret_1d", fail_open=fail_open) == fallback
    assert f(plan, "fwd_ret_15m", "NVDA", fail_open=fail_open) == fallback
    assert f(plan, "fwd_ret_15m", "AAPL", "cross_sectional", fail_open=fail_open) == fallback
    assert f(empty, "fwd_ret_15m", fail_open=fail_open) == fallback
    assert f(plan, "", fail_open=fail_open) == (None if fail_open else [])
    assert f(None, "fwd_ret_15m", fail_open=fail_open) is None  # no plan: use your defaults


def test_get_model_families_prefers_normalized_metadata_families_when_failing_open():
    doc = _without_jobs(_foxml_doc())
    doc["metadata"]["model_families_normalized"] = ["catboost"]
    assert foxml.get_model_families_for_job(doc, "t", fail_open=True) == ["catboost"]
    doc["metadata"]["model_families_normalized"] = []
    doc["metadata"]["model_families"] = []
    assert foxml.get_model_families_for_job(doc, "t", fail_open=True) is None


def test_returned_families_are_copies(plan):
    foxml.get_model_families_for_job(plan, "fwd_ret_15m").append("x")
    assert foxml.get_model_families_for_job(plan, "fwd_ret_15m") == FAMILIES


# --------------------------------------------------------------------------------------------------
# should_train_target_symbol


@pytest.mark.parametrize("fail_open", MODES)
def test_should_train_target_symbol(plan, empty, fail_open):
    f = foxml.should_train_target_symbol
    assert f(plan, "fwd_ret_15m", fail_open=fail_open) is True
    assert f(plan, "fwd_ret_15m", "AAPL", "symbol_specific", fail_open=fail_open) is True
    assert f(plan, "fwd_ret_1d", fail_open=fail_open) is False
    assert f(plan, "fwd_ret_15m", "GOOG", fail_open=fail_open) is False
    assert f(plan, "fwd_ret_15m", "AAPL", "cross_sectional", fail_open=fail_open) is False
    # a blocked job: FoxML says True unless a training type is asked for
    assert f(plan, "fwd_ret_15m", "NVDA", fail_open=fail_open) is fail_open
    assert f(plan, "fwd_ret_15m", "NVDA", "symbol_specific", fail_open=fail_open) is False
    assert f(empty, "fwd_ret_15m", fail_open=fail_open) is False
    assert f(None, "fwd_ret_15m", "AAPL", fail_open=fail_open) is True


# --------------------------------------------------------------------------------------------------
# apply_training_plan_filter


@pytest.mark.parametrize("fail_open", MODES)
def test_apply_training_plan_filter(plan_dir, empty_dir, fail_open, caplog):
    f = foxml.apply_training_plan_filter
    targets, symbols = f(TARGETS, SYMBOLS, plan_dir, fail_open=fail_open)
    assert targets == ["fwd_ret_15m"]
    assert symbols == {"fwd_ret_15m": ["AAPL", "MSFT", "TSLA"]}
    targets, symbols = f(TARGETS, SYMBOLS, plan_dir, use_cs_plan=False, fail_open=fail_open)
    assert targets == TARGETS
    assert symbols == {"fwd_ret_15m": ["AAPL", "MSFT", "TSLA"], "fwd_ret_1d": ["AAPL"],
                       "fwd_ret_5d": SYMBOLS if fail_open else []}
    targets, symbols = f(TARGETS, SYMBOLS, plan_dir, use_symbol_plan=False, fail_open=fail_open)
    assert targets == ["fwd_ret_15m"] and symbols == {"fwd_ret_15m": SYMBOLS}
    targets, symbols = f(TARGETS, SYMBOLS, empty_dir, fail_open=fail_open)
    if fail_open:
        assert targets == TARGETS and symbols == {t: SYMBOLS for t in TARGETS}
    else:
        assert targets == [] and symbols == {}


def test_apply_training_plan_filter_says_what_the_cs_filter_leaves_out(plan_dir, caplog):
    caplog.set_level(logging.DEBUG)
    foxml.apply_training_plan_filter(TARGETS, SYMBOLS, plan_dir)
    messages = [w.getMessage() for w in _warnings(caplog)]
    assert any("fwd_ret_1d" in m and "symbol-specific" in m for m in messages), messages


@pytest.mark.parametrize("fail_open", MODES)
def test_apply_training_plan_filter_without_a_plan(tmp_path, fail_open, caplog):
    caplog.set_level(logging.DEBUG)
    everything = (TARGETS, {t: SYMBOLS for t in TARGETS})
    assert foxml.apply_training_plan_filter(TARGETS, SYMBOLS, None, fail_open=fail_open) == everything
    assert foxml.apply_training_plan_filter(TARGETS, SYMBOLS, tmp_path / "nope", fail_open=fail_open) == everything
    assert len(_warnings(caplog)) == 2  # one per call


@pytest.mark.parametrize("fail_open", MODES)
def test_apply_training_plan_filter_refuses_a_damaged_plan(tmp_path, fail_open):
    (tmp_path / "training_plan").mkdir()  # an empty plan folder: half copied
    with pytest.raises(PlanError):
        foxml.apply_training_plan_filter(TARGETS, SYMBOLS, tmp_path / "training_plan", fail_open=fail_open)


# --------------------------------------------------------------------------------------------------
# the job lists


def _ids(jobs):
    return [j["job_id"] for j in jobs]


def test_get_cs_jobs(plan, empty):
    assert _ids(foxml.get_cs_jobs(plan)) == ["cs_fwd_ret_15m"]
    assert foxml.get_cs_jobs(empty) == [] and foxml.get_cs_jobs(None) == []


def test_get_symbol_jobs(plan, empty):
    assert _ids(foxml.get_symbol_jobs(plan)) == ["sym_fwd_ret_15m_AAPL", "sym_fwd_ret_15m_MSFT",
                                                 "sym_fwd_ret_1d_AAPL", "sym_fwd_ret_15m_TSLA"]
    assert foxml.get_symbol_jobs(empty) == [] and foxml.get_symbol_jobs(None) == []


def test_get_jobs_for_target(plan, empty):
    assert _ids(foxml.get_jobs_for_target(plan, "fwd_ret_15m")) == [
        "sym_fwd_ret_15m_AAPL", "cs_fwd_ret_15m", "sym_fwd_ret_15m_MSFT", "sym_fwd_ret_15m_TSLA",
        "blocked_fwd_ret_15m_NVDA"]  # blocked jobs are listed, as FoxML lists them
    assert foxml.get_jobs_for_target(plan, "fwd_ret_5d") == []
    assert foxml.get_jobs_for_target(empty, "fwd_ret_15m") == [] and foxml.get_jobs_for_target(None, "x") == []


def test_get_jobs_for_symbol(plan, empty):
    assert _ids(foxml.get_jobs_for_symbol(plan, "AAPL")) == ["sym_fwd_ret_15m_AAPL", "sym_fwd_ret_1d_AAPL"]
    assert _ids(foxml.get_jobs_for_symbol(plan, None)) == ["cs_fwd_ret_15m"]
    assert foxml.get_jobs_for_symbol(empty, "AAPL") == [] and foxml.get_jobs_for_symbol(None, "AAPL") == []


def test_get_training_jobs_for_target_symbol(plan, empty):
    f = foxml.get_training_jobs_for_target_symbol
    assert _ids(f(plan, "fwd_ret_15m")) == ["cs_fwd_ret_15m"]
    assert _ids(f(plan, "fwd_ret_15m", "NVDA")) == ["blocked_fwd_ret_15m_NVDA"]
    assert f(plan, "fwd_ret_1d") == [] and f(empty, "fwd_ret_15m") == [] and f(None, "x") == []


def test_job_lists_are_copies(plan):
    foxml.get_cs_jobs(plan)[0]["model_families"].append("x")
    assert foxml.get_cs_jobs(plan)[0]["model_families"] == FAMILIES


# --------------------------------------------------------------------------------------------------
# validate_training_plan, get_training_plan_summary


def test_validate_training_plan(plan, empty):
    assert foxml.validate_training_plan(plan) == (True, [])
    assert foxml.validate_training_plan(empty) == (True, [])
    assert foxml.validate_training_plan(None) == (False, ["Training plan is None"])
    ok, problems = foxml.validate_training_plan([])
    assert not ok and problems
    damaged = copy.deepcopy(dict(plan))
    damaged["jobs"][0]["priority"] = "high"
    ok, problems = foxml.validate_training_plan(damaged)
    assert not ok and any("jobs[0].priority" in p for p in problems)


def test_get_training_plan_summary(plan, empty):
    summary = foxml.get_training_plan_summary(plan)
    assert summary == {
        "total_jobs": 6, "cs_jobs": 1, "symbol_jobs": 4,
        "by_route": {"ROUTE_BLOCKED": 1, "ROUTE_BOTH": 1, "ROUTE_CROSS_SECTIONAL": 1,
                     "ROUTE_EXPERIMENTAL_ONLY": 1, "ROUTE_SYMBOL_SPECIFIC": 2},
        "by_type": {"blocked": 1, "cross_sectional": 1, "symbol_specific": 4},
        "generated_at": "2025-12-01T14:03:27.512345Z", "run_id": "ridv1_5f0c2a9e81d4b73c6e12",
    }
    summary = foxml.get_training_plan_summary(empty)
    assert (summary["total_jobs"], summary["cs_jobs"], summary["symbol_jobs"]) == (0, 0, 0)
    assert foxml.get_training_plan_summary(None) == {"total_jobs": 0, "cs_jobs": 0, "symbol_jobs": 0,
                                                     "by_route": {}, "by_type": {}}


# --------------------------------------------------------------------------------------------------
# what the functions accept


def test_a_plain_dict_and_a_training_plan_work_like_the_loaded_plan(plan, plan_dir):
    plain = json.loads(json.dumps(plan))
    loaded = load_plan(plan_dir)
    for p in (plain, loaded):
        assert foxml.filter_targets_by_training_plan(TARGETS, p) == ["fwd_ret_15m"]
        assert foxml.should_train_target_symbol(p, "fwd_ret_15m", "NVDA") is False
    assert foxml.filter_targets_by_training_plan(TARGETS, TrainingPlan.allow_all()) == TARGETS


def test_an_edited_loaded_plan_is_read_again(plan):
    plan["jobs"] = [j for j in plan["jobs"] if j["training_type"] != "cross_sectional"]
    plan["metadata"]["total_jobs"] = len(plan["jobs"])
    assert foxml.filter_targets_by_training_plan(TARGETS, plan) == []


def test_a_single_string_is_not_a_list_of_names(plan):
    with pytest.raises(TypeError):
        foxml.filter_targets_by_training_plan("fwd_ret_15m", plan)
    with pytest.raises(TypeError):
        foxml.filter_symbols_by_training_plan("fwd_ret_15m", "AAPL", plan)


# --------------------------------------------------------------------------------------------------
# foxwarehouse validate on a FoxML plan


def test_cli_validate_says_legacy(tmp_path):
    result = run_cli(["validate", str(FOXML_PLAN_DIR)])
    assert result.code == 0, result
    assert "legacy FoxML plan" in result.out
    broken = tmp_path / "training_plan"
    shutil.copytree(FOXML_PLAN_DIR, broken)
    doc = _foxml_doc()
    doc["jobs"][0]["priority"] = "high"
    (broken / "master_training_plan.json").write_text(json.dumps(doc), encoding="utf-8")
    result = run_cli(["validate", str(broken)])
    assert result.code == 2
    assert "legacy FoxML plan" in result.err and "jobs[0].priority" in result.err
