"""A staged input file's validation and load: its columns mapped to the input shape, a typed SQL
expression and a bad-value condition per column, the checks (values, ranges, required values,
duplicate keys, FoxML's mode-fallback copies) and the insert into the warehouse's source table.

The checks are DuckDB SQL over a `Stage`: DuckDB's temp table of the ingest, or a view of a file
only Spark reads (foxwarehouse.spark.ingest translates the same SQL).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

from ..errors import EmptyResultError, InputError
from ..formatting import visible_controls
from ..render import quote_identifier, sql_literal
from .specs import (
    CANDIDATES,
    FEATURE_SELECTION,
    MAX_SHOWN,
    STABILITY_METRICS,
    TRIMMED_NAMES,
    WHITESPACE,
    InputSpec,
    column_key,
    show_value,
    trim_names,
)


@dataclass(frozen=True)
class _Check:
    """A value check of a staged file: the rows where `condition` holds are bad."""
    condition: str   # SQL over the staged row
    shown: str       # SQL of the value a message shows for a bad row
    column: str      # the column as the message names it
    problem: str     # what is wrong, for many rows ("are negative")


class Stage(Protocol):
    """Where a staged file's rows are and how queries over them run: DuckDB's temp table here, a
    Spark view for the inputs only Spark reads. The checks are DuckDB SQL over `table`; a stage
    that is not DuckDB translates them."""

    table: str    # the staged rows (SQL name)
    merged: str   # the rowids of the mode-fallback copies left out (SQL name)
    rowid: str    # the column numbering the rows in file order (from any base)

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def columns(self) -> list[tuple[str, str]]:
        """The staged file's columns: (name, DuckDB type name)."""
        ...

    def fields(self, column: str) -> list[tuple[str, str]]:
        """The fields of struct `column` (quoted SQL): (name, DuckDB type name)."""
        ...

    def json_array(self, text: str) -> tuple[str, str]:
        """(SQL true when `text` is a JSON array, SQL of that array as a list of text)."""
        ...

    def create_merged(self, sql: str | None) -> None:
        """Drop `merged`; make it from `sql` unless None."""
        ...

    def insert(self, table: str, columns: str, row: str, select: str, where: str, run_id: str) -> None:
        """Insert the staged rows where `where` holds, in file order, into warehouse `table`."""
        ...


class DuckDBStage:
    """A file staged by DuckDB as the temp table ``ingest_stage`` of the ingest's connection."""

    table = "temp.main.ingest_stage"
    merged = "temp.main.ingest_merged"
    rowid = "rowid"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def columns(self) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in self.con.execute("DESCRIBE temp.main.ingest_stage").fetchall()]

    def fields(self, column: str) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in
                self.con.execute(f"DESCRIBE SELECT {column}.* FROM temp.main.ingest_stage").fetchall()]

    def json_array(self, text: str) -> tuple[str, str]:
        return f"json_valid({text}) AND json_type({text}) = 'ARRAY'", f"from_json({text}, '[\"VARCHAR\"]')"

    def create_merged(self, sql: str | None) -> None:
        self.con.execute("DROP TABLE IF EXISTS temp.main.ingest_merged")
        if sql is not None:
            self.con.execute(f"CREATE TEMP TABLE ingest_merged AS {sql}")

    def insert(self, table: str, columns: str, row: str, select: str, where: str, run_id: str) -> None:
        self.con.execute(
            f"INSERT INTO {table} (run_id, source_row, {columns}) "
            f"SELECT ?, {row}, {select} FROM temp.main.ingest_stage WHERE {where} ORDER BY rowid",
            [run_id],
        )


class StagedFile:
    """One staged input file: column mapping, typed expressions, checks, and the insert."""

    def __init__(self, stage: Stage, spec: InputSpec, path: Path | str):
        self.stage, self.spec, self.path = stage, spec, path
        self.pending: list[_Check] = []
        self.types: dict[str, str] = {}
        self.names: dict[str, str] = {}
        for name, dtype in stage.columns():
            key = column_key(name)
            if key in self.names:
                raise InputError(f"{path}: column {name!r} appears more than once", path=path)
            self.names[key] = name
            self.types[key] = dtype.upper()
        # FoxML's `stability_metrics` struct: its fields by key, with their own types.
        self.fields: dict[str, tuple[str, str]] = {}
        if self.types.get("stability_metrics", "").startswith("STRUCT"):
            column = quote_identifier(self.names["stability_metrics"])
            for name, dtype in stage.fields(column):
                key = column_key(name)
                if key in self.fields:
                    raise InputError(f"{path}: column {self.names['stability_metrics']!r}: field {name!r} appears more "
                                     f"than once", path=path)
                self.fields[key] = (name, dtype.upper())
        count, base = self._one(f"SELECT count(*), coalesce(min({stage.rowid}), 0) FROM {stage.table}")
        self.row_count = int(count)
        # The 1-based data row number. A temp table made inside the ingest transaction numbers its
        # rows from a large transaction-local base (2^55 - 3968), not 0, so rowid is offset by its minimum.
        self.row = f"({stage.rowid} - {int(base)} + 1)"
        missing = [c for c in spec.required if c not in self.names]
        if missing:
            found = visible_controls(", ".join(self.names[k] for k in self.names), backslash=False) or "(none)"
            raise InputError(
                f"{path}: missing required column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} (columns found: {found[:300]})",
                path=path,
            )

    def _one(self, sql: str) -> tuple[Any, ...]:
        rows = self.stage.rows(sql)
        if len(rows) != 1:
            raise EmptyResultError("a single-row query over a staged file returned no row")
        return tuple(rows[0])

    # --- expressions ------------------------------------------------------------------------

    def _from_struct(self, column: str) -> bool:
        """True when `column` is read from a field of the `stability_metrics` struct."""
        return column not in self.names and column in STABILITY_METRICS + ("n_snapshots",) and column in self.fields

    def _raw(self, column: str) -> str | None:
        if column in self.names:
            return quote_identifier(self.names[column])
        if self._from_struct(column):
            return f"{quote_identifier(self.names['stability_metrics'])}.{quote_identifier(self.fields[column][0])}"
        return None

    def _label(self, column: str) -> str:
        """The column as messages name it: the file's own spelling, `stability_metrics.<field>` for a struct field."""
        if self._from_struct(column):
            return f"{self.names['stability_metrics']}.{self.fields[column][0]}"
        return self.names.get(column, column)

    def _kind_type(self, column: str) -> str:
        if column in self.names:
            return self.types[column]
        return self.fields[column][1]

    def typed(self, column: str, kind: Any) -> tuple[str, str | None]:
        """(typed expression, condition that marks a bad value or None)."""
        raw = self._raw(column)
        if raw is None:
            return _null_of(kind), None
        dtype = self._kind_type(column)
        nested = dtype.endswith("[]") or dtype.startswith(("STRUCT", "MAP", "LIST", "UNION"))
        if kind == "text_list":
            if dtype.endswith("[]") or dtype.startswith("LIST"):
                return f"list_transform(CAST({raw} AS VARCHAR[]), lambda x: trim(x))", None
            if nested:
                return "CAST(NULL AS VARCHAR[])", f"{raw} IS NOT NULL"
            text = f"trim(CAST({raw} AS VARCHAR))"
            is_array, array = self.stage.json_array(text)
            expr = (
                f"(CASE WHEN {raw} IS NULL OR {text} = '' THEN NULL "
                f"WHEN starts_with({text}, '[') THEN CASE WHEN {is_array} "
                f"THEN list_filter(list_transform({array}, lambda x: trim(x)), lambda x: x IS NOT NULL AND x <> '') END "
                f"ELSE list_filter(list_transform(string_split({text}, '|'), lambda x: trim(x)), lambda x: x <> '') END)"
            )
            bad = f"({raw} IS NOT NULL AND {text} <> '' AND {expr} IS NULL)"
            return expr, bad
        if nested:
            return _null_of(kind), f"{raw} IS NOT NULL"
        is_text = dtype == "VARCHAR"
        if kind == "text":
            if column in TRIMMED_NAMES:
                return trim_names(f"CAST({raw} AS VARCHAR)"), None
            return f"CAST({raw} AS VARCHAR)", None
        if isinstance(kind, tuple):
            allowed = ", ".join(sql_literal(v) for v in kind[1])
            expr = f"NULLIF(upper(trim(CAST({raw} AS VARCHAR))), '')"
            return expr, f"({expr} IS NOT NULL AND {expr} NOT IN ({allowed}))"
        if kind == "double":
            if is_text:
                expr = f"TRY_CAST(trim({raw}) AS DOUBLE)"
                return expr, f"({raw} IS NOT NULL AND trim({raw}) <> '' AND {expr} IS NULL)"
            if _numeric(dtype):
                return f"CAST({raw} AS DOUBLE)", None
            return "CAST(NULL AS DOUBLE)", f"{raw} IS NOT NULL"
        if kind == "integer":
            if is_text:
                as_double = f"TRY_CAST(trim({raw}) AS DOUBLE)"
                expr = (
                    f"(CASE WHEN regexp_full_match(trim({raw}), '[+-]?[0-9]+') THEN TRY_CAST(trim({raw}) AS BIGINT) "
                    f"WHEN isfinite({as_double}) AND {as_double} = trunc({as_double}) THEN TRY_CAST({as_double} AS BIGINT) END)"
                )
                return expr, f"({raw} IS NOT NULL AND trim({raw}) <> '' AND {expr} IS NULL)"
            if dtype in ("FLOAT", "DOUBLE", "REAL") or dtype.startswith("DECIMAL"):
                expr = f"(CASE WHEN isfinite(CAST({raw} AS DOUBLE)) AND {raw} = trunc({raw}) THEN TRY_CAST({raw} AS BIGINT) END)"
                return expr, f"({raw} IS NOT NULL AND {expr} IS NULL)"
            if _numeric(dtype):
                expr = f"TRY_CAST({raw} AS BIGINT)"
                return expr, f"({raw} IS NOT NULL AND {expr} IS NULL)"
            return "CAST(NULL AS BIGINT)", f"{raw} IS NOT NULL"
        if kind == "boolean":
            if dtype == "BOOLEAN":
                return raw, None
            if is_text:
                expr = f"TRY_CAST(trim({raw}) AS BOOLEAN)"
                return expr, f"({raw} IS NOT NULL AND trim({raw}) <> '' AND {expr} IS NULL)"
            if _numeric(dtype):
                return f"({raw} <> 0)", None
            return "CAST(NULL AS BOOLEAN)", f"{raw} IS NOT NULL"
        raise AssertionError(kind)

    # --- checks -----------------------------------------------------------------------------
    # The value checks are collected (check_values, check_ranges, check_required_values) and then
    # counted in one scan of the staged file (run_checks); only a check that finds rows runs again
    # to list up to 5 of them, in the order the checks were collected, so the first failing check
    # gives the same message as when each check was a query of its own.

    def _check(self, condition: str, shown: str, column: str, problem: str) -> None:
        self.pending.append(_Check(condition, shown, column, problem))

    def run_checks(self) -> None:
        """Count every collected check in one scan; raise for the first one that finds rows."""
        checks, self.pending = self.pending, []
        if not checks:
            return
        counts: list[int | None] = [None] * len(checks)
        if len(checks) > 1:
            # The checks are TRY_ casts and comparisons that do not fail; should one fail all the
            # same, its DuckDB error (which aborts the ingest transaction, so no query could follow)
            # is reported by _load_file as for a single check's query.
            filters = ", ".join(f"count(*) FILTER (WHERE {c.condition})" for c in checks)
            counts = [int(n) for n in self._one(f"SELECT {filters} FROM {self.stage.table}")]
        for check, known in zip(checks, counts):
            if known == 0:
                continue
            count, rows = self._fail_rows(check.condition, check.shown)
            if count:
                self._raise(check.column, check.problem, count, rows)

    def _fail_rows(self, condition: str, shown: str) -> tuple[int, list[tuple]]:
        count = int(self._one(f"SELECT count(*) FROM {self.stage.table} WHERE {condition}")[0])
        rows = self.stage.rows(
            f"SELECT {self.row}, {shown} FROM {self.stage.table} WHERE {condition} ORDER BY {self.stage.rowid} LIMIT {MAX_SHOWN}"
        ) if count else []
        return count, rows

    def _raise(self, column: str, problem: str, count: int, rows: list[tuple]) -> None:
        shown = "; ".join(f"row {r[0]}: {show_value(r[1])}" for r in rows)
        more = f" (and {count - len(rows)} more)" if count > len(rows) else ""
        if count == 1:  # "1 row is negative", not "1 row are negative"
            problem = problem.replace("are ", "is ", 1) if problem.startswith("are ") else \
                problem.replace("have ", "has ", 1) if problem.startswith("have ") else problem
        raise InputError(f"{self.path}: column {column!r}: {count} row{'s' if count != 1 else ''} {problem}: {shown}{more}", path=self.path)

    def check_values(self) -> None:
        for column, kind in self.spec.columns.items():
            _, bad = self.typed(column, kind)
            if bad is None:
                continue
            raw = self._raw(column)
            self._check(bad, f"CAST({raw} AS VARCHAR)", self._label(column), _problem(kind))
        for column in STABILITY_METRICS + ("n_snapshots",):
            if self.spec is CANDIDATES and column in self.names and column in self.fields:
                # Given twice: which one is meant is ambiguous (an all-null struct field is no second value).
                field_sql = f"{quote_identifier(self.names['stability_metrics'])}.{quote_identifier(self.fields[column][0])}"
                self._check(f"{field_sql} IS NOT NULL", f"CAST({field_sql} AS VARCHAR)",
                            f"{self.names['stability_metrics']}.{self.fields[column][0]}",
                            f"also give {column}, which column {self.names[column]!r} gives; keep one")
        dtype = self.types.get("stability_metrics")
        if self.spec is CANDIDATES and dtype is not None and not dtype.startswith("STRUCT") and dtype != '"NULL"':
            # Not a struct of stability metrics: its metrics would be silently left out.
            raw = quote_identifier(self.names["stability_metrics"])
            self._check(f"{raw} IS NOT NULL", f"CAST({raw} AS VARCHAR)", self.names["stability_metrics"],
                        f"are not a struct with fields {', '.join(STABILITY_METRICS)} ({dtype})")

    def check_ranges(self) -> None:
        """Stability values: finite and in range; NaN is a missing value."""
        for column, low, high in self.spec.ranges:
            raw = self._raw(column)
            if raw is None:
                continue
            expr, _ = self.typed(column, "double")
            outside = f"{expr} < {low!r}" + (f" OR {expr} > {high!r}" if high is not None else "")
            allowed = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
            self._check(f"({expr} IS NOT NULL AND NOT isnan({expr}) AND (NOT isfinite({expr}) OR {outside}))",
                        f"CAST({raw} AS VARCHAR)", self._label(column), f"are not finite numbers {allowed}")

    def check_required_values(self) -> None:
        """Every row has a target; sample sizes are not negative."""
        typed_target = self.typed("target", "text")[0]
        self._check(f"{typed_target} IS NULL OR {typed_target} = ''", f"CAST({self._raw('target')} AS VARCHAR)",
                    "target", "have an empty target")
        if "sample_size" in self.spec.columns and self._raw("sample_size") is not None:
            expr, _ = self.typed("sample_size", "integer")
            self._check(f"{expr} < 0", expr, "sample_size", "are negative")

    def check_rules(self, typed_target: str, typed_symbol: str, aggregate: str, marked: str = "FALSE") -> None:
        """No two loaded rows share a key (target, symbol and the spec's extra key columns)."""
        if not self.spec.keyed:
            return
        extra = [(c, f"NULLIF({self.typed(c, 'text')[0]}, '')") for c in self.spec.key_extra]
        extra_cols = "".join(f", k{i}" for i in range(len(extra)))
        extra_select = "".join(f", {expr} AS k{i}" for i, (_, expr) in enumerate(extra))
        extra_where = "".join(f" AND {expr} IS NOT NULL" for _, expr in extra)
        # Counting the repeated keys is a plain hash aggregate; the query that lists them (with
        # every row number) runs only when there are some.
        repeated = self._one(
            f"""SELECT count(*) FROM (SELECT 1 FROM {self.stage.table} WHERE NOT ({aggregate}){extra_where}
                GROUP BY {typed_target}, {typed_symbol}{''.join(f', {expr}' for _, expr in extra)} HAVING count(*) > 1)"""
        )[0]
        if not repeated:
            return
        dupes = self.stage.rows(
            f"""SELECT list(r ORDER BY r) AS rows_, count(*) OVER () AS n, bool_or(m) AS marked, t, s{extra_cols}
                FROM (SELECT {typed_target} AS t, {typed_symbol} AS s, {self.row} AS r, {marked} AS m{extra_select}
                      FROM {self.stage.table} WHERE NOT ({aggregate}){extra_where})
                GROUP BY t, s{extra_cols} HAVING count(*) > 1 ORDER BY min(r) LIMIT {MAX_SHOWN}"""
        )
        if dupes:
            shown = "; ".join(
                f"target={show_value(t)} {'(CS row)' if s is None else 'symbol=' + show_value(s)}"
                + "".join(f" {c}={show_value(v)}" for (c, _), v in zip(extra, values))
                + f" at rows {', '.join(map(str, rows_[:5]))}"
                for rows_, _, _, t, s, *values in dupes
            )
            note = ""
            if any(row[2] for row in dupes):
                note = (f"; a CS row marked in column {self.names.get('mode_fallback', 'mode_fallback')!r} (FoxML's mode "
                        f"fallback) is merged only when it is identical, in every column routing uses, to the row it copies")
            columns = ", ".join(repr(c) for c in ("target", "symbol", *self.spec.key_extra))
            raise InputError(f"{self.path}: columns {columns}: {dupes[0][1]} duplicate key{'s' if dupes[0][1] != 1 else ''}: "
                             f"{shown}{note}", path=self.path)

    def load(self, run_id: str) -> dict[str, int]:
        if self.row_count == 0 and self.spec in (CANDIDATES, FEATURE_SELECTION):
            raise InputError(f"{self.path}: has no data rows; refusing to build a plan from empty metrics", path=self.path)
        self.check_values()
        self.check_ranges()
        self.check_required_values()
        self.run_checks()
        exprs = {c: self.typed(c, k)[0] for c, k in self.spec.columns.items()}
        symbol_norm = f"(CASE WHEN {exprs['symbol']} IS NULL OR {exprs['symbol']} IN ('', '__AGG__') THEN NULL ELSE {exprs['symbol']} END)"
        mode = exprs.get("mode")
        aggregate = (
            f"({symbol_norm} IS NULL AND coalesce({mode} IN ('SYMBOL_SPECIFIC', 'SYMBOL'), FALSE))" if mode else "FALSE"
        )
        exprs["symbol"] = symbol_norm
        marked = self._mode_fallback_marked()
        merged = self._merge_mode_fallback(exprs, aggregate, marked)
        # Rows not loaded: aggregate rows, and the mode-fallback copies merged into the row they copy.
        skipped = (f"({aggregate} OR {self.stage.rowid} IN (SELECT rid FROM {self.stage.merged}))" if merged
                   else aggregate)
        self.check_rules(exprs["target"], symbol_norm, skipped, marked)
        if mode:
            exprs["mode"] = f"(CASE WHEN {mode} = 'SYMBOL' THEN 'SYMBOL_SPECIFIC' ELSE {mode} END)"
        select = ", ".join(f"{expr} AS {quote_identifier(col)}" for col, expr in exprs.items())
        columns = ", ".join(quote_identifier(c) for c in exprs)
        self.stage.insert(self.spec.table, columns, self.row, select, f"NOT ({skipped})", run_id)
        counts = {"rows_read": self.row_count}
        if self.spec in (CANDIDATES, FEATURE_SELECTION):
            cs, sym, agg = self._one(
                f"SELECT count(*) FILTER (WHERE NOT ({skipped}) AND {symbol_norm} IS NULL), "
                f"count(*) FILTER (WHERE {symbol_norm} IS NOT NULL), count(*) FILTER (WHERE {aggregate}) "
                f"FROM {self.stage.table}"
            )
            counts.update(cs_rows=int(cs), symbol_rows=int(sym), aggregate_rows_skipped=int(agg))
            if marked != "FALSE":
                counts["mode_fallback_rows_merged"] = merged
        return counts

    # --- FoxML's mode fallback ---------------------------------------------------------------

    def _mode_fallback_marked(self) -> str:
        """SQL true for a row FoxML's mode fallback marked (a non-blank `mode_fallback`); FALSE
        for a file without that column or another input shape than the candidates file."""
        if self.spec is not CANDIDATES or "mode_fallback" not in self.names:
            return "FALSE"
        raw = quote_identifier(self.names["mode_fallback"])
        if self.types["mode_fallback"].endswith("[]") or self.types["mode_fallback"].startswith(("STRUCT", "MAP", "LIST", "UNION")):
            return f"({raw} IS NOT NULL)"
        return f"coalesce(trim(CAST({raw} AS VARCHAR), {sql_literal(WHITESPACE)}) <> '', FALSE)"

    def _merge_mode_fallback(self, exprs: dict[str, str], aggregate: str, marked: str) -> int:
        """Find FoxML's mode-fallback copies to merge: for a target whose CS row appears more than
        once, every copy but at most one marked in `mode_fallback`, and all of them identical in
        every column routing uses, the first unmarked row is kept and the copies are left out.
        Their rowids go to temp.main.ingest_merged; returns how many. Anything else stays a duplicate."""
        if marked == "FALSE":
            self.stage.create_merged(None)
            return 0
        names = list(exprs)
        cols = ", ".join(f"{exprs[c]} AS c{i}" for i, c in enumerate(names))
        target = names.index("target")
        same = " AND ".join(f"r.c{i} IS NOT DISTINCT FROM f.c{i}" for i in range(len(names)))
        self.stage.create_merged(
            f"""WITH rows_ AS (
                    SELECT {self.stage.rowid} AS rid, {marked} AS marked, {cols}
                    FROM {self.stage.table} WHERE NOT ({aggregate}) AND {exprs['symbol']} IS NULL
                ), ranked AS (
                    SELECT *, row_number() OVER (PARTITION BY c{target} ORDER BY marked, rid) AS pos,
                           count(*) OVER (PARTITION BY c{target}) AS n,
                           sum(CASE WHEN marked THEN 0 ELSE 1 END) OVER (PARTITION BY c{target}) AS unmarked
                    FROM rows_
                ), mergeable AS (
                    SELECT r.c{target} AS t FROM ranked r JOIN ranked f ON f.c{target} = r.c{target} AND f.pos = 1
                    WHERE r.n > 1 AND r.unmarked <= 1
                    GROUP BY r.c{target} HAVING bool_and({same})
                )
                SELECT r.rid FROM ranked r JOIN mergeable m ON r.c{target} = m.t WHERE r.pos > 1"""
        )
        return int(self._one(f"SELECT count(*) FROM {self.stage.merged}")[0])


def _numeric(dtype: str) -> bool:
    return dtype in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                     "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL") or dtype.startswith("DECIMAL")


def _null_of(kind: Any) -> str:
    sql_type = {"double": "DOUBLE", "integer": "BIGINT", "boolean": "BOOLEAN", "text_list": "VARCHAR[]"}.get(kind, "VARCHAR")
    return f"CAST(NULL AS {sql_type})"


def _problem(kind: Any) -> str:
    if isinstance(kind, tuple):
        return f"have a value that is not one of {', '.join(kind[1])}"
    return {
        "double": "are not numbers",
        "integer": "are not whole numbers",
        "boolean": "are not true/false",
        "text_list": "are not a list of text (JSON array or '|'-separated)",
        "text": "are not text",
    }[kind]
