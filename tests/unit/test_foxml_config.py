"""FoxML's routing configs plan as they are.

The configs under tests/data/foxml/config/ have the keys, nesting and value types of FoxML's
`CONFIG/pipeline/training/routing.yaml` and `CONFIG/routing/default.yaml` (written here, not copied):
they plan with exit 0 and one warning per key foxwarehouse does not use. A file of another kind (the
shape of FoxML's `CONFIG/routing/thresholds.yaml`) is refused as "not a routing config", with every
problem listed at once. FoxML's `horizon_extraction` block is accepted under `routing` and validated.
"""
from __future__ import annotations

import copy
import re
import textwrap
import warnings
from pathlib import Path

import pytest
import yaml

import foxwarehouse
from foxwarehouse.config import (
    FOXML_ONLY_KEYS,
    config_hash,
    load_config_with_notices,
    validate_config,
    validate_config_with_notices,
)
from foxwarehouse.errors import ConfigError
from helpers import FOXML_HORIZON_BLOCK_YAML, SIMPLE_CONFIG, run_cli, write_candidates, write_config

FOXML = Path(__file__).resolve().parent.parent / "data" / "foxml" / "config"
TRAINING_ROUTING = FOXML / "training_routing.yaml"
ROUTER_DEFAULT = FOXML / "router_default.yaml"
THRESHOLDS = FOXML / "routing_thresholds.yaml"

# The keys of those files foxwarehouse does not use: each gets exactly one warning.
TRAINING_ROUTING_UNUSED = [
    "routing.view_policy", "routing.requested_view", "routing.auto_flip_min_symbols",
    "routing.auto_dev_mode_threshold", "routing.require_safe_features_only",
    "routing.allowed_feature_leakage_status", "routing.require_min_successful_families",
    "routing.log_decision_reasons",
]
ROUTER_DEFAULT_UNUSED = [
    "routing.require_safe_features_only", "routing.allowed_feature_leakage_status", "routing.log_decision_reasons",
]

# FoxML's horizon_extraction block, indented under routing as it is pasted.
FOXML_HORIZON_BLOCK = textwrap.indent(FOXML_HORIZON_BLOCK_YAML, "  ")

ROWS = [
    {"target": "fwd_ret_15m", "symbol": None, "score": 0.8, "sample_size": 60_000},
    {"target": "fwd_ret_15m", "symbol": "AAPL", "score": 0.8, "sample_size": 6_000},
]


@pytest.fixture(scope="module")
def metrics(tmp_path_factory) -> Path:
    return write_candidates(tmp_path_factory.mktemp("metrics") / "m.parquet", ROWS)


def plan_cli(tmp_path: Path, metrics: Path, config: Path):
    out = tmp_path / "out"
    result = run_cli(["plan", "--metrics", metrics, "--config", config, "--db", tmp_path / "w.duckdb", "--out", out])
    assert "Traceback" not in result.err, result
    return result, out


def warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.lower().startswith("warning")]


# --- FoxML's routing configs plan as they are -----------------------------------------------------

@pytest.mark.parametrize("path, unused", [(TRAINING_ROUTING, TRAINING_ROUTING_UNUSED),
                                          (ROUTER_DEFAULT, ROUTER_DEFAULT_UNUSED)],
                         ids=["pipeline-training-routing", "routing-default"])
def test_a_foxml_routing_config_plans_with_one_warning_per_unused_key(tmp_path, metrics, path, unused):
    result, out = plan_cli(tmp_path, metrics, path)
    assert result.code == 0, result
    assert (out / "training_plan" / "master_training_plan.json").is_file()
    lines = warning_lines(result.err)
    for key in unused:
        naming = [line for line in lines if f"{key} " in line + " "]
        assert len(naming) == 1, (key, lines)
        assert "FoxML" in naming[0] and "not used" in naming[0], naming
    assert len(lines) == len(unused), lines
    assert "did you mean" not in result.err


def test_the_foxml_config_is_validated_for_the_keys_foxwarehouse_uses():
    validated, notices = load_config_with_notices(TRAINING_ROUTING)
    r = validated["routing"]
    assert r["dev_mode"] is True and r["dev_mode_min_sample_size"] == 1000
    assert r["min_sample_size"] == {"cross_sectional": 5000, "symbol": 1000}
    assert r["cross_sectional"]["min_score"]["regression"]["very_long"] == -2.0
    assert r["symbol"]["strong_score"]["classification"] == 0.60
    assert r["dump_plan_as"] == ["JSON", "YAML", "MARKDOWN"]
    assert "horizon_extraction" not in r  # absent: the built-in rule, and the hash of before
    assert len(notices) == len(TRAINING_ROUTING_UNUSED)


@pytest.mark.parametrize("key, value", [
    ("mode_policy", "force"),            # FoxML's legacy alias of view_policy
    ("requested_mode", "SYMBOL_SPECIFIC"),  # ... and of requested_view
    ("view_policy", "force"),
    ("requested_view", "SYMBOL_SPECIFIC"),
    ("auto_flip_min_symbols", 3),
    ("auto_dev_mode_threshold", 10_000),
    ("allow_mode_fallback", True),       # read by FoxML's metrics aggregator from this section
    ("require_safe_features_only", False),
    ("allowed_feature_leakage_status", ["SAFE", "SUSPECT"]),
    ("require_min_successful_families", 2),
    ("log_decision_reasons", False),
])
def test_each_foxml_key_is_accepted_with_one_warning_that_names_it(key, value):
    raw = copy.deepcopy(SIMPLE_CONFIG)
    raw["routing"][key] = value
    validated, notices = validate_config_with_notices(raw)
    assert validated == validate_config(SIMPLE_CONFIG)
    assert notices == [f"config key routing.{key} is not used by foxwarehouse (a FoxML key; ignored)"]
    assert f"routing.{key}" in FOXML_ONLY_KEYS


def test_foxml_keys_do_not_change_the_config_hash():
    raw = yaml.safe_load(TRAINING_ROUTING.read_text(encoding="utf-8"))
    stripped = copy.deepcopy(raw)
    for key in TRAINING_ROUTING_UNUSED:
        del stripped["routing"][key.split(".", 1)[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert config_hash(validate_config(raw)) == config_hash(validate_config(stripped))


def test_plan_api_accepts_the_foxml_config_as_a_mapping(tmp_path, metrics):
    raw = yaml.safe_load(TRAINING_ROUTING.read_text(encoding="utf-8"))
    result = foxwarehouse.plan(metrics, config=raw, db=tmp_path / "w.duckdb", out=tmp_path / "out")
    assert result.fresh
    for key in TRAINING_ROUTING_UNUSED:
        assert sum(key in w for w in result.warnings) == 1, (key, result.warnings)
    result = foxwarehouse.plan(metrics, config=TRAINING_ROUTING, db=tmp_path / "w2.duckdb", out=tmp_path / "out2")
    assert result.fresh


# --- suggestions only where they are close and not misleading -----------------------------------

@pytest.mark.parametrize("key", ["auto_dev_mode_threshold", "auto_flip_min_symbols", "requested_view"])
def test_a_known_foxml_key_gets_no_suggestion(key):
    raw = copy.deepcopy(SIMPLE_CONFIG)
    raw["routing"][key] = 1
    _, notices = validate_config_with_notices(raw)
    assert len(notices) == 1 and "did you mean" not in notices[0]


@pytest.mark.parametrize("key, suggestion", [
    ("dev_mod", "routing.dev_mode"),
    ("view_polcy", "routing.view_policy"),
])
def test_a_close_typo_gets_the_nearest_key(key, suggestion):
    raw = copy.deepcopy(SIMPLE_CONFIG)
    raw["routing"][key] = 1
    with pytest.raises(ConfigError, match=f"routing.{key}: unknown config key; did you mean {suggestion}"):
        validate_config(raw)


@pytest.mark.parametrize("key", ["auto_dev_mode_limit", "frobnicate", "thresholds"])
def test_a_far_unknown_key_gets_no_suggestion(key):
    raw = copy.deepcopy(SIMPLE_CONFIG)
    raw["routing"][key] = 1
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    assert f"routing.{key}: unknown config key" in info.value.message
    assert "did you mean" not in info.value.message


# --- every problem at once; "not a routing config" --------------------------------------------------

def test_a_thresholds_file_is_not_a_routing_config_and_every_problem_is_listed(tmp_path, metrics):
    result, out = plan_cli(tmp_path, metrics, THRESHOLDS)
    assert result.code == 2, result
    first = result.err.strip().splitlines()[0]
    assert "not a routing config" in first, result.err
    for key in ("routing.thresholds", "routing.dev_mode", "routing.cross_sectional.min_score",
                "routing.cross_sectional.strong_score", "routing.symbol.min_score", "routing.symbol.strong_score"):
        assert key in result.err, (key, result.err)
    assert not out.exists()


@pytest.mark.parametrize("text", [
    "always_exclude:\n  regex_patterns: ['^y_']\nhorizon_extraction:\n  patterns: []\n",  # another FoxML file
    "- a\n- list\n",
    "just text\n",
    "",
])
def test_other_files_are_not_routing_configs(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config_with_notices(path)
    assert "not a routing config" in info.value.message.splitlines()[0], info.value.message


def test_every_problem_of_a_routing_config_is_listed_with_its_dotted_path():
    raw = copy.deepcopy(SIMPLE_CONFIG)
    raw["routing"]["dev_mode"] = "yes"
    raw["routing"]["min_sample_sise"] = 3
    raw["routing"]["experimental"]["max_fraction_symbols_per_target"] = 1.5
    raw["training_plan"]["model_families"] = "lightgbm"
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    message = info.value.message
    assert "4 problems" in message.splitlines()[0]
    assert "not a routing config" not in message
    for key in ("routing.dev_mode", "routing.min_sample_sise", "routing.experimental.max_fraction_symbols_per_target",
                "training_plan.model_families"):
        assert key in message, (key, message)


def test_at_most_20_problems_are_listed():
    raw = copy.deepcopy(SIMPLE_CONFIG)
    for i in range(30):
        raw["routing"][f"unknown_key_{i:02d}"] = i
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    message = info.value.message
    assert len(message.splitlines()) == 1 and "30 problems" in message
    assert len(re.findall(r"unknown_key_\d\d", message)) == 20
    assert "10 more" in info.value.message


def test_a_long_value_is_not_quoted_in_full():
    raw = copy.deepcopy(SIMPLE_CONFIG)
    raw["routing"]["dev_mode"] = "x" * 5000
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    assert "routing.dev_mode" in info.value.message
    assert len(info.value.message) < 400


# --- horizon_extraction ----------------------------------------------------------------------------

def foxml_with_block(block: str = FOXML_HORIZON_BLOCK) -> str:
    return TRAINING_ROUTING.read_text(encoding="utf-8") + "\n" + block


def test_foxmls_horizon_block_pastes_in_as_is(tmp_path, metrics):
    path = tmp_path / "c.yaml"
    path.write_text(foxml_with_block(), encoding="utf-8")
    validated, _ = load_config_with_notices(path)
    assert validated["routing"]["horizon_extraction"] == {
        "patterns": [{"regex": r"(\d+)m", "multiplier": 1.0}, {"regex": r"(\d+)h", "multiplier": 60.0},
                     {"regex": r"(\d+)d", "multiplier": 1440.0}],
        "special": [{"text": "same_day", "minutes": 390.0}],
        "case_insensitive": True,
        "bare_number_suffix": r"fwd_ret_(\d+)$",
    }
    result, _ = plan_cli(tmp_path, metrics, path)
    assert result.code == 0, result


def test_the_documented_block_validates():
    raw = copy.deepcopy(SIMPLE_CONFIG)
    raw["routing"]["horizon_extraction"] = {
        "patterns": [{"regex": r"(\d+)m", "multiplier": 1}, {"regex": r"(\d+)h", "multiplier": 60},
                     {"regex": r"(\d+)d", "multiplier": 1440}],
        "special": {"same_day": 390, "overnight": 1050},
        "case_insensitive": False,
        "bare_number_suffix": r"fwd_ret_(\d+)$",
    }
    block = validate_config(raw)["routing"]["horizon_extraction"]
    assert block["special"] == [{"text": "same_day", "minutes": 390.0}, {"text": "overnight", "minutes": 1050.0}]
    assert block["case_insensitive"] is False


def test_the_config_hash_changes_with_the_block():
    base = copy.deepcopy(SIMPLE_CONFIG)
    with_block = copy.deepcopy(SIMPLE_CONFIG)
    with_block["routing"]["horizon_extraction"] = {"patterns": [{"regex": r"(\d+)m", "multiplier": 1}]}
    other = copy.deepcopy(with_block)
    other["routing"]["horizon_extraction"]["patterns"][0]["multiplier"] = 2
    special = copy.deepcopy(with_block)
    special["routing"]["horizon_extraction"]["special"] = {}
    hashes = {config_hash(validate_config(c)) for c in (base, with_block, other, special)}
    assert len(hashes) == 4


@pytest.mark.parametrize("block, key, shown", [
    ({"patterns": [{"regex": r"(\d+)m", "multiplier": 1}, {"regex": r"(\d+h", "multiplier": 60}]},
     "routing.horizon_extraction.patterns[1].regex", r"(\d+h"),
    ({"patterns": [{"regex": r"\d+m", "multiplier": 1}]},
     "routing.horizon_extraction.patterns[0].regex", r"\d+m"),           # no group to read the number from
    ({"patterns": [{"regex": r"(?<=_)(\d+)m", "multiplier": 1}]},
     "routing.horizon_extraction.patterns[0].regex", r"(?<=_)(\d+)m"),   # Python has it, DuckDB's RE2 does not
    ({"patterns": [{"regex": "", "multiplier": 1}]}, "routing.horizon_extraction.patterns[0].regex", ""),
    ({"patterns": [{"regex": 5, "multiplier": 1}]}, "routing.horizon_extraction.patterns[0].regex", "5"),
    ({"patterns": [{"regex": r"(\d+)m", "multiplier": "sixty"}]}, "routing.horizon_extraction.patterns[0].multiplier", "sixty"),
    ({"patterns": [{"regex": r"(\d+)m", "multiplier": 0}]}, "routing.horizon_extraction.patterns[0].multiplier", "0"),
    ({"patterns": [{"regex": r"(\d+)m", "multiplyer": 1}]}, "routing.horizon_extraction.patterns[0].multiplyer",
     "did you mean routing.horizon_extraction.patterns[0].multiplier"),
    ({"patterns": [{"multiplier": 1}]}, "routing.horizon_extraction.patterns[0].regex", "required"),
    ({"patterns": r"(\d+)m"}, "routing.horizon_extraction.patterns", "list"),
    ({"patterns": []}, "routing.horizon_extraction.patterns", "empty"),
    ({"special": {"same_day": "all day"}}, "routing.horizon_extraction.special.same_day", "all day"),
    ({"special": ["same_day"]}, "routing.horizon_extraction.special", "mapping"),
    ({"case_insensitive": "yes"}, "routing.horizon_extraction.case_insensitive", "yes"),
    ({"bare_number_suffix": "fwd_ret_(\\d+$"}, "routing.horizon_extraction.bare_number_suffix", "fwd_ret_(\\d+$"),
    ({"paterns": []}, "routing.horizon_extraction.paterns", "did you mean routing.horizon_extraction.patterns"),
    ("(\\d+)m", "routing.horizon_extraction", "mapping"),
])
def test_a_bad_horizon_block_is_exit_2_naming_the_key_and_the_value(tmp_path, metrics, block, key, shown):
    raw = copy.deepcopy(SIMPLE_CONFIG)
    raw["routing"]["horizon_extraction"] = block
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    assert key in info.value.message and shown in info.value.message, info.value.message
    result, out = plan_cli(tmp_path, metrics, write_config(tmp_path / "c.yaml", raw))
    assert result.code == 2 and key in result.err, result
    assert not out.exists()
