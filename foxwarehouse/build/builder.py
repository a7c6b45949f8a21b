"""Build: run the rendered SQL models of a run in DAG order inside one transaction.

Each model is materialised into a warehouse table of the same name with the run's ``run_id``.
Inside a build, ``ref('m')`` and ``source('s')`` resolve to temporary views filtered to the run, so a
model never sees another run's rows. After the models, the plan checks and audits run; any
failure rolls the whole build back and marks the run failed.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .. import jobs_json
from ..engine import DuckDBEngine, model_runner, one_row
from ..errors import BuildError, FoxError, ModelError, duckdb_detail
from ..faults import checkpoint
from ..file_errors import is_storage_failure, warehouse_error
from ..jobs_json import JOB_JSON_SQL
from ..model_versions import known_versions, model_versions, models_fingerprint, project_git
from ..progress import step
from ..render import RelationResolver, model_order, projection_of, quote_identifier, sql_literal, view_models
from ..warehouse import SOURCES, Warehouse, new_run_id, utc_now

if TYPE_CHECKING:
    from ..context import Context

RESERVED_COLUMNS = ("run_id",)
# Tables of the warehouse itself: no model may be materialised under one of these names.
SYSTEM_TABLES = frozenset({"runs", "run_models", "test_passes", "foxwarehouse_meta", *SOURCES.values()})
PLAN_MODEL = "master_plan"  # the final view: the export, the feed and the fingerprint read its rows


@dataclass
class BuildResult:
    run_id: str
    models: list[str]
    config_hash: str
    plan_fingerprint: str
    summary: dict[str, Any] = field(default_factory=dict)
    job_json: str | None = None   # temp table of the jobs' JSON, when the build was asked to keep it


def temp_relation(kind: str, name: str) -> str:
    prefix = "src_" if kind == "source" else ""
    return f"temp.main.{quote_identifier(prefix + name)}"


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


# The audit hook runs inside the build transaction, after every model: (connection, run_id, the
# call's context, the resolver naming the run-scoped relations, the checks the build already made
# as (model, check, columns), which need not run twice). It raises to fail the build.
AuditHook = Callable[[duckdb.DuckDBPyConnection, str, "Context", RelationResolver,
                      frozenset[tuple[str, str, tuple[str, ...]]]], None]
# check_unique_job_ids, as the audit it stands for
BUILD_CHECKS: frozenset[tuple[str, str, tuple[str, ...]]] = frozenset({("training_jobs", "unique", ("job_id",))})


def build(
    wh: Warehouse,
    ctx: Context,
    run_id: str,
    audit: AuditHook | None = None,
    after_commit: Callable[[], None] | None = None,
    keep_job_json: bool = False,
    models_engine: str | None = None,
) -> BuildResult:
    """Run every model for `run_id`; on any error roll back and mark the run failed.

    `after_commit` runs once the build is committed (the pipeline refreshes the analyst views there).
    With `keep_job_json` the jobs' JSON text, made once for the plan fingerprint, stays in a temp
    table (``BuildResult.job_json``) for the export on the same connection to write from.
    `models_engine` (default: the project file's engine) is where the models run; on spark their
    rows come back to the same warehouse tables (see foxwarehouse.spark.models).
    """
    rendered = ctx.renderer.render_all(temp_relation)
    order = model_order(rendered)
    on_demand = view_models(rendered, ctx.project)  # 'materialized: view' models are computed when read, not stored
    # A view model that only selects columns of one stored model (master_plan) is a warehouse view
    # over that model's table: no per-run copy of its rows.
    projections = {name: p for name in on_demand if (p := projection_of(rendered[name])) is not None}
    if PLAN_MODEL in on_demand and PLAN_MODEL not in projections:
        raise ModelError(f"{rendered[PLAN_MODEL].path}: the final view must be stored or select plain columns "
                         f"of one model, since the export and the feed read it for every run")
    for model in rendered.values():
        for name in model.sources:
            if name not in SOURCES:
                raise ModelError(f"{model.path}: source('{name}') is unknown; sources: {', '.join(SOURCES)}")
    reserved = sorted(set(rendered) & SYSTEM_TABLES)
    if reserved:
        raise ModelError(f"{rendered[reserved[0]].path}: a model may not be named {reserved[0]!r}: the warehouse "
                         f"keeps a table of that name; rename the file")
    # The version of every model (rendered with plain relation names, so temp names do not count).
    versions = model_versions(ctx.renderer.render_all(), known_versions(wh.con))
    models_fp = models_fingerprint(versions)
    git = project_git(ctx.project)
    chash = ctx.config_hash
    engine = wh.engine
    job_json: str | None = None
    elsewhere = model_runner(models_engine or ctx.project.settings.engine, ctx)  # None: the models run on DuckDB
    try:
        with engine.transaction() as con:
            catalog = quote_identifier(engine.current_catalog())
            run_literal = sql_literal(run_id)
            for name, table in SOURCES.items():
                engine.execute(
                    f"CREATE OR REPLACE TEMP VIEW {quote_identifier('src_' + name)} AS "
                    f"SELECT * EXCLUDE (run_id, source_row) FROM {catalog}.main.{table} WHERE run_id = {run_literal}"
                )
            if elsewhere is not None:
                elsewhere.load_sources(con, lambda source: temp_relation("source", source))
            existing = wh.tables()
            # A run only ingested has no model rows (a failed build rolled its rows back); any other
            # run (only a direct call rebuilds one) has its old rows deleted first. Looking for rows
            # of a fresh run would scan every earlier run's rows: run ids of one day share the
            # 8-byte prefix DuckDB's zone maps keep, so they cannot skip the other runs.
            rebuilt = wh.run(run_id)["status"] != "ingested" or "run_models" not in existing or bool(one_row(
                con.execute("SELECT count(*) FROM run_models WHERE run_id = ?", [run_id]))[0])
            checkpoint("build:start")
            for name in order:
                if name in projections:
                    engine.execute(f"CREATE OR REPLACE TEMP VIEW {quote_identifier(name)} AS {rendered[name].sql}")
                    checkpoint(f"build:model:{name}")
                    continue
                if name in on_demand:
                    continue
                with step(name):   # one line per model with `plan --verbose`
                    sql = rendered[name].sql
                    if elsewhere is not None:   # the model's rows, computed by the other engine
                        sql = elsewhere.run(name, str(rendered[name].path), sql)
                    _materialise(engine, catalog, name, sql, run_id, run_literal, existing,
                                 str(rendered[name].path), wh.path, rebuilt)
                checkpoint(f"build:model:{name}")
            with step("unique job ids"):
                check_unique_job_ids(con, catalog, run_id)
            if audit is not None:
                with step("audits"):
                    audit(con, run_id, ctx, temp_relation, BUILD_CHECKS)
            plan = temp_relation("ref", PLAN_MODEL)  # the run's rows of the final view
            with step("plan fingerprint"):
                if keep_job_json:
                    job_json = jobs_json.materialise(engine, plan)
                    fingerprint = plan_fingerprint(con, plan, job_json)
                else:
                    fingerprint = plan_fingerprint(con, plan)
            # The persistent views are defined once the run-scoped temp views are gone: a temp view
            # of the same name would shadow the table the view reads.
            drop_temp_views(con)
            for name, (source, columns) in projections.items():
                define_projection_view(engine, name, source, columns)
            wh.record_models(run_id, versions.values())
            wh.set_run(
                run_id, status="built", config_hash=chash, config=ctx.config_json,
                plan_fingerprint=fingerprint, git_commit=git.commit, built_at=utc_now(), error=None,
                models_fingerprint=models_fp, project_dir=git.root, project_commit=git.commit,
                project_dirty=git.dirty,
            )
            checkpoint("build:before-commit")
    except FoxError as exc:
        _mark_failed(wh, run_id, exc.message)
        raise
    except engine.Error as exc:
        _mark_failed(wh, run_id, str(exc))
        if is_storage_failure(exc, wh.path):  # the disk or the file failed, not a model's SQL
            raise warehouse_error(wh.path, exc) from None
        raise ModelError(f"build failed: {duckdb_detail(exc)}") from None
    finally:
        if elsewhere is not None:
            elsewhere.close()
        drop_temp_views(wh.con)
    checkpoint("build:committed")
    if after_commit is not None:
        after_commit()
    checkpoint("build:after-latest-views")
    built = [n for n in order if n not in on_demand or n in projections]
    return BuildResult(run_id, built, chash, fingerprint, job_json=job_json)


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


def _materialise(engine: DuckDBEngine, catalog: str, name: str, sql: str, run_id: str, run_literal: str,
                 existing: set[str], path: str, db_path: Path, rebuilt: bool = True) -> None:
    """Append model `name`'s rows to its warehouse table (made, or widened by new columns, as
    needed) under `run_id`, and point the run-scoped view `name` at them. `rebuilt` says the run
    may already have rows there, which are deleted first."""
    table = f"{catalog}.main.{quote_identifier(name)}"
    try:
        columns = engine.describe(sql)
    except engine.Error as exc:
        if is_storage_failure(exc, db_path):
            raise
        raise ModelError(f"{path}: {duckdb_detail(exc)}", model=name, path=path) from None
    names = [c[0] for c in columns]
    clash = [c for c in names if c.lower() in RESERVED_COLUMNS]
    if clash:
        raise ModelError(f"{path}: a model may not output a column named {clash[0]!r}")
    if name not in existing:
        engine.create_table_as(table, f"SELECT CAST(NULL AS VARCHAR) AS run_id, * FROM ({sql}) LIMIT 0")
        existing.add(name)
    else:
        have = {r[0] for r in engine.fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?", [name]
        )}
        for column, dtype in columns:
            if column not in have:
                engine.execute(f"ALTER TABLE {table} ADD COLUMN {quote_identifier(column)} {dtype}")
        if rebuilt:
            engine.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
    try:
        engine.execute(f"INSERT INTO {table} BY NAME SELECT {run_literal} AS run_id, * FROM ({sql})")
    except engine.Error as exc:
        if is_storage_failure(exc, db_path):
            raise
        raise ModelError(f"{path}: {duckdb_detail(exc)}", model=name, path=path) from None
    engine.execute(
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


# Jobs per Arrow batch the fingerprint reads: about 40 MB of JSON text at a time.
FINGERPRINT_BATCH_ROWS = 65_536


def plan_fingerprint(con, plan: str, job_json: str | None = None) -> str:
    """sha256 over the jobs' JSON text (UTF-8) concatenated in plan order.

    Each job's text is one whole JSON object, so the concatenation says which jobs there are and
    in which order: a change to any job's JSON or to the order changes the fingerprint. The text is
    read in Arrow batches and hashed by hashlib (one sha256 over the plan, not one per job), so the
    memory held is one batch. `plan` is the run's rows of the final view; `job_json` names a table
    of their JSON already made in plan order (see jobs_json.materialise), so the JSON of every job
    is computed once per plan.
    """
    query = (f"SELECT job_json FROM {job_json}" if job_json is not None else
             f"SELECT {JOB_JSON_SQL} AS job_json FROM {plan} ORDER BY plan_order")
    ((jobs,),) = con.execute(f"SELECT count(*) FROM {job_json or plan}").fetchall()
    digest = hashlib.sha256()
    if jobs < FINGERPRINT_BATCH_ROWS:
        # A small plan is hashed from Python strings: no pyarrow import for the demo-sized plan.
        for (text,) in con.execute(query).fetchall():
            digest.update(text.encode())
        return digest.hexdigest()
    relation = con.sql(query)
    reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
    for batch in reader(FINGERPRINT_BATCH_ROWS):
        digest.update(_utf8_bytes(batch.column(0)))
    return digest.hexdigest()


def _utf8_bytes(array: Any) -> bytes | memoryview:
    """The UTF-8 bytes of a pyarrow string array's values, concatenated (no copy for plain strings)."""
    import pyarrow as pa  # type: ignore[import-untyped]  # only for many jobs (its import costs ~0.1 s)

    if len(array) == 0:
        return b""
    if array.null_count:
        raise BuildError("a job's JSON text is null")
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.large_string())
    _, offsets, data = array.buffers()
    if data is None:
        return b""
    bounds = memoryview(offsets).cast("q" if pa.types.is_large_string(array.type) else "i")
    return memoryview(data)[bounds[array.offset]:bounds[array.offset + len(array)]]


def define_projection_view(engine: DuckDBEngine, name: str, source: str, columns: list[str]) -> None:
    """The warehouse view `name` over every run of model `source`'s table, run_id first."""
    cols = ", ".join(quote_identifier(c) for c in columns)
    engine.execute(f"CREATE OR REPLACE VIEW main.{quote_identifier(name)} AS "
                   f"SELECT run_id, {cols} FROM main.{quote_identifier(source)}")
