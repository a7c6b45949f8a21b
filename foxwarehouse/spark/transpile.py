"""Rendered DuckDB model SQL as the Spark SQL the Spark engine runs (and `compile --dialect spark` prints).

The models are written once, in DuckDB SQL. sqlglot translates most of it; this module rewrites the
pieces sqlglot has no Spark equivalent for, or translates into SQL that runs but gives other values
than DuckDB, so that every model gives the same rows, value for value, on both engines:

* ordered aggregates (``avg(x ORDER BY k)``, ``stddev_pop(...)``): Spark ignores or rejects the
  order, and a float sum depends on it. They become a fold over the sorted values with DuckDB's own
  arithmetic (a running sum for ``avg``, Welford's update for ``stddev_pop``);
* ``list(x ORDER BY k)`` (a sorted ``collect_list``), ``MAP {}``;
* list helpers: ``list_position`` (NULL when absent), ``list_filter`` with an index (1-based in
  DuckDB, 0-based in Spark), ``len`` of a list, ``isfinite``;
* ``agg(...) FILTER (WHERE ...) OVER (...)`` (no FILTER on Spark window functions);
* ``UNION ALL BY NAME`` (positional in Spark): each branch projected to the union's columns;
* text of numbers: a DOUBLE cast to text prints as DuckDB prints it (the shortest text that reads
  back as the same number, ``1e-05``, ``100.0``), not as Java does (``1.0E-5``); the choice is made
  by the operand's type, which Spark knows when it analyses the query (``typeof``). The formatter is
  long (a few KB of SQL), and the routing rules cast numbers to text hundreds of times, so it is a
  session SQL function (``SESSION_FUNCTIONS``, defined by the engine when it sets the session up and
  printed first by ``compile --dialect spark``): each model's SQL only calls it.

NULL ordering is made explicit by sqlglot (DuckDB sorts NULLs last in ascending order, Spark first).
"""
from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from contextvars import ContextVar
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

from ..errors import ModelError

__all__ = ["to_spark", "TranspileError", "SESSION_FUNCTIONS", "DOUBLE_TEXT_FUNCTION"]


class TranspileError(ModelError):
    """A construct of a model that has no Spark equivalent."""


class _ModelDuckDB(DuckDB):
    """DuckDB as the models write it: ``len`` is only used on lists (a list's length)."""

    class Parser(DuckDB.Parser):  # type: ignore[misc, valid-type]
        FUNCTIONS = {**DuckDB.Parser.FUNCTIONS, "LEN": exp.ArraySize.from_arg_list}


# The numbering of lambda variables, restarted by each to_spark call so that its output depends on
# its input only.
_NAMES: ContextVar[Iterator[int] | None] = ContextVar("fw_lambda_names", default=None)


def _var(stem: str) -> str:
    """A lambda variable no model column uses."""
    names = _NAMES.get()
    if names is None:
        names = itertools.count()
        _NAMES.set(names)
    return f"fw_{stem}{next(names)}"


def _spark(sql: str) -> exp.Expression:
    return cast(exp.Expression, sqlglot.parse_one(sql, read="spark"))


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect="spark")


# --- numbers as text ----------------------------------------------------------------------------

# The formatter in three pieces, each Spark SQL over the names it is given: the shortest digits of
# a DOUBLE, those digits' parts, the parts as DuckDB's text. The session functions bind the names
# as parameters; the inline form (inside a generator, where Spark takes no session function) binds
# them with one-element lambdas.

def _shortest(v: str, compact: bool = False) -> str:
    """The first of ``%.{p}e`` (p = 0..16) that reads back as the DOUBLE `v`: the shortest digits
    (Java's own Double.toString, Spark's cast, is not always the shortest text on Java 17).

    A CASE, so that a short number (most are) is formatted a few times, not 17: three times faster
    than the `compact` form, a filter over all 17 texts, which is a tenth of the SQL (for the
    inline form, which is repeated at every use).
    """
    if compact:
        return (f"filter(transform(sequence(0, 16), fw_p -> format_string(concat('%.', fw_p, 'e'), {v})), "
                f"fw_s -> CAST(fw_s AS DOUBLE) = {v})[0]")
    tries = " ".join(f"WHEN CAST(format_string('%.{p}e', {v}) AS DOUBLE) = {v} THEN format_string('%.{p}e', {v})"
                     for p in range(16))
    # Spark computes a session function's arguments before the caller's CASE picks a branch, so
    # NULL, NaN and infinity (printed by _special_or) get digits that read back too.
    special = f"WHEN {v} IS NULL OR isnan({v}) OR abs({v}) = double('inf') THEN '0e+00'"
    return f"CASE {special} {tries} ELSE format_string('%.16e', {v}) END"


def _parts(c: str) -> tuple[str, str, str]:
    """Of `c` (``-d.ddde-05``): the sign, the digits without trailing zeros (at least one), the exponent."""
    return (f"if(startswith({c}, '-'), '-', '')",
            f"regexp_replace(translate(split({c}, 'e')[0], '-.', ''), '(?<=.)0+$', '')",
            f"CAST(split({c}, 'e')[1] AS INT)")


def _parts_text(sign: str, d: str, e: str) -> str:
    """DuckDB's text of the number with digits `d` and exponent `e`: Python's repr, plain between
    1e-4 and 1e16, else ``d.ddde-05`` / ``de+16``."""
    return (
        f"CASE WHEN {e} < -4 OR {e} >= 16 THEN concat({sign}, substring({d}, 1, 1), "
        f"if(length({d}) > 1, concat('.', substring({d}, 2)), ''), 'e', if({e} < 0, '-', '+'), "
        f"if(abs({e}) < 10, '0', ''), CAST(abs({e}) AS STRING)) "
        f"WHEN {e} < 0 THEN concat({sign}, '0.', repeat('0', -{e} - 1), {d}) "
        f"WHEN length({d}) <= {e} + 1 THEN concat({sign}, {d}, repeat('0', {e} + 1 - length({d})), '.0') "
        f"ELSE concat({sign}, substring({d}, 1, {e} + 1), '.', substring({d}, {e} + 2)) END"
    )


def _special_or(v: str, text: str) -> str:
    """DuckDB's text of the DOUBLE `v` when it is NULL, NaN or infinite, else `text`."""
    return (f"CASE WHEN {v} IS NULL THEN NULL WHEN isnan({v}) THEN 'nan' WHEN {v} = double('inf') THEN 'inf' "
            f"WHEN {v} = double('-inf') THEN '-inf' ELSE {text} END")


def _double_text_inline(value: str) -> str:
    """Spark SQL giving DuckDB's text of the DOUBLE expression `value`, with no session function."""
    # Fixed names: each is bound inside this expression only, and `value` is outside every lambda.
    v, c, t = "fw_v", "fw_c", "fw_t"
    sign, d, e = _parts(c)
    parts = f"named_struct('s', {sign}, 'd', {d}, 'e', {e})"
    digits = f"transform(array({parts}), {t} -> {_parts_text(f'{t}.s', f'{t}.d', f'{t}.e')})[0]"
    text = f"transform(array({_shortest(v, compact=True)}), {c} -> {digits})[0]"
    return f"transform(array(CAST({value} AS DOUBLE)), {v} -> {_special_or(v, text)})[0]"


DOUBLE_TEXT_FUNCTION = "fw_double_text"

# The Spark SQL statements defining the session functions the transpiled models call, in order;
# they run on a session before any model (the engine runs them when it sets a session up). A
# temporary function lives as long as its session; OR REPLACE makes setting a session up again (a
# second build on a notebook's session) harmless.
SESSION_FUNCTIONS: tuple[str, ...] = (
    "CREATE OR REPLACE TEMPORARY FUNCTION fw_double_text_parts(fw_s STRING, fw_d STRING, fw_e INT) RETURNS STRING\n"
    f"RETURN {_parts_text('fw_s', 'fw_d', 'fw_e')}",
    "CREATE OR REPLACE TEMPORARY FUNCTION fw_double_text_digits(fw_c STRING) RETURNS STRING\n"
    f"RETURN fw_double_text_parts({', '.join(_parts('fw_c'))})",
    f"CREATE OR REPLACE TEMPORARY FUNCTION {DOUBLE_TEXT_FUNCTION}(fw_x DOUBLE) RETURNS STRING\n"
    f"RETURN {_special_or('fw_x', 'fw_double_text_digits(' + _shortest('fw_x') + ')')}",
)


# Spark does not take a session SQL function in a generator's argument (explode of an array built
# in the query, DuckDB's unnest): there the formatter is written out in full.
_GENERATORS = (exp.Explode, exp.ExplodeOuter, exp.Posexplode, exp.PosexplodeOuter, exp.Inline, exp.Unnest)
_TEXT_MARK = "fw_text"   # meta flag on what _text_of returns: text already, never cast again


def _text_of(node: exp.Expression, inline: bool = False) -> exp.Expression:
    """Spark SQL casting `node` to text as DuckDB does; only a DOUBLE needs other than Spark's cast.

    Where the operand's type is written in the query (a cast), the choice is made here; otherwise
    Spark makes it by the type it finds (``typeof``), and the branch for a DOUBLE reads the value
    back from Spark's text (exact: Java's text of a double always reads back as the same double),
    so that it type-checks whatever the operand's type. `inline`: the formatter written out in full
    instead of the session function's call (inside a generator).
    """
    known = node.to if isinstance(node, (exp.Cast, exp.TryCast)) else None
    if known is not None and known.this == exp.DataType.Type.DOUBLE:
        text = _double_text_call(node.copy(), inline)
    elif known is not None and known.this not in (exp.DataType.Type.USERDEFINED, exp.DataType.Type.UNKNOWN):
        text = exp.Cast(this=node.copy(), to=exp.DataType.build("STRING"))
    else:
        text = _text_template(inline).copy().transform(
            lambda n: node.copy() if isinstance(n, exp.Column) and not n.table and n.name == "fw_operand" else n)
    text.meta[_TEXT_MARK] = True
    return text


def _double_text_call(value: exp.Expression, inline: bool) -> exp.Expression:
    """The DuckDB text of the DOUBLE expression `value`: the session function's call, or inline."""
    if inline:
        return _spark(_double_text_inline(_sql(value)))
    return exp.Anonymous(this=DOUBLE_TEXT_FUNCTION, expressions=[value])


@functools.lru_cache(maxsize=2)
def _text_template(inline: bool) -> exp.Expression:
    """_text_of's expression for the column ``fw_operand`` whose type Spark finds (parsed once)."""
    value = "try_cast(CAST(fw_operand AS STRING) AS DOUBLE)"
    double = _double_text_inline(value) if inline else f"{DOUBLE_TEXT_FUNCTION}({value})"
    return _spark(f"(CASE WHEN typeof(fw_operand) = 'double' THEN {double} ELSE CAST(fw_operand AS STRING) END)")


def _is_text_type(to: exp.DataType) -> bool:
    return to.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.CHAR,
                       exp.DataType.Type.NVARCHAR, exp.DataType.Type.NCHAR)


def _is_text(node: exp.Expression) -> bool:
    """True when `node` is text whatever the row (so it needs no cast to text)."""
    if node.meta.get(_TEXT_MARK):
        return True
    if isinstance(node, exp.Literal):
        return node.is_string
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return _is_text_type(node.to)
    if isinstance(node, exp.Coalesce):
        return any(_is_text(n) for n in [node.this, *node.expressions])
    return isinstance(node, (exp.DPipe, exp.Concat, exp.ConcatWs, exp.Lower, exp.Upper, exp.Trim,
                             exp.ArrayToString, exp.Null))


# --- ordered aggregates -------------------------------------------------------------------------

def _comparator(keys: list[tuple[str, bool]], left: str, right: str) -> str:
    """A Spark array_sort comparator over struct fields `keys` ((field, descending)), NULLs last."""
    result = "0"
    for field, desc in reversed(keys):
        lo, hi = ("1", "-1") if desc else ("-1", "1")
        lv, rv = f"{left}.{field}", f"{right}.{field}"
        result = (f"CASE WHEN {lv} IS NULL AND {rv} IS NULL THEN {result} WHEN {lv} IS NULL THEN 1 "
                  f"WHEN {rv} IS NULL THEN -1 WHEN {lv} < {rv} THEN {lo} WHEN {lv} > {rv} THEN {hi} "
                  f"ELSE {result} END")
    return result


def _sorted_list(value: exp.Expression, order: exp.Order) -> str:
    """Spark SQL of the values of `value` in the group, sorted by `order` (DuckDB's list(... ORDER BY))."""
    fields = [f"'v', {_sql(value)}"]
    keys: list[tuple[str, bool]] = []
    for i, ordered in enumerate(order.expressions):
        if not isinstance(ordered, exp.Ordered):
            ordered = exp.Ordered(this=ordered)
        if ordered.args.get("nulls_first") and not ordered.args.get("desc"):
            raise TranspileError("an ordered aggregate with NULLS FIRST has no Spark equivalent here")
        fields.append(f"'k{i}', {_sql(ordered.this)}")
        keys.append((f"k{i}", bool(ordered.args.get("desc"))))
    left, right = _var("l"), _var("r")
    return (f"array_sort(collect_list(named_struct({', '.join(fields)})), "
            f"({left}, {right}) -> {_comparator(keys, left, right)})")


def _ordered_aggregate(node: exp.Expression) -> exp.Expression | None:
    """avg / stddev_pop / list with ORDER BY inside, as Spark SQL computing what DuckDB computes."""
    order = node.this
    if not isinstance(order, exp.Order) or order.this is None:
        return None
    items = _sorted_list(order.this, order)
    a, x = _var("a"), _var("x")
    values = f"filter(transform({items}, {x} -> {x}.v), {x} -> {x} IS NOT NULL)"
    if isinstance(node, exp.ArrayAgg):
        return _spark(f"transform({items}, {x} -> {x}.v)")
    if isinstance(node, exp.Avg):
        # a running sum in order, divided by the count (DuckDB's avg of DOUBLE)
        return _spark(
            f"aggregate({values}, named_struct('n', CAST(0 AS BIGINT), 's', CAST(0 AS DOUBLE)), "
            f"({a}, {x}) -> named_struct('n', {a}.n + 1, 's', {a}.s + {x}), "
            f"{a} -> CASE WHEN {a}.n = 0 THEN CAST(NULL AS DOUBLE) ELSE {a}.s / {a}.n END)")
    if isinstance(node, exp.StddevPop):
        # Welford's update, as DuckDB's stddev_pop: 0 for one value, NULL for none
        mean = f"({a}.m + ({x} - {a}.m) / ({a}.n + 1))"
        return _spark(
            f"aggregate({values}, named_struct('n', CAST(0 AS BIGINT), 'm', CAST(0 AS DOUBLE), 'd', CAST(0 AS DOUBLE)), "
            f"({a}, {x}) -> named_struct('n', {a}.n + 1, 'm', {mean}, 'd', {a}.d + ({x} - {mean}) * ({x} - {a}.m)), "
            f"{a} -> CASE WHEN {a}.n = 0 THEN CAST(NULL AS DOUBLE) WHEN {a}.n = 1 THEN CAST(0 AS DOUBLE) "
            f"ELSE sqrt({a}.d / {a}.n) END)")
    raise TranspileError(f"{node.sql(dialect='duckdb')[:80]}: an ordered aggregate with no Spark equivalent")


# --- UNION ALL BY NAME --------------------------------------------------------------------------

def _columns_of(select: exp.Expression, ctes: dict[str, exp.Expression]) -> list[str] | None:
    """The output columns of a branch (``SELECT * FROM cte`` or a plain projection), if known."""
    if not isinstance(select, exp.Select):
        return None
    if any(isinstance(e, exp.Star) for e in select.expressions):
        source = select.args.get("from_") or select.args.get("from")
        if len(select.expressions) == 1 and isinstance(source, exp.From) and isinstance(source.this, exp.Table) \
                and source.this.name in ctes:
            return _columns_of(ctes[source.this.name], ctes)
        return None
    names = select.named_selects
    return names if all(names) else None


def _union_by_name(node: exp.Union, ctes: dict[str, exp.Expression]) -> exp.Expression:
    branches: list[exp.Expression] = []

    def flatten(n: exp.Expression) -> None:
        if isinstance(n, exp.Union) and n.args.get("by_name") and not n.args.get("distinct"):
            flatten(n.this)
            flatten(n.expression)
        else:
            branches.append(n)

    flatten(node)
    columns = [_columns_of(b, ctes) for b in branches]
    if any(c is None for c in columns):
        raise TranspileError("UNION ALL BY NAME over a branch whose columns are not named has no Spark equivalent")
    names = list(dict.fromkeys(n for cols in columns for n in cols or []))
    parts = []
    for branch, cols in zip(branches, columns):
        have = set(cols or [])
        items = ", ".join(f"`{n}`" if n in have else f"NULL AS `{n}`" for n in names)
        parts.append(f"SELECT {items} FROM ({_sql(branch)})")
    return _spark(" UNION ALL ".join(parts))


# --- the rewrite --------------------------------------------------------------------------------

def _rewrite(node: exp.Expression, ctes: dict[str, exp.Expression]) -> exp.Expression:
    if isinstance(node, exp.Union) and node.args.get("by_name"):
        parent = node.parent
        if isinstance(parent, exp.Union) and parent.args.get("by_name"):
            return node  # the outermost union of the chain rewrites the whole chain
        return _union_by_name(node, ctes)
    if isinstance(node, (exp.Avg, exp.StddevPop, exp.ArrayAgg)) and isinstance(node.this, exp.Order):
        rewritten = _ordered_aggregate(node)
        if rewritten is not None:
            return rewritten
    if isinstance(node, exp.Window) and isinstance(node.this, exp.Filter):
        agg, condition = node.this.this, node.this.expression.this
        inner = agg.this
        value = exp.Literal.number(1) if isinstance(inner, exp.Star) or inner is None else inner
        agg = agg.copy()
        agg.set("this", exp.Case(ifs=[exp.If(this=condition.copy(), true=value.copy())]))
        node = node.copy()
        node.set("this", agg)
        return node
    if isinstance(node, exp.ToMap) and isinstance(node.this, exp.Struct) and not node.this.expressions:
        return _spark("map()")
    if isinstance(node, exp.Anonymous):
        name = node.name.upper()
        args = node.expressions
        if name == "LIST_POSITION" and len(args) == 2:
            return _spark(f"nullif(array_position({_sql(args[0])}, {_sql(args[1])}), 0)")
        if name == "ISFINITE" and len(args) == 1:
            x = _sql(args[0])
            return _spark(f"(NOT isnan({x}) AND abs({x}) <> double('inf'))")
        if name == "ISNAN" and len(args) == 1:
            x = _sql(args[0])
            return _spark(f"(CASE WHEN {x} IS NOT NULL THEN isnan({x}) END)")
    if isinstance(node, exp.ArrayFilter):
        lam = node.expression
        if isinstance(lam, exp.Lambda) and len(lam.expressions) == 2:
            # DuckDB's index is 1-based, Spark's 0-based
            index = lam.expressions[1].name
            def shift(n: exp.Expression) -> exp.Expression:
                # a use of the index: a bare column or identifier of its name (a lambda's own
                # variables are identifiers)
                use = (isinstance(n, exp.Column) and not n.table) or \
                    (isinstance(n, exp.Identifier) and not isinstance(n.parent, (exp.Column, exp.Lambda)))
                if use and n.name == index:
                    return exp.Paren(this=exp.Add(this=n.copy(), expression=exp.Literal.number(1)))
                return n

            body = lam.this.transform(shift)
            lam = lam.copy()
            lam.set("this", body)
            node = node.copy()
            node.set("expression", lam)
            return node
    if isinstance(node, (exp.Cast, exp.TryCast)) and _is_text_type(node.to) and not _is_text(node.this):
        return _text_of(node.this, inline=node.find_ancestor(*_GENERATORS) is not None)
    if isinstance(node, exp.DPipe):
        inline = node.find_ancestor(*_GENERATORS) is not None
        node = node.copy()
        for key in ("this", "expression"):
            operand = node.args[key]
            if not _is_text(operand) and not isinstance(operand, exp.Paren):
                node.set(key, _text_of(operand, inline))
        return node
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
        return exp.DataType.build("DECIMAL(38, 0)")
    return node


def to_spark(sql: str) -> str:
    """The Spark SQL of one rendered DuckDB model (one SELECT), as the Spark engine runs it."""
    token = _NAMES.set(itertools.count())
    try:
        return _to_spark(sql)
    finally:
        _NAMES.reset(token)


def _to_spark(sql: str) -> str:
    try:
        tree = cast(exp.Expression, sqlglot.parse_one(sql, read=_ModelDuckDB))
    except sqlglot.errors.SqlglotError as exc:
        raise TranspileError(f"cannot read the model's SQL: {exc}") from None
    ctes = {cte.alias_or_name: cte.this for cte in tree.find_all(exp.CTE)}

    def walk(node: exp.Expression) -> exp.Expression:
        # children first, so a rewrite builds on rewritten parts and is not rewritten again
        for key, value in list(node.args.items()):
            if isinstance(value, exp.Expression):
                node.set(key, walk(value))
            elif isinstance(value, list):
                node.set(key, [walk(v) if isinstance(v, exp.Expression) else v for v in value])
        return _rewrite(node, ctes)

    tree = walk(tree)
    try:
        return tree.sql(dialect="spark", pretty=True, comments=False,
                        unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.SqlglotError as exc:
        raise TranspileError(f"cannot write the model as Spark SQL: {exc}") from None
