"""The routing config. Invalid config (wrong type, missing required key, bad enum, fraction
outside [0, 1], unknown key) is exit code 2 with the key's dotted path in the message; FoxML-only
keys are accepted with a warning; config_hash is the sha256 of the canonical validated config."""
from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from foxwarehouse.config import canonical_json, config_hash, load_config, packaged_config_path, validate_config
from helpers import SIMPLE_CONFIG, config_with, run_cli, strict_json_load, write_candidates, write_config

ROWS = [{"target": "t", "symbol": None, "score": 0.8, "sample_size": 10_000},
        {"target": "t", "symbol": "A", "score": 0.8, "sample_size": 2_000}]
DROP = object()  # marks a key to delete


def mutate(base: dict[str, Any] = SIMPLE_CONFIG, **dotted: Any) -> dict[str, Any]:
    """`base` (SIMPLE_CONFIG) with dotted keys set (or removed with DROP)."""
    config = copy.deepcopy(base)
    for key, value in dotted.items():
        node = config
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if value is DROP:
            node.pop(last, None)
        else:
            node[last] = value
    return config


@pytest.fixture(scope="module")
def metrics(tmp_path_factory) -> Path:
    return write_candidates(tmp_path_factory.mktemp("metrics") / "m.parquet", ROWS)


def plan_with(tmp_path: Path, metrics: Path, config: dict[str, Any] | str):
    path = tmp_path / "config.yaml"
    if isinstance(config, str):
        path.write_text(config, encoding="utf-8")
    else:
        write_config(path, config)
    out = tmp_path / "out"
    result = run_cli(["plan", "--metrics", metrics, "--config", path, "--db", tmp_path / "w.duckdb", "--out", out])
    assert "Traceback" not in result.err, result
    return result, out


def assert_rejected(tmp_path: Path, metrics: Path, config: dict[str, Any] | str, *words: str) -> str:
    result, out = plan_with(tmp_path, metrics, config)
    assert result.code == 2, result
    for word in words:
        assert word in result.err, (word, result.err)
    assert not out.exists()  # nothing ingested or exported
    return result.err


# --- wrong type ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value, path", [
    ("routing.dev_mode", "yes", "routing.dev_mode"),
    ("routing.block_on_leakage", 1, "routing.block_on_leakage"),
    ("routing.min_sample_size.symbol", "many", "routing.min_sample_size.symbol"),
    ("routing.min_sample_size.cross_sectional", -5, "routing.min_sample_size.cross_sectional"),
    ("routing.dev_mode_min_sample_size", 10.5, "routing.dev_mode_min_sample_size"),
    ("routing.cross_sectional.min_score", "high", "routing.cross_sectional.min_score"),
    ("routing.symbol.strong_score", {"classification": 0.6}, "routing.symbol.strong_score.regression"),
    ("routing.symbol.min_score", {"classification": 0.5, "regression": {"short": 0.1}},
     "routing.symbol.min_score.regression.default"),
    ("routing.symbol.min_score", {"classification": "x", "regression": 0.1}, "routing.symbol.min_score.classification"),
    ("routing.cross_sectional.min_score", {"classification": 0.5, "regression": {"default": 0.1, "long": "y"}},
     "routing.cross_sectional.min_score.regression.long"),
    ("routing.stability_allowlist.symbol", "STABLE", "routing.stability_allowlist.symbol"),
    ("routing.stability_classification.max_std_tau", math.nan, "routing.stability_classification.max_std_tau"),
    ("routing.experimental.max_fraction_symbols_per_target", "half", "routing.experimental.max_fraction_symbols_per_target"),
    ("training_plan.model_families", "lightgbm", "training_plan.model_families"),
    ("training_plan.model_families", ["lightgbm", ""], "training_plan.model_families[1]"),
    ("training_plan.model_families_by_route", ["x"], "training_plan.model_families_by_route"),
    ("training_plan.derived_views", "no", "training_plan.derived_views"),
    ("routing.stability_classification", [1, 2], "routing.stability_classification"),
])
def test_a_value_of_the_wrong_type_is_exit_2_naming_the_key(tmp_path, metrics, key, value, path):
    assert_rejected(tmp_path, metrics, mutate(**{key: value}), path)


def test_a_config_that_is_not_a_mapping_is_rejected(tmp_path, metrics):
    assert_rejected(tmp_path, metrics, "- just\n- a list\n", "mapping")


# --- missing required keys -----------------------------------------------------------------------

@pytest.mark.parametrize("key", ["routing.cross_sectional.min_score", "routing.cross_sectional.strong_score",
                                 "routing.symbol.min_score", "routing.symbol.strong_score"])
def test_a_missing_threshold_is_exit_2_naming_the_key(tmp_path, metrics, key):
    assert_rejected(tmp_path, metrics, mutate(**{key: DROP}), key, "required")


def test_experimental_min_score_is_required_only_with_the_experimental_lane(tmp_path, metrics):
    assert_rejected(tmp_path, metrics, mutate(**{"routing.experimental.min_score": DROP}),
                    "routing.experimental.min_score")
    result, out = plan_with(tmp_path, metrics, mutate(**{"routing.experimental.min_score": DROP,
                                                         "routing.enable_experimental_lane": False}))
    assert result.code == 0, result
    assert (out / "training_plan" / "master_training_plan.json").is_file()


def test_every_other_key_has_a_default(tmp_path, metrics):
    minimal = {"routing": {"cross_sectional": {"min_score": 0.5, "strong_score": 0.7},
                           "symbol": {"min_score": 0.5, "strong_score": 0.7},
                           "experimental": {"min_score": 0.3}}}
    validated = validate_config(minimal)
    assert validated["routing"]["min_sample_size"] == {"cross_sectional": 5000, "symbol": 1000}
    assert validated["routing"]["both_strong_behavior"] == "ROUTE_BOTH"
    assert validated["routing"]["experimental"]["max_fraction_symbols_per_target"] == 0.2
    assert validated["training_plan"]["model_families"] == ["lightgbm", "xgboost"]
    result, _ = plan_with(tmp_path, metrics, minimal)
    assert result.code == 0, result


# --- bad enum values -----------------------------------------------------------------------------

@pytest.mark.parametrize("key, value, path", [
    ("routing.both_strong_behavior", "PREFER_BOTH", "routing.both_strong_behavior"),
    ("routing.stability_allowlist.cross_sectional", ["STABLE", "STABEL"], "routing.stability_allowlist.cross_sectional[1]"),
    ("routing.experimental.allowed_stabilities", ["WOBBLY"], "routing.experimental.allowed_stabilities[0]"),
    ("routing.dump_plan_as", ["JSON", "XML"], "routing.dump_plan_as[1]"),
    ("training_plan.model_families_by_route", {"ROUTE_FOO": ["x"]}, "training_plan.model_families_by_route.ROUTE_FOO"),
])
def test_a_bad_enum_value_is_exit_2_naming_the_key(tmp_path, metrics, key, value, path):
    assert_rejected(tmp_path, metrics, mutate(**{key: value}), path)


def test_a_bad_enum_value_suggests_the_nearest_one(tmp_path, metrics):
    assert_rejected(tmp_path, metrics, mutate(**{"routing.both_strong_behavior": "PREFER_SYMBOLS"}), "PREFER_SYMBOL")


# --- fractions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [1.5, -0.1, 2])
def test_a_fraction_outside_0_1_is_exit_2(tmp_path, metrics, value):
    assert_rejected(tmp_path, metrics, mutate(**{"routing.experimental.max_fraction_symbols_per_target": value}),
                    "routing.experimental.max_fraction_symbols_per_target", "[0, 1]")


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0])
def test_fractions_0_and_1_are_valid(value):
    validated = validate_config(mutate(**{"routing.experimental.max_fraction_symbols_per_target": value}))
    assert validated["routing"]["experimental"]["max_fraction_symbols_per_target"] == value


# --- unknown keys --------------------------------------------------------------------------------

@pytest.mark.parametrize("key, suggestion", [
    ("routing.min_sample_sise", "routing.min_sample_size"),
    ("training_plan.include_blockd", "training_plan.include_blocked"),
    ("routing.symbol.min_scor", "routing.symbol.min_score"),
    ("routng", "routing"),
    ("routing.stability_classification.max_std_ovrlap", "routing.stability_classification.max_std_overlap"),
    ("routing.cross_sectional.min_score.regression.shrt", "routing.cross_sectional.min_score.regression.short"),
])
def test_an_unknown_key_is_exit_2_suggesting_the_nearest_known_key(tmp_path, metrics, key, suggestion):
    tiered = mutate(**{"routing.cross_sectional.min_score": {"classification": 0.5, "regression": {"default": 0.5}}})
    assert_rejected(tmp_path, metrics, mutate(tiered, **{key: 1}), key, "unknown", f"did you mean {suggestion}")


@pytest.mark.parametrize("key, value", [
    ("require_safe_features_only", True),
    ("allowed_feature_leakage_status", ["SAFE", "SUSPECT"]),
    ("require_min_successful_families", 2),
    ("log_decision_reasons", True),
])
def test_foxml_only_keys_are_accepted_with_a_warning(tmp_path, metrics, key, value):
    result, out = plan_with(tmp_path, metrics, mutate(**{f"routing.{key}": value}))
    assert result.code == 0, result
    assert "warning" in result.err and f"routing.{key}" in result.err
    assert (out / "training_plan" / "master_training_plan.json").is_file()


# --- config files --------------------------------------------------------------------------------

def test_a_missing_config_file_is_exit_2(tmp_path, metrics):
    result = run_cli(["plan", "--metrics", metrics, "--config", tmp_path / "nope.yaml", "--db", tmp_path / "w.duckdb",
                      "--out", tmp_path / "out"])
    assert result.code == 2 and "nope.yaml" in result.err and "Traceback" not in result.err


def test_a_config_file_that_is_not_yaml_is_exit_2(tmp_path, metrics):
    assert_rejected(tmp_path, metrics, "routing: {min_sample_size: [\n", "config.yaml", "YAML")


def test_the_packaged_default_config_is_used_without_config_or_local_file(tmp_path, metrics, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli(["plan", "--metrics", metrics, "--db", "w.duckdb", "--out", "out"])
    assert result.code == 0, result
    meta = strict_json_load(tmp_path / "out" / "training_plan" / "master_training_plan.json")["metadata"]
    assert meta["config_hash"] == config_hash(load_config(packaged_config_path()))


def test_a_local_config_routing_config_yaml_is_the_default(tmp_path, metrics, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path / "config" / "routing_config.yaml", config_with(**{"routing.dev_mode": True}))
    result = run_cli(["plan", "--metrics", metrics, "--db", "w.duckdb", "--out", "out"])
    assert result.code == 0, result
    meta = strict_json_load(tmp_path / "out" / "training_plan" / "master_training_plan.json")["metadata"]
    assert meta["config_hash"] == config_hash(validate_config(config_with(**{"routing.dev_mode": True})))


# --- config_hash ---------------------------------------------------------------------------------

def test_config_hash_is_sha256_of_the_canonical_validated_config():
    validated = validate_config(SIMPLE_CONFIG)
    expected = hashlib.sha256(json.dumps(validated, sort_keys=True, separators=(",", ":"),
                                         ensure_ascii=False).encode()).hexdigest()
    assert config_hash(validated) == expected == hashlib.sha256(canonical_json(validated).encode()).hexdigest()


def test_config_hash_is_stable_across_key_order_spelling_and_foxml_keys(tmp_path):
    base = config_hash(validate_config(SIMPLE_CONFIG))
    assert config_hash(validate_config(copy.deepcopy(SIMPLE_CONFIG))) == base
    reordered = {"training_plan": SIMPLE_CONFIG["training_plan"],
                 "routing": dict(reversed(list(SIMPLE_CONFIG["routing"].items())))}
    assert config_hash(validate_config(reordered)) == base
    assert config_hash(validate_config(mutate(**{"routing.both_strong_behavior": " route_both "}))) == base
    with pytest.warns(UserWarning, match="routing.log_decision_reasons"):
        assert config_hash(validate_config(mutate(**{"routing.log_decision_reasons": True}))) == base
    same_threshold = mutate(**{"routing.symbol.min_score": {"classification": 0.5, "regression": {"default": 0.5}}})
    assert config_hash(validate_config(same_threshold)) == base
    # a file says the same as the mapping
    path = write_config(tmp_path / "c.yaml", SIMPLE_CONFIG)
    assert config_hash(load_config(path)) == base
    # and any real change changes it
    assert config_hash(validate_config(mutate(**{"routing.dev_mode": True}))) != base


def test_config_hash_in_the_plan_is_the_same_for_two_runs(tmp_path, metrics):
    path = write_config(tmp_path / "c.yaml", SIMPLE_CONFIG)
    hashes = []
    for out in ("a", "b"):
        result = run_cli(["plan", "--metrics", metrics, "--config", path, "--db", tmp_path / "w.duckdb",
                          "--out", tmp_path / out])
        assert result.code == 0, result
        hashes.append(strict_json_load(tmp_path / out / "training_plan" / "master_training_plan.json")
                      ["metadata"]["config_hash"])
    assert hashes[0] == hashes[1] == config_hash(validate_config(SIMPLE_CONFIG))


def test_the_packaged_default_config_is_valid_and_matches_the_spec_example():
    raw = yaml.safe_load(packaged_config_path().read_text(encoding="utf-8"))
    validated = validate_config(raw)
    r = validated["routing"]
    assert r["min_sample_size"] == {"cross_sectional": 5000, "symbol": 1000}
    assert r["stability_allowlist"] == {"cross_sectional": ["STABLE", "DRIFTING", "UNKNOWN"], "symbol": ["STABLE", "UNKNOWN"]}
    assert r["experimental"]["allowed_stabilities"] == ["DRIFTING", "UNKNOWN"]
    assert r["stability_classification"]["min_snapshots_for_stability"] == 2
    assert validated["training_plan"]["model_families_by_route"] == {"ROUTE_EXPERIMENTAL_ONLY": ["lightgbm"]}
