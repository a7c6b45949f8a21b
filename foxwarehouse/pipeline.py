"""The library front door: ingest, build, export and the whole `plan`, as plain functions.

The CLI only parses arguments and calls these. `plan(..., non_blocking=True)` is for training
orchestrators: unusable or missing metrics give a warning and a result saying no new plan was made.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build import BuildResult, build, prepare_run
from .config import load_config
from .errors import InputError
from .export import ExportResult, export
from .ingest import IngestReport, ingest
from .project import Project, load_project, resolve_config_path
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
    overrides = {"training_plan.include_blocked": True} if include_blocked else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(config, dict):
            from .config import validate_config

            validated = validate_config(config, overrides=overrides)
        else:
            validated = load_config(resolve_config_path(config, project), overrides=overrides)
    return validated, [str(w.message) for w in caught]


def run_ingest(metrics: str | Path, db: str | Path = DEFAULT_DB, wait: float = 0.0) -> IngestReport:
    with Warehouse(db, wait=wait) as wh:
        return ingest(wh, metrics)


def run_build(db: str | Path = DEFAULT_DB, config: str | Path | dict | None = None, project_dir: str | Path | None = None,
              run: str | None = None, include_blocked: bool | None = None, wait: float = 0.0) -> BuildResult:
    from .audits import run_audits

    project = load_project(project_dir)
    validated, _ = load_run_config(config, project, include_blocked)
    with Warehouse(db, wait=wait) as wh:
        run_id = prepare_run(wh, run)
        return build(wh, project, validated, run_id, audit=run_audits)


def run_export(db: str | Path = DEFAULT_DB, out: str | Path = DEFAULT_OUT, run: str | None = None,
               wait: float = 0.0) -> ExportResult:
    with Warehouse(db, wait=wait) as wh:
        run_id = wh.resolve_run(run)
        return export(wh, run_id, out, wait=wait)


def plan(metrics: str | Path, config: str | Path | dict | None = None, db: str | Path = DEFAULT_DB,
         out: str | Path = DEFAULT_OUT, include_blocked: bool | None = None, project_dir: str | Path | None = None,
         non_blocking: bool = False, wait: float = 0.0) -> PlanResult:
    """Ingest `metrics`, build the plan and export it: the whole pipeline in one call.

    Bad config, model errors and failing audits always raise. With `non_blocking`, missing or
    unusable metrics log one warning and return a result with fresh=False instead of raising.
    """
    from .audits import run_audits

    project = load_project(project_dir)
    validated, config_warnings = load_run_config(config, project, include_blocked)
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
        built = build(wh, project, validated, report.run_id, audit=run_audits)
        exported = export(wh, built.run_id, out, wait=wait)
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
