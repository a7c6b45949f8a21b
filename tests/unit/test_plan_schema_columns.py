"""The column-wise plan checks (plan_schema.fast_all, index_plan_jobs) give the per-job answers.

load_plan checks a million jobs a column at a time; these cases make sure that every mutation
the per-job validator rejects is rejected by the column-wise path too (and nothing else is).
"""
from __future__ import annotations

import copy
import json
import random

import pytest

from foxwarehouse.consumer import load_plan
from foxwarehouse.errors import PlanError
from foxwarehouse.plan_schema import (
    _Compiler,
    index_plan_jobs,
    load_schema,
    validate_plan_document,
)


def _plan(n: int = 30) -> dict:
    jobs = []
    for t in range(3):
        target = f"t{t}"
        jobs.append({"job_id": f"cs_{target}", "target": target, "symbol": None, "route": "ROUTE_CROSS_SECTIONAL",
                     "training_type": "cross_sectional", "model_families": ["lightgbm"], "priority": 3,
                     "estimated_samples": 10, "reason": "r: cs", "metadata": {"cs_state": "STRONG"}})
        for s in range(n // 3 - 1):
            jobs.append({"job_id": f"sym_{target}_S{s}", "target": target, "symbol": f"S{s}",
                         "route": "ROUTE_BOTH", "training_type": "symbol_specific",
                         "model_families": ["lightgbm", "xgboost"], "priority": 2, "estimated_samples": 5,
                         "reason": "r", "metadata": {"needs_cs_ensemble": True, "cs_state": "STRONG",
                                                     "local_state": None, "extra": [1]}})
    jobs.append({"job_id": "blk_t0_S0", "target": "t0", "symbol": "BLK", "route": "ROUTE_BLOCKED",
                 "training_type": "blocked", "model_families": [], "priority": 0, "estimated_samples": 0,
                 "reason": "blocked", "metadata": {}})
    return {"metadata": {"schema_version": "1.0", "run_id": "r", "generated_at": "2026-01-01T00:00:00Z",
                         "git_commit": None, "config_hash": "0", "input_fingerprint": "0", "plan_fingerprint": "0",
                         "metrics_snapshot": "m", "routing_plan_path": "p", "total_jobs": len(jobs),
                         "model_families": ["lightgbm", "xgboost"]},
            "jobs": jobs,
            "summary": {"by_route": {"ROUTE_BOTH": 1}, "by_type": {"blocked": 1}, "by_priority": {"2": 1},
                        "total_cs_jobs": 3, "total_symbol_jobs": 1, "total_blocked": 1, "skipped_no_families": 0}}


WRONG_VALUES = [None, "", "x", 0, -1, 4, 3.0, 2.5, True, [], ["lightgbm", ""], [1], {}, {"a": 1}, "ROUTE_BOTH",
                "cross_sectional", "blocked", "S1"]
FIELDS = ["job_id", "target", "symbol", "route", "training_type", "model_families", "priority",
          "estimated_samples", "reason", "metadata"]


def test_valid_plan_passes_both_ways() -> None:
    doc = _plan()
    assert validate_plan_document(doc) == []
    index = index_plan_jobs(doc)
    assert index is not None and sum(map(len, index.values())) == len(doc["jobs"])


@pytest.mark.parametrize("seed", range(4))
def test_column_checks_agree_with_per_job_checks(seed: int) -> None:
    """Every job field set to every odd value (and keys dropped or added): both paths agree."""
    rng = random.Random(seed)
    schema = load_schema()
    compiler = _Compiler(schema)
    one, every = compiler.fast(schema["$defs"]["job"]), compiler.fast_all(schema["$defs"]["job"])
    base = _plan()
    for field in FIELDS:
        for value in WRONG_VALUES + ["__drop__", "__extra__", "__meta__"]:
            doc = copy.deepcopy(base)
            job = doc["jobs"][rng.randrange(len(doc["jobs"]))]
            if value == "__drop__":
                del job[field]
            elif value == "__extra__":
                job["unexpected"] = 1
            elif value == "__meta__":
                job["metadata"][field] = rng.choice(WRONG_VALUES)
                job["metadata"]["cs_state"] = rng.choice(WRONG_VALUES)
            else:
                job[field] = value
            per_job = all(map(one, doc["jobs"]))
            assert every(doc["jobs"]) == per_job, (field, value)
            errors = validate_plan_document(doc)
            assert (errors == []) == (per_job and index_plan_jobs(doc) is not None), (field, value, errors)


@pytest.mark.parametrize("change, wording", [
    (lambda d: d["jobs"].append(dict(d["jobs"][1])), "duplicate job_id"),
    (lambda d: d["metadata"].update(total_jobs=1), "total_jobs"),
    (lambda d: d["jobs"][1].update(route="ROUTE_BLOCKED"), "is not a route"),
    (lambda d: d["jobs"][1].update(symbol=None), "needs a symbol"),
    (lambda d: d["jobs"][0].update(symbol="S0"), "must have symbol null"),
    (lambda d: d["jobs"][2].update(symbol="S0", job_id="other"), "second job for target"),
])
def test_consistency_errors_still_named(tmp_path, change, wording) -> None:
    doc = _plan()
    change(doc)
    if "total_jobs" not in wording:
        doc["metadata"]["total_jobs"] = len(doc["jobs"])
    path = tmp_path / "master_training_plan.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanError, match=wording):
        load_plan(path)


def test_duplicate_key_still_refused(tmp_path) -> None:
    path = tmp_path / "master_training_plan.json"
    text = json.dumps(_plan()).replace('"reason": "r",', '"reason": "r", "reason": "s",', 1)
    path.write_text(text)
    with pytest.raises(PlanError, match="duplicate key"):
        load_plan(path)


def test_loaded_plan_answers_like_before(tmp_path) -> None:
    from foxwarehouse.consumer import TrainingPlan

    doc = _plan()
    path = tmp_path / "master_training_plan.json"
    path.write_text(json.dumps(doc))
    fast, slow = load_plan(path), TrainingPlan(doc)
    for attr in ("_cs", "_sym", "_blocked", "_sym_targets", "_trainable_targets"):
        assert getattr(fast, attr) == getattr(slow, attr), attr
    assert fast.should_train("t0", "S1", "xgboost") and not fast.should_train("t0", "BLK")
