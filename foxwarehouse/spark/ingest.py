"""Ingest on Spark: validating and loading the inputs only Spark reads (URIs and catalog tables).

With the Spark engine, ``--metrics`` may be a URI (``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``,
``file://``...) of a metrics file or folder, or ``spark.table:NAME`` (a routing-candidates table).
Such an input is validated where it is, by Spark, with the rules and messages of the local ingest
(``foxwarehouse.ingest.reader``), naming the URI or table:

* the folder is listed by Spark (names and sizes only) and its files chosen by the same name rules;
* the fingerprint is a SHA-256 of each file's bytes computed by Spark's executors;
* a parquet file or a table is read as it is; a CSV file's grammar (delimiter from the header line,
  rows of the header's width, quoting, UTF-8) is checked over its lines on Spark, and the file is
  then read with every column as text;
* the staged rows are a cached view numbered in file order, and the reader's checks (DuckDB SQL)
  run over it translated by ``to_spark``;
* only the validated, typed rows come back to the driver (as Arrow) and are inserted into the
  warehouse's source tables inside the ingest's own transaction.

No file's bytes are copied to the driver. Local paths keep the DuckDB ingest: they are on the
driver's disk, where DuckDB reads them faster than Spark would.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from typing import Any, cast

import duckdb
import sqlglot
from sqlglot import exp

from ..errors import FoxError, InputError
from ..export.export_record import RECORD_FILE, STATE_DIR, record_digests
from ..ingest.csv_input import csv_columns, csv_reader, field_pattern, malformed_csv, not_utf8, not_utf8_csv, ragged_csv
from ..ingest.reader import check_format, choose_inputs, combine_digests, load_run, no_repeats
from ..ingest.specs import MAX_SHOWN, IngestReport, InputSpec, column_key, show_value
from ..ingest.staged import StagedFile
from ..warehouse import Warehouse, new_run_id
from .inputs import TABLE_PREFIX
from .models import spark_error_line
from .transpile import to_spark

ROWID = "fw_rowid"   # the stage's 0-based row number in file order


# --- locating ------------------------------------------------------------------------------------

def _reader(session: Any) -> Any:
    """Spark's reader of files at a path as given: Spark expands ``*``, ``?``, ``[...]`` and ``{...}``
    in a path it reads, so a metrics folder named ``star*`` would be read together with ``starA/``
    (``__globPaths__`` is the data source option that turns that off, as Spark's own CSV and JSON
    schema inference does)."""
    return session.read.option("__globPaths__", "false")


def _tail(uri: str) -> str:
    """What follows the scheme (Spark spells file:///x as file:/x)."""
    return re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*:/*", "/", uri).rstrip("/")


def locate_spark_inputs(session: Any, metrics: str) -> tuple[str, dict[str, str]]:
    """('candidates'|'raw', {source name: URI}) of a metrics URI: `locate_inputs`'s rules, listed by Spark."""
    if metrics.startswith(TABLE_PREFIX):
        return "candidates", {"routing_candidates": metrics}
    root = metrics.rstrip("/")
    listed = _hadoop_listing(session, root)
    if listed is not None:
        if isinstance(listed, bool):
            check_format(root)
            return "candidates", {"routing_candidates": root}
        return _choose(session, root, listed)
    try:
        found = (_reader(session).format("binaryFile").option("recursiveFileLookup", "true").load(root)
                 .select("path").collect())
    except Exception as exc:  # noqa: BLE001 - pyspark's errors share no base class across versions
        message = spark_error_line(exc)
        if "PATH_NOT_FOUND" in message or "does not exist" in message.lower():
            raise InputError(f"metrics path not found: {metrics}", path=metrics) from None
        raise InputError(f"{metrics}: Spark cannot read it: {message}", path=metrics) from None
    paths = [str(row["path"]) for row in found]
    if len(paths) == 1 and _tail(paths[0]) == _tail(root):   # a file, not a folder
        check_format(root)
        return "candidates", {"routing_candidates": root}
    # Only the folder's own files (the listing is recursive, so that no subfolder is read as a partition).
    return _choose(session, root, [(p.rsplit("/", 1)[-1], True) for p in paths
                                   if _tail(p).rsplit("/", 1)[0] == _tail(root)])


def _hadoop_listing(session: Any, root: str) -> bool | list[tuple[str, bool]] | None:
    """True when `root` is a file, else its entries (name, is a file), by Spark's Hadoop file
    system (every file, empty ones too); None without a JVM (Spark Connect)."""
    jvm = getattr(session, "_jvm", None)
    if jvm is None:
        return None
    try:
        path = jvm.org.apache.hadoop.fs.Path(root)
        fs = path.getFileSystem(session._jsc.hadoopConfiguration())
        if not fs.exists(path):
            raise InputError(f"metrics path not found: {root}", path=root)
        if fs.getFileStatus(path).isFile():
            return True
        return [(str(st.getPath().getName()), bool(st.isFile())) for st in fs.listStatus(path)]
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{root}: Spark cannot read it: {spark_error_line(exc)}", path=root) from None


def _choose(session: Any, root: str, listed: list[tuple[str, bool]]) -> tuple[str, dict[str, str]]:
    files = {name for name, is_file in listed if is_file}
    entries = [(name, f"{root}/{name}") for name in sorted(name for name, _ in listed)]
    published = _published_digests(session, root)
    digests = _file_digests(session, [uri for name, uri in entries if name in published]) if published else {}
    return choose_inputs(root, entries, lambda uri: digests.get(uri) in published.get(uri.rsplit("/", 1)[-1], ()),
                         lambda uri: uri.rsplit("/", 1)[-1] in files)


def _published_digests(session: Any, root: str) -> dict[str, set[str]]:
    """The digests a foxwarehouse export recorded for the folder's top-level files (see export_record)."""
    try:
        rows = _reader(session).text(f"{root}/{STATE_DIR}/{RECORD_FILE}", wholetext=True).collect()
        record = json.loads(rows[0][0]) if rows else {}
    except Exception:  # noqa: BLE001 - no record: nothing there was written by an export
        return {}
    return record_digests(record)


def _file_digests(session: Any, uris: list[str]) -> dict[str, str]:
    """{URI: SHA-256 of its bytes}, computed by the executors (only the digests reach the driver)."""
    if not uris:
        return {}
    try:
        rows = (_reader(session).format("binaryFile").load(uris)
                .selectExpr("path", "sha2(content, 256) AS digest").collect())
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{uris[0]}: Spark cannot read it: {spark_error_line(exc)}", path=uris[0]) from None
    by_tail = {_tail(str(row["path"])): str(row["digest"]) for row in rows}
    return {uri: by_tail.get(_tail(uri), "") for uri in uris}


def spark_fingerprint(session: Any, metrics: str) -> str:
    """The input fingerprint of a URI or table input (changes whenever its bytes or rows do)."""
    _, files = locate_spark_inputs(session, metrics)
    return _fingerprint(session, files)


def _fingerprint(session: Any, files: dict[str, str]) -> str:
    digests = _file_digests(session, [uri for uri in files.values() if not uri.startswith(TABLE_PREFIX)])
    return combine_digests({name: _table_digest(session, uri) if uri.startswith(TABLE_PREFIX) else digests[uri]
                            for name, uri in files.items()})


def _table_digest(session: Any, metrics: str) -> str:
    """A catalog table's rows hashed in order by the executors: its schema, row count and row hashes."""
    cached: list[Any] = []
    try:
        df = _numbered(_read_table(session, metrics), cached)
        count, total = df.selectExpr(
            "count(*)", f"sum(xxhash64({ROWID}, to_json(struct(*))) % 1000000007)").collect()[0]
    except FoxError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{metrics}: Spark cannot read the table: {spark_error_line(exc)}", path=metrics) from None
    finally:
        for frame in cached:
            frame.unpersist()
    return hashlib.sha256(f"{df.schema.json()}\0{count}\0{total}".encode()).hexdigest()


# --- the ingest --------------------------------------------------------------------------------

def spark_ingest(wh: Warehouse, session: Any, metrics: str, run_id: str | None = None) -> IngestReport:
    """Validate `metrics` (a URI or catalog table) on Spark and load it as a new run, like ``ingest``."""
    shape, files = locate_spark_inputs(session, metrics)
    fingerprint = _fingerprint(session, files)
    report = IngestReport(run_id or new_run_id(), metrics, shape, fingerprint)
    stored = files["routing_candidates"] if shape == "candidates" else metrics.rstrip("/")
    case_sensitive = session.conf.get("spark.sql.caseSensitive", "false")
    # Case-sensitive, so that Spark reads two columns whose names differ in case as two columns
    # (the checks then refuse them, as for a local file), not as an ambiguous one.
    session.conf.set("spark.sql.caseSensitive", "true")
    try:
        return load_run(wh, report, stored, files,
                        lambda con, spec, uri, run: _load_file(con, session, spec, uri, run))
    finally:
        session.conf.set("spark.sql.caseSensitive", case_sensitive)


def _load_file(con: duckdb.DuckDBPyConnection, session: Any, spec: InputSpec, uri: str, run_id: str) -> dict[str, int]:
    stage = SparkStage(session, con, uri)
    try:
        try:
            stage.stage(uri)
        except FoxError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{uri}: Spark cannot read it: {spark_error_line(exc)}", path=uri) from None
        try:
            return StagedFile(stage, spec, uri).load(run_id)
        except FoxError:
            raise
        except Exception as exc:  # noqa: BLE001 - a value the checks missed still names the file
            raise InputError(f"{uri}: cannot be loaded: {spark_error_line(exc)}", path=uri) from None
    finally:
        stage.drop()


def _literal(text: str) -> str:
    """A Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _read_table(session: Any, metrics: str) -> Any:
    table = metrics[len(TABLE_PREFIX):].strip()
    if not table:
        raise InputError(f"{metrics}: name a table of the Spark catalog after {TABLE_PREFIX}", path=metrics)
    try:
        df = session.table(table)
        df.schema  # noqa: B018 - resolves the table now, for a one-line error
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{metrics}: Spark cannot read the table: {spark_error_line(exc)}", path=metrics) from None
    return df


def _numbered(df: Any, cached: list[Any]) -> Any:
    """`df` with ROWID: 0, 1, 2... in partition order (each partition's rows in order); the cached
    DataFrame it is computed from is added to `cached` (to unpersist)."""
    from pyspark.sql import functions as F  # noqa: N812

    mid = df.withColumn("fw_mid", F.monotonically_increasing_id()).cache()
    cached.append(mid)
    # monotonically_increasing_id is the partition index in the upper 31 bits, the position below.
    counts = dict(mid.groupBy(F.shiftright(F.col("fw_mid"), 33).alias("p")).count().collect())
    offsets, total = [], 0
    for part in range(int(max(counts, default=-1)) + 1):
        offsets.append(total)
        total += int(counts.get(part, 0))
    offset = F.element_at(F.array(*[F.lit(o) for o in offsets or [0]]), F.shiftright(F.col("fw_mid"), 33).cast("int") + 1)
    return mid.withColumn(ROWID, offset + (F.col("fw_mid").bitwiseAND((1 << 33) - 1))).drop("fw_mid")


class SparkStage:
    """A staged file as a cached Spark view (the reader's ``Stage``): queries are the reader's DuckDB
    SQL translated by to_spark; the insert goes to the warehouse through Arrow."""

    rowid = ROWID

    def __init__(self, session: Any, con: duckdb.DuckDBPyConnection, uri: str):
        self.session, self.con, self.uri = session, con, uri
        tag = uuid.uuid4().hex[:12]
        self.table, self.merged = f"fw_ingest_stage_{tag}", f"fw_ingest_merged_{tag}"
        self.df: Any = None
        self.cached: list[Any] = []

    # --- reading ----------------------------------------------------------------------------

    def stage(self, uri: str) -> None:
        if uri.startswith(TABLE_PREFIX):
            df = _numbered(_read_table(self.session, uri), self.cached)
        else:
            fmt = check_format(uri)
            df = self._parquet(uri) if fmt == "parquet" else self._csv(uri)
        self.df = df.cache()
        self.cached.append(self.df)
        self.df.createOrReplaceTempView(self.table)

    def _read_error(self, uri: str, fmt: str, exc: BaseException) -> InputError:
        message = spark_error_line(exc)
        if "PATH_NOT_FOUND" in message:
            return InputError(f"metrics path not found: {uri}", path=uri)
        return InputError(f"{uri}: cannot be read as {fmt}: {message}", path=uri)

    def _parquet(self, uri: str) -> Any:
        names = self._parquet_names(uri)
        if names is not None:
            no_repeats(uri, [n for n, _ in names], "column {name!r} appears more than once (columns {a} and {b})")
            for name, fields in names:
                if column_key(name) == "stability_metrics" and fields:
                    no_repeats(uri, fields,
                                f"column {name!r}: field {{name!r}} appears more than once (fields {{a}} and {{b}})")
        try:
            df = _reader(self.session).parquet(uri)
            # The row's position in its file (as DuckDB numbers a parquet file's rows).
            df = df.select("*", df["_metadata.row_index"].alias(ROWID))
            df.schema  # noqa: B018
        except Exception as exc:  # noqa: BLE001
            raise self._read_error(uri, "PARQUET", exc) from None
        return df

    def _parquet_names(self, uri: str) -> list[tuple[str, list[str]]] | None:
        """The parquet file's own column names in order (with a struct's field names), read from its
        footer by Spark's parquet library: Spark's schema would merge or refuse repeated names.
        None where the JVM is not reachable (Spark Connect)."""
        jvm = getattr(self.session, "_jvm", None)
        if jvm is None:
            return None
        try:
            conf = self.session._jsc.hadoopConfiguration()
            path = jvm.org.apache.hadoop.fs.Path(uri)
            reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(
                jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(path, conf))
            try:
                schema = reader.getFooter().getFileMetaData().getSchema()
            finally:
                reader.close()
        except Exception as exc:  # noqa: BLE001
            raise self._read_error(uri, "PARQUET", exc) from None
        out = []
        for field in schema.getFields():
            fields = [f.getName() for f in field.asGroupType().getFields()] if not field.isPrimitive() else []
            out.append((str(field.getName()), [str(f) for f in fields]))
        return out

    def _csv(self, uri: str) -> Any:
        lines = self._lines(uri)
        header = lines.filter(f"{ROWID} = 0").select("line").collect()
        text = bytes(header[0][0]).decode("utf-8", "surrogateescape") if header else ""
        reader, delimiter = csv_reader(io.StringIO(text, newline=""))
        errors = "strict"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            errors = "surrogateescape"
        try:
            columns = csv_columns(reader, uri, errors)   # type: ignore[arg-type]
        except csv.Error as exc:
            raise malformed_csv(uri, 1, 1, exc) from None
        multiline = self._check_csv_grammar(uri, lines, delimiter, columns)
        from pyspark.sql.types import StringType, StructField, StructType

        schema = StructType([StructField(f"c{i}", StringType()) for i in range(len(columns))])
        try:
            df = _reader(self.session).csv(uri, schema=schema, header=True, sep=delimiter, quote='"', escape='"',
                                       multiLine=multiline, mode="FAILFAST", enforceSchema=True, encoding="UTF-8")
            # DuckDB reads an empty field, quoted or not, as NULL.
            df = _numbered(df.selectExpr(*[f"nullif(c{i}, '') AS `{name.replace('`', '``')}`"
                                           for i, name in enumerate(columns)]), self.cached)
            read = df.count()
        except Exception as exc:  # noqa: BLE001
            raise self._read_error(uri, "CSV", exc) from None
        if read != self._csv_rows:
            raise InputError(f"{uri}: CSV read inconsistently ({read} rows, expected {self._csv_rows}); check its quoting",
                             path=uri)
        return df

    def _lines(self, uri: str) -> Any:
        """The file's lines as raw bytes, numbered from 0 (the header line)."""
        try:
            df = _reader(self.session).format("text").load(uri).selectExpr("CAST(value AS BINARY) AS line")
            numbered = _numbered(df, self.cached)
            numbered.schema  # noqa: B018
        except Exception as exc:  # noqa: BLE001
            raise self._read_error(uri, "CSV", exc) from None
        return numbered

    def _check_csv_grammar(self, uri: str, lines: Any, delimiter: str, columns: list[str]) -> bool:
        """The scan's checks (quoting, rows of the header's width, UTF-8) over the records, on Spark;
        raises its messages. True when a quoted value spans lines (the read must be multi-line)."""
        from pyspark.sql import functions as F  # noqa: N812
        from pyspark.sql.window import Window

        text = lines.selectExpr(ROWID, "line", "CAST(line AS STRING) AS t")
        quotes = "(length(t) - length(replace(t, '\"', '')))"
        odd = text.filter(f"{quotes} % 2 = 1").limit(1).count() > 0
        if not odd:
            records = text.selectExpr(f"{ROWID} + 1 AS last_line", "line", "t", "TRUE AS closed")
        else:
            # A record ends on a line where the quotes seen so far are even.
            ordered = Window.orderBy(ROWID).rowsBetween(Window.unboundedPreceding, Window.currentRow)
            before = Window.orderBy(ROWID).rowsBetween(Window.unboundedPreceding, -1)
            marked = (text.withColumn("ends", (F.sum(F.expr(f"{quotes} % 2")).over(ordered) % 2 == 0).cast("int"))
                      .withColumn("rec", F.coalesce(F.sum("ends").over(before), F.lit(0))))
            records = (marked.groupBy("rec").agg(
                F.max(ROWID).alias("last"), F.max("ends").alias("ended"),
                F.expr(f"array_join(transform(array_sort(collect_list(struct({ROWID}, t))), x -> x.t), '\\n')").alias("t"))
                .selectExpr("last + 1 AS last_line", "CAST(t AS BINARY) AS line", "t", "ended = 1 AS closed"))
        d, field = (part.replace("\\", "\\\\") for part in field_pattern(delimiter))   # in a SQL literal
        outside = "regexp_replace(t, '\"(?:[^\"]|\"\")*\"', '')"
        body = (records.filter("last_line > 1 AND t <> ''")
                .selectExpr("last_line", "line", "t", "closed",
                            f"1 + length({outside}) - length(replace({outside}, {_literal(delimiter)}, '')) AS fields",
                            f"t RLIKE '^{field}(?:{d}{field})*$' AS wellformed", "is_valid_utf8(t) AS utf8")
                .cache())
        self.cached.append(body)
        width = len(columns)
        total, malformed_at, ragged, bad_text = body.selectExpr(
            "count(*)", "min(CASE WHEN NOT closed OR NOT wellformed THEN last_line END)",
            f"count(*) FILTER (WHERE closed AND wellformed AND fields <> {width})",
            f"count(*) FILTER (WHERE closed AND wellformed AND fields = {width} AND NOT utf8)").collect()[0]
        self._csv_rows = int(total)

        def row_of(line: int) -> int:
            return int(body.filter(f"last_line <= {line}").count())

        if malformed_at is not None:
            bad = body.filter(f"last_line = {malformed_at}").select("line", "closed").collect()[0]
            record = bytes(bad[0]).decode("utf-8", "surrogateescape")
            message: Any = "unexpected end of data" if not bad[1] else None
            if message is None:
                try:
                    list(csv.reader(io.StringIO(record + "\n", newline=""), delimiter=delimiter, quotechar='"',
                                    doublequote=True, strict=True))
                    message = "check its quoting"
                except csv.Error as exc:
                    message = exc
            line = int(malformed_at)
            raise malformed_csv(uri, line, row_of(int(malformed_at)) if bad[1] else int(total),
                                message if isinstance(message, csv.Error) else csv.Error(message))
        if ragged:
            shown = body.filter(f"closed AND wellformed AND fields <> {width}").orderBy("last_line") \
                .select("last_line", "fields").limit(MAX_SHOWN).collect()
            raise ragged_csv(uri, columns, int(ragged),
                             [f"row {row_of(int(r[0]))} (line {int(r[0])}) has {int(r[1])} fields" for r in shown])
        if bad_text:
            self._check_utf8(uri, body, columns, delimiter, row_of)
        return odd

    def _check_utf8(self, uri: str, body: Any, columns: list[str], delimiter: str, row_of: Any) -> None:
        """The scan's message for the first column with text that is not UTF-8 (its bad rows only reach the driver)."""
        rows = body.filter(f"fields = {len(columns)} AND NOT utf8").orderBy("last_line") \
            .select("last_line", "line").limit(1000).collect()
        problems: dict[int, list[str]] = {}
        for last_line, line in rows:
            record = bytes(line).decode("utf-8", "surrogateescape")
            values = next(csv.reader(io.StringIO(record, newline=""), delimiter=delimiter, quotechar='"'), [])
            for i, value in enumerate(values):
                if not_utf8([value]):
                    problems.setdefault(i, []).append(
                        f"row {row_of(int(last_line))}: {show_value(value.encode('utf-8', 'surrogateescape'))}")
        for i, found in problems.items():
            raise not_utf8_csv(uri, columns[i], len(found), found[:MAX_SHOWN])

    # --- the reader's Stage -----------------------------------------------------------------

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.session.sql(spark_sql(sql)).collect()]

    def columns(self) -> list[tuple[str, str]]:
        return [(f.name, duckdb_type(f.dataType)) for f in self.df.schema.fields if f.name != ROWID]

    def fields(self, column: str) -> list[tuple[str, str]]:
        name = sqlglot.parse_one(column, read="duckdb").name
        struct = next(f.dataType for f in self.df.schema.fields if f.name == name)
        return [(f.name, duckdb_type(f.dataType)) for f in struct.fields]

    def json_array(self, text: str) -> tuple[str, str]:
        # Spark's JSON functions: NULL when not a JSON array; its elements as text.
        return f"json_array_length({text}) IS NOT NULL", f"fw_from_json_strings({text})"

    def create_merged(self, sql: str | None) -> None:
        self.session.sql(f"DROP VIEW IF EXISTS {self.merged}")
        if sql is not None:
            self.session.sql(f"CACHE TABLE {self.merged} AS {spark_sql(sql)}")

    def insert(self, table: str, columns: str, row: str, select: str, where: str, run_id: str) -> None:
        rows = self.session.sql(spark_sql(
            f"SELECT {row} AS source_row, {select} FROM {self.table} WHERE {where} ORDER BY {self.rowid}")).toArrow()
        name = f"fw_spark_rows_{uuid.uuid4().hex[:12]}"
        self.con.register(name, rows)
        try:
            self.con.execute(f"INSERT INTO {table} (run_id, source_row, {columns}) SELECT ?, * FROM {name}", [run_id])
        finally:
            self.con.unregister(name)

    def drop(self) -> None:
        for statement in (f"UNCACHE TABLE IF EXISTS {self.merged}", f"DROP VIEW IF EXISTS {self.merged}",
                          f"DROP VIEW IF EXISTS {self.table}"):
            try:
                self.session.sql(statement)
            except Exception:  # noqa: BLE001,S110 - cleaning up after an error already raised
                pass
        for df in self.cached:
            df.unpersist()


# --- DuckDB SQL on Spark ------------------------------------------------------------------------

# The text DuckDB casts to a DOUBLE (digits may be grouped by single underscores).
_NUMBER = r"(?i)^[+-]?(inf|infinity|nan|([0-9](_?[0-9])*(\.([0-9](_?[0-9])*)?)?|\.[0-9](_?[0-9])*)(e[+-]?[0-9]+)?)$"


def spark_sql(sql: str) -> str:
    """The reader's DuckDB SQL as Spark SQL: to_spark, after replacing what it translates into
    something else than DuckDB computes (a double's trunc, a full regex match, a JSON list of text)."""
    tree = sqlglot.parse_one(sql, read="duckdb")

    def rewrite(node: exp.Expression) -> exp.Expression:
        name = node.name.upper() if isinstance(node, exp.Anonymous) else ""
        if isinstance(node, exp.Trunc) or name == "TRUNC" or type(node).__name__ == "Trunc":
            value = node.this if not isinstance(node, exp.Anonymous) else node.expressions[0]
            # x - (x % 1) is trunc(x) for a finite double, without Spark's cast to a BIGINT
            return exp.paren(exp.Sub(this=value.copy(), expression=exp.paren(exp.Mod(this=value.copy(),
                                                                                       expression=exp.Literal.number(1)))))
        if isinstance(node, exp.TryCast) and node.to.is_type(exp.DataType.Type.DOUBLE) and not node.meta.get("fw"):
            # Java's parser, behind Spark's cast, also takes "1.5d" and "0x1p3" and refuses "1_0.5" and
            # "+nan"; DuckDB the other way round. Only DuckDB's number syntax is cast, in Java's spelling.
            value = node.this
            plain = exp.func("replace", exp.func("regexp_replace", value.copy(), exp.Literal.string("(?i)^[+]nan$"),
                                                 exp.Literal.string("nan")),
                             exp.Literal.string("_"), exp.Literal.string(""))
            cast_ = exp.TryCast(this=plain, to=exp.DataType.build("DOUBLE"))
            cast_.meta["fw"] = True
            return exp.Case(ifs=[exp.If(this=exp.RegexpLike(this=value.copy(), expression=exp.Literal.string(_NUMBER)),
                                        true=cast_)])
        if name == "REGEXP_FULL_MATCH" or type(node).__name__ == "RegexpFullMatch":
            value, pattern = (node.expressions if isinstance(node, exp.Anonymous) else (node.this, node.expression))
            return exp.RegexpLike(this=value.copy(), expression=exp.Literal.string(f"^(?:{pattern.name})$"))
        return node

    duck = _order_by_aggregate(tree.transform(rewrite)).sql(dialect="duckdb")
    out = to_spark(duck)
    return _json_strings(out)


def _order_by_aggregate(tree: exp.Expression) -> exp.Expression:
    """A query with a window function and ORDER BY an aggregate it does not select (Spark cannot
    resolve that aggregate above the window) as the query selecting it too, ordered outside."""
    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    if order is None or not any(o.find(exp.AggFunc) for o in order.expressions) or not tree.find(exp.Window):
        return tree
    inner = cast(exp.Select, tree.copy())
    inner.set("order", None)
    inner.set("limit", None)
    keys = []
    for i, ordered in enumerate(order.expressions):
        inner.select(exp.alias_(ordered.this.copy(), f"fw_order{i}"), copy=False)
        keys.append(exp.Ordered(this=exp.column(f"fw_order{i}"), desc=ordered.args.get("desc")))
    outer = exp.select(*[exp.column(e.alias_or_name) for e in tree.expressions]).from_(inner.subquery("fw_q"))
    outer.set("order", exp.Order(expressions=keys))
    if tree.args.get("limit") is not None:
        outer.set("limit", tree.args["limit"].copy())
    return outer


def _json_strings(sql: str) -> str:
    """fw_from_json_strings(x) as Spark's from_json of a list of text."""
    out, key = [], "FW_FROM_JSON_STRINGS("
    upper = sql.upper()
    pos = 0
    while True:
        at = upper.find(key, pos)
        if at < 0:
            out.append(sql[pos:])
            return "".join(out)
        depth, end = 1, at + len(key)
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        out.append(sql[pos:at] + "FROM_JSON(" + sql[at + len(key):end - 1] + ", 'array<string>')")
        pos = end


def duckdb_type(dtype: Any) -> str:
    """A Spark type's DuckDB name (what DESCRIBE says of the same column read by DuckDB)."""
    from pyspark.sql import types as T  # noqa: N812

    simple = {T.StringType: "VARCHAR", T.IntegerType: "INTEGER", T.LongType: "BIGINT", T.ShortType: "SMALLINT",
              T.ByteType: "TINYINT", T.FloatType: "FLOAT", T.DoubleType: "DOUBLE", T.BooleanType: "BOOLEAN",
              T.DateType: "DATE", T.TimestampType: "TIMESTAMP WITH TIME ZONE", T.TimestampNTZType: "TIMESTAMP",
              T.BinaryType: "BLOB", T.NullType: '"NULL"'}
    for kind, name in simple.items():
        if isinstance(dtype, kind):
            return name
    if isinstance(dtype, T.DecimalType):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if isinstance(dtype, T.ArrayType):
        return f"{duckdb_type(dtype.elementType)}[]"
    if isinstance(dtype, T.MapType):
        return f"MAP({duckdb_type(dtype.keyType)}, {duckdb_type(dtype.valueType)})"
    if isinstance(dtype, T.StructType):
        return "STRUCT(" + ", ".join(f'"{f.name}" {duckdb_type(f.dataType)}' for f in dtype.fields) + ")"
    return str(dtype.simpleString()).upper()
