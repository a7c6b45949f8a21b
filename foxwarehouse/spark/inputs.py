"""Inputs that Spark reads but this machine cannot open as files: URIs and Spark catalog tables.

With the Spark engine, ``--metrics`` may name what only Spark can read: a URI with a scheme
(``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``, ``file://``...) of a metrics file or folder, or a
table of the Spark catalog as ``spark.table:NAME`` (a routing-candidates table). Spark fetches the
files' bytes unchanged (a table's rows as parquet) into a temporary folder under the same file
names, and the normal ingest reads that folder: the same validation and the same messages as for
local files, with the temporary folder's name in a message replaced by what ``--metrics`` said.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..atomic import atomic_stream
from ..errors import FoxError, InputError
from .session import SparkSettings, get_session

TABLE_PREFIX = "spark.table:"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
TABLE_FILE = "routing_candidates.parquet"  # a catalog table is read as the routing-candidates shape


def is_spark_input(metrics: str) -> bool:
    """True when `metrics` names something only Spark reads (a URI or a catalog table)."""
    return metrics.startswith(TABLE_PREFIX) or bool(_SCHEME.match(metrics))


@contextlib.contextmanager
def local_inputs(metrics: str | Path, engine: str, settings: SparkSettings) -> Iterator[str | Path]:
    """`metrics` itself for a local path (or another engine); else a local copy Spark fetched,
    removed afterwards. Errors about the copy name `metrics` instead of the temporary folder."""
    text = str(metrics)
    if engine != "spark" or not is_spark_input(text):
        yield metrics
        return
    folder = Path(tempfile.mkdtemp(prefix="foxwarehouse-spark-inputs-"))
    try:
        local, shown = _fetch(text, folder, get_session(settings.with_environment()))
        try:
            yield local
        except FoxError as exc:
            exc.message = exc.message.replace(str(folder), shown)
            if exc.path is not None:
                exc.path = exc.path.replace(str(folder), shown)
            raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fetch(metrics: str, folder: Path, session: object) -> tuple[Path, str]:
    """Copy what `metrics` names into `folder`: (the local path to ingest, the text standing for
    `folder` in messages)."""
    from .models import spark_error_line

    if metrics.startswith(TABLE_PREFIX):
        table = metrics[len(TABLE_PREFIX):].strip()
        if not table:
            raise InputError(f"{metrics}: name a table of the Spark catalog after {TABLE_PREFIX}", path=metrics)
        try:
            rows = session.table(table).toArrow()  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - pyspark's errors share no base class across versions
            raise InputError(f"{metrics}: Spark cannot read the table: {spark_error_line(exc)}",
                             path=metrics) from None
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        pq.write_table(rows, folder / TABLE_FILE)
        return folder / TABLE_FILE, metrics
    trimmed = metrics.rstrip("/")
    try:
        found = (session.read.format("binaryFile")  # type: ignore[attr-defined]
                 .option("recursiveFileLookup", "false").load(trimmed)
                 .select("path", "content").collect())
    except Exception as exc:  # noqa: BLE001
        message = spark_error_line(exc)
        if "PATH_NOT_FOUND" in message or "does not exist" in message.lower():
            raise InputError(f"metrics path not found: {metrics}", path=metrics) from None
        raise InputError(f"{metrics}: Spark cannot read it: {message}", path=metrics) from None
    name = PurePosixPath(trimmed.split("://", 1)[1]).name
    if len(found) == 1 and _same_file(str(found[0]["path"]), trimmed):   # a file, not a folder
        _write(folder / name, bytes(found[0]["content"]))
        return folder / name, trimmed.rsplit("/", 1)[0]
    for row in found:
        _write(folder / PurePosixPath(str(row["path"])).name, bytes(row["content"]))
    return folder, trimmed


def _write(path: Path, data: bytes) -> None:
    with atomic_stream(path, binary=True) as fh:
        fh.write(data)


def _same_file(found: str, asked: str) -> bool:
    """Spark spells a path its own way (file:/x for file:///x): compare what follows the scheme."""
    def tail(uri: str) -> str:
        return re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*:/*", "/", uri)
    return tail(found) == tail(asked)
