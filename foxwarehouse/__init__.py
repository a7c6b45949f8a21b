"""foxwarehouse: a relational, SQL-first plan warehouse for ML training routing.

The library entry points have real signatures here, but import their modules only when called, so
that ``import foxwarehouse.consumer`` (what a trainer does) stays standard-library only and cheap.
"""
from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for help(), IDEs and type checkers; never imported at run time
    from .analyst.session import AnalystWarehouse
    from .consumer import TrainingPlan
    from .pipeline import PlanResult
    from .progress import Progress

__version__ = "0.1.0"
__all__ = ["PlanResult", "__version__", "load_plan", "open", "plan"]



def plan(metrics: str | PathLike[str], config: str | PathLike[str] | dict[str, Any] | None = None,
         db: str | PathLike[str] = "foxwarehouse.duckdb", out: str | PathLike[str] = "METRICS",
         include_blocked: bool | None = None, project_dir: str | PathLike[str] | None = None,
         non_blocking: bool = False, wait: float = 0.0, dry_run: bool = False, skip_tests: bool = False,
         force: bool = False, progress: Progress | None = None, engine: str | None = None) -> PlanResult:
    """Ingest `metrics`, build the plan and export it into `out`: the whole pipeline in one call.

    The project's SQL unit tests run first, once per version of the models and tests: a failing
    case raises ``TestGateError`` before anything is ingested (``skip_tests=True`` overrides).
    When the inputs, config and models are those of the published plan, no new run is made
    (``unchanged``; ``force=True`` plans anyway). ``dry_run=True`` builds into a temporary run,
    returns its ``diff`` against the published plan and keeps nothing.

    Bad config, model errors, failing audits and failing SQL tests always raise. With
    ``non_blocking=True``, missing or unusable metrics, or a warehouse another process holds (for
    longer than ``wait`` seconds), log one warning and return a result with ``fresh=False`` instead
    of raising (the plan already on disk, if any, is reported as stale). The stage times are in
    ``PlanResult.stage_seconds``; pass a ``foxwarehouse.progress.Progress`` as `progress` to follow
    them while the plan runs. `engine` ("duckdb" or "spark"; default: the project file's) is where
    the models run (docs/ENGINES.md). See ``PlanResult``.
    """
    from .errors import FoxError
    from .pipeline import plan as _plan

    try:
        return _plan(metrics, config=config, db=db, out=out, include_blocked=include_blocked,
                     project_dir=project_dir, non_blocking=non_blocking, wait=wait, dry_run=dry_run,
                     skip_tests=skip_tests, force=force, progress=progress, engine=engine)
    except FoxError as exc:
        _for_python(exc)
        raise


def load_plan(path: str | PathLike[str]) -> TrainingPlan:
    """Load an exported training plan (a training_plan folder or its master JSON file).

    Nothing at all at `path` gives a plan that allows everything, with one warning; anything else
    that is not a valid plan raises ``PlanError``. See ``foxwarehouse.consumer``.
    """
    from .consumer import load_plan as _load_plan

    return _load_plan(path)


def open(db: str | PathLike[str] = "foxwarehouse.duckdb", wait: float = 0.0,  # noqa: A001 - the public name
         project_dir: str | PathLike[str] | None = None) -> AnalystWarehouse:
    """A read-only analyst session on the warehouse `db`; its query methods return DuckDB relations."""
    from .analyst.session import open_warehouse
    from .errors import FoxError

    try:
        return open_warehouse(db, wait=wait, project_dir=project_dir)
    except FoxError as exc:
        _for_python(exc)
        raise


def _for_python(exc: Any) -> None:
    """Reword a FoxError for a Python caller: it passes ``wait=``, not the CLI's ``--wait``."""
    from .pipeline import python_wording

    exc.message = python_wording(exc.message)
    exc.args = (exc.message,)


def __getattr__(name: str) -> Any:
    # PlanResult lives with the pipeline (which imports DuckDB); load it on first use.
    if name == "PlanResult":
        from .pipeline import PlanResult

        return PlanResult
    raise AttributeError(f"module 'foxwarehouse' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
