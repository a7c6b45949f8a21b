"""`create-test`: a SQL unit-test case from a run's real rows.

The case is written into the project's ``tests/sql/MODEL.yaml`` (appended to an existing file, whose
cases stay as they are; a case name is never reused):

* ``given``: the run's rows of every relation the model reads (its ``ref()``s and ``source()``s),
  only the columns the model reads (found with sqlglot: the model's SQL qualified against the real
  schemas, unused CTE projections pruned), and only the rows the selected output rows need;
* ``expect``: what the model gives on exactly those rows (the project's current model), every
  output column, in a stable row order;
* ``config``: the run's config where it differs from what the case would otherwise get (the
  project's config plus the file-level overrides), so the case renders the model as the run did.

``--where`` (a SQL predicate over the model's output columns) and ``--limit`` (default 10) choose
output rows of the run. The given rows are the smallest of: the rows of the chosen (target, symbol)
pairs (and their targets' cross-sectional rows); every row of the chosen targets; every row of the
run — the first that reproduces the chosen rows exactly. Floats are written short (6 significant
digits) when that changes no output. Before anything is written the case is run with the SQL test
runner and must pass.
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
import yaml
from sqlglot import exp

from ..atomic import write_text_atomic
from ..config import flatten
from ..errors import ProjectError, QueryError, UsageError, duckdb_detail
from ..project import Project, load_project
from ..render import quote_identifier
from ..warehouse import SOURCES, Warehouse
from .compare import SqlTestError, create_table
from .files import YamlLoader, load_file, suggest
from .runner import SqlTestRunner, _default_key, relation_name
from .yamltext import flow as _flow, plain as _plain, short as _short

DEFAULT_LIMIT = 10
SHORT_TOLERANCE = 1e-6
_FORBIDDEN = (exp.Query, exp.Subquery, exp.Table, exp.Command, exp.DDL, exp.DML, exp.Set, exp.Pragma,
              exp.Block, exp.Use, exp.Transaction)


@dataclass
class CreatedCase:
    path: Path
    name: str
    run_id: str
    given_rows: dict[str, int]
    expect_rows: int
    selection: str
    config: dict[str, Any]
    created_file: bool
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        given = ", ".join(f"{n} {name}" for name, n in self.given_rows.items())
        what = "new file" if self.created_file else "appended"
        lines = [f"case {self.name} written to {self.path} ({what}): given {given or 'no rows'}; "
                 f"expect {self.expect_rows} row(s) of run {self.run_id} ({self.selection})"]
        if self.config:
            lines.append("  config: " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in self.config.items()))
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"run it with: foxwarehouse test {self.path} -k {self.name}")
        return "\n".join(lines)


def create_test(model: str, db: str | os.PathLike[str], run: str | None = None, where: str | None = None,
                limit: int | None = DEFAULT_LIMIT, name: str | None = None,
                project_dir: str | os.PathLike[str] | None = None, wait: float = 0.0,
                project: Project | None = None) -> CreatedCase:
    """Write a case for `model` from run `run` (default: latest) into the project's tests/sql/MODEL.yaml."""
    from ..gate import tests_dir

    project = project or load_project(project_dir)
    if limit is not None and limit < 0:
        raise UsageError("--limit must be >= 0 (0 takes every chosen row)")
    models = project.model_paths()
    if model not in models:
        raise UsageError(f"unknown model {model!r}{suggest(model, models)}; models: {', '.join(sorted(models))}",
                         model=model)
    folder = tests_dir(project)
    if "_bundle" in folder.parts:
        raise UsageError("create-test writes into a project's tests/sql; make a project with "
                         "'foxwarehouse init DIR' and run it there (or pass --project-dir DIR)")
    path = folder / f"{model}.yaml"
    existing = load_file(path) if path.exists() else None
    if existing is not None:
        models_in_file = {c.model or c.macro for c in existing.cases}
        if models_in_file and models_in_file != {model}:
            raise UsageError(f"{path} tests {', '.join(sorted(str(m) for m in models_in_file))}, not {model}")
    file_config, file_key = _file_level(path) if existing is not None else ({}, None)
    taken = {c.name for c in existing.cases} if existing is not None else set()

    runner = SqlTestRunner(project)
    mem = duckdb.connect(":memory:", config={"enable_external_access": False})
    try:
        with Warehouse(db, read_only=True, wait=wait) as wh:
            run_id = wh.resolve_run(run)
            run_config = wh.run_config(run_id)
            own_config = _config_overrides(runner, file_config, run_config)
            scope = runner.scope({**file_config, **own_config})
            rendered = scope.render(model)
            relations = [("ref", n) for n in dict.fromkeys(rendered.refs)] + \
                        [("source", n) for n in dict.fromkeys(rendered.sources)]
            schemas = {rel: scope.relation(*rel) for rel in relations}
            for rel in relations:
                _load_run_rows(wh, mem, run_id, rel, schemas[rel])
        case_name = _case_name(name, run_id, taken, path)
        builder = _CaseBuilder(mem, model, rendered.sql, relations, schemas, _read_columns(scope, model, relations, schemas))
        builder.select(where, limit)
        given, expect, how = builder.smallest_case()
    finally:
        mem.close()
    key = file_key if file_key is not None else _default_key(list(builder.out_columns))
    description = (f"from run {run_id}" + (f", output rows where {where}" if where else "")
                   + (f", first {limit}" if limit else "") + f"; given: {how}")
    text = _case_text(case_name, description, own_config, given, expect, builder.out_columns, key, builder.tolerance)
    _write_checked(path, model, text, case_name, runner, existing is not None, taken)
    runner.close()
    notes = list(builder.notes)
    return CreatedCase(path, case_name, run_id, {n: len(r) for n, (_, r) in given.items()}, len(expect),
                       how, own_config, existing is None, notes)


# --- config -------------------------------------------------------------------------------------

def _file_level(path: Path) -> tuple[dict[str, Any], list[str] | None]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=YamlLoader) or {}  # noqa: S506 - a SafeLoader
    key = data.get("key")
    return dict(data.get("config") or {}), ([key] if isinstance(key, str) else key)


def _config_overrides(runner: SqlTestRunner, file_config: dict[str, Any], run_config: dict[str, Any]) -> dict[str, Any]:
    """The dotted overrides that turn the case's config (project config + file-level) into the run's."""
    base = runner.scope(file_config).config
    flat_base, flat_run = flatten(base), flatten(run_config)
    own = {k: v for k, v in flat_run.items() if k not in flat_base or flat_base[k] != v}
    if runner.scope({**file_config, **own}).config != run_config:
        # a key the run lacks (or a mapping emptied): override its parent mapping as a whole
        parents = {k.rsplit(".", 1)[0] for k in set(flat_base) ^ set(flat_run) if "." in k}
        for parent in sorted(parents):
            node: Any = run_config
            for part in parent.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            own = {k: v for k, v in own.items() if not k.startswith(parent + ".")}
            own[parent] = copy.deepcopy(node)
        if runner.scope({**file_config, **own}).config != run_config:
            raise QueryError("the run's config cannot be written as overrides of the project's config")
    return dict(sorted(own.items()))


# --- rows of the run ----------------------------------------------------------------------------

def _table_of(kind: str, name: str) -> str:
    return SOURCES[name] if kind == "source" else name


def _load_run_rows(wh: Warehouse, mem: duckdb.DuckDBPyConnection, run_id: str, rel: tuple[str, str],
                   columns: list[tuple[str, str]]) -> None:
    kind, name = rel
    table = _table_of(kind, name)
    have = {r[0] for r in wh.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?",
        [table]).fetchall()}
    if not have:
        raise QueryError(f"the warehouse keeps no rows of {kind} {name} (a view model, or one added after run "
                         f"{run_id}); create-test reads a run's stored rows of what the model reads", model=name)
    cols = [c for c, _ in columns if c in have]
    select = ", ".join(quote_identifier(c) for c in cols)
    arrow = wh.con.execute(f"SELECT {select} FROM main.{quote_identifier(table)} WHERE run_id = ?", [run_id]).to_arrow_table()
    ddl = ", ".join(f"{quote_identifier(c)} {t}" for c, t in columns)
    target = quote_identifier("run:" + relation_name(kind, name))
    mem.execute(f"CREATE TABLE {target} ({ddl})")
    mem.register("__run_rows", arrow)
    try:
        mem.execute(f"INSERT INTO {target} BY NAME SELECT * FROM __run_rows")
    finally:
        mem.unregister("__run_rows")


def _read_columns(scope: Any, model: str, relations: list[tuple[str, str]],
                  schemas: dict[tuple[str, str], list[tuple[str, str]]]) -> dict[tuple[str, str], list[str]]:
    """The columns of each relation the model's SQL reads (every column when the analysis fails)."""
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope

    everything = {rel: [c for c, _ in schemas[rel]] for rel in relations}
    names = {f"{kind}__{name}": (kind, name) for kind, name in relations}
    try:
        sql = scope.renderer.render(model, lambda kind, name: quote_identifier(f"{kind}__{name}"), check=False).sql
        schema: dict[str, object] = {table: dict(schemas[rel]) for table, rel in names.items()}
        tree = qualify(sqlglot.parse_one(sql, read="duckdb"), schema=schema, dialect="duckdb",
                       validate_qualify_columns=False)
        tree = pushdown_projections(tree)
        reads: dict[tuple[str, str], set[str]] = {rel: set() for rel in relations}
        for sc in traverse_scope(tree):
            for column in sc.columns:
                source = sc.sources.get(column.table)
                if isinstance(source, exp.Table) and source.name in names:
                    reads[names[source.name]].add(column.name)
    except Exception:  # noqa: BLE001 - any analysis failure means: give every column
        return everything
    return {rel: [c for c in everything[rel] if c in reads[rel]] for rel in relations}


# --- choosing rows and making the case ------------------------------------------------------------

class _CaseBuilder:
    def __init__(self, mem: duckdb.DuckDBPyConnection, model: str, sql: str, relations: list[tuple[str, str]],
                 schemas: dict[tuple[str, str], list[tuple[str, str]]], reads: dict[tuple[str, str], list[str]]):
        self.mem, self.model, self.sql = mem, model, sql
        self.relations, self.schemas, self.reads = relations, schemas, reads
        self.notes: list[str] = []
        self.tolerance: float | None = None
        for kind, name in relations:
            mem.execute(f"CREATE OR REPLACE TEMP VIEW {quote_identifier(relation_name(kind, name))} AS "
                        f"SELECT * FROM {quote_identifier('run:' + relation_name(kind, name))}")
        try:
            mem.execute(f"CREATE TABLE __full AS {sql}")
        except duckdb.Error as exc:
            raise QueryError(f"model {model} fails on the run's rows: {duckdb_detail(exc)}", model=model) from None
        rel = mem.sql("SELECT * FROM __full")
        self.out_columns: dict[str, str] = dict(zip(rel.columns, (str(t) for t in rel.types)))
        self.full = _rows(mem, "SELECT * FROM __full")
        self.selected: list[tuple] = []

    def select(self, where: str | None, limit: int | None) -> None:
        predicate = _predicate(where, list(self.out_columns)) if where else "TRUE"
        order = ", ".join(f"{quote_identifier(c)} NULLS FIRST" for c in self.out_columns)
        limit_sql = f" LIMIT {int(limit)}" if limit else ""
        try:
            self.mem.execute(f"CREATE TABLE __selected AS SELECT * FROM __full WHERE ({predicate}) "
                             f"ORDER BY {order}{limit_sql}")
        except duckdb.Error as exc:
            raise UsageError(f"--where {where!r}: {duckdb_detail(exc, kind=False)}") from None
        self.selected = _rows(self.mem, "SELECT * FROM __selected")
        if not self.selected:
            raise UsageError(f"no output rows of {self.model} in the run" + (f" match --where {where!r}" if where else ""))

    # The row subsets tried, smallest first: (label, SQL condition on an upstream relation or None).
    def _subsets(self) -> list[tuple[str, dict[tuple[str, str], str]]]:
        out = self.out_columns
        subsets: list[tuple[str, dict[tuple[str, str], str]]] = []
        if "target" in out:
            self.mem.execute("CREATE OR REPLACE TEMP TABLE __targets AS SELECT DISTINCT target FROM __selected")
            if "symbol" in out:
                self.mem.execute("CREATE OR REPLACE TEMP TABLE __pairs AS SELECT DISTINCT target, symbol FROM __selected")
            narrow: dict[tuple[str, str], str] = {}
            wide: dict[tuple[str, str], str] = {}
            for rel in self.relations:
                cols = {c for c, _ in self.schemas[rel]}
                if "target" not in cols:
                    narrow[rel] = wide[rel] = "TRUE"
                    continue
                in_targets = "target IN (SELECT target FROM __targets)"
                wide[rel] = in_targets
                if "symbol" in cols and "symbol" in out:
                    narrow[rel] = (f"(({in_targets} AND symbol IS NULL) OR EXISTS (SELECT 1 FROM __pairs p "
                                   f"WHERE p.target = r.target AND p.symbol IS NOT DISTINCT FROM r.symbol))")
                else:
                    narrow[rel] = in_targets
            if "symbol" in out:
                subsets.append(("the chosen pairs and their targets' cross-sectional rows", narrow))
            subsets.append(("every row of the chosen targets", wide))
        subsets.append(("every row of the run", {rel: "TRUE" for rel in self.relations}))
        return subsets

    def smallest_case(self) -> tuple[dict[str, tuple[list[str], list[list[Any]]]], list[list[Any]], str]:
        every = {rel: [c for c, _ in self.schemas[rel]] for rel in self.relations}
        column_sets = [self.reads] + ([every] if every != self.reads else [])
        for label, conditions in self._subsets():
            for columns in column_sets:
                for short in (True, False):
                    given = self._given(conditions, columns, short)
                    out = self._run(given)
                    if out is None or not self._accept(label, out):
                        continue
                    if columns is every and every != self.reads:
                        self.notes.append("the column analysis missed a column the model reads: every column given")
                    expect = [_plain(row) for row in out]
                    expect_short = [[_short(v) for v in row] for row in expect]
                    if expect_short != expect:
                        self.tolerance = SHORT_TOLERANCE
                    names = {rel[1] for rel in self.relations}
                    labelled = {(name if sum(1 for r in self.relations if r[1] == name) == 1 else f"{kind}:{name}"):
                                v for (kind, name), v in given.items()}
                    assert len(names) <= len(labelled)
                    return labelled, expect_short, label
        raise QueryError(f"the model {self.model} does not reproduce the run's rows on any subset of them "
                         f"(does it read the clock or random numbers?)", model=self.model)

    def _given(self, conditions: dict[tuple[str, str], str], columns: dict[tuple[str, str], list[str]],
               short: bool) -> dict[tuple[str, str], tuple[list[str], list[list[Any]]]]:
        given = {}
        for rel in self.relations:
            cols = columns[rel]
            table = quote_identifier("run:" + relation_name(*rel))
            select = ", ".join(quote_identifier(c) for c in cols) or "1"
            order = ", ".join(f"{quote_identifier(c)} NULLS FIRST" for c in cols) or "1"
            rows = _rows(self.mem, f"SELECT {select} FROM {table} AS r WHERE {conditions[rel]} ORDER BY {order}")
            values = [[(_short(v) if short else v) for v in _plain(row)] for row in rows] if cols else []
            given[rel] = (cols, values)
        return given

    def _run(self, given: dict[tuple[str, str], tuple[list[str], list[list[Any]]]]) -> list[tuple] | None:
        con = self.mem.cursor()
        try:
            for rel, (cols, rows) in given.items():
                create_table(con, relation_name(*rel), self.schemas[rel],
                             [dict(zip(cols, row)) for row in rows], "given")
            order = ", ".join(f"{quote_identifier(c)} NULLS FIRST" for c in self.out_columns)
            return _rows(con, f"SELECT * FROM ({self.sql}) ORDER BY {order}")
        except (duckdb.Error, SqlTestError):
            return None
        finally:
            con.close()

    def _accept(self, label: str, out: list[tuple]) -> bool:
        if label.startswith("every row of the run"):
            return _same(out, self.full)
        # A subset of the run's rows is a case when it gives the chosen rows and nothing the run did
        # not give (a pair whose rank depends on the rest of its target then fails and widens it).
        return _contains(out, self.selected) and _contains(self.full, out)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return [tuple(r) for r in con.execute(sql).fetchall()]


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 1e-9 * max(1.0, abs(a)))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return bool(a == b)


def _same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and _contains(a, b)


def _contains(big: list[tuple], small: list[tuple]) -> bool:
    pool = list(big)
    for row in small:
        for i, other in enumerate(pool):
            if _close(row, other):
                del pool[i]
                break
        else:
            return False
    return True


# --- --where --------------------------------------------------------------------------------------

def _predicate(where: str, columns: list[str]) -> str:
    """`where` parsed by sqlglot as one expression over `columns`, generated back as DuckDB SQL."""
    try:
        statements = [s for s in sqlglot.parse(where, read="duckdb") if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise UsageError(f"--where {where!r} is not a SQL expression: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise UsageError(f"--where {where!r}: give one SQL expression (a predicate over the output columns)")
    tree = statements[0]
    bad = tree if isinstance(tree, _FORBIDDEN) else tree.find(*_FORBIDDEN)
    if bad is not None:
        raise UsageError(f"--where {where!r}: only an expression over the model's output columns is allowed "
                         f"(no statements, queries or tables)")
    for column in tree.find_all(exp.Column):
        if column.table or column.name not in columns:
            raise UsageError(f"--where: {column.sql()!r} is not an output column{suggest(column.name, columns)}; "
                             f"columns: {', '.join(columns)}")
    return tree.sql(dialect="duckdb")


# --- writing --------------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def _case_name(name: str | None, run_id: str, taken: set[str], path: Path) -> str:
    if name is not None:
        if not _NAME.fullmatch(name):
            raise UsageError(f"--name {name!r}: a case name uses letters, digits, '_', '.' and '-' only")
        if name in taken:
            raise UsageError(f"{path} already has a case {name!r}; choose another --name")
        return name
    base = "from_run_" + re.sub(r"[^A-Za-z0-9_]", "_", run_id.split("-")[0])
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def _case_text(name: str, description: str, config: dict[str, Any],
               given: dict[str, tuple[list[str], list[list[Any]]]], expect: list[list[Any]],
               out_columns: Mapping[str, str], key: list[str] | None, tolerance: float | None) -> str:
    lines = [f"{name}:", f"  description: {json.dumps(description)}"]
    if config:
        lines.append("  config:")
        lines += [f"    {k}: {_flow(v)}" for k, v in config.items()]
    if tolerance is not None:
        lines.append(f"  tolerance: {tolerance!r}")
    lines.append("  given:")
    for relation, (cols, rows) in given.items():
        lines.append(f"    {relation}:")
        lines.append(f"      columns: {_flow(cols)}")
        if rows:
            lines.append("      rows:")
            lines += [f"        - {_flow(row)}" for row in rows]
        else:
            lines.append("      rows: []")
    lines.append("  expect:")
    lines.append(f"    columns: {_flow(list(out_columns))}")
    if expect:
        lines.append("    rows:")
        lines += [f"      - {_flow(row)}" for row in expect]
    else:
        lines.append("    rows: []")
    return "\n".join(lines) + "\n"


def _cases_indent(text: str) -> int | None:
    """The indentation of the case names, when `cases` is the file's last top-level key."""
    root = yaml.compose(text, Loader=YamlLoader)
    if not isinstance(root, yaml.MappingNode) or not root.value:
        return None
    key, value = root.value[-1]
    if key.value != "cases" or not isinstance(value, yaml.MappingNode) or not value.value:
        return None
    return value.value[0][0].start_mark.column


def _write_checked(path: Path, model: str, case_text: str, case_name: str, runner: SqlTestRunner,
                   appending: bool, taken: set[str]) -> None:
    if appending:
        original = path.read_text(encoding="utf-8")
        indent = _cases_indent(original)
        if indent is None:
            raise ProjectError(f"{path}: 'cases' is not the last key of the file, so a case cannot be appended "
                               f"without rewriting it; move 'cases:' to the end", path=path)
        body = "".join((" " * indent + line if line.strip() else line) for line in case_text.splitlines(True))
        text = original.rstrip("\n") + "\n\n" + body
    else:
        text = (f"# {model}: SQL unit-test cases (see docs/SQL_TESTS.md); cases named from_run_* were written by\n"
                f"# 'foxwarehouse create-test' from a run's rows.\nmodel: {model}\ncases:\n"
                + "".join("  " + line if line.strip() else line for line in case_text.splitlines(True)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.create-test-{os.getpid()}.tmp")
    try:
        write_text_atomic(tmp, text)
        loaded = load_file(tmp)
        names = [c.name for c in loaded.cases]
        if set(names) != taken | {case_name} or len(names) != len(taken) + 1:
            raise ProjectError(f"{path}: appending the case would change the file's other cases; nothing written")
        case = next(c for c in loaded.cases if c.name == case_name)
        result = runner.run_case(case)
        if not result.ok:
            raise QueryError(f"the new case does not pass, so it was not written:\n{result.report()}")
        write_text_atomic(path, text)
    finally:
        if tmp.exists():
            tmp.unlink()
