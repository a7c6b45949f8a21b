"""The library front door: ingest, build, export and the whole `plan`, as plain functions.

The CLI only parses arguments and calls these. `plan(..., non_blocking=True)` is for training
orchestrators: unusable or missing metrics give a warning and a result saying no new plan was made.

`plan` and `run_build` run the project's SQL unit tests first (the test gate, see ``gate``);
`plan(dry_run=True)` builds into a temporary run, diffs it against the published plan and deletes
it; a `plan` whose inputs, config and models are those of the published run makes no new run
unless `force=True`.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .build.audits import run_audits
from .build.builder import BuildResult, build, prepare_run
from .context import Context
from .engine import require_engine
from .errors import InputError, WarehouseBusy
from .export.writer import ExportResult, check_export_folder, export
from .gate import GateResult, run_gate
from .ingest.reader import IngestReport
from .progress import Progress
from .project import Project, load_project
from .spark.inputs import ingest_input, input_fingerprint
from .spark.session import SparkSettings
from .warehouse import PUBLISHED_RUN_QUERY, Warehouse

if TYPE_CHECKING:
    from .diff.plan_diff import PlanDiff

log = logging.getLogger("foxwarehouse")

DEFAULT_DB = "foxwarehouse.duckdb"
DEFAULT_OUT = "METRICS"


@dataclass
class PlanResult:
    """What a `plan` call did. `fresh` is False when no new plan was made: unusable metrics in
    non-blocking mode, a dry run (`dry_run`), or nothing changed since the published plan
    (`unchanged`; `run_id` and `master_plan_path` then name the published plan, which is current).

    `tests` is what the test gate did: passed, cached, skipped or none (see ``foxwarehouse.gate``).
    A dry run carries `diff`, the diff against the published plan (None when nothing is published
    yet; `published_run_id` is then None too), and the job counts of the plan it would have made.
    """

    fresh: bool
    run_id: str | None = None
    out_dir: Path | None = None
    master_plan_path: Path | None = None
    jobs_by_route: dict[str, int] = field(default_factory=dict)
    jobs_by_type: dict[str, int] = field(default_factory=dict)
    jobs_by_priority: dict[str, int] = field(default_factory=dict)
    total_jobs: int = 0
    skipped_no_families: int = 0  # jobs not emitted for lack of a model family (summary.skipped_no_families)
    warnings: list[str] = field(default_factory=list)
    stale_plan_path: Path | None = None
    ingest_report: IngestReport | None = None
    tests: str | None = None
    gate: GateResult | None = None
    unchanged: bool = False
    dry_run: bool = False
    diff: PlanDiff | None = None
    published_run_id: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)  # ingest / build / export, as timed

    @property
    def plan_is_from_this_run(self) -> bool:
        return self.fresh


def load_run_config(config: str | Path | dict | None, project: Project,
                    include_blocked: bool | None = None) -> tuple[dict[str, Any], list[str]]:
    """The validated config plus the warnings it raised (FoxML-only keys and the like)."""
    ctx = Context.load(config, include_blocked=include_blocked, project=project)
    return ctx.config, ctx.warnings


def _refresh_views(wh: Warehouse, ctx: Context) -> Callable[[], None]:
    """The build's after-commit step: the persistent latest_*/published_* analyst views."""
    def refresh() -> None:
        from .analyst.session import refresh_latest_views

        refresh_latest_views(wh.con, ctx.project, ctx=ctx)
    return refresh


def run_ingest(metrics: str | Path, db: str | Path = DEFAULT_DB, wait: float = 0.0, engine: str = "duckdb",
               project: Project | None = None) -> IngestReport:
    """Ingest `metrics` as a new run; with the spark engine, a URI or catalog table is validated on Spark."""
    settings = (project or load_project()).settings.spark if engine == "spark" else SparkSettings()
    require_engine(engine, settings)
    with Warehouse(db, wait=wait) as wh:
        return ingest_input(wh, metrics, engine, settings)


def run_build(db: str | Path = DEFAULT_DB, config: str | Path | dict | None = None, project_dir: str | Path | None = None,
              run: str | None = None, include_blocked: bool | None = None, wait: float = 0.0,
              skip_tests: bool = False, note: Callable[[str], None] | None = None,
              engine: str | None = None) -> BuildResult:
    """Build a run (default: the latest ingested one). The project's SQL unit tests run first
    (raising TestGateError, nothing built, when one fails) unless `skip_tests`. `engine` (default:
    the project file's engine) is where the models run: duckdb or spark."""
    ctx = Context.load(config, project_dir, include_blocked)
    engine = engine or ctx.project.settings.engine
    require_engine(engine, ctx.project.settings.spark)
    with Warehouse(db, wait=wait) as wh:
        gate = run_gate(wh, ctx.project, skip=skip_tests, note=note)
        run_id = prepare_run(wh, run)
        _record_tests(wh, run_id, gate)
        return build(wh, ctx, run_id, audit=run_audits, after_commit=_refresh_views(wh, ctx), models_engine=engine)


def run_export(db: str | Path = DEFAULT_DB, out: str | Path = DEFAULT_OUT, run: str | None = None,
               wait: float = 0.0) -> ExportResult:
    with Warehouse(db, wait=wait) as wh:
        run_id = wh.resolve_run(run)
        return export(wh, run_id, out, wait=wait)


def plan(metrics: str | os.PathLike[str], config: str | os.PathLike[str] | dict | None = None, db: str | os.PathLike[str] = DEFAULT_DB,
         out: str | os.PathLike[str] = DEFAULT_OUT, include_blocked: bool | None = None, project_dir: str | os.PathLike[str] | None = None,
         non_blocking: bool = False, wait: float = 0.0, dry_run: bool = False, skip_tests: bool = False,
         force: bool = False, progress: Progress | None = None, engine: str | None = None) -> PlanResult:
    """Ingest `metrics`, build the plan and export it: the whole pipeline in one call.

    The project's SQL unit tests run first, once per version of the models and tests; a failing
    case raises TestGateError (exit code 1) before anything is ingested, also with `non_blocking`,
    unless `skip_tests`. When the inputs, config and models are those of the published run, no new
    run is made (`unchanged`), unless `force`. With `dry_run` the plan is built into a temporary run,
    diffed against the published plan and deleted: nothing is kept or published.

    Bad config, model errors and failing audits always raise. With `non_blocking`, missing or
    unusable metrics, or a warehouse another process holds (past `wait` seconds), log one warning
    and return a result with fresh=False instead of raising.

    `progress` (a ``foxwarehouse.progress.Progress``) times the stages ingest, build and export and
    reports each as it ends; the same times are in the result (``stage_seconds``).

    `engine` (default: the project file's engine) is where the models run: duckdb or spark.
    """
    progress = progress if progress is not None else Progress()
    ctx = Context.load(config, project_dir, include_blocked)
    engine = engine or ctx.project.settings.engine
    require_engine(engine, ctx.project.settings.spark)
    config_warnings = ctx.warnings
    # An --out that can never be a folder (a file, a dangling link, a link loop) is refused before a
    # run is made, rather than after a build that could not be published.
    check_export_folder(out)
    temp_run: str | None = None
    try:
        opened = Warehouse(db, wait=wait)
    except WarehouseBusy as exc:
        if not non_blocking:
            raise
        # Another process (a plan, an export) holds the warehouse: the orchestrator goes on with the
        # plan on disk, like with unusable metrics.
        return _no_new_plan(python_wording(exc.message), out, config_warnings)
    with opened as wh:
        gate = run_gate(wh, ctx.project, skip=skip_tests)
        try:
            if not force and not dry_run:
                published = _published_if_unchanged(wh, ctx, metrics, out, engine)
                if published is not None:
                    return _unchanged_result(published, out, gate, config_warnings)
            with progress.stage("ingest"):
                # With the Spark engine a URI or catalog table is validated and read on Spark.
                report = ingest_input(wh, metrics, engine, ctx.project.settings.spark)
        except InputError as exc:
            if not non_blocking:
                raise
            return _no_new_plan(exc.message, out, config_warnings, gate)
        _record_tests(wh, report.run_id, gate)
        if dry_run:
            temp_run = report.run_id
            try:
                with progress.stage("build"):
                    built = build(wh, ctx, temp_run, audit=run_audits, models_engine=engine)
                row = wh.con.execute(PUBLISHED_RUN_QUERY).fetchone()
                published_run = row[0] if row else None
                counts = _summary_counts(wh, temp_run)
            except BaseException:
                _discard_run(wh, temp_run)
                raise
        else:
            # One context for the whole call: the build keeps the jobs' JSON for the export, and the
            # export writes with the config in memory.
            with progress.stage("build"):
                built = build(wh, ctx, report.run_id, audit=run_audits, after_commit=_refresh_views(wh, ctx),
                              keep_job_json=True, models_engine=engine)
            with progress.stage("export"):
                exported = export(wh, built.run_id, out, wait=wait, config=ctx.config, job_json=built.job_json)
            _record_timings(wh, built.run_id, progress)
    if temp_run is not None:
        return _finish_dry_run(db, wait, temp_run, published_run, counts, gate, config_warnings, report)
    summary = exported.summary
    return PlanResult(
        True,
        stage_seconds=dict(progress.stages),
        run_id=built.run_id,
        out_dir=Path(out),
        master_plan_path=Path(out) / "training_plan" / "master_training_plan.json",
        jobs_by_route=summary["by_route"],
        jobs_by_type=summary["by_type"],
        jobs_by_priority=summary["by_priority"],
        total_jobs=exported.metadata["total_jobs"],
        skipped_no_families=summary.get("skipped_no_families", 0),
        warnings=config_warnings + exported.warnings,
        ingest_report=report,
        tests=gate.status,
        gate=gate,
    )


# --- helpers of plan ----------------------------------------------------------------------------

def python_wording(message: str) -> str:
    """A message for a Python caller: the CLI's ``--wait SECONDS`` becomes the ``wait=`` argument."""
    return message.replace("pass --wait SECONDS", "pass wait=SECONDS")


def _no_new_plan(reason: str, out: str | os.PathLike[str], warnings: list[str],
                 gate: GateResult | None = None) -> PlanResult:
    """`plan(non_blocking=True)` when no plan can be made now: one warning, the plan on disk stale."""
    master = Path(out) / "training_plan" / "master_training_plan.json"
    stale = master if master.exists() else None
    message = f"no new training plan was made: {reason}"
    if stale:
        message += f" (the plan on disk, {stale}, is stale: it is not from this run)"
    log.warning(message)
    return PlanResult(False, warnings=list(warnings) + [message], stale_plan_path=stale,
                      tests=gate.status if gate is not None else None, gate=gate)


def _record_tests(wh: Warehouse, run_id: str, gate: GateResult) -> None:
    """runs.tests: what the gate did before this run (passed, cached, skipped or none)."""
    if _has_column(wh, "runs", "tests"):
        with wh.transaction():
            wh.set_run(run_id, tests=gate.status)


def _record_timings(wh: Warehouse, run_id: str, progress: Progress) -> None:
    """runs.timings (JSON): the stage and model times of this run, where the warehouse has the column.

    The plan is published by now: a failure to record its times (a full disk) must not turn a
    published plan into a failed command, so it is only a warning."""
    if not _has_column(wh, "runs", "timings"):
        return
    try:
        with wh.transaction():
            wh.set_run(run_id, timings=json.dumps(progress.record(), sort_keys=True))
    except (duckdb.Error, OSError) as exc:
        log.warning(f"the stage times of run {run_id} could not be recorded: {exc}")


def _has_column(wh: Warehouse, table: str, column: str) -> bool:
    row = wh.con.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'main' "
                         "AND table_name = ? AND column_name = ?", [table, column]).fetchone()
    return bool(row and row[0])


def _published_if_unchanged(wh: Warehouse, ctx: Context, metrics: str | os.PathLike[str],
                            out: str | os.PathLike[str], engine: str = "duckdb") -> dict[str, Any] | None:
    """The published run when planning `metrics` into `out` would make exactly its plan again.

    Identical means: the same input bytes (input_fingerprint), the same validated config
    (config_hash), the same models (models_fingerprint), published into the same folder, whose
    master plan is still there. The inputs are hashed without loading them; the models are rendered.
    """
    if "runs" not in wh.tables() or not _has_column(wh, "runs", "models_fingerprint"):
        return None
    row = wh.con.execute(PUBLISHED_RUN_QUERY).fetchone()
    if row is None:
        return None
    run = wh.run(row[0])
    if not run.get("models_fingerprint") or run.get("config_hash") != ctx.config_hash or not run.get("export_dir"):
        return None
    if Path(run["export_dir"]).resolve() != Path(out).resolve():
        return None
    if not (Path(out) / "training_plan" / "master_training_plan.json").is_file():
        return None
    if input_fingerprint(metrics, engine, ctx.project.settings.spark) != run.get("input_fingerprint"):
        return None
    from .model_versions import known_versions, models_fingerprint_for

    if models_fingerprint_for(ctx, known_versions(wh.con)) != run["models_fingerprint"]:
        return None
    return run


def _unchanged_result(run: dict[str, Any], out: str | os.PathLike[str], gate: GateResult,
                      warnings: list[str]) -> PlanResult:
    return PlanResult(False, run_id=run["run_id"], out_dir=Path(out),
                      master_plan_path=Path(out) / "training_plan" / "master_training_plan.json",
                      warnings=list(warnings), tests=gate.status, gate=gate, unchanged=True,
                      published_run_id=run["run_id"])


def _summary_counts(wh: Warehouse, run_id: str) -> dict[str, Any]:
    row = wh.con.execute("SELECT to_json({'by_route': by_route, 'by_type': by_type, 'by_priority': by_priority}), "
                         "total_jobs, skipped_no_families FROM plan_summary WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        return {"by_route": {}, "by_type": {}, "by_priority": {}, "total_jobs": 0, "skipped_no_families": 0}
    return {**json.loads(row[0]), "total_jobs": row[1], "skipped_no_families": row[2] or 0}


def _discard_run(wh: Warehouse, run_id: str) -> None:
    """Delete a run and its rows from every table of the warehouse (a dry run's temporary run)."""
    tables = [r[0] for r in wh.con.execute(
        "SELECT DISTINCT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = 'main' AND c.column_name = 'run_id' AND t.table_type = 'BASE TABLE' "
        "ORDER BY 1").fetchall()]
    from .render import quote_identifier

    with wh.transaction() as con:
        for table in tables:
            con.execute(f"DELETE FROM main.{quote_identifier(table)} WHERE run_id = ?", [run_id])


def _finish_dry_run(db: str | os.PathLike[str], wait: float, temp_run: str, published_run: str | None,
                    counts: dict[str, Any], gate: GateResult, warnings: list[str],
                    report: IngestReport) -> PlanResult:
    """Diff the temporary run against the published plan, then delete it (also on an error or Ctrl-C)."""
    from .diff import plan_diff

    try:
        result = plan_diff.diff(published_run, temp_run, db=db, wait=wait) if published_run else None
    finally:
        # The diff reads the warehouse on its own connection; the temporary run goes once it is done.
        with Warehouse(db, wait=max(wait, 10.0)) as wh:
            _discard_run(wh, temp_run)
    return PlanResult(False, run_id=None, jobs_by_route=counts["by_route"], jobs_by_type=counts["by_type"],
                      jobs_by_priority=counts["by_priority"], total_jobs=counts["total_jobs"],
                      skipped_no_families=counts["skipped_no_families"],
                      warnings=list(warnings), ingest_report=report, tests=gate.status, gate=gate,
                      dry_run=True, diff=result, published_run_id=published_run)
