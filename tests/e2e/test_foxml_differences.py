"""The examples of docs/FOXML.md, "Routing: where foxwarehouse decides differently", planned with
foxwarehouse: each test asserts foxwarehouse's answer; the comment says what FoxML's router and plan
generator give for the same rows (read from FoxML_Core's training_router.py and
training_plan_generator.py).

SIMPLE_CONFIG: min_score 0.50, strong_score 0.70, experimental.min_score 0.30 (DRIFTING, UNKNOWN),
min_sample_size 5000 (CS) / 1000 (symbol), stability allowlist STABLE/UNKNOWN on the symbol side.
"""
from __future__ import annotations

from helpers import config_with, plan_in

T = "fwd_ret_15m"


def cs(score: float, **extra):
    return {"target": T, "symbol": None, "score": score, "sample_size": 10_000, **extra}


def sym(symbol: str, score: float, **extra):
    return {"target": T, "symbol": symbol, "score": score, "sample_size": 2_000, **extra}


def test_experimental_local_with_a_disallowed_cs_side(tmp_path):
    plan = plan_in(tmp_path, [cs(0.10), sym("AAPL", 0.40)])
    assert (plan.cs(T)["state"], plan.pair(T, "AAPL")["local_state"]) == ("DISALLOWED", "EXPERIMENTAL")
    assert plan.route(T, "AAPL") == "ROUTE_EXPERIMENTAL_ONLY"      # FoxML: ROUTE_SYMBOL_SPECIFIC
    assert plan.job(f"sym_{T}_AAPL")["priority"] == 1              # FoxML: 2


def test_experimental_local_with_an_ok_cs_side(tmp_path):
    plan = plan_in(tmp_path, [cs(0.60), sym("AAPL", 0.40)])
    assert (plan.cs(T)["state"], plan.pair(T, "AAPL")["local_state"]) == ("WEAK_BUT_OK", "EXPERIMENTAL")
    assert plan.route(T, "AAPL") == "ROUTE_CROSS_SECTIONAL"        # FoxML: ROUTE_EXPERIMENTAL_ONLY
    assert plan.job_ids == [f"cs_{T}"]                             # FoxML: also sym_fwd_ret_15m_AAPL, priority 1


def test_the_experimental_cap_is_applied(tmp_path):
    rows = [cs(0.40), sym("AAPL", 0.45), sym("MSFT", 0.40), sym("NVDA", 0.35), sym("TSLA", 0.32)]
    plan = plan_in(tmp_path, rows, config_with(**{"routing.experimental.max_fraction_symbols_per_target": 0.5}))
    routes = {s: plan.route(T, s) for s in ("AAPL", "MSFT", "NVDA", "TSLA")}
    # FoxML: all four ROUTE_EXPERIMENTAL_ONLY (it reads max_fraction_symbols_per_target, never applies it)
    assert routes == {"AAPL": "ROUTE_EXPERIMENTAL_ONLY", "MSFT": "ROUTE_EXPERIMENTAL_ONLY",
                      "NVDA": "ROUTE_BLOCKED", "TSLA": "ROUTE_BLOCKED"}
    assert "EXPERIMENTAL_CAP" in plan.pair(T, "NVDA")["reason_codes"]


def test_an_experimental_cs_side(tmp_path):
    plan = plan_in(tmp_path, [cs(0.40), sym("AAPL", 0.10), sym("MSFT", 0.60)])
    assert plan.cs(T)["state"] == "EXPERIMENTAL"
    assert plan.route(T, "AAPL") == "ROUTE_BLOCKED"                # FoxML: ROUTE_CROSS_SECTIONAL
    assert plan.route(T, "MSFT") == "ROUTE_SYMBOL_SPECIFIC"        # FoxML: ROUTE_EXPERIMENTAL_ONLY (priority 1)
    assert plan.job(f"cs_{T}")["priority"] == 1                    # FoxML: 2
    assert plan.job(f"sym_{T}_MSFT")["priority"] == 2


def test_too_few_snapshots_leave_the_stability_unknown(tmp_path):
    # One snapshot: its metrics say DIVERGED (std_overlap 0.5 > 0.20), but 1 < min_snapshots_for_stability 2
    diverged = {"mean_overlap": 0.8, "std_overlap": 0.5, "mean_tau": 0.7, "std_tau": 0.0}
    plan = plan_in(tmp_path, [cs(0.10), sym("AAPL", 0.80, n_snapshots=1, **diverged),
                              sym("MSFT", 0.80, n_snapshots=2, **diverged)])
    assert plan.pair(T, "AAPL")["local_state"] == "STRONG"         # UNKNOWN is allowed; FoxML: DIVERGED, DISALLOWED
    assert plan.route(T, "AAPL") == "ROUTE_SYMBOL_SPECIFIC"        # FoxML: ROUTE_BLOCKED
    assert plan.route(T, "MSFT") == "ROUTE_BLOCKED"                # both: DIVERGED


def test_failed_families_are_dropped_and_a_job_without_families_is_skipped(tmp_path):
    rows = [cs(0.10), sym("AAPL", 0.80, failed_model_families=["xgboost"]),
            sym("MSFT", 0.80, failed_model_families=["lightgbm", "xgboost"])]
    plan = plan_in(tmp_path, rows)
    assert plan.job(f"sym_{T}_AAPL")["model_families"] == ["lightgbm"]  # FoxML: ["lightgbm", "xgboost"]
    assert f"sym_{T}_MSFT" not in plan.job_ids                          # FoxML: a job with both families
    assert plan.summary["skipped_no_families"] == 1
