"""Inputs that Spark reads but this machine cannot open as files: URIs and Spark catalog tables.

With the Spark engine, ``--metrics`` may name what only Spark can read: a URI with a scheme
(``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``, ``file://``...) of a metrics file or folder, or a
table of the Spark catalog as ``spark.table:NAME`` (a routing-candidates table). Such an input is
validated and read on Spark (``foxwarehouse.spark.ingest``); anything else is a local path, which
the DuckDB ingest reads whatever the engine. This module decides which, without importing pyspark
for a local path.
"""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from ..errors import InputError
from ..ingest.reader import IngestReport, fingerprint_files, ingest, locate_inputs

if TYPE_CHECKING:
    from ..warehouse import Warehouse
    from .session import SparkSettings

TABLE_PREFIX = "spark.table:"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_spark_input(metrics: str | os.PathLike[str]) -> bool:
    """True when `metrics` names something only Spark reads (a URI or a catalog table)."""
    text = os.fspath(metrics)
    return text.startswith(TABLE_PREFIX) or bool(_SCHEME.match(text))


def ingest_input(wh: Warehouse, metrics: str | os.PathLike[str], engine: str,
                 settings: SparkSettings) -> IngestReport:
    """Ingest `metrics`: on Spark for a URI or table with the Spark engine, else by DuckDB."""
    if not _on_spark(metrics, engine):
        return ingest(wh, metrics)
    from .ingest import spark_ingest
    from .session import get_session

    return spark_ingest(wh, get_session(settings.with_environment()), os.fspath(metrics))


def input_fingerprint(metrics: str | os.PathLike[str], engine: str, settings: SparkSettings) -> str:
    """The input fingerprint `ingest_input` would record for `metrics`, without loading it."""
    if not _on_spark(metrics, engine):
        _, files = locate_inputs(metrics)
        try:
            return fingerprint_files(files)
        except OSError as exc:
            raise InputError(f"{metrics}: cannot be read: {exc}", path=os.fspath(metrics)) from None
    from .ingest import spark_fingerprint
    from .session import get_session

    return spark_fingerprint(get_session(settings.with_environment()), os.fspath(metrics))


def _on_spark(metrics: str | os.PathLike[str], engine: str) -> bool:
    """True when Spark reads `metrics`; InputError for a URI or table on another engine (DuckDB would
    only say the path is not found), unless a local file or folder has that very name."""
    if not is_spark_input(metrics):
        return False
    if engine == "spark":
        return True
    if os.path.exists(metrics):
        return False
    raise InputError(f"{os.fspath(metrics)}: only the Spark engine reads a URI or {TABLE_PREFIX}NAME; "
                     f"add --engine spark (or engine: spark in foxwarehouse.yml)", path=os.fspath(metrics))
