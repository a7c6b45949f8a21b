"""How a config's YAML is read (foxwarehouse.yaml_loader, docs/ROUTING.md "How the YAML is read"):
YAML 1.2 values, ambiguous YAML 1.1 forms and duplicate keys reported by dotted key and line,
bounded nesting, alias expansion and size, one document of plain YAML. Also the same bounds for a
config a library caller passes as a mapping, and the project file and models.yml read the same way."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import BASE_CONFIG_YAML, SIMPLE_CONFIG, config_with

from foxwarehouse.config import MAX_COUNT, load_config, read_config_file, validate_config, validate_config_with_notices
from foxwarehouse.errors import ConfigError, ProjectError
from foxwarehouse.project import read_project_file
from foxwarehouse.yaml_loader import YamlLimitError, load_yaml, safe_load

BASE = BASE_CONFIG_YAML   # five lines: what a case appends starts at line 6


def load_text(tmp_path: Path, text: str) -> dict[str, Any]:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def rejected(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    return info.value


# --- values: YAML 1.2, and an error where YAML 1.1 would read something else ---------------------

@pytest.mark.parametrize("text, value", [
    ("0x1F", 31), ("+12", 12), ("0o17", 15), ("1e3", 1000.0), ("1.5e3", 1500.0), ("5_000", 5000),
    ("-1_000", -1000), ("1_000.5", 1000.5), (".inf", math.inf), ("-.Inf", -math.inf), ("~", None), ("", None),
    ("null", None), ("true", True), ("FALSE", False), ("'1:30'", "1:30"), ("'on'", "on"), ("!!str 017", "017"),
    ("!!int 017", 17), ("y", "y"), ("=", "="), ("'017'", "017"), ("|\n  1:30\n", "1:30\n"),
])
def test_plain_scalars_are_read_as_yaml_1_2(text: str, value: Any) -> None:
    doc = load_yaml(f"a: {text}\n")
    assert doc.problems == []
    assert type(doc.data["a"]) is type(value) and doc.data["a"] == value


@pytest.mark.parametrize("text, yaml11", [
    ("1:30", "90"), ("190:20:30.15", "685230.15"), ("017", "15"), ("0100", "64"), ("0b101", "5"), ("0_17", "15"),
    ("yes", "true"), ("No", "false"), ("on", "true"), ("OFF", "false"), ("2001-12-14", "a date"), ("1__0", "10"),
])
def test_a_plain_scalar_yaml_1_1_reads_otherwise_is_a_problem_naming_path_and_line(text: str, yaml11: str) -> None:
    doc = load_yaml(f"x:\n  y: [1, {text}]\n")
    assert len(doc.problems) == 1, doc.problems
    problem = doc.problems[0]
    assert problem.path == "x.y[1]" and problem.line == 2
    assert "ambiguous" in problem.message and f"YAML 1.1 reads {yaml11}" in problem.message
    assert f"{text} (line 2)" in problem.message


def test_ambiguous_values_in_a_config_are_errors_by_dotted_key_all_at_once(tmp_path: Path) -> None:
    error = rejected(tmp_path, BASE + "  dev_mode: on\n  dev_mode_min_sample_size: 1:30\n"
                     "training_plan: {model_families: [lightgbm, no]}\n")
    assert len(error.message.splitlines()) == 1 and "config has 3 problems: " in error.message
    for key in ("routing.dev_mode: on (line 6)", "routing.dev_mode_min_sample_size: 1:30 (line 7)",
                "training_plan.model_families[1]: no (line 8)"):
        assert key in error.message
    assert "expected true or false" not in error.message  # the same key is not reported twice


def test_ambiguous_value_under_a_foxml_only_key_is_ignored_with_the_key(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="routing.log_decision_reasons is not used"):
        config = load_text(tmp_path, BASE + "  log_decision_reasons: yes\n")
    assert "log_decision_reasons" not in config["routing"]


def test_yaml_1_2_numbers_reach_the_validated_config(tmp_path: Path) -> None:
    config = load_text(tmp_path, BASE.replace("5000", "5_000").replace("symbol: 1000", "symbol: 0x3E8")
                       + "  dev_mode_min_sample_size: 1e3\n")
    assert config["routing"]["min_sample_size"] == {"cross_sectional": 5000, "symbol": 1000}
    assert config["routing"]["dev_mode_min_sample_size"] == 1000


# --- duplicate keys ------------------------------------------------------------------------------

def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    error = rejected(tmp_path, BASE + "  block_on_leakage: true\n  block_on_leakage: false\n")
    assert error.key == "routing.block_on_leakage"
    assert "routing.block_on_leakage: the key 'block_on_leakage' appears twice" in error.message
    assert "lines 6 and 7" in error.message and len(error.message.splitlines()) == 1


def test_merge_keys_may_override_and_are_not_duplicates() -> None:
    doc = load_yaml("base: &b {a: 1, b: 2}\nx: {<<: *b, a: 3}\n")
    assert doc.problems == [] and doc.data["x"] == {"a": 3, "b": 2}


def test_keys_equal_once_read_are_duplicates() -> None:
    doc = load_yaml("a: 1\n'a': 2\n0x10: 1\n16: 2\n")
    assert [(p.path, p.line) for p in doc.problems] == [("a", 2), ("16", 4)]


# --- bounds ---------------------------------------------------------------------------------------

def laughs(levels: int) -> str:
    lines = ["a0: &a0 [lol]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [9, 12])
def test_alias_bombs_fail_fast(levels: int) -> None:
    started = time.monotonic()
    with pytest.raises(YamlLimitError, match="expands to more than 1,000,000 values"):
        load_yaml(laughs(levels))
    assert time.monotonic() - started < 1.0


def test_aliases_within_the_bound_are_read() -> None:
    assert load_yaml(laughs(3)).data["a3"][0][0][0] == ["lol"]


@pytest.mark.parametrize("text", ["[" * 50_000 + "]" * 50_000, "{a: " * 50_000 + "1" + "}" * 50_000,
                                  "\n".join(f"a{i}: &a{i} [*a{i - 1}]" if i else "a0: &a0 [1]" for i in range(150))])
def test_deep_nesting_is_an_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(YamlLimitError, match="nests deeper than 100 levels"):
        load_yaml(text)


@pytest.mark.parametrize("text, words", [
    ("a: &x [*x]\n", "recursive"),
    ("a: 1\n---\nb: 2\n", "more than one YAML document"),
    ("a: !!python/object/apply:os.system [ls]\n", "is not allowed"),
    ("a: !!binary aGk=\n", "is not allowed"),
    ("a: !!set {x}\n", "is not allowed"),
    ("a: !custom x\n", "is not allowed"),
    ("a: fa\x00lse\n", "#x0000"),
    ("? [a]\n: 1\n", "unhashable"),
    ("a: *nowhere\n", "undefined alias"),
    ("a: [1\n", "line 2"),
])
def test_what_is_not_one_document_of_plain_yaml_is_one_line_error(text: str, words: str) -> None:
    with pytest.raises(YamlLimitError) as info:
        load_yaml(text)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_long_number_is_an_error_not_a_crash() -> None:
    with pytest.raises(YamlLimitError, match="too long to read"):
        load_yaml("a: " + "9" * 5000 + "\n")


def test_config_bounds_are_tighter_than_the_loader_defaults(tmp_path: Path) -> None:
    assert "expands to more than 10,000 values" in rejected(tmp_path, BASE + "  x: &x0 [1]\n" + "".join(
        f"  x{i}: &x{i} [{', '.join([f'*x{i - 1}' if i > 1 else '*x0'] * 10)}]\n" for i in range(1, 6))).message
    assert "nests deeper than 32 levels" in rejected(tmp_path, BASE + "  dev_mode: " + "[" * 40 + "]" * 40 + "\n").message
    big = tmp_path / "big.yaml"
    big.write_text(BASE + "# " + "x" * 1_000_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="more than 1,000,000 bytes"):
        load_config(big)


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes((BASE + "  dev_mode: f\xe9\n").encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "not UTF-8 text (byte 0xe9 at line 6, column 14)" in info.value.message and info.value.line == 6


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_config(path)["routing"]["min_sample_size"]["symbol"] == 1000


# --- values in range, messages short ------------------------------------------------------------

@pytest.mark.parametrize("value", [10 ** 40, MAX_COUNT + 1, 1e300])
def test_counts_must_fit_a_bigint(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"routing.min_sample_size.symbol: must be at most 9223372036854775807"):
        validate_config(config_with(**{"routing.min_sample_size.symbol": value}))
    assert validate_config(config_with(**{"routing.min_sample_size.symbol": MAX_COUNT}))


@pytest.mark.parametrize("key", ["routing.cross_sectional.min_score", "routing.stability_classification.max_std_tau",
                                 "routing.experimental.max_fraction_symbols_per_target"])
def test_nan_is_refused_where_a_number_is_expected(key: str) -> None:
    with pytest.raises(ConfigError, match=f"{key}: expected a finite number"):
        validate_config(config_with(**{key: math.nan}))


def test_an_empty_family_list_for_every_route_is_valid_with_a_warning() -> None:
    config, notices = validate_config_with_notices(config_with(**{"training_plan.model_families": []}))
    assert config["training_plan"]["model_families"] == []
    assert any("training_plan.model_families is empty" in n for n in notices), notices
    # with families for a route, the other routes' jobs are skipped (and counted), without a warning
    config, notices = validate_config_with_notices(config_with(**{
        "training_plan.model_families": [], "training_plan.model_families_by_route": {"ROUTE_BOTH": ["lightgbm"]}}))
    assert config["training_plan"]["model_families"] == [] and not any("model_families" in n for n in notices)


def test_messages_quote_at_most_about_200_characters_of_a_value() -> None:
    huge = {"routing.dev_mode": "x" * 1_000_000, "routing.both_strong_behavior": ["y" * 10_000] * 10_000,
            "routing.stability_allowlist.symbol": {"k" * 5000: list(range(100_000))}}
    for key, value in huge.items():
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            validate_config(config_with(**{key: value}))
        assert time.monotonic() - started < 1.0
        assert key in info.value.message and len(info.value.message) < 400, info.value.message


def test_non_text_keys_are_named_as_written(tmp_path: Path) -> None:
    error = rejected(tmp_path, BASE + "  1: x\n  null: y\n  false: z\n")
    for shown in ("the key 1 (int) is not text", "the key null (null) is not text", "the key false (bool) is not text"):
        assert "routing: " + shown in error.message


def test_control_characters_in_keys_are_escaped_in_messages(tmp_path: Path) -> None:
    error = rejected(tmp_path, BASE + '  "bad\\0key\\x1b[31m": 1\n')
    assert "\x00" not in error.message and "\x1b" not in error.message and "bad\\x00key\\x1b[31m" in error.message


def test_a_deep_or_self_referencing_mapping_from_a_library_caller_is_an_error() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(50_000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ConfigError, match="nests deeper than 32 levels"):
        validate_config({**SIMPLE_CONFIG, "x": deep})
    loop = config_with()
    loop["routing"]["dev_mode"] = loop["routing"]
    with pytest.raises(ConfigError, match="refers to itself"):
        validate_config(loop)


def test_read_config_file_raises_the_yaml_problems(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BASE + "  dev_mode: off\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="routing.dev_mode: off"):
        read_config_file(path)
    path.write_text(BASE, encoding="utf-8")
    assert read_config_file(path)["routing"]["min_sample_size"]["symbol"] == 1000


# --- the other YAML files foxwarehouse reads ----------------------------------------------------

def test_safe_load_raises_the_first_problem() -> None:
    with pytest.raises(YamlLimitError, match=r"^line 2: a: the key 'a' appears twice"):
        safe_load("a: 1\na: 2\n")
    assert safe_load("a: 0x10\n") == {"a": 16}


def test_the_project_file_is_read_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "foxwarehouse.yml"
    path.write_text("db: a.duckdb\ndb: b.duckdb\n", encoding="utf-8")
    with pytest.raises(ProjectError, match="appears twice"):
        read_project_file(path)


@pytest.mark.parametrize("block, words", [
    ({"patterns": [{"regex": "(" * 100_000, "multiplier": 1}]}, "at most 1,000"),
    ({"patterns": [{"regex": "(" * 499 + r"\d" + ")" * 499, "multiplier": 1}]}, "nests too deeply"),
    ({"patterns": [{"regex": r"(\d+)m", "multiplier": 1e308}]}, "must be at most 525,600,000"),
    ({"special": {"same_day": 1e300}}, "minutes must be in [0, 1,000,000,000,000]"),
])
def test_horizon_extraction_values_are_bounded(block: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(config_with(**{"routing.horizon_extraction": block}))
    assert "routing.horizon_extraction." in info.value.message and words in info.value.message
    assert len(info.value.message) < 400
