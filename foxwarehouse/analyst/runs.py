"""Run history: listing runs with their job counts, and pruning old runs (all or nothing) with a
rewrite that gives the freed space back."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..atomic import rename_into_place
from ..engine import one_row
from ..errors import UsageError, WarehouseError
from ..faults import checkpoint
from ..file_errors import warehouse_error
from ..render import quote_identifier, sql_literal
from ..warehouse import PUBLISHED_RUN_QUERY, Warehouse


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
        # A warehouse of schema version 2 (read-only, not upgraded yet) has no models_fingerprint.
        models = "models_fingerprint" if "models_fingerprint" in wh.columns("runs") else "NULL"
        cur = wh.con.execute(
            f"SELECT run_id, created_at, status, config_hash, {models} AS models_fingerprint, input_fingerprint, "
            f"{counts} AS jobs_by_route, error FROM runs r ORDER BY seq"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def format_runs(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "no runs yet"
    header = f"{'run_id':<30} {'created_at':<19} {'status':<9} {'config':<8} {'models':<8} {'input':<8} jobs by route"
    lines = [header]
    for run in runs:
        routes = run["jobs_by_route"] or {}
        jobs = ", ".join(f"{k.removeprefix('ROUTE_')}={v}" for k, v in routes.items()) or "-"
        if run["status"] == "failed" and run.get("error"):
            jobs = "error: " + run["error"].splitlines()[0][:80]
        lines.append(
            f"{run['run_id']:<30} {str(run['created_at'])[:19]:<19} {run['status']:<9} "
            f"{(run['config_hash'] or '-')[:8]:<8} {(run.get('models_fingerprint') or '-')[:8]:<8} "
            f"{(run['input_fingerprint'] or '-')[:8]:<8} {jobs}"
        )
    return "\n".join(lines)


@dataclass
class PruneResult:
    removed: int
    kept: list[str]
    published: str | None
    size_before: int
    size_after: int

    def summary(self) -> str:
        kept = f"kept {len(self.kept)} run(s)"
        if self.published:
            kept += f" (published run {self.published} included)"
        return (f"removed {self.removed} run(s); {kept}; warehouse file "
                f"{_size(self.size_before)} → {_size(self.size_after)}")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def prune_runs(db: str | Path, keep: int, wait: float = 0.0) -> PruneResult:
    """Keep the newest `keep` successful runs (built or exported) and the published run; delete every
    other run (failed and never-built ones included) with its rows in all run tables, and shrink the
    file.

    DuckDB does not give back the space of deleted rows, so the pruned warehouse is written as a new
    file (schema, views and macros, then the kept rows of every table) next to the original, under
    the same exclusive open, and renamed over it. The original is never modified: any error leaves it
    exactly as it was.
    """
    if keep < 1:
        raise UsageError("--keep must be >= 1: the newest N successful runs are kept, and the published run")
    path = Path(db)
    if not path.exists():
        raise WarehouseError(f"warehouse not found: {path} (run 'foxwarehouse plan' first)")
    size_before = path.stat().st_size
    with Warehouse(path, wait=wait) as wh:
        # Cut in Python, not with LIMIT: a --keep past 64 bits cannot be bound (it keeps every run).
        newest = [r[0] for r in wh.con.execute(
            "SELECT run_id FROM runs WHERE status IN ('built', 'exported') ORDER BY seq DESC").fetchall()][:keep]
        row = wh.con.execute(PUBLISHED_RUN_QUERY).fetchone()
        published = row[0] if row else None
        kept = set(newest) | ({published} if published else set())
        everything = [r[0] for r in wh.con.execute("SELECT run_id FROM runs ORDER BY seq").fetchall()]
        doomed = [r for r in everything if r not in kept]
        kept_in_order = [r for r in everything if r in kept]
        if not doomed:
            return PruneResult(0, kept_in_order, published, size_before, size_before)
        # Everything committed sits in the main file, so the copy below sees it and the WAL is empty.
        wh.con.execute("CHECKPOINT")
        tmp = path.with_name(f"{path.name}.prune-{os.getpid()}.tmp")
        _remove(tmp)
        try:
            _copy_into_fresh(wh.con, tmp, doomed)
            checkpoint("prune:before-replace")
            # While our exclusive open still holds the lock: no other process can have written
            # the original since the copy, nor open the new file before it is complete.
            rename_into_place(tmp, path)
        except (duckdb.Error, OSError) as exc:
            # Says "damaged" when the old file could not be read whole, "disk full" when the copy
            # could not be written; either way the original file is the one left in place.
            raise WarehouseError(f"prune failed, nothing was deleted: {warehouse_error(path, exc).message}",
                                 path=path) from None
        finally:
            _remove(tmp)
    return PruneResult(len(doomed), kept_in_order, published, size_before, path.stat().st_size)


def _copy_into_fresh(con: duckdb.DuckDBPyConnection, tmp: Path, doomed: list[str]) -> None:
    """Write a compact copy of the open warehouse without the rows of `doomed` runs into `tmp`."""
    source = one_row(con.execute("SELECT current_database()"))[0]
    fresh = "fw_prune_fresh"
    con.execute(f"ATTACH {sql_literal(str(tmp))} AS {fresh}")
    try:
        con.execute(f"COPY FROM DATABASE {quote_identifier(source)} TO {fresh} (SCHEMA)")
        con.execute("CREATE OR REPLACE TEMP TABLE fw_doomed_runs AS SELECT unnest(?::VARCHAR[]) AS run_id", [doomed])
        tables = con.execute(
            "SELECT t.schema_name, t.table_name, "
            "EXISTS (SELECT 1 FROM duckdb_columns() c WHERE c.database_name = t.database_name "
            "AND c.schema_name = t.schema_name AND c.table_name = t.table_name AND c.column_name = 'run_id') "
            "FROM duckdb_tables() t WHERE t.database_name = ? AND NOT t.temporary "
            "ORDER BY t.schema_name, t.table_name", [source]).fetchall()
        for schema, table, has_run_id in tables:
            name = f"{quote_identifier(schema)}.{quote_identifier(table)}"
            where = " WHERE run_id IS NULL OR run_id NOT IN (SELECT run_id FROM fw_doomed_runs)" if has_run_id else ""
            con.execute(f"INSERT INTO {fresh}.{name} SELECT * FROM {quote_identifier(source)}.{name}{where}")
        con.execute(f"CHECKPOINT {fresh}")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("DROP TABLE IF EXISTS temp.fw_doomed_runs")
        con.execute(f"DETACH {fresh}")


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
