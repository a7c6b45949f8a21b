"""The models of one build run on Spark, their results coming back to the warehouse.

The DuckDB warehouse stays the system of record. For a build on the Spark engine the run's source
rows go to Spark as temporary views (Arrow), every stored model's rendered SQL is transpiled to
Spark SQL and run in DAG order as a checkpointed Spark view, and each model's rows come back (Arrow) to
be stored by the build in the model's warehouse table, cast to the column types the same model
has on DuckDB. Audits, the plan fingerprint and the export then read the warehouse as on DuckDB,
which is why the published files are the same bytes on both engines.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from ..progress import step
from ..render import Renderer, quote_identifier
from ..warehouse import SOURCES
from .session import SparkSettings, get_session
from .transpile import to_spark as transpile_to_spark

if TYPE_CHECKING:
    import duckdb

    from ..context import Context

SPARK_PREFIX = "fw_"          # Spark temp views: fw_src_<source>, fw_<model>
RESULT_PREFIX = "fw_spark_"   # the Arrow results registered on the DuckDB connection


def spark_relation(kind: str, name: str) -> str:
    """The Spark temp view a ref() or source() of a model run on Spark reads."""
    return quote_identifier(SPARK_PREFIX + ("src_" if kind == "source" else "") + name)


def spark_model_sql(renderer: Renderer, name: str, to_spark: Callable[[str], str] | None = None) -> str:
    """The exact Spark SQL the engine runs for model `name` (what `compile --dialect spark` shows):
    the model rendered with the engine's Spark view names, then transpiled."""
    return (to_spark or transpile_to_spark)(renderer.render(name, spark_relation).sql)


def spark_error_line(exc: BaseException) -> str:
    """The first line of a Spark error (the Java stack is not for users); of an error of a direct
    Java call (py4j), the Java exception's class and the first line of its message."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            return f"{java.getClass().getSimpleName()}: {_first_line(str(java.getMessage()))}"
        except Exception:  # noqa: BLE001,S110 - the JVM is gone: Python's text of the error below
            pass
    return _first_line(str(exc)) or type(exc).__name__


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0].strip()


def one_chunk(table: Any) -> Any:
    """`table` with at least one chunk per column (pyspark cannot take an empty nested column of
    zero chunks, which DuckDB hands over for a source without rows)."""
    import pyarrow as pa  # type: ignore[import-untyped]

    if all(column.num_chunks for column in table.columns):
        return table
    columns = [c if c.num_chunks else pa.chunked_array([pa.array([], type=c.type)]) for c in table.columns]
    return pa.Table.from_arrays(columns, schema=table.schema)


def spark_schema(table: Any) -> Any:
    """The Spark schema of Arrow table `table`, as createDataFrame infers it (a Spark Connect session
    infers none from a table without rows, so the engine names it for a source without rows)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(table.schema, prefer_timestamp_ntz=False)


def settle(con: duckdb.DuckDBPyConnection) -> None:
    """Finish the connection's open result, if any: DuckDB 2 runs nothing else on a connection
    (a registration, a new relation) while a query's rows are unread."""
    finish = getattr(con, "complete", None)
    if finish is not None:
        finish()


class SparkModels:
    """One build's models on Spark. Use as a context manager around the build's model loop."""

    def __init__(self, ctx: Context, settings: SparkSettings):
        # The steps below show where Spark's time goes with `plan --verbose` (a line each).
        with step("spark session start"):
            self.session = get_session(settings.with_environment())
        self.renderer = ctx.renderer
        self.to_spark = transpile_to_spark
        self.spark_views: list[str] = []
        self.cached: list[Any] = []
        self.registered: list[str] = []
        self.con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> SparkModels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load_sources(self, con: duckdb.DuckDBPyConnection, source_view: Callable[[str], str]) -> None:
        """Hand the run's source rows (DuckDB relation `source_view(name)` per source) to Spark."""
        self.con = con
        settle(con)
        with step("spark sources handed over"):
            self._load_sources(con, source_view)

    def _load_sources(self, con: duckdb.DuckDBPyConnection, source_view: Callable[[str], str]) -> None:
        for name in SOURCES:
            rows = one_chunk(con.sql(f"SELECT * FROM {source_view(name)}").to_arrow_table())
            frame = self.session.createDataFrame(rows, schema=spark_schema(rows) if rows.num_rows == 0 else None)
            self._view(frame, SPARK_PREFIX + "src_" + name)

    def _view(self, frame: Any, view: str) -> None:
        frame.createOrReplaceTempView(view)
        self.spark_views.append(view)

    def run(self, name: str, path: str, duckdb_sql: str) -> str:
        """Run model `name` on Spark and return the DuckDB SELECT of its rows, cast to the types
        and column order the model has on DuckDB (`duckdb_sql`: its DuckDB SQL, only described)."""
        assert self.con is not None, "load_sources first"
        try:
            spark_sql = spark_model_sql(self.renderer, name, self.to_spark)
        except Exception as exc:  # noqa: BLE001 - any transpiler failure is this model's error
            raise ModelError(f"{path}: cannot translate to Spark SQL: {spark_error_line(exc)}",
                             model=name, path=path) from None
        try:
            # A local checkpoint keeps the rows on the executors and cuts the lineage: the models
            # downstream read a small plan instead of re-analysing every model above them (with
            # cache() instead, each model's analysis grew with the whole DAG's SQL).
            with step(f"{name} on spark"):
                frame = self.session.sql(spark_sql).localCheckpoint(eager=True)
            self.cached.append(frame)
            self._view(frame, SPARK_PREFIX + name)
            with step(f"{name} rows back"):
                rows = frame.toArrow()
        except Exception as exc:  # noqa: BLE001 - pyspark's errors share no base class across versions
            raise ModelError(f"{path}: on Spark: {spark_error_line(exc)}", model=name, path=path) from None
        result = RESULT_PREFIX + name
        settle(self.con)
        self.con.register(result, rows)
        self.registered.append(result)
        wanted = self.con.execute(f"DESCRIBE SELECT * FROM ({duckdb_sql})").fetchall()
        have = {str(c).lower(): str(c) for c in rows.column_names}
        missing = [str(r[0]) for r in wanted if str(r[0]).lower() not in have]
        if missing or len(have) != len(wanted):
            raise ModelError(f"{path}: on Spark the model's columns differ from DuckDB's: "
                             f"{', '.join(rows.column_names)} against {', '.join(str(r[0]) for r in wanted)}",
                             model=name, path=path)
        columns = ", ".join(f"CAST({quote_identifier(have[str(c).lower()])} AS {t}) AS {quote_identifier(str(c))}"
                            for c, t, *_ in wanted)
        return f"SELECT {columns} FROM {quote_identifier(result)}"

    def close(self) -> None:
        """Drop this build's Spark views and cached rows and the results registered on DuckDB."""
        for frame in self.cached:
            try:
                frame.unpersist()
            except Exception:  # noqa: BLE001 - clean-up is best effort; the session may be gone
                pass
        for view in self.spark_views:
            try:
                self.session.catalog.dropTempView(view)
            except Exception:  # noqa: BLE001
                pass
        if self.con is not None:
            for result in self.registered:
                try:
                    settle(self.con)
                    self.con.unregister(result)
                except Exception:  # noqa: BLE001
                    pass
        self.cached, self.spark_views, self.registered = [], [], []
