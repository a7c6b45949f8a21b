"""Run history: listing runs with their job counts, and pruning old runs in one transaction."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from .errors import FoxError, WarehouseError
from .render import quote_identifier
from .warehouse import SOURCES, Warehouse


def list_runs(db: str | Path) -> list[dict[str, Any]]:
    with Warehouse(db, read_only=True) as wh:
        if "runs" not in wh.tables():
            return []
        has_jobs = "training_jobs" in wh.tables()
        counts = (
            "(SELECT map_from_entries(list({'key': route, 'value': n} ORDER BY route)) FROM "
            "(SELECT route, count(*) AS n FROM training_jobs j WHERE j.run_id = r.run_id GROUP BY route))"
            if has_jobs else "NULL"
        )
        cur = wh.con.execute(
            f"SELECT run_id, created_at, status, config_hash, input_fingerprint, {counts} AS jobs_by_route, error "
            f"FROM runs r ORDER BY seq"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def format_runs(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "no runs yet"
    header = f"{'run_id':<30} {'created_at':<19} {'status':<9} {'config':<8} {'input':<8} jobs by route"
    lines = [header]
    for run in runs:
        routes = run["jobs_by_route"] or {}
        jobs = ", ".join(f"{k.removeprefix('ROUTE_')}={v}" for k, v in routes.items()) or "-"
        if run["status"] == "failed" and run.get("error"):
            jobs = "error: " + run["error"].splitlines()[0][:80]
        lines.append(
            f"{run['run_id']:<30} {str(run['created_at'])[:19]:<19} {run['status']:<9} "
            f"{(run['config_hash'] or '-')[:8]:<8} {(run['input_fingerprint'] or '-')[:8]:<8} {jobs}"
        )
    return "\n".join(lines)


def prune_runs(db: str | Path, keep: int, wait: float = 0.0) -> int:
    """Delete every run but the newest `keep` (and their rows in all run tables), in one transaction."""
    if keep < 0:
        raise FoxError("--keep must be >= 0")
    with Warehouse(db, wait=wait) as wh:
        doomed = [r[0] for r in wh.con.execute(
            "SELECT run_id FROM runs ORDER BY seq DESC OFFSET ?", [keep]).fetchall()]
        if not doomed:
            return 0
        # Base tables only: a view (an analyst's, or latest_*) cannot be deleted from.
        run_tables = [t for (t,) in wh.con.execute(
            "SELECT DISTINCT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
            "ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_catalog = current_database() AND c.table_schema = 'main' AND c.column_name = 'run_id' "
            "AND t.table_type = 'BASE TABLE' AND c.table_name <> 'runs'").fetchall()]
        try:
            with wh.transaction() as con:
                con.execute("CREATE OR REPLACE TEMP TABLE doomed_runs AS SELECT unnest(?::VARCHAR[]) AS run_id", [doomed])
                for table in sorted(set(run_tables) | set(SOURCES.values())):
                    con.execute(f"DELETE FROM {quote_identifier(table)} WHERE run_id IN (SELECT run_id FROM doomed_runs)")
                con.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM doomed_runs)")
        except duckdb.Error as exc:
            raise WarehouseError(f"prune failed, nothing was removed: {str(exc).splitlines()[0]}") from None
        return len(doomed)
