"""Post-build audits: SELECTs that return failing rows; any row fails the build (blocking).

Audits are declared with the models, like dbt's schema tests: under ``audits:`` in each model's
entry of ``sql/models.yml`` (projects made by older versions keep a ``sql/audits.yml`` with an
``audits:`` list whose items also name their ``model``; it is still read). Each audit has a
``name`` and one check:

* ``unique: [col, ...]``           -- rows sharing the columns' values (NULLs count as equal)
* ``not_null: [col, ...]``         -- rows where any of the columns is NULL
* ``accepted_values: {column | columns, values, allow_null: false}``
                                    -- rows whose value is not listed; NULL fails unless allow_null
* ``relationships: {to, columns, to_where}``
                                    -- rows with no row in model ``to`` with equal columns
                                       (``columns`` a list, or a mapping column -> to_column; NULL-safe)
* ``sql: SELECT ...``               -- a Jinja-templated query (``ref()``, ``source()``, macros)
                                       returning the failing rows

and an optional ``where:`` (SQL condition) that limits the checked rows of ``model``.
During a build they run inside the build transaction on the run-scoped views of the models, after
every model and before the export; a failing audit raises AuditError (exit 2) naming the audit and
up to 5 offending rows, the build rolls back, and the previous export stays as it was.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import yaml

from ..engine import one_row
from ..errors import AuditError, ModelError, duckdb_detail
from ..formatting import format_value
from ..models import model_meta, models_file
from ..project import Project
from ..render import Renderer, quote_identifier, sql_literal

if TYPE_CHECKING:
    from ..context import Context

AUDIT_FILES = ("audits.yml", "audits.yaml", "schema.yml", "schema.yaml")
CHECKS = ("unique", "not_null", "accepted_values", "relationships", "sql")
SHOWN_ROWS = 5
KEY_COLUMNS = ("job_id", "target", "symbol")


@dataclass
class Audit:
    name: str
    model: str
    check: str
    spec: Any
    where: str | None = None
    description: str = ""
    path: Path = field(default_factory=Path)


@dataclass
class AuditFailure:
    audit: Audit
    count: int
    rows: list[dict[str, Any]]

    def message(self) -> str:
        lines = ["  (" + ", ".join(f"{k}={format_value(v)}" for k, v in row.items()) + ")" for row in self.rows]
        if self.count > len(self.rows):
            lines.append(f"  ... and {self.count - len(self.rows)} more")
        noun = "row" if self.count == 1 else "rows"
        head = f"audit {self.audit.name} on {self.audit.model} failed: {self.count} {noun}:"
        if self.audit.description:
            head += f" ({self.audit.description})"
        return "\n".join([head] + lines)


def _model_entry_items(project: Project) -> list[tuple[Path, int, Any]]:
    """(file, index, item) of the audits listed under each model's entry in sql/models.yml; an item
    names its model by where it sits, so ``model:`` is filled in (and must agree when given)."""
    path = models_file(project)
    items: list[tuple[Path, int, Any]] = []
    for name, meta in model_meta(project).items():
        for index, item in enumerate(meta.audits):
            if isinstance(item, dict):
                if item.get("model", name) != name:
                    raise ModelError(f"{path}: models.{name}.audits #{index + 1}: 'model' names "
                                     f"{item['model']!r}, but the audit sits under {name}")
                item = {**item, "model": name}
            items.append((path, index, item))
    return items


def _audit_file_items(project: Project) -> list[tuple[Path, int, Any]]:
    """(file, index, item) of the audits in sql/audits.yml, where projects made by older versions
    of ``foxwarehouse init`` keep them (none when the file is absent)."""
    path = audit_file(project)
    if path is None:
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelError(f"{path}: cannot read the audits: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("audits"), list):
        raise ModelError(f"{path}: expected a mapping with an 'audits' list")
    return [(path, index, item) for index, item in enumerate(data["audits"])]


def audit_file(project: Project) -> Path | None:
    for name in AUDIT_FILES:
        path = project.sql_dir / name
        if path.is_file():
            return path
    return None


def load_audits(project: Project) -> list[Audit]:
    """The project's audits: each model's ``audits:`` in sql/models.yml, then the audits of an older
    project's sql/audits.yml (when it has one). Audit names are unique across both."""
    models = project.model_paths()
    audits: list[Audit] = []
    names: set[str] = set()
    for path, index, item in [*_model_entry_items(project), *_audit_file_items(project)]:
        where = f"{path}: audit #{index + 1}"
        if not isinstance(item, dict):
            raise ModelError(f"{where}: expected a mapping with name, model and one check")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ModelError(f"{where}: 'name' is missing")
        where = f"{path}: audit {name}"
        if name in names:
            raise ModelError(f"{where}: the name is used twice")
        names.add(name)
        unknown = [k for k in item if k not in ("name", "model", "where", "description") + CHECKS]
        if unknown:
            raise ModelError(f"{where}: unknown key {unknown[0]!r}; checks: {', '.join(CHECKS)}")
        model = item.get("model")
        if model not in models:
            raise ModelError(f"{where}: model {model!r} is not a model; models: {', '.join(models)}")
        checks = [c for c in CHECKS if c in item]
        if len(checks) != 1:
            raise ModelError(f"{where}: give exactly one of {', '.join(CHECKS)}")
        check = checks[0]
        spec = _check_spec(check, item[check], where, models)
        audits.append(Audit(name, model, check, spec, item.get("where"), str(item.get("description") or ""), path))
    return audits


def _columns(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ModelError(f"{where}: expected a column name or a list of column names")


def _check_spec(check: str, value: Any, where: str, models: Mapping[str, Path]) -> Any:
    if check in ("unique", "not_null"):
        return _columns(value, f"{where}: {check}")
    if check == "accepted_values":
        if not isinstance(value, dict) or "values" not in value or not isinstance(value["values"], list):
            raise ModelError(f"{where}: accepted_values needs column (or columns) and a values list")
        columns = _columns(value.get("columns", value.get("column")), f"{where}: accepted_values.column")
        return {"columns": columns, "values": list(value["values"]), "allow_null": bool(value.get("allow_null", False))}
    if check == "relationships":
        if not isinstance(value, dict) or value.get("to") not in models:
            raise ModelError(f"{where}: relationships needs 'to' naming a model and 'columns'")
        cols = value.get("columns")
        pairs = list(cols.items()) if isinstance(cols, dict) else [(c, c) for c in _columns(cols, f"{where}: columns")]
        return {"to": value["to"], "pairs": pairs, "to_where": value.get("to_where")}
    if not isinstance(value, str) or not value.strip():
        raise ModelError(f"{where}: sql must be a SELECT returning the failing rows")
    return value


def audit_sql(audit: Audit, relation: Callable[[str, str], str], columns: Callable[[str], list[str]],
              renderer: Renderer | None = None) -> str:
    """The SELECT returning the failing rows of `audit`; relation(kind, name) gives a table's SQL name."""
    rel = relation("ref", audit.model)
    where = f" WHERE ({audit.where})" if audit.where else ""
    have = columns(audit.model)

    def check_columns(cols: list[str], model: str, available: list[str]) -> None:
        for col in cols:
            if col not in available:
                raise ModelError(f"audit {audit.name}: {col!r} is not a column of {model}; it has {', '.join(available)}")

    q = quote_identifier
    if audit.check == "sql":
        if renderer is None:
            raise ModelError(f"audit {audit.name}: a SQL audit needs a renderer")
        return renderer.render_text(f"audit:{audit.name}", audit.spec, audit.path, relation).sql
    if audit.check == "unique":
        check_columns(audit.spec, audit.model, have)
        key_cols = ", ".join(q(c) for c in audit.spec)
        return (f"SELECT {key_cols}, count(*) AS n FROM {rel}{where} GROUP BY {key_cols} HAVING count(*) > 1 "
                f"ORDER BY {', '.join(f'CAST({q(c)} AS VARCHAR)' for c in audit.spec)}")
    shown = [c for c in KEY_COLUMNS if c in have]
    if audit.check == "not_null":
        check_columns(audit.spec, audit.model, have)
        cols = shown + [c for c in audit.spec if c not in shown]
        cond = " OR ".join(f"{q(c)} IS NULL" for c in audit.spec)
        filt = f"({audit.where}) AND ({cond})" if audit.where else cond
        return f"SELECT {', '.join(q(c) for c in cols)} FROM {rel} WHERE {filt} {_order(cols)}"
    if audit.check == "accepted_values":
        spec = audit.spec
        check_columns(spec["columns"], audit.model, have)
        values = ", ".join(sql_literal(v) for v in spec["values"]) or "NULL"
        conds = []
        for col in spec["columns"]:
            inside = f"{q(col)} IN ({values})"
            conds.append(f"NOT coalesce({inside}, {'TRUE' if spec['allow_null'] else 'FALSE'})")
        cols = shown + [c for c in spec["columns"] if c not in shown]
        cond = " OR ".join(conds)
        filt = f"({audit.where}) AND ({cond})" if audit.where else cond
        return f"SELECT {', '.join(q(c) for c in cols)} FROM {rel} WHERE {filt} {_order(cols)}"
    spec = audit.spec  # relationships
    to_have = columns(spec["to"])
    check_columns([a for a, _ in spec["pairs"]], audit.model, have)
    check_columns([b for _, b in spec["pairs"]], spec["to"], to_have)
    on = " AND ".join(f"p.{q(b)} IS NOT DISTINCT FROM c.{q(a)}" for a, b in spec["pairs"])
    to_where = f" AND ({spec['to_where']})" if spec.get("to_where") else ""
    cols = shown + [a for a, _ in spec["pairs"] if a not in shown]
    child_where = f"({audit.where}) AND " if audit.where else ""
    return (f"SELECT {', '.join('c.' + q(c) for c in cols)} FROM {rel} AS c WHERE {child_where}NOT EXISTS "
            f"(SELECT 1 FROM {relation('ref', spec['to'])} AS p WHERE {on}{to_where}) {_order(cols, 'c.')}")


def _order(cols: list[str], prefix: str = "") -> str:
    return "ORDER BY " + ", ".join(f"CAST({prefix}{quote_identifier(c)} AS VARCHAR)" for c in cols) if cols else ""


def check_audits(con: duckdb.DuckDBPyConnection, audits: list[Audit], relation: Callable[[str, str], str],
                 renderer: Renderer | None = None) -> list[AuditFailure]:
    """Run `audits` on `con`; the failures, each with its row count and up to 5 rows."""
    cache: dict[str, list[str]] = {}

    def columns(model: str) -> list[str]:
        if model not in cache:
            cache[model] = list(con.sql(f"SELECT * FROM {relation('ref', model)} LIMIT 0").columns)
        return cache[model]

    known = _fused_counts(con, audits, relation, columns)
    failures = []
    for audit in audits:
        sql = audit_sql(audit, relation, columns, renderer)
        if known.get(audit.name) == 0:
            continue
        try:
            count = one_row(con.execute(f"SELECT count(*) FROM ({sql})"))[0]
            if not count:
                continue
            cur = con.execute(f"SELECT * FROM ({sql}) LIMIT {SHOWN_ROWS}")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
        except duckdb.Error as exc:
            raise ModelError(f"audit {audit.name} on {audit.model} cannot run: {duckdb_detail(exc)}", model=audit.model) from None
        failures.append(AuditFailure(audit, count, rows))
    return failures


def _row_filter(audit: Audit) -> str | None:
    """The condition marking a failing row of a not_null or accepted_values audit without `where:`
    (the same condition its audit_sql selects), or None for any other audit."""
    q = quote_identifier
    if audit.where:
        return None
    if audit.check == "not_null":
        return " OR ".join(f"{q(c)} IS NULL" for c in audit.spec)
    if audit.check == "accepted_values":
        spec = audit.spec
        values = ", ".join(sql_literal(v) for v in spec["values"]) or "NULL"
        return " OR ".join(f"NOT coalesce({q(c)} IN ({values}), {'TRUE' if spec['allow_null'] else 'FALSE'})"
                           for c in spec["columns"])
    return None


def _fused_counts(con: duckdb.DuckDBPyConnection, audits: list[Audit], relation: Callable[[str, str], str],
                  columns: Callable[[str], list[str]]) -> dict[str, int]:
    """{audit name: failing rows} of the row-filter audits (not_null, accepted_values), counted in
    one scan per model; the others are counted one query each. A failing audit is run again on its
    own to list its rows, so the messages are those of the single queries."""
    by_model: dict[str, list[tuple[Audit, str]]] = {}
    for audit in audits:
        cond = _row_filter(audit)
        cols = audit.spec if audit.check == "not_null" else audit.spec["columns"] if cond else []
        if cond is not None and all(c in columns(audit.model) for c in cols):
            by_model.setdefault(audit.model, []).append((audit, cond))
    counts: dict[str, int] = {}
    for model, group in by_model.items():
        if len(group) < 2:
            continue
        filters = ", ".join(f"count(*) FILTER (WHERE {cond})" for _, cond in group)
        try:
            row = one_row(con.execute(f"SELECT {filters} FROM {relation('ref', model)}"))
        except duckdb.Error as exc:
            first = group[0][0]
            raise ModelError(f"audit {first.name} on {model} cannot run: {duckdb_detail(exc)}", model=model) from None
        counts.update((audit.name, int(n)) for (audit, _), n in zip(group, row))
    return counts


def run_audits(con: duckdb.DuckDBPyConnection, run_id: str, ctx: Context, relation: Callable[[str, str], str],
               done: Collection[tuple[str, str, tuple[str, ...]]] = ()) -> None:
    """Run the project's audits inside a build (`relation` names the run-scoped models); raise on failure.

    This is the build's audit hook (build.AuditHook). `done` lists checks the build already made, as
    (model, check, columns): an audit that is one of them is not run again. SQL audits render with
    the call's one renderer.
    """
    audits = [a for a in load_audits(ctx.project) if _signature(a) not in done]
    if not audits:
        return
    renderer = ctx.renderer if any(a.check == "sql" for a in audits) else None
    failures = check_audits(con, audits, relation, renderer)
    if failures:
        raise AuditError("\n".join(f.message() for f in failures))


def _signature(audit: Audit) -> tuple[str, str, tuple[str, ...]] | None:
    if audit.check in ("unique", "not_null") and not audit.where:
        return audit.model, audit.check, tuple(audit.spec)
    return None
