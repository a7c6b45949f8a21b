"""How decisions expand into training jobs: CS jobs, symbol jobs, blocked jobs, model
families, estimated samples, plan order, duplicate job ids and the summary block.

Scores are read against SIMPLE_CONFIG (tests/helpers.py): min 0.50, strong 0.70, experimental
from 0.30 (DRIFTING/UNKNOWN), min_sample_size 5000 (CS) / 1000 (symbol).
"""
from __future__ import annotations

from typing import Any

import pytest

from helpers import config_with, tree_bytes


def row(target: str, symbol: str | None, score: Any, sample_size: int = 10_000, **extra: Any) -> dict[str, Any]:
    return {"target": target, "symbol": symbol, "score": score, "sample_size": sample_size,
            "stability": "STABLE", "leakage_status": "SAFE", **extra}


# Target t: CS STRONG; BOTH is strong too (ROUTE_BOTH), LOW is not (ROUTE_CROSS_SECTIONAL).
# Target u: CS EXPERIMENTAL; SYM weak (ROUTE_SYMBOL_SPECIFIC), EXP experimental, BLK no score.
# Target v: CS DISALLOWED; X no score (ROUTE_BLOCKED).
ROWS = [
    row("t", None, 0.8, 12_345), row("t", "BOTH", 0.8, 2_001), row("t", "LOW", 0.1, 2_002),
    row("u", None, 0.4, 6_000, stability="DRIFTING"), row("u", "SYM", 0.6, 3_000),
    row("u", "EXP", 0.35, 4_000, stability="UNKNOWN"), row("u", "BLK", None, 5_000),
    row("v", None, 0.1), row("v", "X", None, 1_500),
]
# Target o: six symbol-specific jobs whose ids differ only in case, punctuation and accents.
ORDER_SYMBOLS = ["a", "B", "_x", "é", "Z", "b"]
ROWS += [row("o", s, 0.6) for s in ORDER_SYMBOLS]

FAMILIES = ["lightgbm", "xgboost"]


def job(job_id, target, symbol, route, training_type, priority, samples, families=FAMILIES, ensemble=False):
    return {"job_id": job_id, "target": target, "symbol": symbol, "route": route, "training_type": training_type,
            "model_families": families, "priority": priority, "estimated_samples": samples,
            "needs_cs_ensemble": ensemble}


EXPECTED = [  # in plan order: priority desc, then job_id
    job("sym_t_BOTH", "t", "BOTH", "ROUTE_BOTH", "symbol_specific", 3, 2_001, ensemble=True),
    job("cs_t", "t", None, "ROUTE_CROSS_SECTIONAL", "cross_sectional", 2, 12_345),
    job("sym_u_SYM", "u", "SYM", "ROUTE_SYMBOL_SPECIFIC", "symbol_specific", 2, 3_000),
    job("cs_u", "u", None, "ROUTE_CROSS_SECTIONAL", "cross_sectional", 1, 6_000),
    job("sym_u_EXP", "u", "EXP", "ROUTE_EXPERIMENTAL_ONLY", "symbol_specific", 1, 4_000),
]
BLOCKED = [
    job("blocked_u_BLK", "u", "BLK", "ROUTE_BLOCKED", "blocked", 0, 5_000, families=[]),
    job("blocked_v_X", "v", "X", "ROUTE_BLOCKED", "blocked", 0, 1_500, families=[]),
]


def essentials(plan, targets=("t", "u", "v")) -> list[dict[str, Any]]:
    keys = ("job_id", "target", "symbol", "route", "training_type", "model_families", "priority", "estimated_samples")
    return [{k: j[k] for k in keys} | {"needs_cs_ensemble": j["metadata"]["needs_cs_ensemble"]}
            for j in plan.jobs if j["target"] in targets]


@pytest.fixture
def plan(shared_plan):
    return shared_plan("jobs", ROWS)


def test_jobs_of_each_route_with_their_fields(plan):
    assert essentials(plan) == EXPECTED


def test_cs_job_exists_for_every_target_whose_cs_state_is_not_disallowed(plan):
    cs_jobs = {j["target"]: j for j in plan.jobs if j["training_type"] == "cross_sectional"}
    assert set(cs_jobs) == {"t", "u"}  # v is DISALLOWED, o has no CS row
    assert cs_jobs["t"]["priority"] == 2 and cs_jobs["u"]["priority"] == 1  # 1 when cs_state is EXPERIMENTAL
    assert cs_jobs["t"]["metadata"]["cs_state"] == "STRONG" and cs_jobs["u"]["metadata"]["cs_state"] == "EXPERIMENTAL"


def test_pairs_routed_cross_sectional_or_blocked_have_no_symbol_job(plan):
    assert plan.route("t", "LOW") == "ROUTE_CROSS_SECTIONAL"
    assert plan.route("u", "BLK") == plan.route("v", "X") == "ROUTE_BLOCKED"
    ids = set(plan.job_ids)
    assert not {"sym_t_LOW", "sym_u_BLK", "sym_v_X", "blocked_u_BLK", "blocked_v_X"} & ids


def test_every_job_carries_its_reason(plan):
    for j in plan.jobs:
        assert isinstance(j["reason"], str) and j["reason"], j
    assert "route: ROUTE_BOTH" in plan.job("sym_t_BOTH")["reason"]


def test_jobs_are_ordered_by_priority_desc_then_job_id_in_byte_order(plan):
    priorities = [j["priority"] for j in plan.jobs]
    assert priorities == sorted(priorities, reverse=True)
    order = [j["job_id"] for j in plan.jobs if j["target"] == "o"]
    assert order == ["sym_o_B", "sym_o_Z", "sym_o__x", "sym_o_a", "sym_o_b", "sym_o_é"]
    for a, b in zip(plan.jobs, plan.jobs[1:]):
        if a["priority"] == b["priority"]:
            assert a["job_id"].encode() < b["job_id"].encode()


def test_summary_counts_jobs_by_route_type_and_priority(plan):
    summary = plan.summary
    assert summary["by_route"] == {"ROUTE_BOTH": 1, "ROUTE_CROSS_SECTIONAL": 2, "ROUTE_EXPERIMENTAL_ONLY": 1,
                                   "ROUTE_SYMBOL_SPECIFIC": 1 + len(ORDER_SYMBOLS)}
    assert summary["by_type"] == {"cross_sectional": 2, "symbol_specific": 3 + len(ORDER_SYMBOLS)}
    assert summary["by_priority"] == {"3": 1, "2": 2 + len(ORDER_SYMBOLS), "1": 2}
    assert (summary["total_cs_jobs"], summary["total_symbol_jobs"]) == (2, 3 + len(ORDER_SYMBOLS))
    assert summary["total_blocked"] == 2  # ROUTE_BLOCKED pairs, whether or not blocked jobs are emitted
    assert summary["skipped_no_families"] == 0
    assert plan.master["metadata"]["total_jobs"] == len(plan.jobs) == 5 + len(ORDER_SYMBOLS)


@pytest.mark.parametrize("how", ["config", "flag"])
def test_include_blocked_adds_a_blocked_job_per_blocked_pair(shared_plan, how):
    if how == "config":
        blocked = shared_plan("blocked_config", ROWS, config_with(**{"training_plan.include_blocked": True}))
    else:
        blocked = shared_plan("blocked_flag", ROWS, extra=["--include-blocked"])
    assert essentials(blocked) == EXPECTED + BLOCKED  # priority 0 comes last
    assert blocked.summary["by_type"]["blocked"] == 2
    assert blocked.summary["by_priority"]["0"] == 2
    assert blocked.summary["total_blocked"] == 2


# --- model families -----------------------------------------------------------------------------

FAMILY_CONFIG = config_with(**{
    "routing.min_sample_size.symbol": 0,
    "training_plan.model_families": [" LightGBM", "xgboost", "lightgbm", "CatBoost"],
    "training_plan.model_families_by_route": {"ROUTE_BOTH": ["MLP", "xgboost", "mlp"],
                                              "route_experimental_only": ["lightgbm"]},
})
FAMILY_ROWS = [
    row("f", None, 0.8, failed_model_families=["XGBoost "]),
    row("f", "BOTH", 0.8, failed_model_families=["mlp"]),
    row("f", "ALLFAIL", 0.8, failed_model_families=["MLP", "XGBOOST"]),
    row("g", "EXP", 0.35, stability="UNKNOWN", failed_model_families=["lightgbm"]),
    row("g", "EXP2", 0.36, stability="UNKNOWN"),
    row("g", "SYM", 0.6, failed_model_families=[]),
    row("g", "NULLN", 0.6, sample_size=None),
]


def test_families_come_from_the_route_lower_cased_de_duplicated_in_config_order(shared_plan):
    plan = shared_plan("families", FAMILY_ROWS, FAMILY_CONFIG)
    families = {j["job_id"]: j["model_families"] for j in plan.jobs}
    assert families == {
        "cs_f": ["lightgbm", "catboost"],      # model_families less the CS row's failed xgboost
        "sym_f_BOTH": ["xgboost"],             # by_route ROUTE_BOTH less the failed mlp
        "sym_g_EXP2": ["lightgbm"],            # by_route ROUTE_EXPERIMENTAL_ONLY
        "sym_g_SYM": ["lightgbm", "xgboost", "catboost"],
        "sym_g_NULLN": ["lightgbm", "xgboost", "catboost"],
    }
    assert plan.master["metadata"]["model_families"] == ["lightgbm", "xgboost", "catboost"]


def test_a_job_left_without_families_is_not_emitted_and_is_counted(shared_plan):
    plan = shared_plan("families", FAMILY_ROWS, FAMILY_CONFIG)
    assert plan.route("f", "ALLFAIL") == "ROUTE_BOTH" and plan.route("g", "EXP") == "ROUTE_EXPERIMENTAL_ONLY"
    assert "sym_f_ALLFAIL" not in plan.job_ids and "sym_g_EXP" not in plan.job_ids
    assert plan.summary["skipped_no_families"] == 2


def test_without_drop_failed_families_failed_families_stay(shared_plan):
    plan = shared_plan("keep_failed", FAMILY_ROWS,
                       {**FAMILY_CONFIG, "training_plan": {**FAMILY_CONFIG["training_plan"], "drop_failed_families": False}})
    families = {j["job_id"]: j["model_families"] for j in plan.jobs}
    assert families["cs_f"] == ["lightgbm", "xgboost", "catboost"]
    assert families["sym_f_ALLFAIL"] == ["mlp", "xgboost"]
    assert families["sym_g_EXP"] == ["lightgbm"]
    assert plan.summary["skipped_no_families"] == 0


def test_estimated_samples_is_the_rows_sample_size_and_null_is_zero(shared_plan):
    plan = shared_plan("families", FAMILY_ROWS, FAMILY_CONFIG)
    assert plan.job("sym_g_SYM")["estimated_samples"] == 10_000
    assert plan.job("sym_g_NULLN")["estimated_samples"] == 0


# --- duplicate job ids --------------------------------------------------------------------------

def test_two_jobs_with_the_same_job_id_stop_the_build_naming_both_pairs(fw):
    good = fw.plan([row("a", "x", 0.6)])
    before = tree_bytes(good.out)
    # (a, b_c) and (a_b, c) both make sym_a_b_c
    result = fw.plan([row("a", "b_c", 0.6), row("a_b", "c", 0.6)], expect=2).result
    assert "sym_a_b_c" in result.err
    assert "target='a', symbol='b_c'" in result.err and "target='a_b', symbol='c'" in result.err
    assert "Traceback" not in result.err
    assert tree_bytes(good.out) == before  # nothing exported


def test_a_pair_without_a_job_does_not_clash(shared_plan):
    # (a, b_c) is blocked (no score) and makes no job, so sym_a_b_c is unique.
    plan = shared_plan("no_clash", [row("a", "b_c", None), row("a_b", "c", 0.6)])
    assert plan.job_ids == ["sym_a_b_c"]
    assert plan.job("sym_a_b_c")["target"] == "a_b"


def test_failed_model_families_in_csv_as_a_json_array_or_pipe_separated(fw):
    path = fw.path("families.csv")
    path.write_text(
        "target,symbol,score,sample_size,failed_model_families\n"
        't,JSON,0.6,2000,"[""XGBoost"", ""catboost""]"\n'
        "t,PIPE,0.6,2000, xgboost | catboost \n"
        "t,NONE,0.6,2000,\n",
        encoding="utf-8",
    )
    config = config_with(**{"training_plan.model_families": ["lightgbm", "xgboost", "catboost"]})
    plan = fw.plan(path, config)
    assert plan.job("sym_t_JSON")["model_families"] == ["lightgbm"]
    assert plan.job("sym_t_PIPE")["model_families"] == ["lightgbm"]
    assert plan.job("sym_t_NONE")["model_families"] == ["lightgbm", "xgboost", "catboost"]
