"""SQL unit tests, part 2: typed fixture tables and the result comparison, done inside DuckDB.

This module owns three things:

* turning YAML values into typed SQL values (``value_sql``) and fixture tables (``create_table``):
  every value is cast to the column's real type, so a NULL first row, an empty list or a struct with
  fields left out never changes a column's type;
* comparing expected and actual rows (``compare``): equality is decided by DuckDB with
  ``IS NOT DISTINCT FROM`` (NULL equals NULL, NaN equals NaN, NULL never equals NaN, lists and
  structs compare structurally, maps ignore entry order), floats within a tolerance; rows are
  matched as a multiset (what ``EXCEPT ALL`` both ways computes) unless the case is ordered;
* the readable diff: missing rows, unexpected rows, and for rows that match on the key columns,
  only the columns that differ.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import duckdb

from ..errors import FoxError, duckdb_detail
from ..formatting import format_value, text_table
from ..render import quote_identifier

if TYPE_CHECKING:
    # Only for annotations: the module is duckdb.sqltypes on DuckDB >= 1.4 (duckdb.typing before).
    from duckdb.sqltypes import DuckDBPyType

DEFAULT_TOLERANCE = 1e-9
MAX_SHOWN_ROWS = 20
MAX_CELL = 80
FLOAT_TYPES = ("double", "float", "decimal")


class SqlTestError(FoxError):
    """A SQL unit test file or case is malformed, or its fixtures do not fit the real schema."""


# --- values ---------------------------------------------------------------------------------

@functools.cache
def duck_type(type_text: str) -> DuckDBPyType:
    try:
        return duckdb.type(type_text)
    except duckdb.Error as exc:  # pragma: no cover - types come from DuckDB itself
        raise SqlTestError(f"unknown DuckDB type {type_text!r}: {exc}") from None


def _scalar_literal(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "'NaN'"
        if math.isinf(value):
            return "'inf'" if value > 0 else "'-inf'"
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return f"'{value}'"
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        if "\x00" in value:
            raise SqlTestError(f"{where}: text contains a NUL character")
        return "'" + value.replace("'", "''") + "'"
    raise SqlTestError(f"{where}: cannot use a {type(value).__name__} ({value!r}) as a scalar value")


def _child(child: object) -> DuckDBPyType:
    """A struct field's, list element's or map key's/value's type. DuckDB types ``children`` as type,
    int or list of str (a decimal's width and scale, an enum's values); for these kinds it is a type."""
    return cast("DuckDBPyType", child)


def value_sql(value: Any, dtype: DuckDBPyType, where: str) -> str:
    """`value` (from YAML) as a SQL expression of exactly type `dtype`."""
    type_text = str(dtype)
    if value is None:
        return f"CAST(NULL AS {type_text})"
    kind = dtype.id
    if kind == "struct":
        if not isinstance(value, dict):
            raise SqlTestError(f"{where}: expected a mapping for a {type_text} value, got {value!r}")
        children = list(dtype.children)
        names = [name for name, _ in children]
        unknown = [k for k in value if k not in names]
        if unknown:
            raise SqlTestError(f"{where}: struct field {unknown[0]!r} is not one of {', '.join(names)}")
        parts = [f"{quote_identifier(name)} := {value_sql(value.get(name), _child(child), f'{where}.{name}')}"
                 for name, child in children]
        return f"CAST(struct_pack({', '.join(parts)}) AS {type_text})"
    if kind in ("list", "array"):
        if not isinstance(value, (list, tuple)):
            raise SqlTestError(f"{where}: expected a list for a {type_text} value, got {value!r}")
        child = dtype.child if hasattr(dtype, "child") else dtype.children[0][1]
        items = ", ".join(value_sql(v, _child(child), f"{where}[{i}]") for i, v in enumerate(value))
        return f"CAST([{items}] AS {type_text})"
    if kind == "map":
        if not isinstance(value, dict):
            raise SqlTestError(f"{where}: expected a mapping for a {type_text} value, got {value!r}")
        (_, key_type), (_, val_type) = list(dtype.children)
        items = ", ".join(f"{value_sql(k, _child(key_type), where)}: {value_sql(v, _child(val_type), f'{where}.{k}')}"
                          for k, v in value.items())
        return f"CAST(MAP {{{items}}} AS {type_text})"
    if isinstance(value, (list, tuple, dict)):
        raise SqlTestError(f"{where}: a {type(value).__name__} cannot be a {type_text} value: {value!r}")
    return f"CAST({_scalar_literal(value, where)} AS {type_text})"


def create_table(con: duckdb.DuckDBPyConnection, name: str, columns: Sequence[tuple[str, str]],
                 rows: Sequence[dict[str, Any]], where: str, rid: bool = False) -> None:
    """A temp table `name` with exactly `columns` (name, type); omitted values are NULL of that type.

    With `rid`, a leading ``__rid`` column numbers the rows from 0 in the given order.
    """
    types = {col: duck_type(t) for col, t in columns}
    col_defs = ([('__rid', 'BIGINT')] if rid else []) + list(columns)
    ddl = ", ".join(f"{quote_identifier(c)} {t}" for c, t in col_defs)
    create = f"CREATE OR REPLACE TEMP TABLE {quote_identifier(name)} ({ddl})"
    if not rows:
        con.execute(create)
        return
    known = [c for c, _ in columns]
    tuples = []
    for index, row in enumerate(rows):
        unknown = [k for k in row if k not in types]
        if unknown:
            import difflib

            close = difflib.get_close_matches(str(unknown[0]), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SqlTestError(f"{where}, row {index + 1}: {unknown[0]!r} is not a column{hint}; "
                               f"columns: {', '.join(known)}")
        values = ([str(index)] if rid else []) + [
            value_sql(row.get(col), types[col], f"{where}, row {index + 1}, column {col}") for col in known
        ]
        tuples.append("(" + ", ".join(values) + ")")
    try:
        con.execute(f"{create}; INSERT INTO {quote_identifier(name)} VALUES {', '.join(tuples)}")
    except duckdb.Error as exc:
        raise SqlTestError(f"{where}: a value does not fit its column type: {duckdb_detail(exc)}") from None


# --- comparison -----------------------------------------------------------------------------

def _eq_sql(column: str, dtype: DuckDBPyType, tolerance: float, left: str = "e", right: str = "a") -> str:
    """NULL-safe equality of one column; floats within tolerance; maps regardless of entry order."""
    q = quote_identifier(column)
    lhs, rhs = f"{left}.{q}", f"{right}.{q}"
    if dtype.id == "map":
        return f"(list_sort(map_entries({lhs})) IS NOT DISTINCT FROM list_sort(map_entries({rhs})))"
    same = f"({lhs} IS NOT DISTINCT FROM {rhs})"
    if dtype.id in FLOAT_TYPES and tolerance > 0:
        l_d, r_d = f"CAST({lhs} AS DOUBLE)", f"CAST({rhs} AS DOUBLE)"
        return (f"({same} OR coalesce(abs({l_d} - {r_d}) <= {tolerance!r} * greatest(1.0, abs({l_d})), FALSE))")
    return same


@dataclass
class Changed:
    key: list[tuple[str, Any]]
    columns: list[tuple[str, Any, Any]]  # (column, expected, actual)


@dataclass
class Comparison:
    """The outcome of comparing expected with actual rows on `columns`."""

    columns: list[str]
    key: list[str]
    n_expected: int
    n_actual: int
    missing: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # lines describing an ordering problem

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.changed or self.order)

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.changed and not self.key:
            out.append("the one expected row and the one actual row left unmatched differ:")
        elif self.changed:
            out.append(f"rows matched on key ({', '.join(self.key)}) with different values: {len(self.changed)}")
        if self.changed:
            for change in self.changed[:MAX_SHOWN_ROWS]:
                if change.key:
                    out.append("  " + ", ".join(f"{k}={format_value(v)}" for k, v in change.key) + ":")
                for column, expected, actual in change.columns:
                    out.append(f"    {column}: expected {_cell(expected, 400)}, actual {_cell(actual, 400)}")
            if len(self.changed) > MAX_SHOWN_ROWS:
                out.append(f"  ... and {len(self.changed) - MAX_SHOWN_ROWS} more")
        if self.missing:
            out.append(f"missing rows (expected, not produced): {len(self.missing)}")
            out.extend("  " + line for line in table_lines(self.columns, self.missing))
        if self.unexpected:
            out.append(f"unexpected rows (produced, not expected): {len(self.unexpected)}")
            out.extend("  " + line for line in table_lines(self.columns, self.unexpected))
        out.extend(self.order)
        out.append(f"compared columns: {', '.join(self.columns) or '(none)'}; "
                   f"{self.n_expected} expected row(s), {self.n_actual} actual row(s)")
        return out


def _cell(value: Any, limit: int = MAX_CELL) -> str:
    text = format_value(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def table_lines(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[str]:
    """A small fixed-width table of `rows` (at most MAX_SHOWN_ROWS)."""
    shown = rows[:MAX_SHOWN_ROWS]
    lines = text_table(columns, [[_cell(r.get(c)) for c in columns] for r in shown], rule=False)
    if len(rows) > len(shown):
        lines.append(f"... and {len(rows) - len(shown)} more")
    return lines


def _match(candidates: dict[int, list[int]]) -> dict[int, int]:
    """Maximum bipartite matching expected -> actual (Kuhn's augmenting paths; inputs are small)."""
    owner: dict[int, int] = {}

    def augment(e: int, seen: set[int]) -> bool:
        for a in candidates.get(e, ()):
            if a in seen:
                continue
            seen.add(a)
            if a not in owner or augment(owner[a], seen):
                owner[a] = e
                return True
        return False

    for e in sorted(candidates):
        augment(e, set())
    return {e: a for a, e in owner.items()}


def _fetch(con, table: str, columns: Sequence[str], rids: Iterable[int]) -> dict[int, dict[str, Any]]:
    rids = sorted(set(rids))
    if not rids:
        return {}
    cols = ", ".join(quote_identifier(c) for c in columns)
    sel = f"__rid{', ' + cols if cols else ''}"
    rows = con.execute(
        f"SELECT {sel} FROM {quote_identifier(table)} WHERE __rid IN ({', '.join(map(str, rids))}) ORDER BY __rid"
    ).fetchall()
    return {r[0]: dict(zip(columns, r[1:])) for r in rows}


def compare(con: duckdb.DuckDBPyConnection, expected: str, actual: str, columns: Sequence[tuple[str, str]],
            key: Sequence[str], ordered: bool = False, tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    """Compare temp tables `expected` and `actual` (each with a ``__rid`` row number) on `columns`."""
    names = [c for c, _ in columns]
    types = {c: duck_type(t) for c, t in columns}
    key = [k for k in key if k in types]
    e_t, a_t = quote_identifier(expected), quote_identifier(actual)
    rids = con.execute(f"SELECT 0, __rid FROM {e_t} UNION ALL SELECT 1, __rid FROM {a_t}").fetchall()
    exp_rids = sorted(r for side, r in rids if side == 0)
    act_rids = sorted(r for side, r in rids if side == 1)
    n_exp, n_act = len(exp_rids), len(act_rids)
    result = Comparison(names, list(key), n_exp, n_act)
    all_eq = " AND ".join(_eq_sql(c, types[c], tolerance) for c in names) or "TRUE"

    if ordered:
        bad = con.execute(
            f"SELECT e.__rid FROM {e_t} e JOIN {a_t} a ON e.__rid = a.__rid WHERE NOT ({all_eq}) ORDER BY 1"
        ).fetchall()
        if not bad and n_exp == n_act:
            return result

    pairs = con.execute(f"SELECT e.__rid, a.__rid FROM {e_t} e JOIN {a_t} a ON {all_eq} ORDER BY 1, 2").fetchall()
    candidates: dict[int, list[int]] = {}
    for e, a in pairs:
        candidates.setdefault(e, []).append(a)
    matching = _match(candidates)
    missing = [r for r in exp_rids if r not in matching]
    matched_actual = set(matching.values())
    unexpected = [r for r in act_rids if r not in matched_actual]

    if not missing and not unexpected:
        if ordered:  # same rows, different order
            result.order = _order_lines(con, expected, actual, names, key, n_exp)
        return result

    changed_pairs = _pair_on_key(con, e_t, a_t, types, key, missing, unexpected, tolerance)
    if not changed_pairs and len(missing) == 1 and len(unexpected) == 1 and not key:
        changed_pairs = [(missing[0], unexpected[0])]
    if changed_pairs:
        flags = ", ".join(_eq_sql(c, types[c], tolerance) for c in names)
        values = ", ".join(f"({e}, {a})" for e, a in changed_pairs)
        rows = con.execute(
            f"SELECT p.e, p.a, {flags} FROM (VALUES {values}) AS p(e, a) "
            f"JOIN {e_t} e ON e.__rid = p.e JOIN {a_t} a ON a.__rid = p.a ORDER BY p.e"
        ).fetchall()
        exp_rows = _fetch(con, expected, names, [r[0] for r in rows])
        act_rows = _fetch(con, actual, names, [r[1] for r in rows])
        for e, a, *eqs in rows:
            diff = [(c, exp_rows[e][c], act_rows[a][c]) for c, same in zip(names, eqs) if not same]
            result.changed.append(Changed([(k, exp_rows[e][k]) for k in key], diff))
        paired_e = {e for e, _ in changed_pairs}
        paired_a = {a for _, a in changed_pairs}
        missing = [r for r in missing if r not in paired_e]
        unexpected = [r for r in unexpected if r not in paired_a]
    exp_rows = _fetch(con, expected, names, missing)
    act_rows = _fetch(con, actual, names, unexpected)
    result.missing = [exp_rows[r] for r in missing]
    result.unexpected = [act_rows[r] for r in unexpected]
    if ordered:
        result.order = ["(row order is checked once the rows themselves match)"]
    return result


def _pair_on_key(con, e_t: str, a_t: str, types: dict[str, DuckDBPyType], key: Sequence[str],
                 missing: list[int], unexpected: list[int], tolerance: float) -> list[tuple[int, int]]:
    """Pairs (expected, actual) of unmatched rows whose key columns are equal, one-to-one only."""
    if not key or not missing or not unexpected:
        return []
    key_eq = " AND ".join(_eq_sql(k, types[k], tolerance) for k in key)
    rows = con.execute(
        f"SELECT e.__rid, a.__rid FROM {e_t} e JOIN {a_t} a ON {key_eq} "
        f"WHERE e.__rid IN ({', '.join(map(str, missing))}) AND a.__rid IN ({', '.join(map(str, unexpected))})"
    ).fetchall()
    by_e: dict[int, list[int]] = {}
    by_a: dict[int, list[int]] = {}
    for e, a in rows:
        by_e.setdefault(e, []).append(a)
        by_a.setdefault(a, []).append(e)
    return sorted((e, a[0]) for e, a in by_e.items() if len(a) == 1 and len(by_a[a[0]]) == 1)


def _order_lines(con, expected: str, actual: str, names: list[str], key: list[str], n: int) -> list[str]:
    shown = key or names[:4]
    exp_rows = _fetch(con, expected, shown, range(n))
    act_rows = _fetch(con, actual, shown, range(n))
    label = lambda row: ", ".join(f"{c}={_cell(row[c], 40)}" for c in shown)  # noqa: E731
    first = next((i for i in range(n) if label(exp_rows[i]) != label(act_rows[i])), 0)
    lines = [f"the same rows in a different order (ordered: true); first difference at row {first + 1}:"]
    for i in range(first, min(n, first + 5)):
        lines.append(f"  row {i + 1}: expected ({label(exp_rows[i])}), actual ({label(act_rows[i])})")
    return lines


def compare_positional(con: duckdb.DuckDBPyConnection, expected: str, actual: str, column: str, type_text: str,
                       tolerance: float = DEFAULT_TOLERANCE) -> list[tuple[int, Any, Any]]:
    """(row, expected, actual) for every row number where one column differs (macro cases)."""
    eq = _eq_sql(column, duck_type(type_text), tolerance)
    q = quote_identifier(column)
    return con.execute(
        f"SELECT e.__rid, e.{q}, a.{q} FROM {quote_identifier(expected)} e "
        f"FULL JOIN {quote_identifier(actual)} a ON e.__rid = a.__rid "
        f"WHERE e.__rid IS NULL OR a.__rid IS NULL OR NOT ({eq}) ORDER BY coalesce(e.__rid, a.__rid)"
    ).fetchall()
