"""SQL unit tests: running one case — render the model on fixture tables, run it, compare.

The runner renders the model under test with every ``ref()``/``source()`` bound to a typed fixture
table (``given:ref:NAME`` / ``given:source:NAME``), runs it in an in-memory DuckDB and compares the
result there (``compare``). Fixture column types are the real ones (see ``ConfigScope``).
``macro:`` cases call one macro with arguments and compare its value row by row. One runner serves
one project; configs, renderers and schemas are cached across its cases.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import time
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
from jinja2 import Template, nodes

from ..config import read_config_file, validate_config_with_notices
from ..errors import ConfigError, FoxError, duckdb_detail
from ..project import Project, packaged_project
from ..render import RenderedModel, Renderer, _make_environment, quote_identifier
from ..warehouse import SOURCE_TABLES, SOURCES
from .compare import SqlTestError, compare, compare_positional, create_table, format_value
from .files import SqlCase, parse_rows, suggest

DEFAULT_KEYS = (("job_id",), ("target", "symbol"), ("target",))


# --- rendering ------------------------------------------------------------------------------

_TEMPLATES: dict[str | nodes.Template, Template] = {}


def _caching_environment():
    """The renderer's sandboxed environment, compiling each distinct template text only once.

    Cases render the same models and macros under many configs; Jinja compilation dominates a
    render, while a compiled template is reusable with any context.
    """
    env = _make_environment()
    compile_text = env.from_string

    def from_string(source: str | nodes.Template, globals: MutableMapping[str, Any] | None = None,
                    template_class: type[Template] | None = None) -> Template:
        if globals is not None or template_class is not None:
            return compile_text(source, globals, template_class)
        key = source
        if key not in _TEMPLATES:
            _TEMPLATES[key] = compile_text(source)
        return _TEMPLATES[key]

    # Replacing a method on one instance is deliberate; mypy flags any such assignment.
    env.from_string = from_string  # type: ignore[method-assign]
    return env


def _renderer(project: Project, config: Mapping[str, Any]) -> Renderer:
    renderer = Renderer(project, config)
    renderer.env = _caching_environment()
    return renderer


_SCOPE_IDS = itertools.count(1)


# --- schemas --------------------------------------------------------------------------------

def relation_name(kind: str, name: str) -> str:
    """The table a ref()/source() resolves to in a test: given:ref:NAME or given:source:NAME."""
    return f"given:{kind}:{name}"


def _test_resolver(kind: str, name: str) -> str:
    return quote_identifier(relation_name(kind, name))


class ConfigScope:
    """What depends on one validated config: its renderer, rendered models and their real schemas.

    Source schemas come from the warehouse DDL (without run_id and source_row). A model's schema is
    what DuckDB binds its rendered SQL to, with its upstream relations present as empty tables of
    their own real schemas (created in this scope's schema of the runner's in-memory database).
    Schemas are shared between scopes by a key over the model's SQL and its upstream keys, so a
    config override that does not change a model's SQL costs no DuckDB work for it.
    """

    def __init__(self, runner: SqlTestRunner, config: dict[str, Any], schema: str):
        self.runner = runner
        self.config = config
        self.renderer = _renderer(runner.project, config)
        self._rendered: dict[str, RenderedModel] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self._tables: set[tuple[str, str]] = set()
        self._busy: set[str] = set()
        self._schema = schema
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """This scope's connection, working in its own schema (made on first use)."""
        if self._con is None:
            self._con = self.runner.db.cursor()
            self._con.execute(f"CREATE SCHEMA {quote_identifier(self._schema)}")
            self._con.execute(f"USE {quote_identifier(self._schema)}")
        return self._con

    def render(self, name: str) -> RenderedModel:
        if name not in self._rendered:
            if name in self.runner._checked:
                self._rendered[name] = self.renderer.render(name, _test_resolver, check=False)
            else:
                self._rendered[name] = self.renderer.render(name, _test_resolver)
                self.runner._checked.add(name)
        return self._rendered[name]

    def _key(self, kind: str, name: str) -> str:
        if (kind, name) not in self._keys:
            if kind == "source":
                if name not in SOURCES:
                    raise SqlTestError(f"source('{name}') is unknown; sources: {', '.join(SOURCES)}")
                self._keys[(kind, name)] = f"source:{name}"
            else:
                if name in self._busy:
                    raise SqlTestError(f"model dependency cycle through {name}")
                self._busy.add(name)
                try:
                    model = self.render(name)
                    parts = [model.sql] + [self._key("ref", r) for r in model.refs] + [self._key("source", s) for s in model.sources]
                finally:
                    self._busy.discard(name)
                self._keys[(kind, name)] = "ref:" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()
        return self._keys[(kind, name)]

    def relation(self, kind: str, name: str) -> list[tuple[str, str]]:
        """(column, type) of a source or of a model's output."""
        key = self._key(kind, name)
        cache = self.runner._schemas
        if key not in cache:
            if kind == "source":
                cur = self.runner.db.cursor()
                try:
                    cur.execute(f"CREATE TEMP TABLE raw ({SOURCE_TABLES[SOURCES[name]]})")
                    rel = cur.sql("SELECT * EXCLUDE (run_id, source_row) FROM raw")
                    cache[key] = [(c, str(t)) for c, t in zip(rel.columns, rel.types)]
                finally:
                    cur.close()
            else:
                model = self.render(name)
                for upstream in dict.fromkeys(model.refs):
                    self._table("ref", upstream)
                for upstream in dict.fromkeys(model.sources):
                    self._table("source", upstream)
                try:
                    rel = self.con.sql(model.sql)
                    cache[key] = [(c, str(t)) for c, t in zip(rel.columns, rel.types)]
                except duckdb.Error as exc:
                    raise SqlTestError(f"cannot derive the schema of model {name}: {duckdb_detail(exc)}", model=name) from None
        return cache[key]

    def _table(self, kind: str, name: str) -> None:
        """An empty table of the relation's real schema in this scope (for binding downstream SQL)."""
        if (kind, name) in self._tables:
            return
        columns = self.relation(kind, name)
        ddl = ", ".join(f"{quote_identifier(c)} {t}" for c, t in columns)
        self.con.execute(f"CREATE TABLE {quote_identifier(relation_name(kind, name))} ({ddl})")
        self._tables.add((kind, name))

    def column_types(self) -> dict[str, str]:
        """Column name -> type over every source and model (the first one that has it wins)."""
        types: dict[str, str] = {}
        for name in SOURCES:
            for col, t in self.relation("source", name):
                types.setdefault(col, t)
        for name in self.renderer.project.model_paths():
            try:
                for col, t in self.relation("ref", name):
                    types.setdefault(col, t)
            except FoxError:
                continue
        return types


# --- running --------------------------------------------------------------------------------

@dataclass
class CaseResult:
    case: SqlCase
    status: str                          # passed | failed | error
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def report(self) -> str:
        """The failure text: what was tested, under which config, and the diff."""
        head = [f"{self.case.id} ({self.case.subject})"]
        if self.case.description:
            head.append(f"  {self.case.description}")
        if self.case.own_config:
            head.append("  config: " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in self.case.own_config.items()))
        inherited = len(set(self.case.config) - set(self.case.own_config))
        if inherited:
            head.append(f"  (plus {inherited} config override(s) from the file-level config)")
        return "\n".join(head + ["  " + line for line in self.lines])


@dataclass
class ActualOutput:
    """A case's compared (column, type)s and key, its expected rows and the rows it actually gives."""

    columns: list[tuple[str, str]]
    key: list[str]
    expected: list[tuple]
    actual: list[tuple]


class SqlTestRunner:
    """Runs cases against one project; caches validated configs, renderers and schema catalogs."""

    def __init__(self, project: Project | None = None, parse_check: bool = True,
                 db: duckdb.DuckDBPyConnection | None = None):
        self.project = project or packaged_project()
        path = self.project.default_config_path
        self.config_path = path if path.is_file() else packaged_project().default_config_path
        # One in-memory database; each case works on its own connection (a cursor: cheap, and its
        # temp tables vanish with it), each config scope in its own schema.
        self._own_db = db is None
        self.db = duckdb.connect(":memory:") if db is None else db
        self._configs: dict[str, dict[str, Any]] = {}
        self._scopes: dict[str, ConfigScope] = {}
        self._schemas: dict[str, list[tuple[str, str]]] = {}   # schema key -> (column, type)
        self._checked: set[str] = set()                        # models parsed by sqlglot once
        if not parse_check:  # DuckDB still runs every model; only the sqlglot parse is skipped
            self._checked.update(self.project.model_paths())
        self._column_types: dict[str, str] | None = None
        self._raw_config: Any = None

    def close(self) -> None:
        for scope in self._scopes.values():
            if scope._con is not None:
                scope._con.close()
        if self._own_db:
            self.db.close()

    def scope(self, overrides: Mapping[str, Any]) -> ConfigScope:
        key = json.dumps(overrides, sort_keys=True, default=str)
        if key not in self._configs:
            if self._raw_config is None:
                # read as `plan` reads it: the same values, or the same ConfigError
                self._raw_config = read_config_file(self.config_path)
            try:
                # A test case's config notices (FoxML-only keys) are not test results: dropped.
                self._configs[key], _ = validate_config_with_notices(self._raw_config,
                                                                     overrides=copy.deepcopy(dict(overrides)))
            except ConfigError as exc:
                raise ConfigError(f"config {self.config_path} with the case's overrides: {exc.message}",
                                  path=self.config_path, key=exc.key) from None
        config = self._configs[key]
        ckey = json.dumps(config, sort_keys=True)
        if ckey not in self._scopes:
            self._scopes[ckey] = ConfigScope(self, config, f"scope_{next(_SCOPE_IDS)}")
        return self._scopes[ckey]

    def column_types(self) -> dict[str, str]:
        """Types of every source and model column under the project's config (for macro given rows)."""
        if self._column_types is None:
            self._column_types = self.scope({}).column_types()
        return self._column_types

    def run_case(self, case: SqlCase) -> CaseResult:
        start = time.perf_counter()
        con = self.db.cursor()
        try:
            lines = self._run_macro(con, case) if case.macro else self._run_model(con, case)
            status = "failed" if lines else "passed"
        except FoxError as exc:
            status, lines = "error", [f"error: {exc.message}"]
        except duckdb.Error as exc:
            status, lines = "error", [f"error: {str(exc).strip()}"]
        except Exception as exc:  # noqa: BLE001 - a broken macro or model must not crash the suite
            status, lines = "error", [f"error: {type(exc).__name__}: {exc}"]
        finally:
            con.close()
        return CaseResult(case, status, lines, time.perf_counter() - start)

    # models ---------------------------------------------------------------------------------

    def _run_model(self, con: duckdb.DuckDBPyConnection, case: SqlCase) -> list[str]:
        columns, key = self._model_tables(con, case)
        result = compare(con, "__expected", "__actual", columns, key, ordered=case.ordered, tolerance=case.tolerance)
        return [] if result.ok else result.lines()

    def _model_tables(self, con: duckdb.DuckDBPyConnection, case: SqlCase) -> tuple[list[tuple[str, str]], list[str]]:
        """Run the case's model on its fixtures into __actual and its expectation into __expected
        (both with a __rid row number); the compared (column, type)s and the key columns."""
        if case.model is None:
            raise SqlTestError(f"case {case.name!r} names neither a model nor a macro")
        scope = self.scope(case.config)
        model = scope.render(case.model)
        read = {("ref", n): relation_name("ref", n) for n in model.refs}
        read.update({("source", n): relation_name("source", n) for n in model.sources})
        bound = self._bind_given(case, read)
        for (kind, name), table in read.items():
            columns = scope.relation(kind, name)
            self._fixture(con, table, columns, bound.get((kind, name)), f"given {kind} {name}")
        try:
            con.execute(f"CREATE TEMP TABLE __actual_raw AS {model.sql}")
        except duckdb.Error as exc:
            raise SqlTestError(f"model {case.model} failed on the fixture rows: {str(exc).strip()}") from None
        con.execute("CREATE TEMP TABLE __actual AS SELECT rowid AS __rid, * FROM __actual_raw")
        rel = con.sql("SELECT * FROM __actual_raw")
        out_types = dict(zip(rel.columns, (str(t) for t in rel.types)))
        columns = self._expected(con, case, out_types)
        key = case.key if case.key is not None else _default_key([c for c, _ in columns])
        missing_key = [k for k in key if k not in out_types]
        if missing_key:
            raise SqlTestError(f"key column {missing_key[0]!r} is not an output column of {case.model}")
        return columns, [k for k in key if k in dict(columns)]

    def _bind_given(self, case: SqlCase, read: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], Any]:
        bound: dict[tuple[str, str], Any] = {}
        names = sorted({n for _, n in read})
        for raw, spec in case.given.items():
            kind, _, name = str(raw).rpartition(":")
            if kind not in ("", "ref", "source"):
                raise SqlTestError(f"given {raw!r}: prefix with ref: or source:, or give the plain name")
            matches = [k for k in read if k[1] == name and (not kind or k[0] == kind)]
            if not matches:
                reads = ", ".join(f"{k}('{n}')" for k, n in read) or "nothing"
                raise SqlTestError(f"given {raw!r}: {case.model} does not read it{suggest(name, names)}; "
                                   f"it reads {reads}")
            if len(matches) > 1:
                raise SqlTestError(f"given {raw!r}: {case.model} reads both ref('{name}') and source('{name}'); "
                                   f"write ref:{name} or source:{name}")
            bound[matches[0]] = spec
        return bound

    def _fixture(self, con, table: str, columns: list[tuple[str, str]], spec: Any, where: str) -> None:
        if isinstance(spec, dict) and "sql" in spec:
            if len(spec) != 1 or not isinstance(spec["sql"], str):
                raise SqlTestError(f"{where}: a SQL fixture is {{sql: 'SELECT ...'}} and nothing else")
            raw = quote_identifier(table + ":sql")
            try:
                con.execute(f"CREATE TEMP TABLE {raw} AS {spec['sql']}")
            except duckdb.Error as exc:
                raise SqlTestError(f"{where}: the fixture SQL failed: {duckdb_detail(exc)}") from None
            have = con.sql(f"SELECT * FROM {raw}").columns
            known = [c for c, _ in columns]
            extra = [c for c in have if c not in known]
            if extra:
                raise SqlTestError(f"{where}: the fixture SQL returns {extra[0]!r}, not a column{suggest(extra[0], known)}")
            select = ", ".join(
                (f"CAST({quote_identifier(c)} AS {t})" if c in have else f"CAST(NULL AS {t})") + f" AS {quote_identifier(c)}"
                for c, t in columns)
            try:
                con.execute(f"CREATE TEMP TABLE {quote_identifier(table)} AS SELECT {select} FROM {raw}")
            except duckdb.Error as exc:
                raise SqlTestError(f"{where}: the fixture SQL does not fit the real column types: "
                                   f"{duckdb_detail(exc)}") from None
            return
        _, rows = parse_rows(spec, where)
        create_table(con, table, columns, rows, where)

    def _expected(self, con, case: SqlCase, out_types: dict[str, str]) -> list[tuple[str, str]]:
        where = "expect"
        outputs = list(out_types)
        if isinstance(case.expect, dict) and "sql" in case.expect:
            try:
                con.execute(f"CREATE TEMP TABLE __expected_raw AS {case.expect['sql']}")
            except duckdb.Error as exc:
                raise SqlTestError(f"expect: the SQL failed: {duckdb_detail(exc)}") from None
            names = con.sql("SELECT * FROM __expected_raw").columns
            self._check_columns(case, names, outputs)
            columns = [(c, out_types[c]) for c in names]
            select = ", ".join(f"CAST({quote_identifier(c)} AS {t}) AS {quote_identifier(c)}" for c, t in columns)
            con.execute(f"CREATE TEMP TABLE __expected AS SELECT rowid AS __rid, {select} FROM __expected_raw")
            return columns
        declared, rows = parse_rows(case.expect, where)
        names = list(declared) if declared else list(dict.fromkeys(k for row in rows for k in row))
        self._check_columns(case, names, outputs)
        for index, row in enumerate(rows):
            lacking = [c for c in names if c not in row]
            if lacking and not declared:
                raise SqlTestError(f"expect, row {index + 1}: every expected row lists the same columns; "
                                   f"this one lacks {', '.join(map(repr, lacking))}")
        if not names:  # expect: [] -> the model returns no rows; show what it returned instead
            key = _default_key(outputs)
            names = key or outputs[:6]
        columns = [(c, out_types[c]) for c in names]
        create_table(con, "__expected", columns, rows, where, rid=True)
        return columns

    def _check_columns(self, case: SqlCase, names: Iterable[str], outputs: list[str]) -> None:
        for name in names:
            if name not in outputs:
                raise SqlTestError(f"expect: {name!r} is not an output column of {case.model}"
                                   f"{suggest(name, outputs)}; it has {', '.join(outputs)}")

    # macros ---------------------------------------------------------------------------------

    def _run_macro(self, con: duckdb.DuckDBPyConnection, case: SqlCase) -> list[str]:
        expr, out_type = self._macro_tables(con, case)
        rows = case.given_rows or []
        bad = compare_positional(con, "__expected", "__actual", "value", out_type, case.tolerance)
        lines = []
        for rid, exp_value, act_value in bad:
            given = rows[rid] if rows and rid is not None and rid < len(rows) else {}
            label = ", ".join(f"{k}={format_value(v)}" for k, v in given.items())
            lines.append(f"{case.macro}(...) {('on ' + label) if label else ''}".rstrip() + ":")
            lines.append(f"  expected {format_value(exp_value)}, actual {format_value(act_value)}")
        if lines:
            lines.append(f"rendered: {expr}")
        return lines

    def _macro_tables(self, con: duckdb.DuckDBPyConnection, case: SqlCase) -> tuple[str, str]:
        """The macro's value per given row into __actual, the expected values into __expected (both
        with __rid, column value); the rendered expression and the value's type."""
        if case.macro is None:
            raise SqlTestError(f"case {case.name!r} names no macro")
        scope = self.scope(case.config)
        config = scope.config
        macros = scope.renderer.macros()
        if case.macro not in macros:
            raise SqlTestError(f"macro {case.macro!r} is not defined{suggest(case.macro, macros)}; "
                               f"macros: {', '.join(sorted(macros))}")
        args = [_macro_arg(a, config) for a in case.args]
        kwargs = {k: _macro_arg(v, config) for k, v in case.kwargs.items()}
        try:
            expr = str(macros[case.macro](*args, **kwargs)).strip()
        except FoxError:
            raise
        except Exception as exc:  # jinja raises many kinds of errors from inside a macro
            raise SqlTestError(f"macro {case.macro} cannot be rendered with these arguments: {exc}") from None
        rows = case.given_rows or []
        if rows:
            names = list(dict.fromkeys(k for row in rows for k in row))
            known = self.column_types()
            columns = []
            for name in names:
                dtype = case.types.get(name) or known.get(name) or _infer_type([r.get(name) for r in rows])
                if dtype is None:
                    raise SqlTestError(f"given_row: the type of {name!r} is unknown (NULL in every row); "
                                       f"declare it under types:")
                columns.append((name, dtype))
            create_table(con, "given_row", columns, rows, "given_row", rid=True)
            source = "FROM given_row"
        else:
            source = "FROM (SELECT 0 AS __rid) AS given_row"
        try:
            con.execute(f"CREATE TEMP TABLE __actual AS SELECT __rid, ({expr}) AS value {source}")
        except duckdb.Error as exc:
            raise SqlTestError(f"macro {case.macro} failed: {str(exc).strip()}\n  rendered: {expr}") from None
        out_type = str(con.sql("SELECT value FROM __actual").types[0])
        expected = case.expect if case.many else [case.expect]
        create_table(con, "__expected", [("value", out_type)], [{"value": v} for v in expected], "expect", rid=True)
        return expr, out_type

    # actual output (for `foxwarehouse test --update`) --------------------------------------------

    def actual_output(self, case: SqlCase) -> ActualOutput:
        """What the case's model (or macro) gives on its fixtures, next to what the case expects:
        the compared columns only, rows in the model's own order (raises like a case error)."""
        con = self.db.cursor()
        try:
            if case.macro:
                _, out_type = self._macro_tables(con, case)
                columns, key = [("value", out_type)], list[str]()
                actual = con.execute("SELECT value FROM __actual ORDER BY __rid").fetchall()
            else:
                columns, key = self._model_tables(con, case)
                select = ", ".join(quote_identifier(c) for c, _ in columns) or "1"
                actual = con.execute(f"SELECT {select} FROM __actual ORDER BY __rid").fetchall()
            select = ", ".join(quote_identifier(c) for c, _ in columns) or "1"
            expected = con.execute(f"SELECT {select} FROM __expected ORDER BY __rid").fetchall()
        finally:
            con.close()
        return ActualOutput(columns, key, [tuple(r) for r in expected], [tuple(r) for r in actual])


def _macro_arg(value: Any, config: Mapping[str, Any]) -> Any:
    """A macro argument: the YAML value itself, or {config: dotted.key} for a value of the config."""
    if isinstance(value, dict) and set(value) == {"config"}:
        node: Any = config
        for part in str(value["config"]).split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise SqlTestError(f"args: {value['config']!r} is not a key of the validated config")
            node = node[part]
        return node
    return value


def _infer_type(values: list[Any]) -> str | None:
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return "BOOLEAN"
        if isinstance(v, int):
            return "BIGINT"
        if isinstance(v, float):
            return "DOUBLE"
        if isinstance(v, list):
            inner = _infer_type(v)
            return f"{inner or 'VARCHAR'}[]"
        return "VARCHAR"
    return None


def _default_key(columns: list[str]) -> list[str]:
    for key in DEFAULT_KEYS:
        if all(k in columns for k in key):
            return list(key)
    return []
