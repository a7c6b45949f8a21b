"""The SQL engine seam: the warehouse's engine (DuckDB) and where a build's models run.

The warehouse is always DuckDB: runs, audits, export, diff and the analyst commands read it. The
models of a build run on DuckDB too, or on Spark (``engine: spark``): then a runner from
foxwarehouse.spark computes each model's rows and the build stores them in the same warehouse
tables. pyspark is imported only when that engine is chosen.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import duckdb

from .errors import EmptyResultError
from .faults import checkpoint

if TYPE_CHECKING:
    from .context import Context
    from .spark.models import SparkModels
    from .spark.session import SparkSettings

Params = Sequence[Any] | None

# How many rows one query hands to Python when a plan is streamed (export, derived views, the
# feed): large enough to keep the query count low, small enough that memory stays flat.
CHUNK_ROWS = 50_000


def one_row(cursor: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The row of a query that always yields exactly one (a count, an aggregate, a setting).

    ``fetchone()`` is typed as possibly None; getting None here means the warehouse is not what the
    query expects, which is reported as a FoxError instead of a TypeError on indexing None.
    """
    row = cursor.fetchone()
    if row is None:
        raise EmptyResultError("a single-row query returned no row; the warehouse may be damaged")
    return row


class DuckDBEngine:
    """A DuckDB connection seen as an engine: execute, fetch, create-table-as, transaction."""

    name = "duckdb"
    Error = duckdb.Error  # what a failing statement raises, for callers that turn it into a FoxError

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def execute(self, sql: str, params: Params = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, params) if params is not None else self.con.execute(sql)

    def fetchone(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        return self.execute(sql, params).fetchone()

    def fetchall(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        return self.execute(sql, params).fetchall()

    def describe(self, select: str) -> list[tuple[str, str]]:
        """(column, type) of a SELECT, without running it."""
        return [(row[0], row[1]) for row in self.fetchall(f"DESCRIBE SELECT * FROM ({select})")]

    def create_table_as(self, relation: str, select: str, params: Params = None, temporary: bool = False,
                        replace: bool = False) -> None:
        kind = ("OR REPLACE " if replace else "") + ("TEMP TABLE" if temporary else "TABLE")
        self.execute(f"CREATE {kind} {relation} AS {select}", params)

    def current_catalog(self) -> str:
        return str(self.fetchall("SELECT current_database()")[0][0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN ... COMMIT; any exception rolls back and propagates."""
        self.con.execute("BEGIN TRANSACTION")
        checkpoint("txn:begin")
        try:
            yield self.con
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            raise
        else:
            checkpoint("txn:before-commit")
            self.con.execute("COMMIT")
            checkpoint("txn:after-commit")


def require_engine(name: str, spark: SparkSettings | None = None) -> None:
    """Stop (exit 2, one line) before anything is ingested when engine `name` cannot run here:
    pyspark missing, or the Spark Connect server that `spark` (with the environment) names unreachable."""
    if name == "spark":
        from .spark.session import SparkSettings, preflight

        preflight(spark if spark is not None else SparkSettings())


def model_runner(name: str, ctx: Context) -> SparkModels | None:
    """What runs a build's models when they do not run on the warehouse's DuckDB (None: they do)."""
    if name != "spark":
        return None
    from .spark.models import SparkModels

    return SparkModels(ctx, ctx.project.settings.spark)
