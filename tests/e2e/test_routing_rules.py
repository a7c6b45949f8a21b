"""The routing rules of docs/ROUTING.md, rule by rule: stability classification, thresholds (task
class, horizon tier), the signal state of each side, the route of each pair, dev mode and the
experimental cap.

Every test plans real metrics with `foxwarehouse plan` and reads routing_plan.json. Unless a test
says otherwise the config is SIMPLE_CONFIG (tests/helpers.py): on both sides min_score 0.50 and
strong_score 0.70, experimental lane from 0.30 (DRIFTING/UNKNOWN), min_sample_size 5000 for the
cross-sectional (CS) row and 1000 for a symbol row, experimental cap fraction 1.0 (no cap).

To keep the suite fast, the cases that share a config are planned together: each case declares
its rows under its own target name (`case(...)` below) and all of them go into one plan.
"""
from __future__ import annotations

import math
from typing import Any

import pytest

from helpers import config_with

T = "target_plain"  # a target name without a horizon: thresholds use the `default` tier


def cs_row(score: Any = 0.8, target: str = T, sample_size: Any = 10_000, **extra: Any) -> dict[str, Any]:
    """A cross-sectional row (symbol null)."""
    return {"target": target, "symbol": None, "score": score, "sample_size": sample_size,
            "stability": "STABLE", "leakage_status": "SAFE", **extra}


def sym_row(symbol: str, score: Any = 0.8, target: str = T, sample_size: Any = 2_000, **extra: Any) -> dict[str, Any]:
    """A symbol row."""
    return {"target": target, "symbol": symbol, "score": score, "sample_size": sample_size,
            "stability": "STABLE", "leakage_status": "SAFE", **extra}


# Rows of every case planned with SIMPLE_CONFIG, by target name.
BASICS: dict[str, list[dict[str, Any]]] = {}


def case(target: str, *rows: dict[str, Any]) -> str:
    """Register rows for the shared SIMPLE_CONFIG plan under target name `target`; returns it."""
    assert target not in BASICS, target
    BASICS[target] = [{**row, "target": target} for row in rows]
    return target


@pytest.fixture
def basics(shared_plan):
    return shared_plan("basics", [row for rows in BASICS.values() for row in rows])


def reason_codes(plan, target: str, symbol: str) -> list[str]:
    return plan.pair(target, symbol)["reason_codes"]


def reasons(plan, target: str, symbol: str) -> str:
    return " ".join(plan.pair(target, symbol)["reason"])


# --- signal state, rule by rule -----------------------------------------------------------------

MISSING = {"null": None, "nan": math.nan, "inf": math.inf, "-inf": -math.inf}
for _name, _value in MISSING.items():
    case(f"missing_{_name}", cs_row(_value), sym_row("AAA", _value))


@pytest.mark.parametrize("name", MISSING)
def test_rule1_a_missing_score_is_disallowed_on_both_sides(basics, name):
    # null, NaN and +-inf all mean "no score"
    t = f"missing_{name}"
    assert basics.cs(t)["state"] == "DISALLOWED"
    assert basics.cs(t)["reason_code"] == "SCORE_MISSING"
    assert "SCORE_MISSING: score is null" in basics.cs(t)["reason"]
    assert basics.pair(t, "AAA")["local_state"] == "DISALLOWED"
    assert reason_codes(basics, t, "AAA") == ["SCORE_MISSING", "SCORE_MISSING"]


RULE1_FIRST = case("rule1_first", cs_row(None, sample_size=1), sym_row("AAA", None, sample_size=1))


def test_rule1_comes_before_the_sample_size_rule(basics):
    assert basics.cs(RULE1_FIRST)["reason_code"] == "SCORE_MISSING"
    assert reason_codes(basics, RULE1_FIRST, "AAA")[1] == "SCORE_MISSING"


CS_BELOW = case("cs_below_floor", cs_row(0.8, sample_size=4_999))
CS_AT = case("cs_at_floor", cs_row(0.8, sample_size=5_000))
SYM_FLOOR = case("sym_floor", sym_row("BELOW", 0.8, sample_size=999), sym_row("AT", 0.8, sample_size=1_000))


def test_rule2_cs_sample_size_below_min_sample_size_cross_sectional_is_disallowed(basics):
    assert (basics.cs(CS_BELOW)["state"], basics.cs(CS_BELOW)["reason_code"]) == ("DISALLOWED", "SAMPLE_SIZE")
    assert "sample_size 4999 < min_n 5000" in basics.cs(CS_BELOW)["reason"]
    assert basics.cs(CS_AT)["state"] == "STRONG"  # the boundary itself is enough


def test_rule2_symbol_sample_size_below_min_sample_size_symbol_is_disallowed(basics):
    assert basics.pair(SYM_FLOOR, "BELOW")["local_state"] == "DISALLOWED"
    assert reason_codes(basics, SYM_FLOOR, "BELOW")[1] == "SAMPLE_SIZE"
    assert "sample_size 999 < min_n 1000" in reasons(basics, SYM_FLOOR, "BELOW")
    assert basics.pair(SYM_FLOOR, "AT")["local_state"] == "STRONG"


NULL_N = case("null_sample_size", cs_row(0.8, sample_size=None), sym_row("AAA", 0.8, sample_size=None))


def test_rule2_a_null_sample_size_counts_as_zero(basics):
    assert basics.cs(NULL_N)["reason_code"] == "SAMPLE_SIZE"
    assert reason_codes(basics, NULL_N, "AAA")[1] == "SAMPLE_SIZE"


LEAK_ROWS = [cs_row(0.8, leakage_status="BLOCKED"), sym_row("BLK", 0.8, leakage_status="BLOCKED"),
             sym_row("SUS", 0.8, leakage_status="SUSPECT"), sym_row("UNK", 0.8, leakage_status=None)]
LEAK = case("leakage", *LEAK_ROWS)


def test_rule3_leakage_blocked_is_disallowed_when_block_on_leakage(basics):
    assert (basics.cs(LEAK)["state"], basics.cs(LEAK)["reason_code"]) == ("DISALLOWED", "LEAKAGE_BLOCKED")
    assert basics.pair(LEAK, "BLK")["local_state"] == "DISALLOWED"
    assert reason_codes(basics, LEAK, "BLK")[1] == "LEAKAGE_BLOCKED"
    # SUSPECT and UNKNOWN (null) are not blocked.
    assert basics.pair(LEAK, "SUS")["local_state"] == "STRONG"
    assert basics.pair(LEAK, "UNK")["local_state"] == "STRONG"


def test_rule3_leakage_is_ignored_without_block_on_leakage(shared_plan):
    plan = shared_plan("no_block", LEAK_ROWS, config_with(**{"routing.block_on_leakage": False}))
    assert plan.cs(T)["state"] == "STRONG"
    assert plan.pair(T, "BLK")["local_state"] == "STRONG"


LEAK_AFTER_N = case("leak_after_n", cs_row(0.8, sample_size=10, leakage_status="BLOCKED"))


def test_rule3_comes_after_the_sample_size_rule(basics):
    assert basics.cs(LEAK_AFTER_N)["reason_code"] == "SAMPLE_SIZE"


SYMBOL_BANDS = [
    (0.70, "STRONG"),          # rule 4: score >= strong_score (boundary included)
    (0.95, "STRONG"),
    (0.6999, "WEAK_BUT_OK"),   # rule 5: score >= min_score
    (0.50, "WEAK_BUT_OK"),
    (0.4999, "EXPERIMENTAL"),  # rule 6: score >= experimental.min_score, stability UNKNOWN allowed
    (0.30, "EXPERIMENTAL"),
    (0.2999, "DISALLOWED"),    # rule 7
]
CS_BANDS = [(0.70, "STRONG"), (0.50, "WEAK_BUT_OK"), (0.30, "EXPERIMENTAL"), (0.29, "DISALLOWED")]
BANDS = case("bands", *[sym_row(f"S{score}", score, stability="UNKNOWN") for score, _ in SYMBOL_BANDS])
for _score, _ in CS_BANDS:
    case(f"cs_band_{_score}", cs_row(_score, stability="UNKNOWN"))


@pytest.mark.parametrize("score, state", SYMBOL_BANDS)
def test_rules4_to_7_score_bands_on_the_symbol_side(basics, score, state):
    assert basics.pair(BANDS, f"S{score}")["local_state"] == state
    if state == "DISALLOWED":
        assert reason_codes(basics, BANDS, f"S{score}")[1] == "SCORE_BELOW_MIN"


@pytest.mark.parametrize("score, state", CS_BANDS)
def test_rules4_to_7_score_bands_on_the_cs_side(basics, score, state):
    cs = basics.cs(f"cs_band_{score}")
    assert cs["state"] == state
    assert cs["route"] == ("DISABLED" if state == "DISALLOWED" else "ENABLED")


ALLOW = case("allowlists", cs_row(0.8, stability="DRIFTING"), sym_row("DRIFT", 0.9, stability="DRIFTING"),
             sym_row("DIVERGED", 0.9, stability="DIVERGED"))


def test_rules4_and_5_need_the_stability_in_the_side_allowlist(basics):
    # Symbol allowlist is [STABLE, UNKNOWN]: a strong DRIFTING symbol falls to the experimental lane,
    # a strong DIVERGED one (in no list) is disallowed for its stability.
    assert basics.cs(ALLOW)["state"] == "STRONG"  # DRIFTING is in the CS allowlist
    assert basics.pair(ALLOW, "DRIFT")["local_state"] == "EXPERIMENTAL"
    assert basics.pair(ALLOW, "DIVERGED")["local_state"] == "DISALLOWED"
    assert reason_codes(basics, ALLOW, "DIVERGED")[1] == "STABILITY_NOT_ALLOWED"
    assert "stability DIVERGED not in allowlist [STABLE, UNKNOWN]" in reasons(basics, ALLOW, "DIVERGED")


LANE_ROWS = [sym_row("LOW_DRIFT", 0.4, stability="DRIFTING"), sym_row("LOW_STABLE", 0.4, stability="STABLE"),
             sym_row("HIGH_DRIFT", 0.9, stability="DRIFTING")]
LANE = case("lane", *LANE_ROWS)


def test_rule6_needs_an_experimental_stability(basics):
    assert basics.pair(LANE, "LOW_DRIFT")["local_state"] == "EXPERIMENTAL"
    assert basics.pair(LANE, "LOW_STABLE")["local_state"] == "DISALLOWED"  # STABLE is not an experimental stability
    assert reason_codes(basics, LANE, "LOW_STABLE")[1] == "SCORE_BELOW_MIN"


def test_rule6_needs_the_experimental_lane(shared_plan):
    off = shared_plan("lane_off", LANE_ROWS, config_with(**{"routing.enable_experimental_lane": False}))
    assert off.pair(T, "LOW_DRIFT")["local_state"] == "DISALLOWED"
    assert off.pair(T, "HIGH_DRIFT")["local_state"] == "DISALLOWED"
    assert reason_codes(off, T, "HIGH_DRIFT")[1] == "STABILITY_NOT_ALLOWED"


ENUMS = case("enums", cs_row(0.8, stability=" drifting ", leakage_status="safe", task_type=" regression"),
             sym_row("AAA", 0.8, stability="Stable", leakage_status=" blocked "),
             sym_row("BBB", 0.8, stability="stable", mode="symbol"))


def test_enum_values_are_trimmed_and_upper_cased(basics):
    assert basics.cs(ENUMS)["state"] == "STRONG"
    assert reason_codes(basics, ENUMS, "AAA")[1] == "LEAKAGE_BLOCKED"
    assert basics.pair(ENUMS, "BBB")["local_state"] == "STRONG"


NO_CS = case("no_cs_row", sym_row("AAA", 0.8))


def test_a_target_without_a_cs_row_has_cs_state_disallowed_no_cs_metrics(basics):
    cs = basics.cs(NO_CS)
    assert (cs["state"], cs["route"], cs["reason_code"]) == ("DISALLOWED", "DISABLED", "NO_CS_METRICS")
    assert reason_codes(basics, NO_CS, "AAA")[0] == "NO_CS_METRICS"
    assert basics.route(NO_CS, "AAA") == "ROUTE_SYMBOL_SPECIFIC"


CS_ONLY = case("cs_only", cs_row(0.8))


def test_a_target_with_only_a_cs_row_has_no_pairs(basics):
    assert basics.routing["targets"][CS_ONLY]["symbols"] == {}
    assert [j["job_id"] for j in basics.jobs if j["target"] == CS_ONLY] == [f"cs_{CS_ONLY}"]


REASONS = case("reasons", cs_row(0.75), sym_row("AAA", 0.55), sym_row("BBB", 0.1))


def test_human_reasons_name_the_compared_values_and_thresholds(basics):
    assert "0.75" in basics.cs(REASONS)["reason"] and "strong_score 0.7" in basics.cs(REASONS)["reason"]
    assert "score 0.55 >= min_score 0.5" in reasons(basics, REASONS, "AAA")
    low = reasons(basics, REASONS, "BBB")
    assert "score 0.1 < min_score 0.5" in low and "score 0.1 < experimental_min_score 0.3" in low


# --- stability classification ---------------------------------------------------------------------

SNAPSHOT_CASES = [
    # (given stability, mean_overlap, std_overlap, mean_tau, std_tau, n_snapshots) -> classified
    pytest.param("UNKNOWN", 0.80, 0.05, 0.70, 0.05, 5, "STABLE", id="stable"),
    pytest.param("UNKNOWN", 0.70, 0.20, 0.60, 0.25, 5, "STABLE", id="stable-at-every-boundary"),
    pytest.param("UNKNOWN", 0.69, 0.05, 0.70, 0.05, 5, "DRIFTING", id="overlap-just-below-stable"),
    pytest.param("UNKNOWN", 0.80, 0.05, 0.59, 0.05, 5, "DRIFTING", id="tau-just-below-stable"),
    pytest.param("UNKNOWN", 0.50, 0.05, 0.40, 0.05, 5, "DRIFTING", id="drifting-at-boundary"),
    pytest.param("UNKNOWN", 0.49, 0.05, 0.70, 0.05, 5, "UNKNOWN", id="overlap-below-drifting"),
    pytest.param("UNKNOWN", 0.80, 0.05, 0.39, 0.05, 5, "UNKNOWN", id="tau-below-drifting"),
    pytest.param("UNKNOWN", 0.80, 0.21, 0.70, 0.05, 5, "DIVERGED", id="std-overlap-breach"),
    pytest.param("UNKNOWN", 0.80, 0.05, 0.70, 0.26, 5, "DIVERGED", id="std-tau-breach"),
    pytest.param("UNKNOWN", 0.30, 0.30, 0.10, 0.05, 5, "DIVERGED", id="breach-before-means"),
    pytest.param("UNKNOWN", 0.80, None, 0.70, None, 5, "STABLE", id="null-std-is-no-breach"),
    pytest.param("UNKNOWN", 0.80, 0.05, 0.70, 0.05, None, "STABLE", id="null-n-snapshots"),
    pytest.param("UNKNOWN", 0.80, 0.05, 0.70, 0.05, 1, "UNKNOWN", id="too-few-snapshots"),
    pytest.param("UNKNOWN", 0.80, 0.05, 0.70, 0.05, 2, "STABLE", id="exactly-min-snapshots"),
    pytest.param("UNKNOWN", None, 0.05, 0.70, 0.05, 5, "UNKNOWN", id="no-mean-overlap"),
    pytest.param("UNKNOWN", 0.80, 0.05, None, 0.05, 5, "UNKNOWN", id="no-mean-tau"),
    pytest.param(None, 0.80, 0.05, 0.70, 0.05, 5, "STABLE", id="null-stability-is-unknown"),
    pytest.param("DRIFTING", 0.80, 0.05, 0.70, 0.05, 5, "DRIFTING", id="given-stability-wins"),
    pytest.param("STABLE", 0.10, 0.90, 0.10, 0.90, 5, "STABLE", id="given-stable-is-not-reclassified"),
]
STAB = case("stability", *[
    sym_row(p.id, 0.9, stability=p.values[0], mean_overlap=p.values[1], std_overlap=p.values[2],
            mean_tau=p.values[3], std_tau=p.values[4], n_snapshots=p.values[5])
    for p in SNAPSHOT_CASES])


@pytest.mark.parametrize("given, mo, so, mt, stt, n, expected", SNAPSHOT_CASES)
def test_stability_classification_from_snapshot_metrics(basics, request, given, mo, so, mt, stt, n, expected):
    symbol = request.node.callspec.id
    # The reason names the stability that was compared with the allowlists.
    assert f"stability {expected} " in reasons(basics, STAB, symbol)


STAB_DECIDES = case("stability_decides",
                    sym_row("S", 0.9, stability=None, mean_overlap=0.9, std_overlap=0.0, mean_tau=0.9, std_tau=0.0),
                    sym_row("D", 0.9, stability=None, mean_overlap=0.9, std_overlap=0.5, mean_tau=0.9, std_tau=0.0),
                    sym_row("R", 0.9, stability=None, mean_overlap=0.6, std_overlap=0.0, mean_tau=0.5, std_tau=0.0))


def test_stability_classification_changes_the_decision(basics):
    # Symbol allowlist [STABLE, UNKNOWN]: classified DIVERGED is disallowed, classified STABLE is strong.
    assert basics.pair(STAB_DECIDES, "S")["local_state"] == "STRONG"
    assert basics.pair(STAB_DECIDES, "D")["local_state"] == "DISALLOWED"
    assert basics.pair(STAB_DECIDES, "R")["local_state"] == "EXPERIMENTAL"  # DRIFTING: experimental lane


def test_stability_classification_thresholds_come_from_the_config(shared_plan):
    config = config_with(**{"routing.stability_classification.stable_overlap_min": 0.95,
                            "routing.stability_classification.min_snapshots_for_stability": 10})
    rows = [sym_row("A", 0.9, stability=None, mean_overlap=0.9, mean_tau=0.9, n_snapshots=10),
            sym_row("B", 0.9, stability=None, mean_overlap=0.99, mean_tau=0.9, n_snapshots=10),
            sym_row("C", 0.9, stability=None, mean_overlap=0.99, mean_tau=0.9, n_snapshots=9)]
    plan = shared_plan("stability_config", rows, config)
    assert "stability DRIFTING " in reasons(plan, T, "A")
    assert "stability STABLE " in reasons(plan, T, "B")
    assert "stability UNKNOWN " in reasons(plan, T, "C")


# --- thresholds: task class and horizon tier --------------------------------------------------

TIERED = {"classification": 0.90, "regression": {"default": 0.10, "short": 0.20, "medium": 0.30, "long": 0.40,
                                                  "very_long": 0.50}}
TIER_CASES = [
    ("ret_15m", "short"), ("ret_59m", "short"), ("ret_0m", "short"), ("15m", "short"),
    ("ret_60m", "medium"), ("ret_2h", "medium"), ("ret_239m", "medium"), ("y_2h", "medium"),
    ("ret_240m", "long"), ("ret_4h", "long"), ("w_5h", "long"), ("ret_23h", "long"), ("ret_1439m", "long"),
    ("z_1d", "very_long"), ("ret_24h", "very_long"), ("ret_1440m", "very_long"), ("ret_5d_x", "very_long"),
    ("sector_beta", "default"), ("ret_15min", "default"), ("ret_5m5", "default"), ("ret_15M", "default"),
    # The first regex that matches wins, in the order m, d, h, wherever it is in the name:
    ("ret_2h_15m", "short"), ("ret_15m_2h", "short"), ("ret_2h_1d", "very_long"), ("ret_1d_30m", "short"),
    ("h4h_x", "long"),
]


@pytest.mark.parametrize("target, tier", TIER_CASES)
def test_horizon_tier_from_the_target_name(shared_plan, target, tier):
    # Each tier has its own regression min_score; a score of 0.45 passes default/short/medium/long only.
    config = config_with(**{"routing.symbol.min_score": TIERED, "routing.symbol.strong_score": 5.0,
                            "routing.enable_experimental_lane": False})
    plan = shared_plan("tiers", [sym_row("AAA", 0.45, target=t, task_type="REGRESSION") for t, _ in TIER_CASES], config)
    expected_min = TIERED["regression"][tier]
    assert f"min_score {expected_min}" in reasons(plan, target, "AAA")
    assert plan.pair(target, "AAA")["local_state"] == ("WEAK_BUT_OK" if 0.45 >= expected_min else "DISALLOWED")
    if 0.45 >= expected_min:
        assert plan.job(f"sym_{target}_AAA")["metadata"]["horizon_tier"] == tier


def test_a_tier_missing_from_the_mapping_falls_back_to_default(shared_plan):
    config = config_with(**{"routing.symbol.min_score": {"classification": 0.9, "regression": {"default": 0.10, "short": 0.60}},
                            "routing.symbol.strong_score": 5.0, "routing.enable_experimental_lane": False})
    plan = shared_plan("tier_fallback", [sym_row("AAA", 0.3, target="r_2h"), sym_row("AAA", 0.3, target="r_15m")], config)
    assert plan.pair("r_2h", "AAA")["local_state"] == "WEAK_BUT_OK"   # medium -> default 0.10
    assert plan.pair("r_15m", "AAA")["local_state"] == "DISALLOWED"   # short 0.60


TASK_CASES = [("REGRESSION", "regression"), (None, "regression"),
              ("BINARY_CLASSIFICATION", "classification"), ("multiclass_classification", "classification")]


@pytest.mark.parametrize("task_type, klass", TASK_CASES)
def test_task_aware_thresholds(shared_plan, task_type, klass):
    # classification min 0.60, regression min 0.02: a CS score of 0.05 passes only as regression.
    threshold_min = {"classification": 0.60, "regression": 0.02}
    threshold_strong = {"classification": 0.65, "regression": {"default": 0.04}}
    config = config_with(**{"routing.cross_sectional.min_score": threshold_min,
                            "routing.cross_sectional.strong_score": threshold_strong,
                            "routing.symbol.min_score": threshold_min, "routing.symbol.strong_score": threshold_strong,
                            "routing.enable_experimental_lane": False})
    rows = [row for tt, _ in TASK_CASES for row in (cs_row(0.05, target=f"t_{tt}", task_type=tt),
                                                    sym_row("AAA", 0.62, target=f"t_{tt}", task_type=tt))]
    plan = shared_plan("task", rows, config)
    t = f"t_{task_type}"
    if klass == "regression":
        assert plan.cs(t)["state"] == "STRONG"                      # 0.05 >= 0.04
        assert plan.pair(t, "AAA")["local_state"] == "STRONG"       # 0.62 >= 0.04
        assert plan.job(f"cs_{t}")["metadata"]["task_class"] == "regression"
    else:
        assert plan.cs(t)["state"] == "DISALLOWED"                  # 0.05 < 0.60
        assert plan.pair(t, "AAA")["local_state"] == "WEAK_BUT_OK"  # 0.60 <= 0.62 < 0.65
        assert plan.job(f"sym_{t}_AAA")["metadata"]["task_class"] == "classification"


def test_experimental_min_score_is_a_threshold_too(shared_plan):
    config = config_with(**{"routing.experimental.min_score": {"classification": 0.52,
                                                               "regression": {"default": 0.3, "short": 0.01}}})
    rows = [sym_row("AAA", 0.02, target="r_15m", stability="DRIFTING"),
            sym_row("AAA", 0.02, target="r_plain", stability="DRIFTING"),
            sym_row("AAA", 0.53, target="c_plain", stability="DRIFTING", task_type="BINARY_CLASSIFICATION")]
    plan = shared_plan("experimental_threshold", rows, config)
    assert plan.pair("r_15m", "AAA")["local_state"] == "EXPERIMENTAL"
    assert plan.pair("r_plain", "AAA")["local_state"] == "DISALLOWED"
    assert plan.pair("c_plain", "AAA")["local_state"] == "EXPERIMENTAL"


# --- route rules ----------------------------------------------------------------------------------

# A CS row per cs_state and a symbol row per local_state (scores against SIMPLE_CONFIG).
CS_ROWS = {"STRONG": dict(score=0.8), "WEAK_BUT_OK": dict(score=0.6), "EXPERIMENTAL": dict(score=0.4, stability="DRIFTING"),
           "DISALLOWED": dict(score=0.1), "NONE": None}
LOCAL_ROWS = {"STRONG": dict(score=0.8), "WEAK_BUT_OK": dict(score=0.6),
              "EXPERIMENTAL": dict(score=0.4, stability="UNKNOWN"), "DISALLOWED": dict(score=None)}


def expected_route(cs: str, local: str, both: str) -> str:
    ok = ("STRONG", "WEAK_BUT_OK")
    if cs in ok and local in ok:
        return {"ROUTE_BOTH": "ROUTE_BOTH", "PREFER_CS": "ROUTE_CROSS_SECTIONAL",
                "PREFER_SYMBOL": "ROUTE_SYMBOL_SPECIFIC"}[both]
    if cs in ok:
        return "ROUTE_CROSS_SECTIONAL"
    if local in ok:
        return "ROUTE_SYMBOL_SPECIFIC"
    if local == "EXPERIMENTAL":
        return "ROUTE_EXPERIMENTAL_ONLY"
    return "ROUTE_BLOCKED"


@pytest.mark.parametrize("both, written", [("ROUTE_BOTH", "ROUTE_BOTH"), ("PREFER_CS", "PREFER_CS"),
                                           ("PREFER_SYMBOL", " prefer_symbol ")])
def test_route_of_every_cs_state_and_local_state(shared_plan, both, written):
    rows, expected = [], {}
    for cs_name, cs_spec in CS_ROWS.items():
        target = f"t_{cs_name.lower()}"
        cs_state = "DISALLOWED" if cs_name == "NONE" else cs_name  # no CS row: DISALLOWED
        if cs_spec is not None:
            rows.append(cs_row(target=target, **cs_spec))
        for local_name, local_spec in LOCAL_ROWS.items():
            rows.append(sym_row(local_name, target=target, **local_spec))
            expected[(target, local_name)] = (cs_state, local_name, expected_route(cs_state, local_name, both))
    plan = shared_plan(f"routes_{both}", rows, config_with(**{"routing.both_strong_behavior": written}))
    actual = {key: (plan.pair(*key)["cs_state"], plan.pair(*key)["local_state"], plan.route(*key)) for key in expected}
    assert actual == expected


# --- dev mode ---------------------------------------------------------------------------------

DEV_CASES = [
    # min_n = min(max(dev_mode_min_sample_size=1000, floor(0.1 x n)), min_sample_size.cs=5000)
    (999, 1000, "DISALLOWED"),
    (1000, 1000, "STRONG"),
    (4999, 1000, "STRONG"),
    (20_000, 2000, "STRONG"),
    (60_000, 5000, "STRONG"),
]
for _n, _, _ in DEV_CASES:
    case(f"dev_{_n}", cs_row(0.8, sample_size=_n))


@pytest.mark.parametrize("sample_size, min_n, state", DEV_CASES)
def test_dev_mode_relaxes_the_cs_sample_floor(shared_plan, basics, sample_size, min_n, state):
    config = config_with(**{"routing.dev_mode": True})
    plan = shared_plan("dev", [cs_row(0.8, sample_size=n, target=f"dev_{n}") for n, _, _ in DEV_CASES], config)
    t = f"dev_{sample_size}"
    assert plan.cs(t)["state"] == state
    if state == "DISALLOWED":
        assert f"sample_size {sample_size} < min_n {min_n}" in plan.cs(t)["reason"]
    # without dev_mode every one of these CS rows below the 5000 floor is disallowed
    assert basics.cs(t)["state"] == ("STRONG" if sample_size >= 5000 else "DISALLOWED")


def test_dev_mode_floor_never_exceeds_the_cs_minimum(shared_plan):
    # dev_mode_min_sample_size 6000 above min_sample_size.cross_sectional 5000: min_n is 5000.
    config = config_with(**{"routing.dev_mode": True, "routing.dev_mode_min_sample_size": 6000})
    plan = shared_plan("dev_floor", [cs_row(0.8, sample_size=4999, target="a"), cs_row(0.8, sample_size=5000, target="b")],
                       config)
    assert "sample_size 4999 < min_n 5000" in plan.cs("a")["reason"]
    assert plan.cs("b")["state"] == "STRONG"


def dev_strict(shared_plan):
    """dev_mode with both allowlists [STABLE] and no experimental lane."""
    config = config_with(**{"routing.dev_mode": True, "routing.stability_allowlist.cross_sectional": ["STABLE"],
                            "routing.stability_allowlist.symbol": ["STABLE"], "routing.enable_experimental_lane": False})
    rows = [cs_row(0.8, sample_size=4000, stability="UNKNOWN", target="small"),
            cs_row(0.8, sample_size=6000, stability="UNKNOWN", target="large"),
            sym_row("SMALL", 0.8, sample_size=999, target="syms"),
            sym_row("UNK", 0.8, sample_size=1500, stability="UNKNOWN", target="syms")]
    return shared_plan("dev_strict", rows, config)


def test_dev_mode_lets_unknown_stability_join_the_cs_allowlist_below_the_cs_floor(shared_plan):
    plan = dev_strict(shared_plan)
    assert plan.cs("small")["state"] == "STRONG"
    assert plan.cs("large")["state"] == "DISALLOWED"
    assert plan.cs("large")["reason_code"] == "STABILITY_NOT_ALLOWED"


def test_dev_mode_does_not_touch_the_symbol_side(shared_plan):
    plan = dev_strict(shared_plan)
    assert reason_codes(plan, "syms", "SMALL")[1] == "SAMPLE_SIZE"
    assert reason_codes(plan, "syms", "UNK")[1] == "STABILITY_NOT_ALLOWED"


# --- experimental cap -------------------------------------------------------------------------

def experimental_rows(scores: dict[str, float], target: str = T, extra_symbols: int = 0) -> list[dict[str, Any]]:
    rows = [sym_row(s, score, target=target, stability="DRIFTING") for s, score in scores.items()]
    rows += [sym_row(f"OTHER{i}", None, target=target) for i in range(extra_symbols)]  # blocked (missing score)
    return rows


def cap_config(fraction: float) -> dict[str, Any]:
    return config_with(**{"routing.experimental.max_fraction_symbols_per_target": fraction})


def test_experimental_cap_keeps_the_best_k_by_score_then_symbol(shared_plan):
    # 11 symbol rows, fraction 0.3 -> k = floor(3.3) = 3. Ties on score go to the smaller symbol.
    scores = {"E": 0.45, "A": 0.31, "D": 0.40, "B": 0.40, "C": 0.40}
    plan = shared_plan("cap_0.3", experimental_rows(scores, extra_symbols=6), cap_config(0.3))
    kept = sorted(s for s in scores if plan.route(T, s) == "ROUTE_EXPERIMENTAL_ONLY")
    assert kept == ["B", "C", "E"]
    for capped in ("A", "D"):
        assert plan.route(T, capped) == "ROUTE_BLOCKED"
        assert reason_codes(plan, T, capped)[-1] == "EXPERIMENTAL_CAP"
        assert plan.pair(T, capped)["local_state"] == "EXPERIMENTAL"
        assert "EXPERIMENTAL_CAP" in reasons(plan, T, capped) and "experimental_cap 3" in reasons(plan, T, capped)
    assert "EXPERIMENTAL_CAP" not in reason_codes(plan, T, "E")
    assert "EXPERIMENTAL_CAP" not in reason_codes(plan, T, "OTHER0")  # blocked by its own rules


FIVE = {f"S{i}": 0.3 + i / 100 for i in range(5)}


def cap_half(shared_plan):
    rows = (experimental_rows(FIVE) + experimental_rows({"A": 0.4, "B": 0.35}, target="t1")
            + experimental_rows({"A": 0.4, "B": 0.35}, target="t2", extra_symbols=2))
    return shared_plan("cap_0.5", rows, cap_config(0.5))


def test_experimental_cap_is_per_target(shared_plan):
    plan = cap_half(shared_plan)
    assert [plan.route("t1", s) for s in "AB"] == ["ROUTE_EXPERIMENTAL_ONLY", "ROUTE_BLOCKED"]            # k = 1
    assert [plan.route("t2", s) for s in "AB"] == ["ROUTE_EXPERIMENTAL_ONLY", "ROUTE_EXPERIMENTAL_ONLY"]  # k = 2


def cap_zero(shared_plan):
    return shared_plan("cap_0", [sym_row("OK", 0.8), *experimental_rows(FIVE)], cap_config(0.0))


@pytest.mark.parametrize("fraction, kept", [(0.0, 0), (0.5, 2), (1.0, 5)])
def test_experimental_cap_size_is_floor_of_fraction_times_symbol_rows(shared_plan, basics, fraction, kept):
    # 0.0: 6 symbol rows -> k = 0; 0.5: 5 rows -> k = floor(2.5) = 2; 1.0 (SIMPLE_CONFIG): k = 5.
    plan, target = {0.0: (cap_zero(shared_plan), T), 0.5: (cap_half(shared_plan), T), 1.0: (basics, FIVE_DEFAULT)}[fraction]
    best_first = sorted(FIVE, key=FIVE.get, reverse=True)
    routes = [plan.route(target, s) for s in best_first]
    assert routes == ["ROUTE_EXPERIMENTAL_ONLY"] * kept + ["ROUTE_BLOCKED"] * (5 - kept)


FIVE_DEFAULT = case("cap_default", *experimental_rows(FIVE))


@pytest.mark.parametrize("fraction, n, kept", [(0.57, 100, 57), (0.29, 100, 29)])
def test_experimental_cap_uses_the_fraction_as_written(shared_plan, fraction, n, kept):
    # In binary floating point 0.57 x 100 = 56.99999999999999; the cap as written, floor(0.57 x 100), is 57.
    scores = {f"S{i:03d}": 0.3 + i / 1000 for i in range(n)}
    plan = shared_plan(f"cap_{fraction}", experimental_rows(scores), cap_config(fraction))
    assert plan.summary["by_route"].get("ROUTE_EXPERIMENTAL_ONLY", 0) == kept


def test_experimental_cap_does_not_touch_other_routes(shared_plan):
    plan = cap_zero(shared_plan)
    assert plan.route(T, "OK") == "ROUTE_SYMBOL_SPECIFIC"
    assert {plan.route(T, s) for s in FIVE} == {"ROUTE_BLOCKED"}


# --- which rows are CS rows, symbol rows or skipped ---------------------------------------

CS_SPELLINGS = {"null": None, "empty": "", "agg": "__AGG__"}
for _name, _symbol in CS_SPELLINGS.items():
    case(f"cs_symbol_{_name}", {**cs_row(0.8), "symbol": _symbol})


@pytest.mark.parametrize("name", CS_SPELLINGS)
def test_null_empty_and_agg_symbols_are_the_cs_row(basics, name):
    t = f"cs_symbol_{name}"
    assert basics.cs(t)["state"] == "STRONG"
    assert basics.routing["targets"][t]["symbols"] == {}
    assert basics.job(f"cs_{t}")["symbol"] is None


MODES = case("modes", cs_row(0.8, mode="CROSS_SECTIONAL"),
             sym_row("AAA", 0.8, mode="CROSS_SECTIONAL"),  # FoxML labels symbol rows with the run's view
             {"target": T, "symbol": None, "mode": "SYMBOL_SPECIFIC", "score": 0.1, "sample_size": 1})


def test_mode_labels_do_not_decide_the_side_but_symbol_specific_aggregates_are_skipped(basics):
    assert basics.route(MODES, "AAA") == "ROUTE_BOTH"
    assert basics.cs(MODES)["state"] == "STRONG"  # the aggregate row neither replaced nor duplicated the CS row
    assert "1 aggregate rows skipped" in basics.result.err
