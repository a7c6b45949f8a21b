"""Column-level lineage across models (sqlglot), down to source columns and the config keys feeding them.

No warehouse is needed: models are rendered with the validated config, source('s') as the warehouse
table ``source_s`` and ref('m') as ``m``; every model is created empty in an in-memory DuckDB to
learn its column types, which is the schema sqlglot qualifies against. ``sqlglot.lineage`` then
follows each output column through the model's CTEs to columns of upstream tables, one model at a
time, recursively.

Config keys are found by rendering each model a second time with a recording config: every
number, and every string of a list, renders as a unique marker literal, and every boolean as a
marker expression; markers found in a column's lineage expressions name the keys feeding it.
Booleans and enum strings that steer the template (``{% if %}``) are flipped one at a time and the
columns whose expressions change are attributed too. Keys a model reads that touch no column
expression (row filters, for example) are reported per model.
"""
from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import sqlglot
from markupsafe import Markup
from sqlglot import exp
from sqlglot.lineage import Node, lineage as sqlglot_lineage

from ..config import BOTH_STRONG_BEHAVIORS, DUMP_FORMATS, ROUTES, STABILITIES, TIERS
from ..errors import FoxError, ModelError, QueryError, UsageError, did_you_mean, duckdb_detail
from ..project import Project
from ..render import Renderer, model_order, quote_identifier
from ..warehouse import SOURCE_TABLES, SOURCES

_BASE = 700_000_000
_STRING_MARK = re.compile(r"^__fxcfg(\d+)_\d+__$")
_ENUMS = (BOTH_STRONG_BEHAVIORS, ROUTES, STABILITIES, DUMP_FORMATS, TIERS)


def _leaf_paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, Mapping):
        for k in sorted(value):
            yield from _leaf_paths(value[k], prefix + (k,))
    yield prefix


class _Flag(Markup):
    """A config boolean in recording mode: renders as a marker expression, tests as its real value."""

    _truth: bool
    _on_test: Any

    def __new__(cls, text: str, truth: bool, on_test: Any):
        obj = super().__new__(cls, text)
        obj._truth, obj._on_test = truth, on_test
        return obj

    def __bool__(self) -> bool:
        self._on_test()
        return self._truth


class _Recorder:
    """Collects the dotted config keys a render reads, and maps marker literals back to keys."""

    def __init__(self, config: Mapping[str, Any]):
        self.index = {p: i for i, p in enumerate(sorted(_leaf_paths(config)))}
        self.paths = {i: p for p, i in self.index.items()}
        self.read: set[tuple] = set()
        self.steering: set[tuple] = set()   # keys whose value steered the template

    def key_of(self, i: int) -> tuple | None:
        return self.paths.get(i)

    def wrap(self, value: Any, path: tuple) -> Any:
        self.read.add(path)
        i = self.index.get(path)
        if i is None:
            return value
        if isinstance(value, bool):
            mark = _BASE + i
            return _Flag(f"({mark} = {mark})", value, lambda: self.steering.add(path))
        if isinstance(value, int):
            return _BASE + i
        if isinstance(value, float):
            return _BASE + i + 0.5
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            return [f"__fxcfg{i}_{j}__" for j in range(len(value))]
        if isinstance(value, str):
            self.steering.add(path)
        return value


class _ConfigProxy(Mapping):
    def __init__(self, data: Mapping[str, Any], path: tuple, rec: _Recorder):
        self._data, self._path, self._rec = data, path, rec

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        path = self._path + (key,)
        if isinstance(value, Mapping):
            self._rec.read.add(path)
            return _ConfigProxy(value, path, self._rec)
        return self._rec.wrap(value, path)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        self._rec.steering.add(self._path)
        return len(self._data)


def _relation(kind: str, name: str) -> str:
    return quote_identifier(SOURCES.get(name, "source_" + name) if kind == "source" else name)


def _perturbed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        for choices in _ENUMS:
            if value in choices:
                return next(c for c in choices if c != value)
    return None


def _set(config: dict, path: tuple, value: Any) -> dict:
    out = copy.deepcopy(config)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _clean(name: str) -> str:
    return name.split(".")[-1].strip('"')


@dataclass
class ColumnInfo:
    model: str
    column: str
    type: str
    inputs: list[tuple[str, str]] = field(default_factory=list)      # upstream (table, column)
    row_sources: list[str] = field(default_factory=list)             # tables counted/aggregated without a column
    config_keys: list[str] = field(default_factory=list)
    expression: str = ""


class LineageGraph:
    """Column lineage of one project rendered with one validated config."""

    def __init__(self, project: Project, config: Mapping[str, Any], renderer: Renderer | None = None):
        self.project, self.config = project, dict(config)
        self.renderer = renderer or Renderer(project, config)
        self.rendered = self.renderer.render_all(_relation)
        self.order = model_order(self.rendered)
        self.schema = self._schema()
        self._columns: dict[str, dict[str, ColumnInfo]] = {}
        self.unattributed: dict[str, list[str]] = {}

    def _schema(self) -> dict[str, dict[str, str]]:
        con = duckdb.connect()
        try:
            schema: dict[str, dict[str, str]] = {}
            for table, columns in SOURCE_TABLES.items():
                con.execute(f"CREATE TABLE {quote_identifier(table)} ({columns})")
                con.execute(f"ALTER TABLE {quote_identifier(table)} DROP COLUMN run_id")
                con.execute(f"ALTER TABLE {quote_identifier(table)} DROP COLUMN source_row")
                schema[table] = {r[0]: r[1] for r in con.execute(f"DESCRIBE {quote_identifier(table)}").fetchall()}
            for name in self.order:
                try:
                    con.execute(f"CREATE TABLE {quote_identifier(name)} AS SELECT * FROM ({self.rendered[name].sql}) LIMIT 0")
                except duckdb.Error as exc:
                    raise ModelError(f"{self.rendered[name].path}: {duckdb_detail(exc)}", model=name,
                                     path=self.rendered[name].path) from None
                schema[name] = {r[0]: r[1] for r in con.execute(f"DESCRIBE {quote_identifier(name)}").fetchall()}
            return schema
        finally:
            con.close()

    # --- per model ------------------------------------------------------------------------

    def _marked(self, name: str, config: dict, rec: _Recorder) -> str:
        saved = self.renderer.config
        self.renderer.config = _ConfigProxy(config, (), rec)
        try:
            return self.renderer.render(name, _relation).sql
        finally:
            self.renderer.config = saved

    def read_keys(self, model: str) -> list[str]:
        """Dotted config keys the model's SQL (and the macros it calls) reads, without lineage."""
        if model not in self.rendered:
            raise QueryError(f"unknown model {model!r}{did_you_mean(model, self.order, 'models')}", model=model)
        rec = _Recorder(self.config)
        self._marked(model, self.config, rec)
        leaves = {p for p in rec.read if p and (not isinstance(self._get(p), Mapping) or p in rec.steering)}
        return sorted(".".join(p) for p in leaves
                      if not any(q != p and q[:len(p)] == p for q in rec.read))

    def _column_nodes(self, sql: str) -> dict[str, Node]:
        try:
            return sqlglot_lineage(None, sql, schema=self.schema, dialect="duckdb", trim_selects=False)
        except sqlglot.errors.SqlglotError as exc:
            raise ModelError(f"lineage: cannot analyse the model SQL: {exc}") from None

    @staticmethod
    def _signature(node: Node) -> frozenset[str]:
        return frozenset(n.expression.sql(dialect="duckdb") for n in node.walk())

    def columns(self, model: str) -> dict[str, ColumnInfo]:
        """Lineage of every column of `model` (computed once)."""
        if model in self._columns:
            return self._columns[model]
        if model not in self.rendered:
            raise QueryError(f"unknown model {model!r}{did_you_mean(model, self.order, 'models')}", model=model)
        rec = _Recorder(self.config)
        base_sql = self._marked(model, self.config, rec)
        nodes = self._column_nodes(base_sql)
        ctes = self._cte_tables(self.rendered[model].sql)
        infos: dict[str, ColumnInfo] = {}
        used: set[tuple] = set()
        for column, ctype in self.schema[model].items():
            node = nodes.get(column)
            info = ColumnInfo(model, column, ctype)
            if node is not None:
                self._fill(info, node, rec, ctes, used)
            infos[column] = info
        # steering keys: flip each and see which column expressions change
        base = {c: self._signature(n) for c, n in nodes.items()}
        for path in sorted(rec.steering):
            if not path:
                continue
            value = self._get(path)
            new = _perturbed(value)
            if new is None:
                continue
            try:
                other_sql = self._marked(model, _set(self.config, path, new), _Recorder(self.config))
                if other_sql == base_sql:  # the key only steers text that is not SQL
                    continue
                other = self._column_nodes(other_sql)
            except FoxError:
                continue
            key = ".".join(path)
            for column, info in infos.items():
                if column in other and column in base and self._signature(other[column]) != base[column]:
                    if key not in info.config_keys:
                        info.config_keys.append(key)
                    used.add(path)
        for info in infos.values():
            info.config_keys.sort()
        leaves = {p for p in rec.read if not isinstance(self._get(p), Mapping) or p in rec.steering}
        self.unattributed[model] = sorted(".".join(p) for p in leaves - used
                                          if p and not any(u[:len(p)] == p for u in used))
        self._columns[model] = infos
        return infos

    def _get(self, path: tuple) -> Any:
        return _lookup(self.config, ".".join(path)) if path else self.config

    @staticmethod
    def _cte_tables(sql: str) -> dict[str, set[str]]:
        """CTE name -> the physical tables it reads (through other CTEs)."""
        tree = sqlglot.parse_one(sql, read="duckdb")
        ctes = {cte.alias_or_name: {t.name for t in cte.this.find_all(exp.Table)} for cte in tree.find_all(exp.CTE)}

        def physical(name: str, seen: frozenset = frozenset()) -> set[str]:
            if name not in ctes or name in seen:
                return {name}
            return set().union(*(physical(t, seen | {name}) for t in ctes[name]))

        return {name: physical(name) for name in ctes}

    def _fill(self, info: ColumnInfo, root: Node, rec: _Recorder, ctes: dict[str, set[str]], used: set[tuple]) -> None:
        info.expression = root.expression.sql(dialect="duckdb")[:400]
        inputs: set[tuple[str, str]] = set()
        rows: set[str] = set()
        for node in root.walk():
            if isinstance(node.expression, exp.Table):
                inputs.add((node.expression.name, _clean(node.name)))
                continue
            for lit in node.expression.find_all(exp.Literal):
                path = self._marker(lit, rec)
                if path is not None:
                    used.add(path)
                    key = ".".join(path)
                    if key not in info.config_keys:
                        info.config_keys.append(key)
            if not node.downstream and isinstance(node.source, exp.Query) and (
                    node.expression.find(exp.AggFunc) is not None or node.expression.find(exp.Window) is not None):
                for table in node.source.find_all(exp.Table):
                    for physical in ctes.get(table.name, {table.name}):
                        if physical in self.schema:
                            rows.add(physical)
        info.inputs = sorted(inputs)
        info.row_sources = sorted(rows - {t for t, _ in inputs})

    @staticmethod
    def _marker(lit: exp.Literal, rec: _Recorder) -> tuple | None:
        text = lit.this
        if lit.is_string:
            m = _STRING_MARK.match(text)
            return rec.key_of(int(m.group(1))) if m else None
        try:
            v = float(text)
        except ValueError:
            return None
        if not math.isfinite(v) or v < _BASE or v - math.floor(v) not in (0.0, 0.5):
            return None
        return rec.key_of(int(math.floor(v)) - _BASE)

    # --- across models --------------------------------------------------------------------

    def column(self, model: str, column: str) -> ColumnInfo:
        infos = self.columns(model)
        if column not in infos:
            raise QueryError(f"model {model!r} has no column {column!r}{did_you_mean(column, infos, 'columns')}",
                             model=model)
        return infos[column]

    def trace(self, model: str, column: str) -> dict[str, Any]:
        """The lineage tree of model.column down to source columns, plus the sources and keys reached."""
        self.column(model, column)
        sources: set[str] = set()
        keys: dict[str, set[str]] = {}
        seen: set[tuple[str, str]] = set()

        def walk(m: str, c: str) -> dict[str, Any]:
            info = self.column(m, c)
            node: dict[str, Any] = {"model": m, "column": c, "type": info.type, "config_keys": info.config_keys,
                                    "row_sources": info.row_sources, "inputs": []}
            for key in info.config_keys:
                keys.setdefault(key, set()).add(f"{m}.{c}")
            for table in info.row_sources:
                if table not in self.rendered:
                    sources.add(f"{table} (rows counted)")
            if (m, c) in seen:
                node["repeated"] = True
                return node
            seen.add((m, c))
            for table, col in info.inputs:
                if table in self.rendered:
                    node["inputs"].append(walk(table, col))
                else:
                    sources.add(f"{table}.{col}")
                    node["inputs"].append({"source": table, "column": col,
                                           "type": self.schema.get(table, {}).get(col, "")})
            for table in info.row_sources:
                node["inputs"].append({"rows_of": table})
            return node

        tree = walk(model, column)
        return {"column": f"{model}.{column}", "tree": tree, "source_columns": sorted(sources),
                "config_keys": {k: sorted(v) for k, v in sorted(keys.items())},
                "model_config_keys": {m: self.unattributed.get(m, []) for m in self.order
                                      if m in self._columns and self.unattributed.get(m)}}


def parse_target(text: str) -> tuple[str, str | None]:
    model, _, column = text.strip().partition(".")
    if not model:
        raise UsageError("lineage: give MODEL.COLUMN (for example routing_decisions.route) or MODEL")
    return model, (column or None)


def compress_keys(keys: list[str], config: Mapping[str, Any]) -> list[str]:
    """Display form: a section whose every leaf key is listed is shown once as the section."""
    wanted = set(keys)

    def leaves(value: Any, prefix: str) -> list[str]:
        if isinstance(value, Mapping) and value:
            return [leaf for k, v in value.items() for leaf in leaves(v, f"{prefix}.{k}" if prefix else k)]
        return [prefix]

    def visit(value: Any, prefix: str) -> list[str]:
        if prefix and prefix in wanted:
            return [prefix]
        if not isinstance(value, Mapping) or not value:
            return []
        if prefix and all(leaf in wanted for leaf in leaves(value, prefix)):
            return [prefix + ".*"]
        return [k for key, v in value.items() for k in visit(v, f"{prefix}.{key}" if prefix else key)]

    shown = visit(config, "")
    covered = {leaf for k in shown for leaf in (leaves(_lookup(config, k.removesuffix(".*")), k.removesuffix(".*")))}
    return sorted(shown + [k for k in keys if k not in covered])


def _lookup(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node[part]
    return node


def format_trace(result: dict[str, Any], config: Mapping[str, Any] | None = None) -> str:
    out = [f"lineage of {result['column']} ({result['tree']['type']})", ""]

    def emit(node: dict[str, Any], prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        child_prefix = prefix if top else prefix + ("   " if last else "│  ")
        if "source" in node:
            out.append(f"{prefix}{branch}{node['source']}.{node['column']}  (source column)")
            return
        if "rows_of" in node:
            out.append(f"{prefix}{branch}rows of {node['rows_of']}  (counted)")
            return
        label = f"{node['model']}.{node['column']}"
        if node.get("repeated"):
            out.append(f"{prefix}{branch}{label}  (see above)")
            return
        out.append(f"{prefix}{branch}{label}")
        if node["config_keys"]:
            keys = compress_keys(node["config_keys"], config) if config is not None else node["config_keys"]
            out.append(f"{child_prefix}{'│' if node['inputs'] else ' '}  config: {', '.join(keys)}")
        for i, child in enumerate(node["inputs"]):
            emit(child, child_prefix, i == len(node["inputs"]) - 1, False)

    emit(result["tree"], "", True, True)
    out += ["", f"source columns ({len(result['source_columns'])}):"]
    out += [f"  {s}" for s in result["source_columns"]] or ["  (none)"]
    out += ["", f"config keys ({len(result['config_keys'])}):"]
    width = max([len(k) for k in result["config_keys"]] + [0])
    out += [f"  {k:<{width}}  via {', '.join(v)}" for k, v in result["config_keys"].items()] or ["  (none)"]
    if result["model_config_keys"]:
        out += ["", "also read by models on the path (row filters / structure, not a column expression):"]
        out += [f"  {m}: {', '.join(keys)}" for m, keys in result["model_config_keys"].items()]
    return "\n".join(out)


def format_model(graph: LineageGraph, model: str) -> str:
    infos = graph.columns(model)
    out = [f"lineage of the columns of {model}", ""]
    for info in infos.values():
        ins = [f"{t}.{c}" for t, c in info.inputs] + [f"rows of {t}" for t in info.row_sources]
        out.append(f"{info.column} ({info.type}) <- {', '.join(ins) or '(constant)'}")
        if info.config_keys:
            out.append(f"    config: {', '.join(compress_keys(info.config_keys, graph.config))}")
    if graph.unattributed.get(model):
        out += ["", f"also read by {model}: {', '.join(graph.unattributed[model])}"]
    return "\n".join(out)
