"""Build: run the rendered SQL models of a run in DAG order inside one transaction.

Each model is materialised into a warehouse table of the same name with the run's ``run_id``.
Inside a build, ``ref('m')`` and ``source('s')`` resolve to temporary views filtered to the run, so a
model never sees another run's rows. After the models, the plan checks and audits run; any
failure rolls the whole build back and marks the run failed.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import duckdb

from .config import canonical_json, config_hash
from .errors import AuditError, BuildError, FoxError, ModelError
from .faults import checkpoint
from .jobs_json import JOB_JSON_SQL
from .project import Project
from .render import Renderer, model_order, quote_identifier, sql_literal
from .warehouse import SOURCES, Warehouse, new_run_id, utc_now

RESERVED_COLUMNS = ("run_id",)


@dataclass
class BuildResult:
    run_id: str
    models: list[str]
    config_hash: str
    plan_fingerprint: str
    summary: dict[str, Any] = field(default_factory=dict)


def temp_relation(kind: str, name: str) -> str:
    prefix = "src_" if kind == "source" else ""
    return f"temp.main.{quote_identifier(prefix + name)}"


def git_commit() -> str | None:
    """HEAD of the working directory when it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    return quote_identifier(con.execute("SELECT current_database()").fetchone()[0])


def prepare_run(wh: Warehouse, run_ref: str | None) -> str:
    """The run to build: the latest run if it is only ingested, else a new run cloned from its inputs."""
    if run_ref is not None:
        run_id = wh.resolve_run(run_ref, statuses=("ingested", "built", "exported", "failed"))
    else:
        run_id = wh.resolve_run("latest", statuses=("ingested", "built", "exported", "failed"))
    if wh.run(run_id)["status"] == "ingested":
        return run_id
    return clone_run_inputs(wh, run_id)


def clone_run_inputs(wh: Warehouse, run_id: str) -> str:
    source = wh.run(run_id)
    new_id = new_run_id()
    with wh.transaction() as con:
        con.execute(
            "INSERT INTO runs (run_id, seq, created_at, status, input_path, input_shape, input_fingerprint, ingest_report) "
            "VALUES (?, ?, ?, 'ingested', ?, ?, ?, ?)",
            [new_id, wh.next_seq(), utc_now(), source["input_path"], source["input_shape"],
             source["input_fingerprint"], source["ingest_report"]],
        )
        for table in SOURCES.values():
            con.execute(f"INSERT INTO {table} SELECT ? AS run_id, * EXCLUDE (run_id) FROM {table} WHERE run_id = ?", [new_id, run_id])
    return new_id


def build(
    wh: Warehouse,
    project: Project,
    config: Mapping[str, Any],
    run_id: str,
    audit: Callable[[duckdb.DuckDBPyConnection, str, Project], None] | None = None,
) -> BuildResult:
    """Run every model for `run_id`; on any error roll back and mark the run failed."""
    renderer = Renderer(project, config)
    rendered = renderer.render_all(temp_relation)
    order = model_order(rendered)
    from .analyst import refresh_latest_views, view_models

    on_demand = view_models(rendered)  # '-- materialized: view' models are computed when read, not stored
    for model in rendered.values():
        for name in model.sources:
            if name not in SOURCES:
                raise ModelError(f"{model.path}: source('{name}') is unknown; sources: {', '.join(SOURCES)}")
    chash = config_hash(config)
    try:
        with wh.transaction() as con:
            catalog = _catalog(con)
            run_literal = sql_literal(run_id)
            for name, table in SOURCES.items():
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {quote_identifier('src_' + name)} AS "
                    f"SELECT * EXCLUDE (run_id, source_row) FROM {catalog}.main.{table} WHERE run_id = {run_literal}"
                )
            existing = wh.tables()
            checkpoint("build:start")
            for name in order:
                if name in on_demand:
                    continue
                _materialise(con, catalog, name, rendered[name].sql, run_id, run_literal, existing, str(rendered[name].path))
                checkpoint(f"build:model:{name}")
            check_unique_job_ids(con, catalog, run_id)
            if audit is not None:
                audit(con, run_id, project, config=config)
            fingerprint = plan_fingerprint(con, catalog, run_id)
            wh.set_run(
                run_id, status="built", config_hash=chash, config=canonical_json(config),
                plan_fingerprint=fingerprint, git_commit=git_commit(), built_at=utc_now(), error=None,
            )
            checkpoint("build:before-commit")
    except FoxError as exc:
        _mark_failed(wh, run_id, exc.message)
        raise
    except duckdb.Error as exc:
        _mark_failed(wh, run_id, str(exc))
        raise ModelError(f"build failed: {str(exc).splitlines()[0]}") from None
    finally:
        drop_temp_views(wh.con)
    checkpoint("build:committed")
    refresh_latest_views(wh.con, project)  # the persistent latest_* analyst views (issue 8)
    checkpoint("build:after-latest-views")
    return BuildResult(run_id, [n for n in order if n not in on_demand], chash, fingerprint)


def drop_temp_views(con) -> None:
    """Remove the run-scoped views a build (or a test) created on this connection."""
    try:
        views = con.execute("SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal").fetchall()
        for (view,) in views:
            con.execute(f"DROP VIEW IF EXISTS temp.main.{quote_identifier(view)}")
    except duckdb.Error:
        pass


def _mark_failed(wh: Warehouse, run_id: str, message: str) -> None:
    try:
        with wh.transaction():
            wh.set_run(run_id, status="failed", error=message[:2000])
    except duckdb.Error:
        pass


def _materialise(con, catalog: str, name: str, sql: str, run_id: str, run_literal: str,
                 existing: set[str], path: str) -> None:
    table = f"{catalog}.main.{quote_identifier(name)}"
    try:
        columns = con.execute(f"DESCRIBE SELECT * FROM ({sql})").fetchall()
    except duckdb.Error as exc:
        raise ModelError(f"{path}: {str(exc).splitlines()[0]}") from None
    names = [c[0] for c in columns]
    clash = [c for c in names if c.lower() in RESERVED_COLUMNS]
    if clash:
        raise ModelError(f"{path}: a model may not output a column named {clash[0]!r}")
    if name not in existing:
        con.execute(f"CREATE TABLE {table} AS SELECT CAST(NULL AS VARCHAR) AS run_id, * FROM ({sql}) LIMIT 0")
        existing.add(name)
    else:
        have = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?", [name]
        ).fetchall()}
        for column, dtype, *_ in columns:
            if column not in have:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {quote_identifier(column)} {dtype}")
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT {run_literal} AS run_id, * FROM ({sql})")
    except duckdb.Error as exc:
        raise ModelError(f"{path}: {str(exc).splitlines()[0]}") from None
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {quote_identifier(name)} AS "
        f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = {run_literal}"
    )


def check_unique_job_ids(con, catalog: str, run_id: str) -> None:
    """Two jobs with one job_id stop the build, naming both pairs."""
    dupes = [r[0] for r in con.execute(
        f"SELECT job_id FROM {catalog}.main.training_jobs WHERE run_id = ? "
        f"GROUP BY job_id HAVING count(*) > 1 ORDER BY job_id LIMIT 5",
        [run_id],
    ).fetchall()]
    if not dupes:
        return
    rows = con.execute(
        f"""SELECT job_id, list({{'target': target, 'symbol': symbol}} ORDER BY target, symbol NULLS FIRST)
            FROM {catalog}.main.training_jobs WHERE run_id = ? AND job_id IN (SELECT unnest(?::VARCHAR[]))
            GROUP BY job_id ORDER BY job_id""",
        [run_id, dupes],
    ).fetchall()
    shown = "; ".join(
        f"{job_id!r} from " + " and ".join(
            f"(target={p['target']!r}, symbol={p['symbol']!r})" for p in pairs)
        for job_id, pairs in rows
    )
    raise BuildError(f"duplicate job_id: {shown}")


def plan_fingerprint(con, catalog: str, run_id: str) -> str:
    """sha256 over the jobs' JSON in plan order, hashed in blocks of 65,536 jobs to bound memory."""
    row = con.execute(
        f"""SELECT sha256(coalesce(string_agg(block_hash, '' ORDER BY block), ''))
            FROM (SELECT plan_order // 65536 AS block,
                         sha256(string_agg(sha256({JOB_JSON_SQL}), '' ORDER BY plan_order)) AS block_hash
                  FROM {catalog}.main.master_plan WHERE run_id = ? GROUP BY block)""",
        [run_id],
    ).fetchone()
    return row[0]
