"""The warehouse: one DuckDB file, its versioned schema, runs, transactions and locking.

Every raw input table and every model output carries a ``run_id`` column, so earlier runs stay
queryable. Write connections are short: one command opens, works in transactions, and closes.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from .atomic import unusable_path
from .engine import DuckDBEngine, one_row
from .errors import QueryError, RunNotFound, WarehouseBusy, WarehouseError, duckdb_detail
from .faults import checkpoint
from .file_errors import DAMAGED, is_corrupt, storage_problem, warehouse_error

# 2: master_plan is a view over training_jobs (version 1 stored a copy of it per run).
# 3: model versions per run (run_models), the project's commit and dirty flag, the models
#    fingerprint and the test-gate outcome in runs, and test_passes.
# 4: the stage and model times of a run (runs.timings).
SCHEMA_VERSION = 4

SOURCE_TABLES: dict[str, str] = {
    "source_routing_candidates": """
        run_id VARCHAR NOT NULL, source_row BIGINT, target VARCHAR, symbol VARCHAR, mode VARCHAR,
        score DOUBLE, score_ci_low DOUBLE, score_ci_high DOUBLE, stability VARCHAR, sample_size BIGINT,
        leakage_status VARCHAR, feature_set_id VARCHAR, metric_name VARCHAR,
        failed_model_families VARCHAR[], model_status VARCHAR, task_type VARCHAR,
        mean_overlap DOUBLE, std_overlap DOUBLE, mean_tau DOUBLE, std_tau DOUBLE, n_snapshots BIGINT""",
    "source_feature_selection": """
        run_id VARCHAR NOT NULL, source_row BIGINT, target VARCHAR, symbol VARCHAR, score DOUBLE,
        score_ci_low DOUBLE, score_ci_high DOUBLE, sample_size BIGINT, task_type VARCHAR,
        metric_name VARCHAR, feature_set_id VARCHAR, failed_model_families VARCHAR[], model_status VARCHAR""",
    "source_stability_snapshots": """
        run_id VARCHAR NOT NULL, source_row BIGINT, target VARCHAR, symbol VARCHAR, snapshot_id VARCHAR,
        overlap DOUBLE, tau DOUBLE""",
    "source_leakage": """
        run_id VARCHAR NOT NULL, source_row BIGINT, target VARCHAR, symbol VARCHAR,
        leakage_status VARCHAR, quarantine_confirmed BOOLEAN""",
}

# source('name') in a model -> the table holding it.
SOURCES = {
    "routing_candidates": "source_routing_candidates",
    "feature_selection": "source_feature_selection",
    "stability_snapshots": "source_stability_snapshots",
    "leakage": "source_leakage",
}

RUNS_DDL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    input_path VARCHAR,
    input_shape VARCHAR,
    input_fingerprint VARCHAR,
    ingest_report VARCHAR,
    config_hash VARCHAR,
    config VARCHAR,
    plan_fingerprint VARCHAR,
    git_commit VARCHAR,
    built_at TIMESTAMP,
    exported_at TIMESTAMP,
    export_dir VARCHAR,
    error VARCHAR,
    models_fingerprint VARCHAR,
    project_dir VARCHAR,
    project_commit VARCHAR,
    project_dirty BOOLEAN,
    tests VARCHAR,
    timings VARCHAR
)"""

# Columns `runs` gained after version 2 (added in place when an older warehouse is upgraded).
# git_commit holds the same commit as project_commit (the name the plan metadata keeps).
RUNS_V3_COLUMNS: dict[str, str] = {
    "models_fingerprint": "VARCHAR",   # model_versions.models_fingerprint over run_models
    "project_dir": "VARCHAR",          # the project root (the folder holding its sql/)
    "project_commit": "VARCHAR",       # git HEAD of the project's folder; null outside git
    "project_dirty": "BOOLEAN",        # uncommitted changes under sql/, macros/, config/, tests/
    "tests": "VARCHAR",                # the test gate: 'passed', 'cached', 'skipped' or 'none'
}
# Columns `runs` gained in version 4.
RUNS_V4_COLUMNS: dict[str, str] = {
    "timings": "VARCHAR",              # JSON: seconds per stage (ingest, build, export) and per model
}
# Each column added after version 2, with the version that added it.
_ADDED_IN = {**{c: 3 for c in RUNS_V3_COLUMNS}, **{c: 4 for c in RUNS_V4_COLUMNS}}

# DuckDB's file starts with three 4 KiB headers, then its blocks.
_FILE_HEADERS = 3 * 4096

# Every column of `runs`, in order (what a sound warehouse of this version has).
_RUNS_COLUMNS = re.findall(r"^ +(\w+) [A-Z]", RUNS_DDL, flags=re.MULTILINE)

# Per run, per model: the rendered SQL, its sqlglot-normalised form and that form's fingerprint.
RUN_MODELS_DDL = """
CREATE TABLE IF NOT EXISTS run_models (
    run_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    sql VARCHAR,
    normalized_sql VARCHAR,
    fingerprint VARCHAR,
    refs VARCHAR[]
)"""

# Fingerprints of model + test versions whose SQL unit tests passed (the test gate skips them).
TEST_PASSES_DDL = """
CREATE TABLE IF NOT EXISTS test_passes (
    fingerprint VARCHAR NOT NULL,
    passed_at TIMESTAMP
)"""

_LOCK_RE = re.compile(r"PID (\d+)")

# The run the trainer reads: the one whose plan an export published last. An export marks its run
# 'exported' with exported_at = now only after publishing, and a re-export of an older run (a
# rollback) refreshes both, so the greatest exported_at is what sits in the output folder.
PUBLISHED = "published"
PUBLISHED_RUN_QUERY = ("SELECT run_id FROM runs WHERE status = 'exported' AND exported_at IS NOT NULL "
                       "ORDER BY exported_at DESC, seq DESC LIMIT 1")
NOTHING_PUBLISHED = "no plan has been published yet (run 'foxwarehouse export')"


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_run_id(now: datetime | None = None) -> str:
    """Sortable, unique run id: UTC timestamp with microseconds plus 6 random hex digits."""
    now = now or utc_now()
    return now.strftime("%Y%m%dT%H%M%S%f") + "-" + secrets.token_hex(3)


def memory_limit() -> str:
    return os.environ.get("FOXWAREHOUSE_MEMORY_LIMIT", "1GB")


class Warehouse:
    """An open warehouse file. Use as a context manager; `transaction()` wraps BEGIN/COMMIT."""

    def __init__(self, path: str | os.PathLike[str], read_only: bool = False, wait: float = 0.0):
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise WarehouseError(f"warehouse not found: {self.path} (run 'foxwarehouse plan' first)")
        self.con = self._connect(wait)
        self.engine = DuckDBEngine(self.con)
        checkpoint("warehouse:opened")
        try:
            self.con.execute(f"SET memory_limit = '{_safe_setting(memory_limit())}'")
            self.con.execute("SET preserve_insertion_order = true")
            self.con.execute("SET enable_progress_bar = false")
            if not read_only:
                self._ensure_schema()
            else:
                self._check_schema_version()
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):
                self.con.close()
            if isinstance(exc, duckdb.Error) and not isinstance(exc, duckdb.InterruptException):
                raise warehouse_error(self.path, exc) from None
            raise

    def _connect(self, wait: float) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + max(wait, 0.0)
        if self.path.parent and not self.path.parent.exists() and not self.read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                problem = unusable_path(self.path, "file") or f"{exc.filename or self.path.parent}: {exc.strerror or exc}"
                raise WarehouseError(f"cannot make the folder of warehouse {self.path}: {problem}", path=self.path) from None
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=self.read_only)
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" in text.lower():
                    if time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                    pid = _LOCK_RE.search(text)
                    who = f" (PID {pid.group(1)})" if pid else ""
                    raise WarehouseBusy(
                        f"warehouse {self.path} is in use by another process{who}; "
                        f"retry later or pass --wait SECONDS"
                    ) from None
                raise _open_error(self.path, exc) from None
            except duckdb.Error as exc:
                raise _open_error(self.path, exc) from None

    def _check_not_truncated(self) -> None:
        """A file shorter than the blocks DuckDB's own header counts was cut short (a copy stopped
        early, a full disk): refused when it is opened, before a command reads a missing block (or
        writes a new run next to runs that can no longer be read)."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        # Only the used blocks must all be in the file (DuckDB itself cuts free blocks off its end),
        # so this catches every cut below them, not a cut through free space only.
        row = self.con.execute("SELECT block_size, used_blocks FROM pragma_database_size() "
                               "WHERE database_name = current_database()").fetchone()
        if row is not None and row[0] and size < _FILE_HEADERS + int(row[0]) * int(row[1]):
            raise WarehouseError(f"warehouse {self.path} {DAMAGED}: the file is {size:,} bytes, shorter than the "
                                 f"{int(row[1])} used blocks of {int(row[0]):,} bytes it records (was it truncated?)",
                                 path=self.path)

    def _check_schema_version(self) -> None:
        self._check_not_truncated()
        tables = {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
        if "foxwarehouse_meta" not in tables:
            if tables:
                raise WarehouseError(f"{self.path} is a DuckDB file but not a foxwarehouse warehouse")
            return
        version = self._stored_version()
        if version > SCHEMA_VERSION:
            raise WarehouseError(
                f"warehouse {self.path} has schema version {version}, newer than this foxwarehouse "
                f"understands ({SCHEMA_VERSION}); upgrade foxwarehouse"
            )
        self._check_runs_columns(version)
        self.schema_version = version

    def _stored_version(self) -> int:
        """foxwarehouse_meta's schema_version (0 when unset); a value that is not a whole number
        means the file was not written by foxwarehouse (or was edited), so it is refused."""
        row = self.con.execute("SELECT value FROM foxwarehouse_meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            return 0
        text = str(row[0]).strip() if row[0] is not None else ""
        if not re.fullmatch(r"[0-9]{1,9}", text):
            raise WarehouseError(f"warehouse {self.path} {DAMAGED}: foxwarehouse_meta.schema_version is "
                                 f"{str(row[0])[:40]!r}, not a whole number", path=self.path)
        return int(text)

    def _check_runs_columns(self, version: int) -> None:
        """The runs table, when there is one, has every column this version reads (older warehouses
        gain the version 3 columns when opened for writing), so a damaged or hand-edited table is
        refused here, naming the column, instead of failing later inside some command."""
        have = self.columns("runs")
        if not have:
            return
        needed = [c for c in _RUNS_COLUMNS if _ADDED_IN.get(c, 0) <= version]
        missing = [c for c in needed if c not in have]
        if missing:
            raise WarehouseError(f"warehouse {self.path} {DAMAGED}: table runs has no column "
                                 f"{', '.join(missing)}", path=self.path)

    def _ensure_schema(self) -> None:
        self._check_schema_version()
        with self.transaction():
            self.con.execute("CREATE TABLE IF NOT EXISTS foxwarehouse_meta (key VARCHAR, value VARCHAR)")
            row = self.con.execute("SELECT value FROM foxwarehouse_meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                self.con.execute("INSERT INTO foxwarehouse_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            elif self._stored_version() < SCHEMA_VERSION:
                self._migrate_stored_master_plan()
                self._migrate_runs_columns()
                self.con.execute("UPDATE foxwarehouse_meta SET value = ? WHERE key = 'schema_version'",
                                 [str(SCHEMA_VERSION)])
            self.con.execute(RUNS_DDL)
            self.con.execute(RUN_MODELS_DDL)
            self.con.execute(TEST_PASSES_DDL)
            for table, columns in SOURCE_TABLES.items():
                self.con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        self.schema_version = SCHEMA_VERSION

    def _migrate_stored_master_plan(self) -> None:
        """Version 1 -> 2: replace the stored master_plan copy by the view over training_jobs.

        The table is dropped only when training_jobs holds every one of its rows (same run, job and
        plan order), so no run's plan is lost; old runs read the same rows through the view.
        """
        kinds = dict(self.con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_catalog = current_database() AND table_name IN ('master_plan', 'training_jobs')").fetchall())
        if kinds.get("master_plan") != "BASE TABLE":
            return
        columns = [r[0] for r in self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_catalog = current_database() AND table_name = 'master_plan' ORDER BY ordinal_position").fetchall()]
        have = {r[0] for r in self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_catalog = current_database() AND table_name = 'training_jobs'").fetchall()}
        missing = [c for c in columns if c not in have]
        if kinds.get("training_jobs") != "BASE TABLE" or missing:
            raise WarehouseError(f"cannot upgrade {self.path}: training_jobs lacks master_plan's columns "
                                 f"{', '.join(missing) or '(no table)'}; open it with the foxwarehouse that wrote it")
        lost = self.con.execute(
            "SELECT run_id, count(*) FROM (SELECT run_id, job_id, plan_order FROM main.master_plan "
            "EXCEPT ALL SELECT run_id, job_id, plan_order FROM main.training_jobs) GROUP BY run_id "
            "ORDER BY run_id LIMIT 1").fetchone()
        if lost is not None:
            raise WarehouseError(f"cannot upgrade {self.path}: run {lost[0]} has {lost[1]} master_plan row(s) "
                                 f"that training_jobs lacks; open it with the foxwarehouse that wrote it")
        self.con.execute("DROP TABLE main.master_plan")
        select = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        self.con.execute(f"CREATE VIEW main.master_plan AS SELECT {select} FROM main.training_jobs")

    def _migrate_runs_columns(self) -> None:
        """Versions 2 -> 3 -> 4: the new columns of ``runs`` (null for older runs); only the small runs
        table is altered, so the upgrade costs the same whatever the number of candidates."""
        if "runs" not in self.tables():
            return
        have = self.columns("runs")
        for column, dtype in {**RUNS_V3_COLUMNS, **RUNS_V4_COLUMNS}.items():
            if column not in have:
                self.con.execute(f"ALTER TABLE runs ADD COLUMN {column} {dtype}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.engine.transaction() as con:
            yield con

    def close(self) -> None:
        checkpoint("warehouse:before-close")
        self.con.close()
        checkpoint("warehouse:after-close")

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, duckdb.Error) and not isinstance(exc, duckdb.InterruptException):
            # A DuckDB error no caller turned into a FoxError: on a sound warehouse that is a full
            # disk or a refused write; otherwise the file is damaged. One line naming the file.
            with contextlib.suppress(duckdb.Error):
                self.close()
            raise warehouse_error(self.path, exc) from None
        self.close()

    # --- runs -------------------------------------------------------------------------------

    def tables(self) -> set[str]:
        return {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}

    def columns(self, table: str) -> set[str]:
        """The column names of a table of the main schema (empty when there is no such table)."""
        return {r[0] for r in self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_catalog = current_database() AND table_name = ?", [table]).fetchall()}

    def run_models(self, run_id: str) -> dict[str, dict[str, Any]] | None:
        """{model: {sql, normalized_sql, fingerprint, refs}} of a run; None when the warehouse or the run
        has no model versions (runs built before schema version 3)."""
        if "run_models" not in self.tables():
            return None
        rows = self.con.execute(
            "SELECT model, sql, normalized_sql, fingerprint, refs FROM run_models WHERE run_id = ? ORDER BY model",
            [run_id]).fetchall()
        if not rows:
            return None
        return {m: {"sql": s, "normalized_sql": n, "fingerprint": f, "refs": list(r or [])}
                for m, s, n, f, r in rows}

    def record_models(self, run_id: str, versions: Any) -> None:
        """Store a run's model versions (``model_versions.ModelVersion`` values), replacing any."""
        self.con.execute("DELETE FROM run_models WHERE run_id = ?", [run_id])
        rows = [[run_id, v.name, v.sql, v.normalized_sql, v.fingerprint, list(v.refs)] for v in versions]
        if rows:
            self.con.executemany("INSERT INTO run_models (run_id, model, sql, normalized_sql, fingerprint, refs) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", rows)

    def next_seq(self) -> int:
        return int(one_row(self.con.execute("SELECT coalesce(max(seq), 0) + 1 FROM runs"))[0])

    def run(self, run_id: str) -> dict[str, Any]:
        cur = self.con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        row = cur.fetchone()
        if row is None:
            raise RunNotFound(f"unknown run {run_id!r}")
        return dict(zip([d[0] for d in cur.description], row))

    def resolve_run(self, ref: str | None, statuses: tuple[str, ...] = ("built", "exported")) -> str:
        """A run id from 'latest', 'latest~N', 'published', a full id or a unique id prefix.

        None means latest; an empty or blank reference is refused (a variable that expanded to
        nothing must not pick a run silently). N is checked against the number of runs before it
        reaches SQL, so no number is too large for it.
        """
        if ref is None:
            ref = "latest"
        if not ref.strip():
            raise RunNotFound(f"empty run reference {_shown(ref)}; give latest, latest~N, published, a run id or a "
                              "unique prefix of one (see 'foxwarehouse runs')")
        ref = ref.strip()
        if "runs" not in self.tables():
            if ref == PUBLISHED:
                raise RunNotFound(NOTHING_PUBLISHED)
            raise RunNotFound("the warehouse holds no runs yet")
        if ref == PUBLISHED:
            row = self.con.execute(PUBLISHED_RUN_QUERY).fetchone()
            if row is None:
                raise RunNotFound(NOTHING_PUBLISHED)
            return row[0]
        placeholders = ", ".join("?" for _ in statuses)
        match = re.fullmatch(r"latest(?:~(\d+))?", ref)
        if match:
            count = int(one_row(self.con.execute(
                f"SELECT count(*) FROM runs WHERE status IN ({placeholders})", list(statuses)))[0])
            # Bounded in Python first: an N past 64 bits would make DuckDB fail to bind the OFFSET
            # (and int() refuses strings of thousands of digits).
            digits = (match.group(1) or "0").lstrip("0") or "0"
            offset = int(digits) if len(digits) <= 18 else None
            if offset is None or offset >= count:
                kinds = "/".join(statuses)
                raise RunNotFound(f"run {_shown(ref)} does not exist (the warehouse has only {count} {kinds} "
                                  f"run{'s' if count != 1 else ''}; latest~0 is the newest)")
            row = self.con.execute(
                f"SELECT run_id FROM runs WHERE status IN ({placeholders}) ORDER BY seq DESC LIMIT 1 OFFSET ?",
                [*statuses, offset],
            ).fetchone()
            if row is None:  # a run changed status between the two reads
                raise RunNotFound(f"run {_shown(ref)} does not exist; see 'foxwarehouse runs'")
            return row[0]
        rows = self.con.execute(
            "SELECT run_id FROM runs WHERE run_id = ? OR starts_with(run_id, ?) ORDER BY seq", [ref, ref]
        ).fetchall()
        exact = [r[0] for r in rows if r[0] == ref]
        if exact:
            return exact[0]
        if len(rows) == 1:
            return rows[0][0]
        if not rows:
            raise RunNotFound(f"unknown run {_shown(ref)}; see 'foxwarehouse runs'")
        raise RunNotFound(f"run prefix {_shown(ref)} is ambiguous: {', '.join(r[0] for r in rows[:5])}")

    def run_config(self, run_id: str) -> dict[str, Any]:
        """The validated config a run was built with, read back from runs.config (canonical JSON)."""
        row = self.con.execute("SELECT config FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None or not row[0]:
            raise QueryError(f"run {run_id} has no stored config (it was never built)")
        return json.loads(row[0])

    def set_run(self, run_id: str, **fields: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.con.execute(f"UPDATE runs SET {assignments} WHERE run_id = ?", [*fields.values(), run_id])


def _shown(ref: str, limit: int = 80) -> str:
    """A run reference as quoted in a message: repr'd, at most `limit` characters of it."""
    return repr(ref) if len(ref) <= limit else repr(ref[:limit]) + f"... ({len(ref)} characters)"


def _open_error(path: Path, exc: duckdb.Error) -> WarehouseError:
    """Why DuckDB could not open `path`, as one line naming it (the lock is handled by the caller)."""
    text = str(exc)
    detail = duckdb_detail(exc, kind=False)
    if path.is_dir():
        return WarehouseError(f"warehouse {path} is a folder, not a warehouse file; give a file name with --db",
                              path=path)
    problem = unusable_path(path) if not path.exists() else None
    if problem is not None:
        return WarehouseError(f"cannot open warehouse {path}: {problem}", path=path)
    if storage_problem(exc) is not None:
        return WarehouseError(warehouse_error(path, exc).message, path=path)
    if is_corrupt(exc) or "not a valid DuckDB" in text or (path.is_file() and "Could not read" in text):
        return WarehouseError(f"warehouse {path} {DAMAGED}: {detail}", path=path)
    return WarehouseError(f"cannot open warehouse {path}: {detail}", path=path)


def _safe_setting(value: str) -> str:
    if not re.fullmatch(r"[0-9.]+\s*[A-Za-z]*B?|[0-9.]+%", value.strip()):
        raise WarehouseError(f"FOXWAREHOUSE_MEMORY_LIMIT {value!r} is not a size like 1GB")
    return value.strip()
