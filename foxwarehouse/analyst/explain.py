"""`explain TARGET [SYMBOL]`: why a decision was made, printed from the decision_trace model.

Everything shown comes from the run's own tables: the input rows (routing_candidates), every rule
of the rule tables (macros/rules.sql, docs/ROUTING.md) in order with the row's values (the
decision_trace model, computed for the run and target from the run's stored tables and config), the
decisions (cs_decisions, routing_decisions), the experimental-cap ranking of the target and the jobs
that were created (training_jobs, job_expansion). Nothing is recomputed in Python. The decision and
the trace are generated from the same rule tables, and the rule marked as deciding is the one the
decision's stored reason code names, so the explanation agrees with the decision by construction.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import QueryError
from ..formatting import value_text
from .session import AnalystWarehouse, to_json_value, trace_relation

CS_SYMBOLS = ("", "__AGG__")
INPUT_COLUMNS = ("score", "sample_size", "stability", "leakage_status", "task_type", "n_snapshots",
                 "mean_overlap", "std_overlap", "mean_tau", "std_tau", "failed_model_families",
                 "score_ci_low", "score_ci_high", "model_status", "feature_set_id", "metric_name")


@dataclass
class Explanation:
    run_id: str
    target: str
    symbol: str | None
    input_rows: dict[str, dict[str, Any] | None] = field(default_factory=dict)   # 'cs' / 'symbol'
    traces: dict[str, list[dict[str, Any]]] = field(default_factory=dict)        # 'cs' / 'symbol' / 'pair'
    cs_decision: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    cap_ranking: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    not_emitted: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)                    # target-only explain

    def to_json(self) -> str:
        return json.dumps(to_json_value(asdict(self)), indent=2, ensure_ascii=False, allow_nan=False)


def _rows(aw: AnalystWarehouse, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = aw.con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def explain(db: str | Path, target: str, symbol: str | None = None, run: str | None = "latest",
            wait: float = 0.0, project_dir: str | Path | None = None) -> Explanation:
    """Collect the explanation of a target's CS decision (symbol None) or of one pair."""
    if symbol is not None and symbol.strip() in CS_SYMBOLS:
        symbol = None
    with AnalystWarehouse(db, wait=wait, project_dir=project_dir) as aw:
        run_id = aw.run_id(run)
        missing = {"routing_candidates", "candidate_signal_states", "cs_decisions", "routing_decisions",
                   "training_jobs", "job_expansion"} - set(aw.tables())
        if missing:
            raise QueryError(f"the warehouse has no {', '.join(sorted(missing))} table; build a plan first")
        targets = [r["target"] for r in _rows(aw, "SELECT target FROM cs_decisions WHERE run_id = ? ORDER BY target", [run_id])]
        if target not in targets:
            close = difflib.get_close_matches(target, targets, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; targets: {', '.join(targets[:10])}"
            raise QueryError(f"run {run_id} has no target {target!r}{hint}")
        ex = Explanation(run_id, target, symbol)
        sym = [] if symbol is None else [symbol]
        if symbol is not None:
            found = _rows(aw, "SELECT * FROM routing_decisions WHERE run_id = ? AND target = ? AND symbol = ?",
                          [run_id, target, symbol])
            if not found:
                symbols = [r["symbol"] for r in _rows(
                    aw, "SELECT symbol FROM routing_decisions WHERE run_id = ? AND target = ? ORDER BY symbol", [run_id, target])]
                close = difflib.get_close_matches(symbol, symbols, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise QueryError(f"run {run_id} has no pair ({target!r}, {symbol!r}){hint}")
            ex.decision = found[0]
        cs_input = _rows(aw, "SELECT * EXCLUDE (run_id) FROM routing_candidates WHERE run_id = ? AND target = ? AND symbol IS NULL",
                         [run_id, target])
        ex.input_rows["cs"] = cs_input[0] if cs_input else None
        if symbol is not None:
            sym_input = _rows(aw, "SELECT * EXCLUDE (run_id) FROM routing_candidates WHERE run_id = ? AND target = ? AND symbol = ?",
                              [run_id, target, symbol])
            ex.input_rows["symbol"] = sym_input[0] if sym_input else None
        rel = trace_relation(aw.con, run_id, target, aw.project)
        rel = rel.filter("symbol IS NULL" if symbol is None else
                         f"symbol IS NULL OR symbol = {_sql_text(symbol)}").order("side, step")
        names = rel.columns
        trace = [dict(zip(names, r)) for r in rel.fetchall()]
        for row in trace:
            ex.traces.setdefault(row["side"], []).append(row)
        ex.cs_decision = _rows(aw, "SELECT * EXCLUDE (run_id) FROM cs_decisions WHERE run_id = ? AND target = ?",
                               [run_id, target])[0]
        if symbol is not None and ex.decision is not None and ex.decision["route_before_cap"] == "ROUTE_EXPERIMENTAL_ONLY":
            ex.cap_ranking = _rows(
                aw, "SELECT experimental_rank, symbol, score, route FROM routing_decisions WHERE run_id = ? AND target = ? "
                    "AND route_before_cap = 'ROUTE_EXPERIMENTAL_ONLY' ORDER BY experimental_rank", [run_id, target])
        ex.jobs = _rows(aw, "SELECT * EXCLUDE (run_id) FROM training_jobs WHERE run_id = ? AND target = ? "
                            f"AND (symbol IS NULL OR {'FALSE' if symbol is None else 'symbol = ?'}) ORDER BY plan_order",
                        [run_id, target, *sym])
        ex.not_emitted = _rows(aw, "SELECT job_id, route, model_families FROM job_expansion WHERE run_id = ? AND target = ? "
                                   f"AND NOT has_families AND (symbol IS NULL OR {'FALSE' if symbol is None else 'symbol = ?'})",
                               [run_id, target, *sym])
        if symbol is None:
            ex.pairs = _rows(aw, "SELECT route, count(*) AS pairs, list(symbol ORDER BY symbol) AS symbols "
                                 "FROM routing_decisions WHERE run_id = ? AND target = ? GROUP BY route ORDER BY route",
                             [run_id, target])
    return ex


def _sql_text(value: str) -> str:
    from ..render import sql_literal

    return sql_literal(value)


# --- text ---------------------------------------------------------------------------------------

def _input_line(row: dict[str, Any] | None) -> str:
    if row is None:
        return "(no row)"
    return " ".join(f"{c}={value_text(row.get(c))}" for c in INPUT_COLUMNS if row.get(c) is not None)


def _trace_lines(rows: list[dict[str, Any]], title: str, state_label: str) -> list[str]:
    out = [title]
    out += _stage_lines(rows, "stability", "stability rules", "stability")
    thresholds = [r for r in rows if r["stage"] == "threshold"]
    if thresholds:
        out.append("  resolved thresholds:")
        for r in thresholds:
            extra = "; ".join(x for x in (r["observed"], r["threshold"]) if x)
            out.append(f"    {r['check_name']:<24} {r['outcome']:<28} {r['condition']}" + (f"  [{extra}]" if extra else ""))
    out += _stage_lines(rows, "signal", "signal-state rules", state_label)
    return out


def _stage_lines(rows: list[dict[str, Any]], stage: str, heading: str, label: str) -> list[str]:
    """A rule stage of the trace: every rule in order, then the rule that decided it."""
    stage_rows = [r for r in rows if r["stage"] == stage]
    if not stage_rows:
        return []
    out = [f"  {heading}, in order:", *_rule_lines(stage_rows)]
    decided = next((r for r in stage_rows if r["decided"]), None)
    if decided:
        out.append(f"  => {label} = {decided['result']} ({decided['reason_code']})")
    return out


def _rule_lines(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        values = "; ".join(x for x in (r["observed"], r["threshold"]) if x)
        if r["decided"]:
            mark = f"APPLIES -> {r['outcome']}   <== decided"
        elif not r["reached"]:
            mark = "(not reached)"
        else:
            mark = "applies" if r["applies"] else "no"
        out.append(f"    {r['rule']}. {r['check_name']:<19} {r['condition']}")
        out.append(f"       {values or '-'}  => {mark}")
    return out


def format_explanation(ex: Explanation) -> str:
    who = ex.target if ex.symbol is None else f"{ex.target} / {ex.symbol}"
    out = [f"explain {who}  (run {ex.run_id})", ""]
    out.append("input rows (routing_candidates):")
    out.append(f"  cs row:     {_input_line(ex.input_rows.get('cs'))}")
    if ex.symbol is not None:
        out.append(f"  symbol row: {_input_line(ex.input_rows.get('symbol'))}")
    out.append("")
    out += _trace_lines(ex.traces.get("cs", []), "cross-sectional side (the target's CS row):", "cs_state")
    cs = ex.cs_decision or {}
    out.append(f"  cross-sectional training: {cs.get('route')} ({cs.get('reason')})")
    if ex.symbol is not None:
        out.append("")
        out += _trace_lines(ex.traces.get("symbol", []), f"symbol side (the {ex.symbol} row):", "local_state")
        pair = ex.traces.get("pair", [])
        out.append("")
        out.append("route rules, in order:")
        out += _rule_lines([r for r in pair if r["stage"] == "route"])
        d = ex.decision or {}
        out.append(f"  => route before cap = {d.get('route_before_cap')} ({d.get('route_rule')})")
        cap = [r for r in pair if r["stage"] == "cap"]
        out.append("")
        if cap:
            out.append("experimental cap:")
            out += _rule_lines(cap)
            out.append("  ranking of the target's experimental pairs (score desc, symbol asc):")
            for r in ex.cap_ranking:
                here = "   <== this pair" if r["symbol"] == ex.symbol else ""
                out.append(f"    {r['experimental_rank']:>3}. {r['symbol']:<12} score={value_text(r['score']):<10} {r['route']}{here}")
        else:
            out.append(f"experimental cap: not applicable (route before cap is {d.get('route_before_cap')})")
        out.append("")
        out.append(f"final: route = {d.get('route')}; reason codes = {value_text(d.get('reason_codes'))}")
        for reason in d.get("reasons") or []:
            out.append(f"  - {reason}")
    else:
        out.append("")
        out.append("pairs of this target by route:")
        for p in ex.pairs:
            shown = ", ".join(p["symbols"][:12]) + (" ..." if len(p["symbols"]) > 12 else "")
            out.append(f"  {p['route']:<24} {p['pairs']:>4}  {shown}")
    out.append("")
    out.append("jobs created:")
    if not ex.jobs:
        out.append("  (none)")
    for j in ex.jobs:
        meta = j.get("metadata") or {}
        extra = "  needs_cs_ensemble" if meta.get("needs_cs_ensemble") else ""
        row = ex.input_rows.get("cs" if j["symbol"] is None else "symbol") or {}
        failed = [f for f in (row.get("failed_model_families") or []) if f.strip().lower() not in j["model_families"]]
        if failed and j["training_type"] != "blocked":
            extra += f"  (failed families not trained: {', '.join(failed)})"
        out.append(f"  #{j['plan_order']:<4} {j['job_id']:<32} {j['route']:<24} {j['training_type']:<16} "
                   f"priority {j['priority']}  families {value_text(j['model_families'])}{extra}")
    for j in ex.not_emitted:
        out.append(f"  (not emitted) {j['job_id']}: no model family left after dropping failed families")
    if ex.symbol is not None and ex.decision and ex.decision["route"] == "ROUTE_BLOCKED" \
            and not any(j["symbol"] == ex.symbol for j in ex.jobs):
        out.append("  (no job for this pair: ROUTE_BLOCKED; blocked jobs are emitted only with include_blocked)")
    return "\n".join(out)
