"""Property: for random candidate sets and random valid configs, the SQL pipeline's decisions and
jobs equal those of the plain-Python reading of the routing rules in tests/reference.py, exactly."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

import reference as ref
from helpers import run_cli, strict_json_load, write_candidates, write_config

STABILITIES = ["STABLE", "DRIFTING", "DIVERGED", "UNKNOWN"]
ROUTES = ["ROUTE_CROSS_SECTIONAL", "ROUTE_SYMBOL_SPECIFIC", "ROUTE_BOTH", "ROUTE_EXPERIMENTAL_ONLY", "ROUTE_BLOCKED"]
# Horizons of every tier and none; "a" / "a_b" with symbols "b_c" / "c" can collide on job ids.
TARGETS = ["x_15m", "y_2h", "z_1d", "w_5h", "v_90m_x", "plain", "ret_3d_15m", "ret_2h_1d", "cls_4h", "a", "a_b",
           "t_0m", "big_1440m", "h_23h", "naïve_7d"]
SYMBOLS = ["AAPL", "MSFT", "b_c", "c", "Zed", "aapl", "Ω", "x-1", "B", "e"]
FAMILY_NAMES = ["lightgbm", "xgboost", "catboost", "mlp"]

scores_near = st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.1, 0.6, 0.02, 0.05, 1e-7, 0.55, 0.58, 0.62])
finite_scores = st.floats(min_value=-0.2, max_value=1.0, allow_nan=False)
numbers = st.one_of(scores_near, st.floats(min_value=0.0, max_value=0.9, allow_nan=False))


def thresholds() -> st.SearchStrategy[Any]:
    tiers = st.fixed_dictionaries(
        {"default": numbers},
        optional={tier: numbers for tier in ("short", "medium", "long", "very_long")},
    )
    return st.one_of(
        numbers,
        st.fixed_dictionaries({"classification": numbers, "regression": numbers}),
        st.fixed_dictionaries({"classification": numbers, "regression": tiers}),
    )


def enum_case(values: list[str]) -> st.SearchStrategy[str]:
    """An enum value as a user might write it: any case, surrounding spaces."""
    return st.sampled_from(values).flatmap(
        lambda v: st.sampled_from([v, v.lower(), f" {v.title()} "]))


def families() -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(FAMILY_NAMES + ["LightGBM", " XGBoost "]), max_size=4)


def stability_list() -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just(list(STABILITIES)), st.lists(st.sampled_from(STABILITIES), unique=True),
                     st.sampled_from([["STABLE", "UNKNOWN"], ["STABLE", "DRIFTING", "UNKNOWN"], ["DRIFTING", "UNKNOWN"]]))


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    lane = draw(st.booleans())
    experimental: dict[str, Any] = {
        "allowed_stabilities": draw(stability_list()),
        "max_fraction_symbols_per_target": draw(st.one_of(
            st.sampled_from([0.0, 0.2, 0.25, 0.5, 0.57, 1.0, 1 / 3]), st.floats(min_value=0, max_value=1))),
    }
    if lane or draw(st.booleans()):
        experimental["min_score"] = draw(st.one_of(st.sampled_from([0.0, 0.01, 0.1, 0.3]), thresholds()))

    def side() -> dict[str, Any]:
        low, high = draw(thresholds()), draw(thresholds())
        if draw(st.booleans()) and not isinstance(low, dict) and not isinstance(high, dict):
            low, high = sorted([low, high])  # the usual shape: min_score <= strong_score
        return {"min_score": low, "strong_score": high}

    routing: dict[str, Any] = {
        "min_sample_size": {"cross_sectional": draw(st.sampled_from([0, 5000, 20000])),
                            "symbol": draw(st.sampled_from([0, 1000, 3000]))},
        "block_on_leakage": draw(st.booleans()),
        "dev_mode": draw(st.booleans()),
        "dev_mode_min_sample_size": draw(st.sampled_from([0, 1000, 2500])),
        "cross_sectional": side(),
        "symbol": side(),
        "stability_allowlist": {"cross_sectional": draw(stability_list()), "symbol": draw(stability_list())},
        "both_strong_behavior": draw(enum_case(["ROUTE_BOTH", "PREFER_CS", "PREFER_SYMBOL"])),
        "enable_experimental_lane": lane,
        "experimental": experimental,
        "stability_classification": {
            "stable_overlap_min": draw(st.sampled_from([0.7, 0.6])),
            "drifting_overlap_min": 0.5,
            "stable_tau_min": 0.6,
            "drifting_tau_min": draw(st.sampled_from([0.4, 0.3])),
            "max_std_overlap": 0.2,
            "max_std_tau": 0.25,
            "min_snapshots_for_stability": draw(st.sampled_from([1, 2, 3])),
        },
        "dump_plan_as": ["JSON", "YAML"],
    }
    training_plan = {
        "model_families": draw(st.one_of(st.just(["lightgbm", "xgboost"]), families())),
        "model_families_by_route": draw(st.dictionaries(st.sampled_from(ROUTES[:4]), families(), max_size=3)),
        "drop_failed_families": draw(st.booleans()),
        "include_blocked": draw(st.booleans()),
        "derived_views": False,
    }
    return {"routing": routing, "training_plan": training_plan}


def _threshold_numbers(config: dict[str, Any]) -> list[float]:
    found: list[float] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append(float(value))
    r = config["routing"]
    for part in (r["cross_sectional"], r["symbol"], r["experimental"].get("min_score")):
        walk(part)
    return found


@st.composite
def candidate_sets(draw: st.DrawFn, config: dict[str, Any]) -> list[dict[str, Any]]:
    edges = _threshold_numbers(config)
    edges += [(a + b) / 2 for a in edges for b in edges if a < b]  # between two thresholds
    at_edge = st.sampled_from(edges)
    missing = st.sampled_from([None, math.nan, math.inf, -math.inf])
    score = st.one_of(at_edge, at_edge, finite_scores, scores_near, at_edge, missing)
    stat = st.one_of(st.none(), st.sampled_from([0.2, 0.3, 0.45, 0.5, 0.6, 0.65, 0.7, 0.9]))
    spread = st.one_of(st.none(), st.sampled_from([0.0, 0.1, 0.2, 0.21, 0.25, 0.3]))
    keys: list[tuple[str, str | None]] = []
    for target in draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=4, unique=True)):
        symbols = draw(st.lists(st.sampled_from(SYMBOLS), max_size=8, unique=True))
        if draw(st.integers(0, 3)) or not symbols:  # most targets have a CS row
            keys.append((target, None))
        keys += [(target, s) for s in symbols]
    # Names as a tool may write them: surrounding white space (", " separators) means the same name.
    padded = lambda name: draw(st.sampled_from([name, name, name, f" {name}", f"{name} ", f"\t{name}  "]))  # noqa: E731
    rows = []
    for target, symbol in keys:
        row: dict[str, Any] = {
            "target": padded(target),
            "symbol": padded(symbol) if symbol is not None else draw(st.sampled_from([None, "", "__AGG__", " ",
                                                                                       " __AGG__"])),
            "score": draw(score),
            "sample_size": draw(st.one_of(st.none(), st.sampled_from([0, 500, 999, 1000, 2999, 4999, 5000,
                                                                        19999, 20000, 24999, 25000, 60000]),
                                          st.integers(0, 100_000), st.just(10**6))),
            "stability": draw(st.one_of(st.none(), st.just("UNKNOWN"), enum_case(STABILITIES))),
            "leakage_status": draw(st.one_of(st.none(), enum_case(["SAFE", "SUSPECT", "BLOCKED", "UNKNOWN"]))),
            "task_type": draw(st.one_of(st.none(), enum_case(
                ["REGRESSION", "BINARY_CLASSIFICATION", "MULTICLASS_CLASSIFICATION"]))),
            "failed_model_families": draw(st.one_of(st.none(), st.lists(
                st.sampled_from(FAMILY_NAMES + ["XGBoost"]), max_size=2))),
            "mean_overlap": draw(stat),
            "std_overlap": draw(spread),
            "mean_tau": draw(stat),
            "std_tau": draw(spread),
            "n_snapshots": draw(st.one_of(st.none(), st.integers(0, 4))),
            "mode": "CROSS_SECTIONAL" if symbol is None else draw(st.sampled_from([None, "SYMBOL_SPECIFIC", "symbol"])),
        }
        rows.append(row)
    # Aggregate rows (SYMBOL_SPECIFIC with a null symbol) are skipped whatever they hold.
    for target in draw(st.lists(st.sampled_from(TARGETS), max_size=2, unique=True)):
        rows.append({"target": target, "symbol": None, "mode": "SYMBOL_SPECIFIC", "score": 0.99,
                     "sample_size": 10**6, "stability": "STABLE"})
    return draw(st.permutations(rows))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]], bool, str]:
    config = draw(configs())
    rows = draw(candidate_sets(config))
    return config, rows, draw(st.booleans()), draw(st.sampled_from(["parquet", "parquet", "csv"]))


def _expected_codes(d: ref.Decision) -> list[str | None]:
    """The reason codes the routing rules name, per side; None where the rules leave the code open."""
    def code(signal: ref.Signal) -> str | None:
        return signal.code if signal.code in ref.DISALLOW_CODES else None
    return [code(d.cs), code(d.local)] + (["EXPERIMENTAL_CAP"] if d.capped else [])


def _check_codes(actual: list[str], expected: list[str | None], where: str) -> None:
    assert len(actual) == len(expected), (where, actual, expected)
    for got, want in zip(actual, expected):
        if want is None:
            assert got not in ref.DISALLOW_CODES + ("EXPERIMENTAL_CAP",), (where, actual, expected)
        else:
            assert got == want, (where, actual, expected)


# A quick pass in the default run; the full count (FOXWAREHOUSE_PROPERTY_EXAMPLES, default 50) in the
# slow sweep's `_full` twin below.
FULL_EXAMPLES = int(os.environ.get("FOXWAREHOUSE_PROPERTY_EXAMPLES", "50"))
AGREEMENT_SETTINGS: dict[str, Any] = dict(
    deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=max(3, FULL_EXAMPLES // 4), **AGREEMENT_SETTINGS)
@given(scenarios())
def test_pipeline_agrees_with_the_reference(scenario: tuple[dict[str, Any], list[dict[str, Any]], bool, str]) -> None:
    config, raw_rows, flag, fmt = scenario
    cfg = ref.Config(config, include_blocked_flag=flag)
    rows = ref.read_rows(raw_rows)
    routing = ref.route(rows, cfg)
    for d in routing.pairs.values():
        event(f"route {d.route}{' (capped)' if d.capped else ''}")
        event(f"local {d.local.code}")
    for cs in routing.cs.values():
        event(f"cs {cs.code}")
    try:
        expected_jobs, expected_summary = ref.plan_jobs(rows, cfg, routing)
        duplicate = None
    except ref.DuplicateJobId as exc:
        duplicate = str(exc)
        event("duplicate job id")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        metrics = write_candidates(root / f"candidates.{fmt}", raw_rows)
        config_path = write_config(root / "config.yaml", config)
        out = root / "out"
        args = ["plan", "--metrics", metrics, "--config", config_path, "--db", root / "w.duckdb", "--out", out]
        result = run_cli(args + (["--include-blocked"] if flag else []))
        assert "Traceback" not in result.err
        if duplicate is not None:
            assert result.code == 2, result
            assert "duplicate job_id" in result.err and duplicate in result.err, result
            assert not (out / "training_plan").exists()
            return
        assert result.code == 0, result
        master = strict_json_load(out / "training_plan" / "master_training_plan.json")
        routing_plan = strict_json_load(out / "routing_plan" / "routing_plan.json")
        # the YAML mirrors hold the same data
        assert yaml.safe_load((out / "training_plan" / "training_plan.yaml").read_text(encoding="utf-8")) == master
        assert yaml.safe_load((out / "routing_plan" / "routing_plan.yaml").read_text(encoding="utf-8")) == routing_plan

    # Decisions: every target's CS state, every pair's route and states, the rules' reason codes.
    assert sorted(routing_plan["targets"]) == sorted(routing.cs)
    for target, cs in routing.cs.items():
        got = routing_plan["targets"][target]["cross_sectional"]
        assert got["state"] == cs.state, (target, got, cs)
        assert got["route"] == ("ENABLED" if cs.state != "DISALLOWED" else "DISABLED")
        if cs.code in ref.DISALLOW_CODES:
            assert got["reason_code"] == cs.code, (target, got)
    actual_pairs = {(t, s): v for t, entry in routing_plan["targets"].items() for s, v in entry["symbols"].items()}
    assert sorted(actual_pairs) == sorted(routing.pairs)
    for key, d in routing.pairs.items():
        got = actual_pairs[key]
        assert (got["route"], got["cs_state"], got["local_state"]) == (d.route, d.cs.state, d.local.state), (key, got, d)
        _check_codes(got["reason_codes"], _expected_codes(d), f"{key}")

    # Jobs: every field a job has, in plan order; and the summary block.
    actual_jobs = [
        {k: job[k] for k in ("job_id", "target", "symbol", "route", "training_type", "model_families", "priority",
                             "estimated_samples")} | {"needs_cs_ensemble": job["metadata"]["needs_cs_ensemble"]}
        for job in master["jobs"]
    ]
    assert actual_jobs == expected_jobs
    assert master["summary"] == expected_summary
    assert master["metadata"]["total_jobs"] == len(expected_jobs)


@pytest.mark.slow
@settings(max_examples=FULL_EXAMPLES, **AGREEMENT_SETTINGS)
@given(scenarios())
def test_pipeline_agrees_with_the_reference_full(scenario: tuple[dict[str, Any], list[dict[str, Any]], bool, str]) -> None:
    test_pipeline_agrees_with_the_reference.hypothesis.inner_test(scenario)
