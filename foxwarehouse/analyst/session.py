"""The analyst's view of a warehouse: the stable ``latest_*`` views, ``foxwarehouse.open(db)``, the
on-demand models (``decision_trace``) and the ad-hoc ``query`` command with its table / csv / json output.

``latest`` is the newest run (by ``runs.seq``) whose status is built or exported. The views are
persistent DuckDB views, (re)created after every successful build for every model table that exists;
a read-only session on a warehouse without them (an older file) gets the same views as temporary
views, so SQL written against them works everywhere. The views leave out ``run_id``: the per-run
tables keep it, and ``runs`` says which run is latest.

A model whose SQL carries the line ``-- materialized: view`` is not stored per run by the build (its
rows would dwarf the plan: the decision trace has ~20 rows per pair). It is computed when read, from
the run's stored model tables and the run's own config: ``trace_relation()`` for one run and target,
and the ``latest_decision_trace`` view for the latest run.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .. import options
from ..errors import FoxError, ModelError, QueryError, UsageError, WarehouseError, duckdb_detail
from ..formatting import cell_text, text_table, to_json_value
from ..models import declared_views
from ..project import Project, load_project
from ..render import RenderedModel, Renderer, is_view_model, quote_identifier, sql_literal, view_models
from ..warehouse import Warehouse

if TYPE_CHECKING:
    from ..context import Context

# view name -> model table it reads (the newest built/exported run only): the packaged models'.
# Every other model a project stores gets latest_<model> and published_<model> the same way
# (``model_views``).
LATEST_VIEWS: dict[str, str] = {
    "latest_routing_decisions": "routing_decisions",
    "latest_cs_decisions": "cs_decisions",
    "latest_training_jobs": "training_jobs",
    "latest_plan_summary": "plan_summary",
    "latest_candidate_signal_states": "candidate_signal_states",
    "latest_routing_candidates": "routing_candidates",
    "latest_job_expansion": "job_expansion",
    "latest_master_plan": "master_plan",
}
# on-demand model -> its latest_* view (computed from the latest_* views above)
LATEST_COMPUTED_VIEWS: dict[str, str] = {"decision_trace": "latest_decision_trace"}
ALL_LATEST_VIEWS = tuple(LATEST_VIEWS) + tuple(LATEST_COMPUTED_VIEWS.values())

LATEST_RUN_SQL = "(SELECT run_id FROM runs WHERE status IN ('built', 'exported') ORDER BY seq DESC LIMIT 1)"

# published_* views: the same tables for the run whose plan was published last (what the trainer
# reads). They resolve the run in a subquery when read, so an export or a rollback needs no refresh.
PUBLISHED_VIEWS: dict[str, str] = {"published_" + view.removeprefix("latest_"): table
                                   for view, table in LATEST_VIEWS.items()}
PUBLISHED_COMPUTED_VIEWS: dict[str, str] = {model: "published_" + view.removeprefix("latest_")
                                            for model, view in LATEST_COMPUTED_VIEWS.items()}
ALL_PUBLISHED_VIEWS = tuple(PUBLISHED_VIEWS) + tuple(PUBLISHED_COMPUTED_VIEWS.values())
PUBLISHED_RUN_SQL = ("(SELECT run_id FROM runs WHERE status = 'exported' AND exported_at IS NOT NULL "
                     "ORDER BY exported_at DESC, seq DESC LIMIT 1)")
_counter = itertools.count(1)


def run_config(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    """The validated config a run was built with (stored as canonical JSON in runs.config)."""
    row = con.execute("SELECT config FROM runs WHERE run_id = ?", [run_id]).fetchall()
    if not row or not row[0][0]:
        raise QueryError(f"run {run_id} has no stored config (it was never built)")
    return json.loads(row[0][0])


class _RunRenderers:
    """One renderer per config a run was built with.

    The caller's own context (the config it holds in memory, e.g. the build that just ran) is used
    for runs of that config, so a build's view refresh neither reads the config back nor renders again.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, project: Project, ctx: Context | None = None):
        self.con, self.project, self.ctx = con, project, ctx
        self._by_key: dict[str, Renderer] = {}

    def for_run(self, run_id: str, config_hash: str | None = None) -> Renderer:
        if config_hash is None:
            row = self.con.execute("SELECT config_hash FROM runs WHERE run_id = ?", [run_id]).fetchone()
            config_hash = row[0] if row else None
        if self.ctx is not None and config_hash is not None and config_hash == self.ctx.config_hash \
                and self.ctx.project == self.project:
            return self.ctx.renderer
        key = config_hash or f"run:{run_id}"
        if key not in self._by_key:
            self._by_key[key] = Renderer(self.project, run_config(self.con, run_id))
        return self._by_key[key]


def _render_on(renderer: Renderer, model: str, resolver) -> RenderedModel:
    if model not in renderer.project.model_paths():
        raise QueryError(f"the project has no model {model!r} (sql/{model}.sql)", model=model)
    return renderer.render(model, resolver)


def trace_relation(con: duckdb.DuckDBPyConnection, run_id: str, target: str | None = None,
                   project: Project | None = None, model: str = "decision_trace") -> duckdb.DuckDBPyRelation:
    """An on-demand model for one run (and one target): rendered with the run's config over temp
    views of the run's stored model tables, so it reads exactly the rows the build decided."""
    project = project or load_project(None)
    renderer = _RunRenderers(con, project).for_run(run_id)
    n = next(_counter)
    filt = f"run_id = {sql_literal(run_id)}" + (f" AND target = {sql_literal(target)}" if target is not None else "")

    def resolver(kind: str, name: str) -> str:
        if kind != "ref":
            raise ModelError(f"sql/{model}.sql: an on-demand model reads models only, not source('{name}')")
        view = f"fw_{model}_{n}_{name}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_identifier(view)} AS "
                    f"SELECT * EXCLUDE (run_id) FROM main.{quote_identifier(name)} WHERE {filt}")
        return f"temp.main.{quote_identifier(view)}"

    rendered = _render_on(renderer, model, resolver)
    try:
        return con.sql(rendered.sql)
    except duckdb.Error as exc:
        raise QueryError(f"cannot compute {model} for run {run_id}: {duckdb_detail(exc)}", model=model) from None

FORMATS = ("table", "csv", "json")


def _base_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' AND table_catalog = current_database()"
    ).fetchall()}


def _views(con: duckdb.DuckDBPyConnection, temporary: bool) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND temporary = ?", [temporary]).fetchall()}


def latest_view_sql(table: str, run_sql: str = LATEST_RUN_SQL) -> str:
    return (f"SELECT * EXCLUDE (run_id) FROM main.{quote_identifier(table)} "
            f"WHERE run_id = {run_sql}")


def _relations_with_run_id(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Tables and persistent views of main that have a run_id column (model tables, master_plan)."""
    return {r[0] for r in con.execute(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = 'main' AND c.table_catalog = current_database() AND c.column_name = 'run_id' "
        "AND NOT (t.table_type = 'LOCAL TEMPORARY')").fetchall()}


def _on_demand_models(project: Project) -> list[str]:
    """The project's models computed when read (``materialized: view`` or the older header line)."""
    declared = declared_views(project)
    out = []
    for name, path in project.model_paths().items():
        if name in declared:
            if declared[name]:
                out.append(name)
            continue
        try:
            if is_view_model(path.read_text(encoding="utf-8")):
                out.append(name)
        except (OSError, UnicodeDecodeError):
            continue
    return out


def model_views(con: duckdb.DuckDBPyConnection, project: Project) -> tuple[dict[str, str], list[str]]:
    """({latest view: stored relation}, [on-demand model]) for a warehouse and a project.

    Every model stored per run (a table, or a warehouse view such as master_plan, with run_id) gets
    latest_<model> and published_<model>, whether packaged or added by a team; an on-demand model
    not stored gets them computed over the other views.
    """
    stored = _relations_with_run_id(con)
    models = set(project.model_paths())
    views = {view: table for view, table in LATEST_VIEWS.items() if table in stored}
    for name in sorted(models & stored):
        views.setdefault(f"latest_{name}", name)
    on_demand = [m for m in _on_demand_models(project) if m not in stored]
    return views, on_demand


def ensure_latest_views(con: duckdb.DuckDBPyConnection, temporary: bool = False,
                        project: Project | None = None, ctx: Context | None = None) -> list[str]:
    """Create the latest_* and published_* views of every model the warehouse stores; returns the names.

    Persistent views are created by a write connection after a build; a read-only connection makes
    temporary ones for views the file lacks. A view whose table does not exist yet is skipped, so
    an empty warehouse opens fine. An on-demand model (``latest_decision_trace``) is rendered with
    the latest run's config over the other latest_* views; its published_* view see
    ``_published_computed_sql``.
    """
    tables = _base_tables(con)
    if "runs" not in tables:
        return []
    project = project or (ctx.project if ctx is not None else load_project(None))
    latest_views, on_demand = model_views(con, project)
    stored = set(latest_views.values())
    existing = _views(con, temporary=False)
    kind = "TEMP VIEW" if temporary else "VIEW"
    made = []
    for prefix, run_sql in (("latest_", LATEST_RUN_SQL), ("published_", PUBLISHED_RUN_SQL)):
        for latest_view, table in latest_views.items():
            view = prefix + latest_view.removeprefix("latest_")
            if temporary and view in existing:
                continue
            con.execute(f"CREATE OR REPLACE {kind} {quote_identifier(view)} AS {latest_view_sql(table, run_sql)}")
            made.append(view)
    latest = con.execute(f"SELECT {LATEST_RUN_SQL}").fetchall()[0][0]
    available = set(made) | existing
    renderers = _RunRenderers(con, project, ctx)
    by_table = {table: view for view, table in latest_views.items()}
    for model in on_demand:
        view = f"latest_{model}"
        if latest is None or (temporary and view in existing):
            continue
        missing: list[str] = []

        def resolver(kind_: str, name: str, missing: list[str] = missing) -> str:
            if kind_ != "ref" or name not in by_table or by_table[name] not in available:
                missing.append(name)
                return quote_identifier(name)
            return quote_identifier(by_table[name])

        rendered = _render_on(renderers.for_run(latest), model, resolver)
        if missing:
            continue
        con.execute(f"CREATE OR REPLACE {kind} {quote_identifier(view)} AS {rendered.sql}")
        made.append(view)
    for model in on_demand:
        # Always recreated for a read-only session (a temp view shadows the persistent one): the
        # rendered SQL carries a config, and an export may have published a run of another config.
        sql = _published_computed_sql(con, renderers, model, stored)
        if sql is None:
            continue
        view = f"published_{model}"
        con.execute(f"CREATE OR REPLACE {kind} {quote_identifier(view)} AS {sql}")
        made.append(view)
    return made


def _published_computed_sql(con: duckdb.DuckDBPyConnection, renderers: _RunRenderers, model: str,
                            tables: set[str]) -> str | None:
    """An on-demand model for the published run, current without a refresh.

    The model's SQL is rendered with a config, and the published run changes on export (which does
    not refresh views). So the view is a UNION ALL with one branch per config any built run has
    (an export can only publish a built run, and every build refreshes the views): each branch
    reads the published run's rows only when that run has the branch's config, so exactly one
    branch produces rows and the others read nothing.
    """
    configs = con.execute(
        "SELECT config_hash, arg_max(run_id, seq) FROM runs WHERE status IN ('built', 'exported') "
        "AND config_hash IS NOT NULL AND config IS NOT NULL GROUP BY config_hash ORDER BY config_hash").fetchall()
    if not configs:
        return None
    branches = []
    for config_hash, run_id in configs:
        run_sql = (f"(SELECT r.run_id FROM runs r WHERE r.run_id = {PUBLISHED_RUN_SQL} "
                   f"AND r.config_hash = {sql_literal(config_hash)})")
        missing: list[str] = []

        def resolver(kind_: str, name: str, run_sql: str = run_sql, missing: list[str] = missing) -> str:
            if kind_ != "ref" or name not in tables:
                missing.append(name)
                return quote_identifier(name)
            return f"({latest_view_sql(name, run_sql)})"

        rendered = _render_on(renderers.for_run(run_id, config_hash), model, resolver)
        if missing:
            return None
        branches.append(f"SELECT * FROM ({rendered.sql})")
    return "\nUNION ALL\n".join(branches)


def refresh_latest_views(con: duckdb.DuckDBPyConnection, project: Project | None = None,
                         ctx: Context | None = None) -> None:
    """After a successful build: create the persistent latest_* views (never fails a build)."""
    try:
        ensure_latest_views(con, temporary=False, project=project, ctx=ctx)
    except (duckdb.Error, FoxError):
        pass


class AnalystWarehouse:
    """A read-only session on a warehouse; every query method returns a DuckDBPyRelation.

    Relations are lazy: ``.to_arrow_table()``, ``.to_arrow_reader()``, ``.pl()``, ``.df()``
    (pandas) or ``.fetchall()`` materialise them. Use as a context manager or call ``close()``.
    """

    def __init__(self, db: str | os.PathLike[str], wait: float = 0.0, project_dir: str | os.PathLike[str] | None = None):
        self.project = load_project(project_dir)
        self._wh = Warehouse(db, read_only=True, wait=wait)
        self.path = self._wh.path
        # Relations live on their own cursor: run bookkeeping on the warehouse connection can leave
        # an unfinished result there, which DuckDB does not let a relation run past.
        self.con: duckdb.DuckDBPyConnection = self._wh.con.cursor()
        try:
            ensure_latest_views(self.con, temporary=True, project=self.project)
        except (duckdb.Error, FoxError):
            pass

    # --- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._wh.close()

    def __enter__(self) -> AnalystWarehouse:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<foxwarehouse {self.path} (read-only)>"

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyRelation:
        """Any read-only SQL on the warehouse, with optional `?` / `$name` parameters."""
        try:
            return self.con.sql(query, params=params)
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {str(exc).strip()}") from None

    def tables(self) -> list[str]:
        return sorted(_base_tables(self.con))

    def run_id(self, run: str | None = "latest") -> str:
        """A run id from 'latest', 'latest~N', 'published', a full id or a unique prefix."""
        return self._wh.resolve_run(run)

    def run_info(self, run: str | None = "latest") -> dict[str, Any]:
        return self._wh.run(self.run_id(run))

    def runs(self) -> duckdb.DuckDBPyRelation:
        return self.sql("SELECT run_id, seq, created_at, status, input_path, config_hash, plan_fingerprint, "
                        "built_at, exported_at, error FROM runs ORDER BY seq")

    def table(self, model: str, run: str | None = "latest") -> duckdb.DuckDBPyRelation:
        """A model table's rows for one run (run_id kept)."""
        if model not in _base_tables(self.con):
            raise QueryError(f"the warehouse has no table {model!r}; tables: {', '.join(self.tables())}", model=model)
        return self.sql(f"SELECT * FROM main.{quote_identifier(model)} WHERE run_id = ?", params=[self.run_id(run)])

    def _filtered(self, model: str, run: str | None, order: str, **filters: Any) -> duckdb.DuckDBPyRelation:
        rel = self.table(model, run)
        for column, value in filters.items():
            if value is not None:
                rel = rel.filter(duckdb.ColumnExpression(column) == duckdb.ConstantExpression(value))
        return rel.order(order)

    def decisions(self, run: str | None = "latest", target: str | None = None,
                  symbol: str | None = None, route: str | None = None) -> duckdb.DuckDBPyRelation:
        """routing_decisions: one row per (target, symbol) pair."""
        return self._filtered("routing_decisions", run, "target, symbol", target=target, symbol=symbol,
                              route=options.route(route))

    def cs_decisions(self, run: str | None = "latest", target: str | None = None) -> duckdb.DuckDBPyRelation:
        return self._filtered("cs_decisions", run, "target", target=target)

    def jobs(self, run: str | None = "latest", target: str | None = None, route: str | None = None,
             training_type: str | None = None) -> duckdb.DuckDBPyRelation:
        """training_jobs in plan order."""
        return self._filtered("training_jobs", run, "plan_order", target=target, route=options.route(route),
                              training_type=options.training_type(training_type))

    def summary(self, run: str | None = "latest") -> duckdb.DuckDBPyRelation:
        return self.table("plan_summary", run)

    def trace(self, target: str, symbol: str | None = None, run: str | None = "latest") -> duckdb.DuckDBPyRelation:
        """decision_trace rows (computed on demand) of a target's CS row (symbol None) or of one pair
        (its CS row, its symbol row and its route), in rule order."""
        rel = trace_relation(self.con, self.run_id(run), target, self.project)
        if symbol is None:
            rel = rel.filter("symbol IS NULL")
        else:
            rel = rel.filter(duckdb.ColumnExpression("symbol").isnull()
                             | (duckdb.ColumnExpression("symbol") == duckdb.ConstantExpression(symbol)))
        return rel.order("side, step")


def open_warehouse(db: str | os.PathLike[str] = "foxwarehouse.duckdb", wait: float = 0.0,
                   project_dir: str | os.PathLike[str] | None = None) -> AnalystWarehouse:
    """``foxwarehouse.open(db)``: a read-only analyst session returning DuckDB relations."""
    return AnalystWarehouse(db, wait=wait, project_dir=project_dir)


# --- query ------------------------------------------------------------------------------------

# Statement kinds that only read. DuckDB reports DESCRIBE, SHOW, SUMMARIZE, VALUES and WITH as SELECT.
# Everything else writes a file (COPY ... TO, EXPORT), changes the session or the database (SET,
# RESET, USE, PRAGMA, ATTACH, DETACH, INSTALL, LOAD, CREATE, INSERT, ...) or runs arbitrary code
# (CALL, which also covers CHECKPOINT). The read-only connection stops writes to the warehouse
# itself, but not files written through COPY/EXPORT or extensions and settings, hence the check.
_READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT})
_EXPLAIN_PREFIX = re.compile(
    r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*explain\s+(?:analy[sz]e\b|\([^)]*\))?", re.IGNORECASE | re.DOTALL)


NO_STATEMENT = "query: no SQL statement to run (the SQL is empty, only comments or only semicolons)"


def check_limit(limit: int | None) -> None:
    """`query --limit N`: N >= 0 (0 prints the column names only); None prints every row."""
    if limit is not None and limit < 0:
        raise UsageError(f"--limit must be a whole number >= 0 (0 prints the column names only), got {limit}")


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise FoxError unless every statement of `sql` only reads (classified by DuckDB's parser)."""
    try:
        statements = con.extract_statements(sql)
    except (duckdb.Error, ValueError) as exc:
        raise QueryError(f"query failed: {duckdb_detail(exc)}") from None
    if not statements:
        raise QueryError(NO_STATEMENT)
    for statement in statements:
        kind = statement.type
        if kind == duckdb.StatementType.EXPLAIN:
            # EXPLAIN ANALYZE executes its statement; judge the statement it explains.
            match = _EXPLAIN_PREFIX.match(statement.query)
            inner = statement.query[match.end():] if match else ""
            try:
                inner_kinds = [s.type for s in con.extract_statements(inner)] if inner.strip() else []
            except (duckdb.Error, ValueError):
                inner_kinds = []
            if inner_kinds and all(k in _READ_STATEMENTS for k in inner_kinds):
                continue
        elif kind in _READ_STATEMENTS:
            continue
        first = " ".join(statement.query.split())[:60]
        raise QueryError(f"query is read-only and runs read statements only (SELECT, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE, "
                         f"EXPLAIN); refused a {kind.name} statement: {first}")


def run_query(db: str | Path, sql: str, wait: float = 0.0, limit: int | None = None,
              project_dir: str | os.PathLike[str] | None = None) -> tuple[list[str], list[str], list[tuple]]:
    """Run `sql` read-only on the warehouse: (column names, column types, rows).

    Only read statements run (see ``check_read_only``); every statement is checked before any runs.
    """
    check_limit(limit)
    if not sql.strip():
        raise QueryError(NO_STATEMENT)
    with AnalystWarehouse(db, wait=wait, project_dir=project_dir) as aw:
        check_read_only(aw.con, sql)
        try:
            cur = aw.con.execute(sql)
        except duckdb.Error as exc:
            text = str(exc).strip()
            if "read-only" in text.lower() or "read only" in text.lower():
                raise QueryError(f"query: the warehouse is opened read-only; {duckdb_detail(exc)}") from None
            raise QueryError(f"query failed: {text}") from None
        if cur.description is None:
            return [], [], []
        names = [d[0] for d in cur.description]
        types = [str(d[1]) for d in cur.description]
        # fetchmany takes a 64-bit count; a larger limit than any result can hold means every row.
        rows = cur.fetchmany(limit) if limit is not None and limit < sys.maxsize else cur.fetchall()
    return names, types, rows


def format_table(names: Sequence[str], types: Sequence[str], rows: Iterable[tuple]) -> str:
    """An aligned text table; numbers right-aligned; a row count at the end."""
    rows = list(rows)
    if not names:
        return "(statement executed; no result set)"
    numeric = [t.upper().split("(")[0] in {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
        "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "NUMBER"} for t in types]
    cells = [[cell_text(v).replace("\n", "\\n") for v in row] for row in rows]
    out = text_table(names, cells, right=numeric)
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def format_csv(names: Sequence[str], rows: Iterable[tuple]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if v is None else cell_text(v) for v in row])
    return buf.getvalue()


def format_json(names: Sequence[str], rows: Iterable[tuple]) -> str:
    """Strict JSON (RFC 8259): a list of objects, one per row."""
    data = [{n: to_json_value(v) for n, v in zip(names, row)} for row in rows]
    return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False)


def format_result(names: Sequence[str], types: Sequence[str], rows: Sequence[tuple], fmt: str) -> str:
    if fmt == "table":
        return format_table(names, types, rows)
    if fmt == "csv":
        return format_csv(names, rows).rstrip("\n")
    if fmt == "json":
        return format_json(names, rows)
    raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def query(db: str | Path, sql: str, fmt: str = "table", wait: float = 0.0, limit: int | None = None,
          project_dir: str | os.PathLike[str] | None = None) -> str:
    """The text `foxwarehouse query` prints."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    names, types, rows = run_query(db, sql, wait=wait, limit=limit, project_dir=project_dir)
    return format_result(names, types, rows, fmt)


__all__ = [
    "AnalystWarehouse", "LATEST_VIEWS", "ALL_LATEST_VIEWS", "PUBLISHED_VIEWS", "ALL_PUBLISHED_VIEWS", "ensure_latest_views", "trace_relation", "view_models", "format_result", "open_warehouse", "query",
    "refresh_latest_views", "run_query", "is_view_model", "to_json_value", "WarehouseError",
]
