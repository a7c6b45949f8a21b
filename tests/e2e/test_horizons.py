"""Horizons from target names: the built-in rule, and `routing.horizon_extraction` (FoxML's block).

Without the block the first of `(\\d+)m(?:_|$)` ×1, `(\\d+)d(?:_|$)` ×1440, `(\\d+)h(?:_|$)` ×60 that
matches gives the minutes. With FoxML's block (from its `CONFIG/data/excluded_features.yaml`,
pasted under `routing` as is) horizons resolve as FoxML's `resolve_target_horizon_minutes` does:
`same_day` anywhere → 390; then the patterns in order (unanchored, case-insensitive); then a bare
`fwd_ret_N` → N minutes. Thresholds, states, routes and CS jobs follow the tier.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from helpers import FOXML_HORIZON_BLOCK_YAML, SIMPLE_CONFIG, plan_in

FOXML_BLOCK_YAML = FOXML_HORIZON_BLOCK_YAML
FOXML_BLOCK = yaml.safe_load(FOXML_BLOCK_YAML)["horizon_extraction"]

# target -> (minutes, tier) without the block, and with FoxML's block.
CASES: dict[str, tuple[tuple[float | None, str], tuple[float | None, str]]] = {
    "fwd_ret_oc_same_day": ((None, "default"), (390, "long")),
    "fwd_ret_same_day": ((None, "default"), (390, "long")),
    "FWD_RET_OC_SAME_DAY": ((None, "default"), (390, "long")),         # same_day is found in any case
    "fwd_ret_5d_same_day": ((7200, "very_long"), (390, "long")),       # ... and before any pattern
    "fwd_ret_2h_5d": ((7200, "very_long"), (120, "medium")),           # FoxML: h before d
    "fwd_ret_5d": ((7200, "very_long"), (7200, "very_long")),
    "fwd_ret_1d": ((1440, "very_long"), (1440, "very_long")),
    "fwd_ret_15m": ((15, "short"), (15, "short")),
    "fwd_ret_60m": ((60, "medium"), (60, "medium")),
    "fwd_ret_4h": ((240, "long"), (240, "long")),
    "FWD_RET_15M": ((None, "default"), (15, "short")),                 # case-insensitive
    "y_will_peak_60m_0.8": ((60, "medium"), (60, "medium")),
    "fwd_ret_15min": ((None, "default"), (15, "short")),               # unanchored
    "fwd_ret_2h_15m": ((15, "short"), (15, "short")),                  # m before h in both
    "fwd_ret_60": ((None, "default"), (60, "medium")),                 # bare fwd_ret_N: minutes
    "fwd_ret_10": ((None, "default"), (10, "short")),
    "fwd_ret_10_x": ((None, "default"), (None, "default")),            # not a bare suffix
    "sector_beta": ((None, "default"), (None, "default")),
}


def config_with_block(block: Any) -> dict[str, Any]:
    config = copy.deepcopy(SIMPLE_CONFIG)
    if block is not None:
        config["routing"]["horizon_extraction"] = copy.deepcopy(block)
    return config


def rows_for(targets: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for target in targets:
        rows.append({"target": target, "symbol": None, "score": 0.6, "sample_size": 10_000, "task_type": "REGRESSION"})
        rows.append({"target": target, "symbol": "AAA", "score": 0.6, "sample_size": 2_000, "task_type": "REGRESSION"})
    return rows


def horizons(root: Path) -> dict[str, tuple[float | None, str]]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT DISTINCT target, horizon_minutes, horizon_tier FROM latest_candidate_signal_states").fetchall()
    return {target: (minutes, tier) for target, minutes, tier in rows}


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    cache: dict[str, dict[str, tuple[float | None, str]]] = {}

    def get(name: str, block: Any, targets: list[str]) -> dict[str, tuple[float | None, str]]:
        if name not in cache:
            root = tmp_path_factory.mktemp(name)
            plan_in(root, rows_for(targets), config_with_block(block))
            cache[name] = horizons(root)
        return cache[name]
    return get


@pytest.mark.parametrize("target", CASES)
def test_without_the_block_the_built_in_rule_applies(planned, target):
    assert planned("builtin", None, list(CASES))[target] == CASES[target][0]


@pytest.mark.parametrize("target", CASES)
def test_foxmls_block_pasted_as_is_resolves_as_foxml_does(planned, target):
    assert planned("foxml", FOXML_BLOCK, list(CASES))[target] == CASES[target][1]


def test_the_block_in_a_yaml_file_pasted_under_routing(tmp_path):
    """FoxML's block text, indented under `routing:` of a config file, gives FoxML's horizons."""
    text = yaml.safe_dump(SIMPLE_CONFIG, sort_keys=False)
    text = text.replace("routing:\n", "routing:\n" + "".join("  " + line + "\n" for line in FOXML_BLOCK_YAML.splitlines()), 1)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    plan_in(tmp_path, rows_for(["fwd_ret_oc_same_day", "fwd_ret_2h_5d"]), path)
    found = horizons(tmp_path)
    assert found["fwd_ret_oc_same_day"] == (390, "long")
    assert found["fwd_ret_2h_5d"] == (120, "medium")


@pytest.mark.parametrize("block, expected", [
    # case-sensitive: upper-case names match nothing, same_day only in lower case
    ({**FOXML_BLOCK, "case_insensitive": False},
     {"FWD_RET_15M": (None, "default"), "FWD_RET_OC_SAME_DAY": (None, "default"), "fwd_ret_oc_same_day": (390, "long"),
      "fwd_ret_2h_5d": (120, "medium")}),
    # no special texts: same_day is only a name
    ({**FOXML_BLOCK, "special": {}},
     {"fwd_ret_oc_same_day": (None, "default"), "fwd_ret_5d_same_day": (7200, "very_long")}),
    # special texts in config order, each checked before the patterns
    ({**FOXML_BLOCK, "special": {"overnight": 1050, "same_day": 390}},
     {"fwd_ret_overnight_5d": (1050, "long"), "fwd_ret_OVERNIGHT_same_day": (1050, "long"), "fwd_ret_same_day": (390, "long")}),
    # the default patterns when only `special` is given; another bare suffix
    ({"special": {"same_day": 390}, "bare_number_suffix": "ret_(\\d+)_bars$"},
     {"fwd_ret_2h_5d": (120, "medium"), "fwd_ret_3_bars": (3, "short"), "fwd_ret_60": (None, "default")}),
    # multipliers, and a regex holding a quote reaches the SQL as one literal
    ({"patterns": [{"regex": "'(\\d+)'", "multiplier": 60}, {"regex": "(\\d+)w", "multiplier": 1.5}]},
     {"ret_'3'": (180, "medium"), "ret_10w": (15, "short"), "x') OR TRUE --": (None, "default")}),
])
def test_block_options(tmp_path, block, expected):
    plan_in(tmp_path, rows_for(list(expected)), config_with_block(block))
    found = horizons(tmp_path)
    assert {t: found[t] for t in expected} == expected


TIERED = {"classification": 0.9, "regression": {"default": 0.9, "short": 0.9, "medium": 0.5, "long": 0.5, "very_long": 0.9}}


def test_states_routes_and_cs_jobs_follow_the_horizon(tmp_path):
    """A score of 0.6 passes only the medium and long tiers: with FoxML's block both targets get a
    CS job and a symbol route; without it neither does."""
    targets = ["fwd_ret_oc_same_day", "fwd_ret_2h_5d"]
    config = config_with_block(None)
    for side in ("cross_sectional", "symbol"):
        config["routing"][side] = {"min_score": TIERED, "strong_score": 0.95}
    config["routing"]["enable_experimental_lane"] = False
    without = plan_in(tmp_path / "builtin", rows_for(targets), config)
    config["routing"]["horizon_extraction"] = FOXML_BLOCK
    with_block = plan_in(tmp_path / "foxml", rows_for(targets), config)
    assert without.job_ids == []
    for target in targets:
        assert without.cs(target)["state"] == "DISALLOWED"
        assert with_block.cs(target)["state"] == "WEAK_BUT_OK"
        assert without.route(target, "AAA") == "ROUTE_BLOCKED"
        assert with_block.route(target, "AAA") == "ROUTE_BOTH"
    assert sorted(with_block.job_ids) == sorted([f"cs_{t}" for t in targets] + [f"sym_{t}_AAA" for t in targets])
