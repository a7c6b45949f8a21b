"""`foxwarehouse explain` and the decision_trace model it prints."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from foxwarehouse.analyst.explain import explain, format_explanation
from foxwarehouse.pipeline import plan
from helpers import EXAMPLES, config_with, run_cli, write_candidates, write_config

DEMO = EXAMPLES / "routing_candidates" / "routing_candidates.parquet"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explain")
    db = root / "wh.duckdb"
    plan(DEMO, db=db, out=root / "out")
    return db


def _pairs(db: Path, where: str) -> list[tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT target, symbol FROM latest_routing_decisions WHERE {where} ORDER BY 1, 2").fetchall()
    finally:
        con.close()


def test_route_both_pair(demo_db: Path) -> None:
    target, symbol = _pairs(demo_db, "route = 'ROUTE_BOTH'")[0]
    result = run_cli(["explain", target, symbol, "--db", demo_db])
    assert result.code == 0, result
    text = result.out
    for part in ("input rows (routing_candidates):", "resolved thresholds:", "signal-state rules, in order:",
                 "route rules, in order:", "jobs created:", "horizon_tier", "min_score"):
        assert part in text, part
    route_part = text.split("route rules, in order:")[1]
    assert "1. BOTH_OK" in route_part
    both_line = route_part.split("1. BOTH_OK")[1].split("\n")[1]
    assert "APPLIES -> ROUTE_BOTH" in both_line and "<== decided" in both_line
    assert "experimental cap: not applicable" in text
    assert "final: route = ROUTE_BOTH" in text
    job_lines = [line for line in text.splitlines() if f"sym_{target}_{symbol}" in line]
    assert job_lines and "priority 3" in job_lines[0] and "needs_cs_ensemble" in job_lines[0]
    assert f"cs_{target}" in text
    assert "INCONSISTENCY" not in text and "please report" not in text
    # the human reasons are the deciding rules' conditions with the pair's values
    assert "=> route before cap = ROUTE_BOTH (BOTH_OK)" in text
    assert "cs_state STRONG in ok_states [STRONG, WEAK_BUT_OK]" in text


def test_pair_blocked_by_the_cap(demo_db: Path) -> None:
    target, symbol = _pairs(demo_db, "route = 'ROUTE_BLOCKED' AND route_before_cap = 'ROUTE_EXPERIMENTAL_ONLY'")[0]
    ex = explain(demo_db, target, symbol)
    text = format_explanation(ex)
    assert "=> route before cap = ROUTE_EXPERIMENTAL_ONLY" in text
    cap = text.split("experimental cap:")[1]
    assert "EXPERIMENTAL_CAP" in cap and "APPLIES -> ROUTE_BLOCKED" in cap
    rank, k = ex.decision["experimental_rank"], ex.decision["experimental_cap"]
    assert f"experimental_rank {rank} > experimental_cap {k}" in cap
    assert f"{symbol}" in cap and "<== this pair" in cap
    ranks = [r["experimental_rank"] for r in ex.cap_ranking]
    assert ranks == sorted(ranks) and ranks[0] == 1
    mine = next(r for r in ex.cap_ranking if r["symbol"] == symbol)
    assert mine["experimental_rank"] > ex.decision["experimental_cap"]
    assert "final: route = ROUTE_BLOCKED" in text and "EXPERIMENTAL_CAP" in text.split("final:")[1]
    assert "no job for this pair" in text


def test_target_only_explains_the_cs_decision(demo_db: Path) -> None:
    result = run_cli(["explain", "will_peak_4h", "--db", demo_db])
    assert result.code == 0, result
    assert "cs_state = EXPERIMENTAL (EXPERIMENTAL_LANE)" in result.out
    assert "pairs of this target by route:" in result.out and "ROUTE_SYMBOL_SPECIFIC" in result.out
    assert "cs_will_peak_4h" in result.out and "priority 1" in result.out
    assert "symbol side" not in result.out


def test_json_format(demo_db: Path) -> None:
    target, symbol = _pairs(demo_db, "route = 'ROUTE_SYMBOL_SPECIFIC'")[0]
    result = run_cli(["explain", target, symbol, "--db", demo_db, "--format", "json"])
    assert result.code == 0, result
    data = json.loads(result.out)
    assert data["decision"]["route"] == "ROUTE_SYMBOL_SPECIFIC"
    assert {r["stage"] for r in data["traces"]["pair"]} == {"route"}
    assert "problems" not in data
    decided = [r for r in data["traces"]["pair"] if r["decided"]]
    assert [r["check_name"] for r in decided] == [data["decision"]["route_rule"]]


def test_unknown_target_and_symbol(demo_db: Path) -> None:
    result = run_cli(["explain", "fwd_ret_15", "--db", demo_db])
    assert result.code == 2 and "no target 'fwd_ret_15'" in result.err and "fwd_ret_15m" in result.err
    result = run_cli(["explain", "fwd_ret_15m", "AAPLX", "--db", demo_db])
    assert result.code == 2 and "AAPL" in result.err and "Traceback" not in result.err
    result = run_cli(["explain", "fwd_ret_15m", "--run", "nope", "--db", demo_db])
    assert result.code == 2


@pytest.mark.slow  # every pair of the demo (~4 s); test_rule_edits checks the same on a random case by default
def test_trace_agrees_with_every_decision(demo_db: Path) -> None:
    """Over the whole demo run: one decided rule per stage, it applies, gives the recorded result,
    no earlier rule applies, and the results are the decision models' own columns."""
    con = duckdb.connect(str(demo_db), read_only=True)
    try:
        bad = con.execute("""
            WITH t AS (SELECT * FROM latest_decision_trace WHERE stage IN ('signal', 'route', 'cap')),
            g AS (SELECT target, symbol, side, stage, count(*) FILTER (WHERE decided) AS n_decided,
                         bool_and(NOT decided OR (applies AND outcome = result)) AS ok FROM t GROUP BY ALL)
            SELECT count(*) FILTER (WHERE n_decided <> 1 OR NOT ok) FROM g""").fetchone()[0]
        assert bad == 0
        earlier = con.execute("""
            SELECT count(*) FROM latest_decision_trace d JOIN latest_decision_trace e
              ON e.target = d.target AND e.symbol IS NOT DISTINCT FROM d.symbol AND e.side = d.side AND e.stage = d.stage
            WHERE d.decided AND d.stage IN ('signal', 'route', 'cap') AND e.applies AND e.rule < d.rule""").fetchone()[0]
        assert earlier == 0
        states = con.execute("""
            SELECT count(*) FROM latest_decision_trace t JOIN latest_candidate_signal_states s
              ON s.target = t.target AND s.symbol IS NOT DISTINCT FROM t.symbol AND s.side = t.side
            WHERE t.stage = 'signal' AND t.decided AND (t.outcome <> s.signal_state OR t.reason_code <> s.reason_code)""").fetchone()[0]
        assert states == 0
        routes = con.execute("""
            SELECT count(*) FROM latest_routing_decisions r
            WHERE r.route <> (SELECT t.outcome FROM latest_decision_trace t
                              WHERE t.target = r.target AND t.symbol = r.symbol AND t.side = 'pair' AND t.decided
                              ORDER BY t.step DESC LIMIT 1)""").fetchone()[0]
        assert routes == 0
        covered = con.execute("""
            SELECT (SELECT count(*) FROM latest_candidate_signal_states),
                   (SELECT count(DISTINCT (target, symbol, side)) FROM latest_decision_trace WHERE side <> 'pair'),
                   (SELECT count(*) FROM latest_routing_decisions),
                   (SELECT count(DISTINCT (target, symbol)) FROM latest_decision_trace WHERE side = 'pair')""").fetchone()
        assert covered[0] == covered[1] and covered[2] == covered[3]
    finally:
        con.close()
    for target, symbol in _pairs(demo_db, "target = 'vol_regime_1d'"):
        ex = explain(demo_db, target, symbol)
        for side, code in (("symbol", "reason_code"), ("pair", "route_rule")):
            decided = [r for r in ex.traces[side] if r["decided"] and r["stage"] in ("signal", "route")]
            stored = ex.decision[code] if side == "pair" else decided[0]["reason_code"]
            assert len(decided) == 1 and decided[0]["check_name"] == stored and decided[0]["applies"]


def test_dev_mode_and_missing_cs_row(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = [
        {"target": "dev_15m", "symbol": None, "score": 0.9, "sample_size": 3000, "stability": "STABLE", "leakage_status": "SAFE"},
        {"target": "dev_15m", "symbol": "A", "score": 0.9, "sample_size": 2000, "stability": "STABLE", "leakage_status": "SAFE"},
        {"target": "nocs", "symbol": "B", "score": 0.9, "sample_size": 2000, "stability": "STABLE", "leakage_status": "SAFE"},
    ]
    metrics = write_candidates(tmp_path / "m.parquet", rows)
    config = write_config(tmp_path / "c.yaml", config_with(**{"routing.dev_mode": True}))
    db = tmp_path / "wh.duckdb"
    result = run_cli(["plan", "--metrics", metrics, "--config", config, "--db", db, "--out", tmp_path / "out"], capsys)
    assert result.code == 0, result
    text = run_cli(["explain", "dev_15m", "A", "--db", db], capsys).out
    assert "dev_mode: min(max(dev_mode_min_sample_size, floor(0.1 x sample_size)), min_sample_size.cross_sectional)" in text
    assert "min(max(1000, 300), 5000)" in text
    assert "cs_state = STRONG (SCORE_STRONG)" in text and "final: route = ROUTE_BOTH" in text
    text = run_cli(["explain", "nocs", "B", "--db", db], capsys).out
    assert "0. NO_CS_METRICS" in text and "cs_state = DISALLOWED (NO_CS_METRICS)" in text
    assert "stability = STABLE (GIVEN)" in text
    assert "final: route = ROUTE_SYMBOL_SPECIFIC" in text
    assert "(no row)" in text


def test_cs_symbol_spellings(demo_db: Path) -> None:
    for spelling in ("", "__AGG__"):
        ex = explain(demo_db, "fwd_ret_2h", spelling)
        assert ex.symbol is None and ex.decision is None and ex.cs_decision["target"] == "fwd_ret_2h"


def test_each_run_is_explained_with_its_own_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The trace is computed from the run's stored tables and config, so an older run built with
    another both_strong_behavior is explained with that setting."""
    db = tmp_path / "wh.duckdb"
    plan(DEMO, db=db, out=tmp_path / "out")
    config = (EXAMPLES.parent / "config" / "routing_config.yaml").read_text(encoding="utf-8")
    (tmp_path / "c.yaml").write_text(config.replace("both_strong_behavior: ROUTE_BOTH", "both_strong_behavior: PREFER_CS"),
                                     encoding="utf-8")
    plan(DEMO, config=tmp_path / "c.yaml", db=db, out=tmp_path / "out")
    target, symbol = _pairs(db, "route = 'ROUTE_CROSS_SECTIONAL' AND local_state IN ('STRONG', 'WEAK_BUT_OK')")[0]
    now = run_cli(["explain", target, symbol, "--db", db], capsys).out
    assert "both_strong_behavior = PREFER_CS  => APPLIES -> ROUTE_CROSS_SECTIONAL" in now
    before = run_cli(["explain", target, symbol, "--db", db, "--run", "latest~1"], capsys).out
    assert "both_strong_behavior = ROUTE_BOTH  => APPLIES -> ROUTE_BOTH" in before
    assert "final: route = ROUTE_BOTH" in before and "INCONSISTENCY" not in before + now
