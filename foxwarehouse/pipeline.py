"""The library front door: ingest, build, export and the whole `plan`, as plain functions.

The CLI only parses arguments and calls these. `plan(..., non_blocking=True)` is for training
orchestrators: unusable or missing metrics give a warning and a result saying no new plan was made.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build.audits import run_audits
from .build.builder import BuildResult, build, prepare_run
from .context import Context
from .errors import InputError
from .export.writer import ExportResult, export
from .ingest.reader import IngestReport, ingest
from .project import Project
from .warehouse import Warehouse

log = logging.getLogger("foxwarehouse")

DEFAULT_DB = "foxwarehouse.duckdb"
DEFAULT_OUT = "METRICS"


@dataclass
class PlanResult:
    """What a `plan` call did. `fresh` is False when no new plan was made (non-blocking mode)."""

    fresh: bool
    run_id: str | None = None
    out_dir: Path | None = None
    master_plan_path: Path | None = None
    jobs_by_route: dict[str, int] = field(default_factory=dict)
    jobs_by_type: dict[str, int] = field(default_factory=dict)
    jobs_by_priority: dict[str, int] = field(default_factory=dict)
    total_jobs: int = 0
    warnings: list[str] = field(default_factory=list)
    stale_plan_path: Path | None = None
    ingest_report: IngestReport | None = None

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


def run_ingest(metrics: str | Path, db: str | Path = DEFAULT_DB, wait: float = 0.0) -> IngestReport:
    with Warehouse(db, wait=wait) as wh:
        return ingest(wh, metrics)


def run_build(db: str | Path = DEFAULT_DB, config: str | Path | dict | None = None, project_dir: str | Path | None = None,
              run: str | None = None, include_blocked: bool | None = None, wait: float = 0.0) -> BuildResult:
    ctx = Context.load(config, project_dir, include_blocked)
    with Warehouse(db, wait=wait) as wh:
        run_id = prepare_run(wh, run)
        return build(wh, ctx, run_id, audit=run_audits, after_commit=_refresh_views(wh, ctx))


def run_export(db: str | Path = DEFAULT_DB, out: str | Path = DEFAULT_OUT, run: str | None = None,
               wait: float = 0.0) -> ExportResult:
    with Warehouse(db, wait=wait) as wh:
        run_id = wh.resolve_run(run)
        return export(wh, run_id, out, wait=wait)


def plan(metrics: str | os.PathLike[str], config: str | os.PathLike[str] | dict | None = None, db: str | os.PathLike[str] = DEFAULT_DB,
         out: str | os.PathLike[str] = DEFAULT_OUT, include_blocked: bool | None = None, project_dir: str | os.PathLike[str] | None = None,
         non_blocking: bool = False, wait: float = 0.0) -> PlanResult:
    """Ingest `metrics`, build the plan and export it: the whole pipeline in one call.

    Bad config, model errors and failing audits always raise. With `non_blocking`, missing or
    unusable metrics log one warning and return a result with fresh=False instead of raising.
    """
    ctx = Context.load(config, project_dir, include_blocked)
    config_warnings = ctx.warnings
    with Warehouse(db, wait=wait) as wh:
        try:
            report = ingest(wh, metrics)
        except InputError as exc:
            if not non_blocking:
                raise
            master = Path(out) / "training_plan" / "master_training_plan.json"
            stale = master if master.exists() else None
            message = f"no new training plan was made: {exc.message}"
            if stale:
                message += f" (the plan on disk, {stale}, is stale: it is not from this run)"
            log.warning(message)
            return PlanResult(False, warnings=config_warnings + [message], stale_plan_path=stale)
        # One context for the whole call: the build keeps the jobs' JSON for the export, and the
        # export writes with the config in memory.
        built = build(wh, ctx, report.run_id, audit=run_audits, after_commit=_refresh_views(wh, ctx),
                      keep_job_json=True)
        exported = export(wh, built.run_id, out, wait=wait, config=ctx.config, job_json=built.job_json)
    summary = exported.summary
    return PlanResult(
        True,
        run_id=built.run_id,
        out_dir=Path(out),
        master_plan_path=Path(out) / "training_plan" / "master_training_plan.json",
        jobs_by_route=summary["by_route"],
        jobs_by_type=summary["by_type"],
        jobs_by_priority=summary["by_priority"],
        total_jobs=exported.metadata["total_jobs"],
        warnings=config_warnings + exported.warnings,
        ingest_report=report,
    )
