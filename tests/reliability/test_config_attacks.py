"""Hostile routing configs: what a red team tries on the YAML of `--config`.

Every case is planned with good metrics on top of a workspace that already holds a good run and its
export. A hostile config stops `plan` with exit 2 before anything is ingested: one message naming the
config key (dotted path) or the line, no traceback, fast, quoting at most ~200 characters of any
value, and not one byte changed in the warehouse or the export folder. YAML's traps (duplicate keys,
YAML 1.1 forms such as ``1:30`` or ``on``, alias bombs, deep nesting) never silently change a value.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import BASE_CONFIG_YAML, THREE_ROWS, run_cli, strict_json_load, tree_bytes, write_candidates
from hypothesis import HealthCheck, given, settings, strategies as st
from reliability_log import record

from foxwarehouse.config import load_config_with_notices
from foxwarehouse.errors import ConfigError

SUITE = "config_attacks"


BASE = BASE_CONFIG_YAML   # five lines: what a case appends starts at line 6


def laughs(levels: int) -> str:
    """A "billion laughs" config: each anchor is a list of ten aliases of the one before."""
    lines = ["  a0: &a0 [lol]"] + [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return BASE + "\n".join(lines) + f"\n  dev_mode: *a{levels}\n"


@dataclass(frozen=True)
class Case:
    klass: str                  # the class of attack, for docs/RELIABILITY.md
    text: str | bytes           # the config file
    words: tuple[str, ...]      # the message must contain each


def case(klass: str, text: str | bytes, *words: str) -> Case:
    return Case(klass, text, words)


DEEP = 50_000
CASES: dict[str, Case] = {
    # duplicate keys: an error naming the key and both lines
    "duplicate_key": case("duplicate key", BASE + "  block_on_leakage: true\n  dev_mode: false\n  block_on_leakage: false\n",
                          "routing.block_on_leakage", "lines 6 and 8", "twice"),
    "duplicate_key_flow": case("duplicate key", BASE.replace("symbol: 1000}", "symbol: 1000, symbol: 10}"),
                               "routing.min_sample_size.symbol", "lines 2 and 2"),
    "duplicate_section": case("duplicate key", BASE + "training_plan: {include_blocked: true}\n"
                              "training_plan: {derived_views: false}\n", "training_plan", "lines 6 and 7"),
    # YAML 1.1 forms that YAML 1.2 reads differently: an error naming the key, never a silent value
    "sexagesimal_count": case("YAML 1.1 number", BASE + "  dev_mode_min_sample_size: 1:30\n",
                              "routing.dev_mode_min_sample_size", "1:30", "90", "line 6"),
    "sexagesimal_threshold": case("YAML 1.1 number", BASE.replace("strong_score: 0.7}\n  symbol", "strong_score: 1:30.5}\n  symbol"),
                                  "routing.cross_sectional.strong_score", "1:30.5"),
    "octal_leading_zero": case("YAML 1.1 number", BASE.replace("symbol: 1000}", "symbol: 0100}"),
                               "routing.min_sample_size.symbol", "0100", "64", "100"),
    "underscore_octal": case("YAML 1.1 number", BASE.replace("cross_sectional: 5000", "cross_sectional: 0_500"),
                             "routing.min_sample_size.cross_sectional", "0_500", "320"),
    "binary_int": case("YAML 1.1 number", BASE + "  stability_classification: {min_snapshots_for_stability: 0b11}\n",
                       "routing.stability_classification.min_snapshots_for_stability", "0b11"),
    "bool_on": case("YAML 1.1 boolean", BASE + "  dev_mode: on\n", "routing.dev_mode", "on", "true"),
    "bool_off": case("YAML 1.1 boolean", BASE + "  block_on_leakage: off\n", "routing.block_on_leakage", "off"),
    "bool_yes_no": case("YAML 1.1 boolean", BASE + "training_plan: {include_blocked: yes, derived_views: No}\n",
                        "training_plan.include_blocked", "training_plan.derived_views", "2 problems"),
    "bool_in_a_family_list": case("YAML 1.1 boolean", BASE + "training_plan: {model_families: [lightgbm, on]}\n",
                                  "training_plan.model_families[1]", "on"),
    # expansion, depth and size bounds: fast, short messages
    "billion_laughs_9": case("alias bomb", laughs(9), "alias", "line"),
    "billion_laughs_in_unknown_key": case("alias bomb", laughs(9).replace("  dev_mode: *a9\n", "  boom: *a9\n"), "alias"),
    "alias_chain_depth": case("alias bomb", BASE + "".join(
        f"  c{i}: &c{i} [*c{i - 1}]\n" if i else "  c0: &c0 [1]\n" for i in range(300)), "nests deeper"),
    "recursive_alias": case("alias bomb", BASE + "  dev_mode: &x [*x]\n", "recursive", "line 6"),
    "deep_flow_list": case("deep nesting", BASE + "  dev_mode: " + "[" * DEEP + "]" * DEEP + "\n", "nests deeper", "line 6"),
    "deep_flow_mapping": case("deep nesting", BASE + "  dev_mode: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n",
                              "nests deeper", "line 6"),
    "huge_file": case("huge value", BASE + "  dev_mode: '" + "x" * 3_000_000 + "'\n", "bytes", "at most"),
    "huge_value": case("huge value", BASE + "  dev_mode: '" + "x" * 500_000 + "'\n", "routing.dev_mode", "..."),
    "huge_key": case("huge value", BASE + "  ? " + "k" * 200_000 + "\n  : 1\n", "routing.kkkk", "..."),
    "huge_plain_key": case("huge value", BASE + "  " + "k" * 200_000 + ": 1\n", "line 6", "expected ':'"),
    # numbers out of range: named by their key, before any run is recorded
    "count_1e40": case("number out of range", BASE.replace("symbol: 1000}", "symbol: " + "1" + "0" * 40 + "}"),
                       "routing.min_sample_size.symbol", "at most"),
    "count_float_1e300": case("number out of range", BASE + "  dev_mode_min_sample_size: 1.0e+300\n",
                              "routing.dev_mode_min_sample_size", "at most"),
    "count_2_pow_63": case("number out of range", BASE + f"  stability_classification: {{min_snapshots_for_stability: {2 ** 63}}}\n",
                           "routing.stability_classification.min_snapshots_for_stability", "at most"),
    "threshold_nan": case("number out of range", BASE.replace("strong_score: 0.7}\n  symbol", "strong_score: .nan}\n  symbol"),
                          "routing.cross_sectional.strong_score", "finite"),
    "stability_number_inf": case("number out of range", BASE + "  stability_classification: {max_std_tau: -.inf}\n",
                                 "routing.stability_classification.max_std_tau", "finite"),
    # not a config at all, or not one document of plain YAML
    "not_utf8": case("encoding", (BASE + "  dev_mode: f\xe9\n").encode("latin-1"), "not UTF-8", "line 6"),
    "nul_byte": case("encoding", BASE + "  dev_mode: fa\x00lse\n", "line 6", "#x0000"),
    "empty_file": case("not a config", "", "not a routing config: it is empty", "required key is missing"),
    "empty_routing_section": case("not a config", "routing:\n", "not a routing config", "routing.symbol.min_score"),
    "list_document": case("not a config", "- routing\n- training_plan\n", "not a routing config", "list"),
    "scalar_document": case("not a config", "routing\n", "not a routing config", "str"),
    "two_documents": case("not a config", BASE + "---\n" + BASE, "more than one YAML document", "line 6"),
    "python_object_tag": case("YAML tag", BASE + "  dev_mode: !!python/object/apply:os.system ['echo pwned']\n",
                              "tag", "not allowed", "line 6"),
    "timestamp_tag": case("YAML tag", BASE + "  dev_mode: !!timestamp 2001-12-14\n", "tag", "not allowed"),
    "local_tag": case("YAML tag", BASE + "  dev_mode: !secret x\n", "!secret", "not allowed"),
    "int_key": case("non-text key", BASE + "  1: x\n", "routing: the key 1 (int)", "known keys"),
    "null_key": case("non-text key", BASE + "  null: x\n", "routing: the key null", "known keys"),
    "unhashable_key": case("non-text key", BASE + "  ? [a, b]\n  : x\n", "unhashable", "line"),
}

FAST = 1.0  # seconds: every hostile config fails faster than this (the laughs took 22 s)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with one good run exported into out/: what no hostile config may touch."""
    ws = tmp_path_factory.mktemp("config-attacks")
    write_candidates(ws / "good.parquet", THREE_ROWS)
    (ws / "config.yaml").write_text(BASE, encoding="utf-8")
    result = run_cli(["plan", "--metrics", ws / "good.parquet", "--config", ws / "config.yaml",
                      "--db", ws / "w.duckdb", "--out", ws / "out", "--skip-tests"])
    assert result.code == 0, result
    return ws


def _state(ws: Path) -> tuple[str, dict[str, bytes]]:
    """The warehouse file's digest and the export folder's bytes."""
    return hashlib.sha256((ws / "w.duckdb").read_bytes()).hexdigest(), tree_bytes(ws / "out")


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_config_is_refused_fast_by_key_and_loses_nothing(name: str, workspace: Path, tmp_path: Path) -> None:
    attack = CASES[name]
    config = tmp_path / f"{name}.yaml"
    if isinstance(attack.text, bytes):
        config.write_bytes(attack.text)
    else:
        config.write_text(attack.text, encoding="utf-8")
    before = _state(workspace)

    started = time.monotonic()
    result = run_cli(["plan", "--metrics", workspace / "good.parquet", "--config", config,
                      "--db", workspace / "w.duckdb", "--out", workspace / "out"])
    elapsed = time.monotonic() - started

    assert result.code == 2, result
    assert "Traceback" not in result.err + result.out, result
    message = result.err.strip()
    assert message.startswith("error: ") and str(config) in message, result
    for word in attack.words:
        assert word in message, f"{word!r} not in {message!r}"
    # One line, also when the config has several problems (listed with "; ", up to 20).
    assert len(message.splitlines()) == 1, message
    assert len(message) < 4_000, f"{len(message)} characters"
    assert elapsed < FAST, f"took {elapsed:.2f} s"
    assert _state(workspace) == before, "a refused config changed the warehouse or the export folder"
    record(SUITE, name, "exit 2", klass=attack.klass, message=message[:300], seconds=round(elapsed, 3), nothing_lost=True)


def test_edge_values_written_plainly_plan_and_skipped_jobs_are_reported(tmp_path: Path) -> None:
    """The largest count (a BIGINT) and YAML 1.2 forms (1e3, 5_000, +2) plan; a job left without a
    model family is not silent: `plan` prints how many were skipped and which keys decide it."""
    rows = [dict(row) for row in THREE_ROWS]
    rows[0]["failed_model_families"] = ["lightgbm", "xgboost"]  # the CS job is left without a family
    write_candidates(tmp_path / "m.parquet", rows)
    text = BASE.replace("cross_sectional: 5000, symbol: 1000", f"cross_sectional: 5_000, symbol: {2 ** 63 - 1}") + (
        "  dev_mode_min_sample_size: 1e3\n  stability_classification: {min_snapshots_for_stability: +2}\n")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    result = run_cli(["plan", "--metrics", tmp_path / "m.parquet", "--config", tmp_path / "c.yaml",
                      "--db", tmp_path / "w.duckdb", "--out", tmp_path / "out", "--skip-tests"])
    assert result.code == 0, result
    assert "1 job skipped: no model family left (training_plan.model_families" in result.out, result
    master = strict_json_load(tmp_path / "out" / "training_plan" / "master_training_plan.json")
    assert master["summary"]["skipped_no_families"] == 1 and master["jobs"] == []
    routing = strict_json_load(tmp_path / "out" / "routing_plan" / "routing_plan.json")
    # no symbol reaches a sample size of 2**63-1: none is routed to symbol-specific training
    assert {p["route"] for p in routing["targets"]["fwd_ret_15m"]["symbols"].values()} == {"ROUTE_CROSS_SECTIONAL"}
    record(SUITE, "count of 2**63-1, YAML 1.2 numbers (1e3, 5_000, +2)", "accepted", nothing_lost=True)
    record(SUITE, "jobs skipped for lack of a model family", "accepted, count printed", nothing_lost=True)


def test_an_empty_family_list_plans_no_jobs_and_says_so(tmp_path: Path) -> None:
    """`model_families: []` is a valid config whose plan drops every job: it used to do so without a
    word; now a warning names the key and `plan` prints how many jobs were skipped."""
    write_candidates(tmp_path / "m.parquet", THREE_ROWS)
    (tmp_path / "c.yaml").write_text(BASE + "training_plan: {model_families: []}\n", encoding="utf-8")
    result = run_cli(["plan", "--metrics", tmp_path / "m.parquet", "--config", tmp_path / "c.yaml",
                      "--db", tmp_path / "w.duckdb", "--out", tmp_path / "out", "--skip-tests"])
    assert result.code == 0, result
    assert "warning: config key training_plan.model_families is empty" in result.err, result
    master = strict_json_load(tmp_path / "out" / "training_plan" / "master_training_plan.json")
    skipped = master["summary"]["skipped_no_families"]
    assert master["jobs"] == [] and skipped > 0
    assert f"{skipped} jobs skipped: no model family left (training_plan.model_families" in result.out, result
    record(SUITE, "model_families: []", "accepted, warning and skipped count printed", nothing_lost=True)


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_a_config_that_is_not_a_file_is_refused_without_waiting(kind: str, workspace: Path, tmp_path: Path) -> None:
    """A FIFO without a writer would block `plan` forever; a folder or a device is no config either."""
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this platform")
        config = tmp_path / "config.yaml"
        os.mkfifo(config)
    else:
        config = tmp_path if kind == "folder" else Path("/dev/zero")
        if not config.exists():
            pytest.skip(f"no {config}")
    before = _state(workspace)
    started = time.monotonic()
    result = run_cli(["plan", "--metrics", workspace / "good.parquet", "--config", config,
                      "--db", workspace / "w.duckdb", "--out", workspace / "out"])
    assert result.code == 2 and "not a regular file" in result.err and len(result.err.splitlines()) == 1, result
    assert time.monotonic() - started < FAST
    assert _state(workspace) == before
    record(SUITE, f"config is a {kind}", "exit 2", klass="not a file", message=result.err.strip()[:300], nothing_lost=True)


# YAML's significant characters, number forms and words, so random edits hit the parser's corners.
_TOKENS = st.sampled_from(["&a", "*a", "[", "]", "{", "}", ":", ": ", ", ", "- ", "? ", "!!str ", "!!int ", "<<: ",
                           "---\n", "'", '"', "#", "|", ">", "~", "null", "yes", "on", "1:30", "017", "0x1F", "0o17",
                           "1_000", "1e3", ".inf", ".nan", "-", "+", "\n", "\n  ", "\t", "\\", "\x00", "\u2028",
                           "\ufeff", "min_score", "routing", "symbol", "10" * 30])
_EDIT = st.tuples(st.integers(min_value=0, max_value=len(BASE)), st.integers(min_value=0, max_value=12),
                  st.lists(st.one_of(_TOKENS, st.text(max_size=4)), max_size=8).map("".join))


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(_EDIT, min_size=1, max_size=4))
def test_random_edits_of_a_config_are_read_or_refused_with_one_config_error(edits: list[tuple[int, int, str]],
                                                                              tmp_path: Path) -> None:
    """Random YAML-ish edits of a good config: either a valid config or a ConfigError with a short
    message; never another exception, never slow."""
    text = BASE
    for at, cut, insert in edits:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + cut:]
    path = tmp_path / "random.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    started = time.monotonic()
    try:
        load_config_with_notices(path)
    except ConfigError as exc:
        # One line (all problems joined with "; ", at most 20 of them, each value quoted ≤ ~200 characters).
        assert len(exc.message) < 6_000 and len(exc.message.splitlines()) == 1, exc.message
    assert time.monotonic() - started < FAST
    _swept.append(text)


_swept: list[str] = []  # the configs the sweep above tried (it runs first: tests run in file order)


@pytest.mark.slow
def test_random_config_sweep_is_logged() -> None:
    if not _swept:
        pytest.skip("the random sweep did not run in this session")
    record(SUITE, f"random edits of a config ({len(_swept)} examples)", "valid or one ConfigError", nothing_lost=True)
