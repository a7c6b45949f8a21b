"""Plan diffs across runs: resolve the two sides, run the SQL diff macros, shape the result.

A side is a run of the warehouse (an id, a unique id prefix, ``latest``, ``latest~N`` or ``published``) or a
``master_training_plan.json`` file (or an export / training_plan folder holding one), loaded into a
TEMP table with the columns of ``training_jobs``. The diff itself is SQL: the table macros of
``sql/analysis/*.sql`` (``plan_job_diff``, ``plan_decision_diff``, ``route_transitions`` ...),
installed as TEMP macros on a read-only connection; analysts can call the same macros. Python only
resolves the sides, compares the two configs key by key (dotted paths) and frames the rows into the
documented result (``docs/DIFF.md``); ``diff_format`` renders it as text, JSON or Markdown.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..config import flatten
from ..engine import one_row
from ..errors import FoxError, ModelError, ProjectError, QueryError, RunNotFound, WarehouseError, duckdb_detail
from ..model_versions import changed_models, models_fingerprint, sql_change
from ..project import bundled_dir
from ..warehouse import Warehouse, _safe_setting, memory_limit

FORMAT_VERSION = 2   # 2: the models section and the sides' models_fingerprint
JOB_COLUMNS = ("route", "training_type", "model_families", "priority", "estimated_samples", "target", "symbol")
DECISION_COLUMNS = ("route", "cs_state", "local_state", "reason_codes")
INPUT_COLUMNS = ("score", "stability", "sample_size", "leakage_status")
PLAN_STATUSES = ("built", "exported")
SQL_DIFF_LINES = 80   # lines of normalised-SQL diff shown per changed model

_JOBS_TYPE = (
    "STRUCT(job_id VARCHAR, target VARCHAR, symbol VARCHAR, route VARCHAR, training_type VARCHAR, "
    "model_families VARCHAR[], priority INTEGER, estimated_samples BIGINT, reason VARCHAR, metadata JSON)[]"
)
_REQUIRED_JOB_FIELDS = ("job_id", "target", "route", "training_type", "model_families", "priority")
_GLOB_CHARS = re.compile(r"[*?\[\]{}]")


class PlanFileError(FoxError):
    """A diff side given as a file cannot be read or is not a training plan."""


@dataclass
class Side:
    """One side of a diff: where its jobs, decisions and config come from."""

    name: str                       # "a" or "b"
    ref: str                        # as given on the command line
    kind: str = "run"               # "run" or "file"
    jobs_relation: str = "training_jobs"
    jobs_key: str = ""              # the run_id value of this side's rows in jobs_relation
    run_id: str | None = None       # the run (for a file: from metadata.run_id)
    decisions_run: str | None = None
    path: str | None = None
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    models: dict[str, dict[str, Any]] | None = None   # run_models of its run: {model: {fingerprint, ...}}

    def describe(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "kind": self.kind,
            "run_id": self.run_id,
            "path": self.path,
            "config_hash": self.metadata.get("config_hash"),
            "input_fingerprint": self.metadata.get("input_fingerprint"),
            "plan_fingerprint": self.metadata.get("plan_fingerprint"),
            "models_fingerprint": self.metadata.get("models_fingerprint"),
            "decisions_from_run": self.decisions_run,
            "note": self.note,
        }


@dataclass
class PlanDiff:
    """The result of `diff()`: `data` is the documented JSON document (docs/DIFF.md)."""

    data: dict[str, Any]

    @property
    def identical(self) -> bool:
        return bool(self.data["identical"])

    @property
    def warnings(self) -> list[str]:
        return list(self.data["warnings"])

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.data, indent=indent, sort_keys=True, ensure_ascii=False, allow_nan=False)


# --- the macros -----------------------------------------------------------------------------

def analysis_dir() -> Path:
    return bundled_dir("sql") / "analysis"


def install_macros(con: duckdb.DuckDBPyConnection, temporary: bool = True,
                   files: tuple[str, ...] | None = None) -> list[str]:
    """Create the analysis table macros of sql/analysis/*.sql on `con` (TEMP on a read-only one).

    `files` picks files by stem (default: all). Returns the macro names. Persisting them
    (temporary=False) needs a write connection; macros over decisions need the warehouse tables.
    """
    names: list[str] = []
    paths = sorted(analysis_dir().glob("*.sql"))
    if files is not None:
        paths = [p for p in paths if p.stem in files]
    if not paths:
        raise ProjectError(f"the diff SQL files are missing from {analysis_dir()}", path=analysis_dir())
    for path in paths:
        sql = path.read_text(encoding="utf-8")
        names += re.findall(r"(?im)^CREATE OR REPLACE MACRO\s+(\w+)", sql)
        if temporary:
            sql = re.sub(r"(?im)^CREATE OR REPLACE MACRO\b", "CREATE OR REPLACE TEMP MACRO", sql)
        try:
            con.execute(sql)
        except duckdb.Error as exc:
            raise ModelError(f"{path}: {duckdb_detail(exc)}", path=path) from None
    return names


# --- sides ----------------------------------------------------------------------------------

def is_path_ref(ref: str) -> bool:
    """A side given as a path (else a run reference): an existing path, *.json, or a path separator."""
    if re.fullmatch(r"latest(~\d+)?|published", ref.strip()):
        return False
    return (os.path.exists(ref) or ref.lower().endswith(".json") or "/" in ref or os.sep in ref
            or bool(os.altsep and os.altsep in ref))


def _resolve_run_side(side: Side, wh: Warehouse) -> None:
    run_id = wh.resolve_run(side.ref)
    run = wh.run(run_id)
    if run["status"] not in PLAN_STATUSES:
        raise RunNotFound(f"run {run_id} is {run['status']}: it has no plan to compare (see 'foxwarehouse runs')")
    if "training_jobs" not in wh.tables():
        raise RunNotFound(f"run {run_id} has no training_jobs rows; rebuild it")
    side.run_id = side.jobs_key = side.decisions_run = run_id
    side.config = json.loads(run["config"]) if run["config"] else None
    side.metadata = {k: run[k] for k in ("config_hash", "input_fingerprint", "plan_fingerprint")}
    side.metadata["models_fingerprint"] = run.get("models_fingerprint")
    side.models = wh.run_models(run_id)


def _load_file_side(side: Side, con: duckdb.DuckDBPyConnection, wh: Warehouse | None) -> None:
    from ..plan_schema import check_plan

    # The plan's shape is checked first, by the schema validate and load_plan use: DuckDB's reader
    # would take a plan whose metadata is a string, and recurses on deeply nested values. Consistency
    # across jobs is not required: a repeated job_id gives a warning below.
    checked = check_plan(side.ref, max_errors=3, consistency=False)
    if checked.stage == "locate":
        raise PlanFileError(f"cannot read plan file {side.ref}: {checked.one_line()}", path=side.ref)
    assert checked.file is not None
    path = checked.file.absolute()
    side.path = str(path)
    if checked.stage == "read":
        raise PlanFileError(f"cannot read plan file {side.path}: {checked.one_line()}", path=side.path)
    if not checked.ok:
        raise PlanFileError(f"{side.path} is not a training plan: {checked.one_line()} "
                            f"(see 'foxwarehouse validate FILE')", path=side.path)
    doc, checked.document = checked.document, None
    table = f"fw_diff_file_{side.name}"
    side.jobs_relation, side.jobs_key = f"temp.main.{table}", f"file:{side.name}"
    raw = f"{table}_raw"
    try:
        if _GLOB_CHARS.search(str(path)):
            _read_plan_python(con, doc, raw)
        else:
            del doc  # read again by DuckDB below: do not hold both copies in memory
            # The whole plan is one JSON object: the reader's buffer must hold the file.
            size = min(max(path.stat().st_size + 1024, 16 << 20), (1 << 31) - 1)
            _memory_for_file(con, size)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT metadata, jobs FROM read_json(?, format='auto', "
                f"records=true, maximum_object_size={size}, columns={{'metadata': 'JSON', 'jobs': '{_JOBS_TYPE}'}})",
                [str(path)],
            )
        n_docs, meta_text, has_jobs = one_row(con.execute(
            f"SELECT count(*), any_value(metadata), bool_and(jobs IS NOT NULL) FROM {raw}"))
        if n_docs != 1 or not has_jobs:
            raise PlanFileError(f"{side.path} is not a training plan: expected one JSON object with a 'jobs' list")
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT ? AS run_id, CAST(ord AS BIGINT) AS plan_order, j.job_id, j.target, j.symbol, j.route,
                       j.training_type, j.model_families, j.priority, j.estimated_samples, j.reason, j.metadata
                FROM (SELECT unnest(jobs) AS j, generate_subscripts(jobs, 1) AS ord FROM {raw})""",
            [side.jobs_key],
        )
        missing = " OR ".join(f"{c} IS NULL" for c in _REQUIRED_JOB_FIELDS)
        bad = one_row(con.execute(f"SELECT min(plan_order) FROM {table} WHERE {missing}"))[0]
        con.execute(f"DROP TABLE {raw}")
    except duckdb.Error as exc:
        raise PlanFileError(f"cannot read plan file {side.path}: {duckdb_detail(exc, kind=False)}", path=side.path) from None
    if bad is not None:
        raise PlanFileError(
            f"{side.path} is not a training plan: jobs[{bad - 1}] lacks one of {', '.join(_REQUIRED_JOB_FIELDS)}")
    try:
        meta = json.loads(meta_text) if meta_text else {}
    except ValueError:
        meta = {}
    side.metadata = meta if isinstance(meta, dict) else {}
    side.run_id = side.metadata.get("run_id") if isinstance(side.metadata.get("run_id"), str) else None
    if side.run_id and wh is not None and "runs" in wh.tables():
        row = wh.con.execute("SELECT status, config, config_hash, plan_fingerprint FROM runs WHERE run_id = ?",
                             [side.run_id]).fetchone()
        if row and row[0] in PLAN_STATUSES and row[2] == side.metadata.get("config_hash"):
            side.decisions_run = side.run_id
            side.config = json.loads(row[1]) if row[1] else None
            side.note = f"decisions and config from run {side.run_id} (named in the file's metadata)"
            if row[3] != side.metadata.get("plan_fingerprint"):
                side.note += "; the file's plan_fingerprint differs from the run's (edited file?)"
            models = wh.run_models(side.run_id)
            if models is not None and side.metadata.get("models_fingerprint") in (None, _models_fp(models)):
                side.models = models
    if side.decisions_run is None:
        side.note = "a plan file: only its jobs are available (its run is not in this warehouse)"


def _memory_for_file(con: duckdb.DuckDBPyConnection, size: int) -> None:
    """Reading one big JSON object takes about 5x its size: unless the user set
    FOXWAREHOUSE_MEMORY_LIMIT, let this short-lived read-only connection use that much."""
    if "FOXWAREHOUSE_MEMORY_LIMIT" in os.environ:
        return
    number, _, unit = one_row(con.execute("SELECT current_setting('memory_limit')"))[0].partition(" ")
    factor = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "bytes": 1}.get(unit)
    try:
        have = float(number) * factor if factor else None
    except ValueError:
        have = None
    if have is not None and 5 * size > have:
        con.execute(f"SET memory_limit = '{5 * size >> 20}MiB'")


def _read_plan_python(con: duckdb.DuckDBPyConnection, doc: dict[str, Any], raw: str) -> None:
    """Fallback for file names DuckDB would read as a glob pattern: the plan parsed by Python."""
    try:
        texts = [json.dumps(doc.get("metadata")), json.dumps(doc["jobs"])]
    except RecursionError:  # parsed just under Python's limit, written back from deeper in the stack
        raise PlanFileError("the plan is nested too deeply to be read") from None
    con.execute(f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT CAST(? AS JSON) AS metadata, "
                f"CAST(CAST(? AS JSON) AS {_JOBS_TYPE}) AS jobs", texts)


# --- the diff -------------------------------------------------------------------------------

def diff(a: str | os.PathLike, b: str | os.PathLike, db: str | os.PathLike = "foxwarehouse.duckdb",
         limit: int | None = None, wait: float = 0.0) -> PlanDiff:
    """Compare two plans. `a`, `b`: run ids, id prefixes, ``latest``, ``latest~N`` or plan files.

    `limit` caps the rows listed per section (added / removed / changed); None lists every row.
    Counts always cover every row. Raises FoxError (exit code 2) for a bad reference.
    """
    sides = [Side("a", os.fspath(a)), Side("b", os.fspath(b))]
    for side in sides:
        side.kind = "file" if is_path_ref(side.ref) else "run"
    need_runs = any(s.kind == "run" for s in sides)
    wh: Warehouse | None = None
    warnings: list[str] = []
    if need_runs or Path(db).exists():
        try:
            wh = Warehouse(db, read_only=True, wait=wait)
        except WarehouseError as exc:
            if need_runs:
                raise
            warnings.append(f"warehouse not used: {exc.message}")
    con = wh.con if wh is not None else _memory_connection()
    try:
        for side in sides:
            if side.kind == "run":
                _resolve_run_side(side, wh)  # type: ignore[arg-type]
            else:
                _load_file_side(side, con, wh)
        with_decisions = all(s.decisions_run for s in sides)
        install_macros(con, temporary=True, files=("job_diff", "decision_diff") if with_decisions else ("job_diff",))
        return PlanDiff(_compute(con, sides[0], sides[1], limit, warnings))
    except duckdb.Error as exc:
        raise QueryError(f"diff failed: {duckdb_detail(exc, kind=False)}") from None
    finally:
        if wh is not None:
            wh.close()
        else:
            con.close()


def _memory_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{_safe_setting(memory_limit())}'")
    return con


def _compute(con, sa: Side, sb: Side, limit: int | None, warnings: list[str]) -> dict[str, Any]:
    for side in (sa, sb):
        n_rows, n_keys = con.execute("SELECT * FROM plan_job_grain(?, jobs := ?)",
                                     [side.jobs_key, side.jobs_relation]).fetchone()
        side.metadata["total_jobs"] = n_rows
        if n_rows != n_keys:
            warnings.append(f"side {side.name} ({side.ref}): job_id is not unique ({n_rows - n_keys} duplicate rows); "
                            f"the job diff may repeat rows")
    con.execute("CREATE OR REPLACE TEMP TABLE fw_job_diff AS SELECT * FROM plan_job_diff(?, ?, jobs_a := ?, jobs_b := ?)",
                [sa.jobs_key, sb.jobs_key, sa.jobs_relation, sb.jobs_relation])
    jobs = _job_section(con, sa, sb, limit)
    decisions = _decision_section(con, sa, sb, limit, warnings)
    config = _config_section(sa, sb)
    models = models_section(sa, sb)
    differs = jobs["counts"]["added"] + jobs["counts"]["removed"] + jobs["counts"]["changed"] > 0
    if decisions["available"]:
        c = decisions["counts"]
        differs = differs or c["added"] + c["removed"] + c["changed"] > 0
    return {
        "format_version": FORMAT_VERSION,
        "identical": not differs,
        "a": sa.describe(),
        "b": sb.describe(),
        "jobs": jobs,
        "decisions": decisions,
        "config": config,
        "models": models,
        "limit": limit,
        "warnings": warnings,
    }


def _rows(con, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _limit_sql(limit: int | None) -> str:
    return "" if limit is None else f" LIMIT {int(limit)}"


def _column_counts(con, table: str, column: str) -> dict[str, int]:
    return {k: int(v) for k, v in con.execute(
        f"SELECT c, count(*) FROM (SELECT unnest({column}) AS c FROM {table}) GROUP BY c ORDER BY c").fetchall()}


def _counts(con, table: str) -> dict[str, int]:
    got = dict(con.execute(f"SELECT change, count(*) FROM {table} GROUP BY change").fetchall())
    return {k: int(got.get(k, 0)) for k in ("added", "removed", "changed")}


def _job_section(con, sa: Side, sb: Side, limit: int | None) -> dict[str, Any]:
    counts = _counts(con, "fw_job_diff")
    counts["a"], counts["b"] = sa.metadata["total_jobs"], sb.metadata["total_jobs"]
    counts["unchanged"] = counts["a"] - counts["removed"] - counts["changed"]
    out: dict[str, Any] = {"counts": counts, "changed_columns": _column_counts(con, "fw_job_diff", "changed_columns")}
    for change in ("added", "removed", "changed"):
        rows = _rows(con, f"SELECT * FROM fw_job_diff WHERE change = ? ORDER BY job_id{_limit_sql(limit)}", [change])
        out[change] = [_job_row(r) for r in rows]
    out["truncated"] = any(len(out[c]) < counts[c] for c in ("added", "removed", "changed"))
    return out


def _job_row(r: dict[str, Any]) -> dict[str, Any]:
    def side(s: str) -> dict[str, Any] | None:
        if r["change"] == ("added" if s == "a" else "removed"):
            return None
        return {c: _clean(r[f"{c}_{s}"]) for c in JOB_COLUMNS}
    return {"job_id": r["job_id"], "target": r["target"], "symbol": r["symbol"],
            "changed": list(r["changed_columns"]), "a": side("a"), "b": side("b")}


def _decision_section(con, sa: Side, sb: Side, limit: int | None, warnings: list[str]) -> dict[str, Any]:
    missing = [s for s in (sa, sb) if s.decisions_run is None]
    if missing:
        names = " and ".join(f"{s.name} ({s.ref})" for s in missing)
        return {"available": False, "reason": f"not available for a JSON side without its run in the warehouse: {names}",
                "counts": None, "changed_columns": {}, "moved_inputs": {}, "transitions": [],
                "added": [], "removed": [], "changed": [], "truncated": False}
    for side in (sa, sb):
        n_rows, n_keys = con.execute("SELECT * FROM plan_decision_grain(?)", [side.decisions_run]).fetchone()
        side.metadata["total_decisions"] = n_rows
        if n_rows != n_keys:
            warnings.append(f"side {side.name} ({side.ref}): (target, symbol) is not unique in its decisions "
                            f"({n_rows - n_keys} duplicate rows)")
    con.execute("CREATE OR REPLACE TEMP TABLE fw_decision_diff AS SELECT * FROM plan_decision_diff(?, ?)",
                [sa.decisions_run, sb.decisions_run])
    counts = _counts(con, "fw_decision_diff")
    counts["a"], counts["b"] = sa.metadata["total_decisions"], sb.metadata["total_decisions"]
    counts["unchanged"] = counts["a"] - counts["removed"] - counts["changed"]
    transitions = [
        {"kind": kind, "a": ra, "b": rb, "count": int(n)}
        for kind, ra, rb, n in con.execute("SELECT * FROM route_transitions('fw_decision_diff')").fetchall()
    ]
    out: dict[str, Any] = {
        "available": True,
        "reason": None,
        "counts": counts,
        "changed_columns": _column_counts(con, "fw_decision_diff", "changed_columns"),
        "moved_inputs": _column_counts(con, "fw_decision_diff", "moved_inputs"),
        "transitions": transitions,
    }
    for change in ("added", "removed", "changed"):
        rows = _rows(con, f"SELECT * FROM fw_decision_diff WHERE change = ? "
                          f"ORDER BY target, symbol NULLS FIRST, kind{_limit_sql(limit)}", [change])
        out[change] = [_decision_row(r) for r in rows]
    out["truncated"] = any(len(out[c]) < counts[c] for c in ("added", "removed", "changed"))
    return out


def _decision_row(r: dict[str, Any]) -> dict[str, Any]:
    def side(s: str) -> dict[str, Any] | None:
        if r["change"] == ("added" if s == "a" else "removed"):
            return None
        return {c: _clean(r[f"{c}_{s}"]) for c in DECISION_COLUMNS + INPUT_COLUMNS}
    return {"kind": r["kind"], "target": r["target"], "symbol": r["symbol"], "changed": list(r["changed_columns"]),
            "moved_inputs": list(r["moved_inputs"]), "a": side("a"), "b": side("b")}


def _config_section(sa: Side, sb: Side) -> dict[str, Any]:
    if sa.config is not None and sb.config is not None:
        return {"available": True, "config_hash_equal": sa.metadata.get("config_hash") == sb.metadata.get("config_hash"),
                "reason": None, "changes": config_changes(sa.config, sb.config)}
    missing = [s for s in (sa, sb) if s.config is None]
    names = " and ".join(f"{s.name} ({s.ref})" for s in missing)
    same_hash = sa.metadata.get("config_hash") == sb.metadata.get("config_hash")
    return {"available": False, "config_hash_equal": same_hash, "changes": [],
            "reason": f"not available for a JSON side without its run in the warehouse: {names}"}


def _models_fp(models: dict[str, dict[str, Any]]) -> str:
    return models_fingerprint({m: v["fingerprint"] for m, v in models.items()})


def models_section(sa: Side, sb: Side) -> dict[str, Any]:
    """Which models differ between the sides: per model from run_models when both runs have them,
    else by the models fingerprint of the plan metadata; 'unknown' when a side has neither.

    ``status``: 'changed', 'unchanged' or 'unknown'. ``direct``: models added, removed or whose
    normalised SQL differs (dependency order); ``downstream``: unchanged models that read one of
    them; ``changes``: per direct model its normalised SQL change as unified-diff lines (at most
    SQL_DIFF_LINES lines each).
    """
    fa, fb = sa.metadata.get("models_fingerprint"), sb.metadata.get("models_fingerprint")
    out: dict[str, Any] = {"available": False, "status": "unknown", "fingerprint_a": fa, "fingerprint_b": fb,
                           "direct": [], "downstream": [], "changes": [], "reason": None}
    if sa.models is not None and sb.models is not None:
        old = {m: v["fingerprint"] for m, v in sa.models.items()}
        new = {m: v["fingerprint"] for m, v in sb.models.items()}
        deps = {m: v.get("refs") or [] for m, v in sa.models.items()}
        deps.update({m: v.get("refs") or [] for m, v in sb.models.items()})
        direct, downstream = changed_models(old, new, deps)
        changes = []
        for name in direct:
            a_sql = sa.models[name]["normalized_sql"] if name in sa.models else None
            b_sql = sb.models[name]["normalized_sql"] if name in sb.models else None
            change = "added" if a_sql is None else "removed" if b_sql is None else "changed"
            lines = sql_change(name, a_sql, b_sql, max_lines=SQL_DIFF_LINES)
            changes.append({"model": name, "change": change, "fingerprint_a": old.get(name),
                            "fingerprint_b": new.get(name), "sql_diff": lines})
        out.update(available=True, status="changed" if direct else "unchanged", direct=direct,
                   downstream=downstream, changes=changes)
        return out
    missing = [s for s in (sa, sb) if s.models is None]
    names = " and ".join(f"{s.name} ({s.ref})" for s in missing)
    if fa and fb:
        out["status"] = "unchanged" if fa == fb else "changed"
        out["reason"] = f"per-model versions not available for {names}; compared the models fingerprints"
    else:
        out["reason"] = f"no model versions recorded for {names}"
    return out


def config_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Changed config keys as dotted paths, sorted: [{key, change, a, b}], a/b null when absent."""
    fa, fb = flatten(a), flatten(b)
    out = []
    for key in sorted(set(fa) | set(fb)):
        if key in fa and key in fb:
            if _canon(fa[key]) == _canon(fb[key]):
                continue
            change = "changed"
        else:
            change = "added" if key in fb else "removed"
        out.append({"key": key, "change": change, "a": fa.get(key), "b": fb.get(key)})
    return out


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return list(value)
    return value
