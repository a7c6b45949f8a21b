"""The planning hook of a FoxML run (foxwarehouse.foxml_hook): candidates as a DataFrame, an Arrow
table or a path are planned into <output_dir>/globals/training_plan, the first place FoxML's trainer
looks, which foxwarehouse.foxml.load_training_plan reads; missing or unusable candidates give one
warning and no new plan; a bad config raises; a second identical call makes no new run.
"""
from __future__ import annotations

import copy
import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from foxwarehouse.errors import ConfigError
from foxwarehouse.foxml import get_model_families_for_job, load_training_plan
from foxwarehouse.foxml_hook import generate_routing_plan_after_feature_selection, plan_for_foxml
from helpers import ROOT, SIMPLE_CONFIG, strict_json_load

CANDIDATES = ROOT / "tests" / "data" / "foxml" / "candidates" / "view_labelled.parquet"
TRAINING_ROUTING = ROOT / "tests" / "data" / "foxml" / "config" / "training_routing.yaml"
# What SIMPLE_CONFIG plans from view_labelled.parquet (see test_foxml_inputs.py).
EXPECTED_JOBS = ["cs_fwd_ret_15m", "sym_fwd_ret_15m_AAPL", "sym_fwd_ret_15m_MSFT", "sym_fwd_ret_60m_AAPL"]


def as_dataframe():
    pytest.importorskip("pandas")
    return pq.read_table(CANDIDATES).to_pandas()


INPUTS = {
    "path": lambda: CANDIDATES,
    "arrow": lambda: pq.read_table(CANDIDATES),
    "record_batch": lambda: pq.read_table(CANDIDATES).combine_chunks().to_batches()[0],
    "dataframe": as_dataframe,
}


def job_ids(output_dir):
    plan = load_training_plan(output_dir / "globals" / "training_plan")
    assert plan is not None
    return sorted(job["job_id"] for job in plan["jobs"])


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_candidates_plan_into_globals_training_plan(tmp_path, kind):
    result = plan_for_foxml(tmp_path / "run", INPUTS[kind](), copy.deepcopy(SIMPLE_CONFIG))
    assert result.fresh and result.total_jobs == 4, result
    assert result.master_plan_path == tmp_path / "run" / "globals" / "training_plan" / "master_training_plan.json"
    assert job_ids(tmp_path / "run") == EXPECTED_JOBS
    assert (tmp_path / "run" / "foxwarehouse.duckdb").is_file()


def test_a_table_and_the_file_it_came_from_make_the_same_plan(tmp_path):
    from_path = plan_for_foxml(tmp_path / "a", CANDIDATES, copy.deepcopy(SIMPLE_CONFIG))
    from_table = plan_for_foxml(tmp_path / "b", pq.read_table(CANDIDATES), copy.deepcopy(SIMPLE_CONFIG))
    first, second = (strict_json_load(r.master_plan_path) for r in (from_path, from_table))
    assert first["jobs"] == second["jobs"]  # (the fingerprints differ: they hash the bytes read)


def test_a_second_identical_call_makes_no_new_run(tmp_path):
    table = pq.read_table(CANDIDATES)
    first = plan_for_foxml(tmp_path, table, copy.deepcopy(SIMPLE_CONFIG))
    second = plan_for_foxml(tmp_path, table, copy.deepcopy(SIMPLE_CONFIG))
    assert first.fresh and not second.fresh and second.unchanged, second
    assert second.run_id == first.run_id
    assert job_ids(tmp_path) == EXPECTED_JOBS


def test_unusable_candidates_give_one_warning_and_no_new_plan(tmp_path, caplog):
    plan_for_foxml(tmp_path, CANDIDATES, copy.deepcopy(SIMPLE_CONFIG))
    before = (tmp_path / "globals" / "training_plan" / "master_training_plan.json").read_bytes()
    no_score = pq.read_table(CANDIDATES).drop_columns(["score"])
    with caplog.at_level(logging.WARNING, logger="foxwarehouse"):
        result = plan_for_foxml(tmp_path, no_score, copy.deepcopy(SIMPLE_CONFIG))
    assert not result.fresh and not result.unchanged
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "no new training plan was made" in warnings[0] and "score" in warnings[0]
    assert result.stale_plan_path == tmp_path / "globals" / "training_plan" / "master_training_plan.json"
    assert result.stale_plan_path.read_bytes() == before


@pytest.mark.parametrize("candidates", [
    pytest.param(lambda tmp: tmp / "nothing_here.parquet", id="missing-path"),
    pytest.param(lambda tmp: pa.table({"target": ["t"], "score": [0.9]}), id="no-sample_size"),
    pytest.param(lambda tmp: pa.table({"target": [""], "score": [0.9], "sample_size": [10]}), id="empty-target"),
])
def test_bad_candidates_are_not_an_exception(tmp_path, candidates):
    result = plan_for_foxml(tmp_path / "run", candidates(tmp_path), copy.deepcopy(SIMPLE_CONFIG))
    assert not result.fresh and result.stale_plan_path is None
    assert not (tmp_path / "run" / "globals" / "training_plan").exists()
    assert "no new training plan was made" in result.warnings[-1]


def test_a_dataframe_arrow_cannot_convert_is_unusable_input(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"target": ["t", "t"], "score": [0.9, object()], "sample_size": [10, 10]})
    result = plan_for_foxml(tmp_path, frame, copy.deepcopy(SIMPLE_CONFIG))
    assert not result.fresh and "cannot be converted to Arrow" in result.warnings[-1]


def test_blocking_mode_raises_on_bad_candidates(tmp_path):
    from foxwarehouse.errors import InputError

    with pytest.raises(InputError):
        plan_for_foxml(tmp_path, pa.table({"target": ["t"], "score": [0.9]}), copy.deepcopy(SIMPLE_CONFIG),
                       non_blocking=False)


def test_bad_config_raises(tmp_path):
    bad = copy.deepcopy(SIMPLE_CONFIG)
    bad["routing"]["dev_mod"] = True
    with pytest.raises(ConfigError, match="dev_mod"):
        plan_for_foxml(tmp_path, CANDIDATES, bad)


def test_not_a_table_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match="candidates must be"):
        plan_for_foxml(tmp_path, [{"target": "t"}], copy.deepcopy(SIMPLE_CONFIG))


def test_foxml_signature_returns_the_routing_plan(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="foxwarehouse"):
        routing_plan = generate_routing_plan_after_feature_selection(
            tmp_path, ["fwd_ret_15m", "fwd_ret_60m"], ["AAPL", "MSFT"], routing_config_path=TRAINING_ROUTING,
            model_families=["LightGBM", "catboost"], candidates=pq.read_table(CANDIDATES))
    assert routing_plan is not None and sorted(routing_plan["targets"]) == ["fwd_ret_15m", "fwd_ret_60m"]
    assert routing_plan == json.loads((tmp_path / "globals" / "routing_plan" / "routing_plan.json").read_text())
    plan = load_training_plan(tmp_path / "globals" / "training_plan")
    assert get_model_families_for_job(plan, "fwd_ret_15m") == ["lightgbm", "catboost"]
    # FoxML's keys of its routing.yaml: one warning each, logged once (a FoxML run has no CLI)
    unused = [r.getMessage() for r in caplog.records if "not used by foxwarehouse" in r.getMessage()]
    assert unused and len(unused) == len(set(unused))


def test_foxml_signature_reads_the_candidates_where_foxml_saves_them(tmp_path):
    routing = tmp_path / "globals" / "routing"
    routing.mkdir(parents=True)
    pq.write_table(pq.read_table(CANDIDATES), routing / "routing_candidates.parquet")
    assert generate_routing_plan_after_feature_selection(tmp_path, [], []) is not None
    assert generate_routing_plan_after_feature_selection(tmp_path, [], []) is not None  # unchanged: still current
    assert (tmp_path / "globals" / "training_plan" / "master_training_plan.json").is_file()


def test_foxml_signature_without_candidates_returns_none(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="foxwarehouse"):
        assert generate_routing_plan_after_feature_selection(tmp_path, ["t"], ["AAPL"]) is None
    assert any("no new training plan was made" in r.getMessage() for r in caplog.records)


def test_foxml_signature_refuses_to_skip_the_training_plan(tmp_path):
    with pytest.raises(ValueError, match="generate_training_plan"):
        generate_routing_plan_after_feature_selection(tmp_path, [], [], generate_training_plan=False,
                                                      candidates=CANDIDATES)


def test_a_training_plan_foxml_wrote_is_never_overwritten(tmp_path):
    legacy = ROOT / "tests" / "data" / "foxml" / "legacy_plan" / "globals" / "training_plan"
    import shutil

    shutil.copytree(legacy, tmp_path / "globals" / "training_plan")
    before = {p.name: p.read_bytes() for p in (tmp_path / "globals" / "training_plan").iterdir() if p.is_file()}
    from foxwarehouse.errors import FoxError

    with pytest.raises(FoxError, match="not written by foxwarehouse"):
        plan_for_foxml(tmp_path, CANDIDATES, copy.deepcopy(SIMPLE_CONFIG))
    after = {p.name: p.read_bytes() for p in (tmp_path / "globals" / "training_plan").iterdir() if p.is_file()}
    assert after == before
