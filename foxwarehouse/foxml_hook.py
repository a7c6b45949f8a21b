"""The planning hook of a FoxML run: plan the candidates FoxML has after feature selection and
publish the plan where FoxML's trainer looks for it, ``<output_dir>/globals/training_plan``.

Two entry points, both on top of :func:`foxwarehouse.pipeline.plan` (one ingest, one build, one
publisher: the export is atomic, locked per output folder, and never overwrites a file it did not
write):

* ``plan_for_foxml(output_dir, candidates, ...)`` takes the candidates as a pandas DataFrame, a
  pyarrow Table (or RecordBatch, or any object with ``__arrow_c_stream__``) or a path (a file or a
  metrics folder), and returns a :class:`~foxwarehouse.pipeline.PlanResult`.
* ``generate_routing_plan_after_feature_selection(output_dir, targets, symbols, ...)`` has the
  signature of FoxML's ``routing_integration`` hook and returns what FoxML's returns: the routing
  plan (``{"metadata", "targets"}``) or None when no new plan was made.

An in-memory table is written to a parquet file in a temporary folder (deleted afterwards) and read
from there exactly like a file given by path: the same validation, the same input fingerprint, so a
second call with the same candidates makes no new run. Both are non-blocking: candidates that are
missing or unusable log one warning and give a result saying no new plan was made (the plan already
on disk, if any, is reported as stale). A bad config, a failing SQL test and a failing audit raise.

This module imports DuckDB and pyarrow: it is the orchestrator side, not the trainer side
(``foxwarehouse.foxml`` stays standard-library only). See docs/FOXML.md, "Planning inside a FoxML run".
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import load_config_with_notices, validate_config_with_notices
from .errors import InputError
from .pipeline import PlanResult, plan
from .project import load_project, resolve_config_path

__all__ = ["generate_routing_plan_after_feature_selection", "plan_for_foxml", "plan_dir_for_foxml"]

log = logging.getLogger("foxwarehouse")

WAREHOUSE_NAME = "foxwarehouse.duckdb"
CANDIDATES_NAME = "routing_candidates.parquet"


def plan_dir_for_foxml(output_dir: str | os.PathLike[str]) -> Path:
    """``<output_dir>/globals``: the folder the plan is published into (its ``training_plan/`` is the
    first place FoxML's trainer looks)."""
    return Path(output_dir) / "globals"


def plan_for_foxml(output_dir: str | os.PathLike[str], candidates: Any,
                   config: str | os.PathLike[str] | dict[str, Any] | None = None, *,
                   model_families: Sequence[str] | None = None, db: str | os.PathLike[str] | None = None,
                   project_dir: str | os.PathLike[str] | None = None, non_blocking: bool = True,
                   wait: float = 0.0, skip_tests: bool = False, force: bool = False) -> PlanResult:
    """Plan `candidates` and publish the plan into ``<output_dir>/globals`` (``training_plan/``,
    ``routing_plan/``, ``routing_candidates.parquet``).

    `candidates`: a pandas DataFrame, a pyarrow Table or RecordBatch (or another object with
    ``__arrow_c_stream__``), or a path to a candidates file or metrics folder. `config`: a routing
    config (a FoxML routing YAML works as it is), a mapping, or None for the project's default.
    `model_families` replaces ``training_plan.model_families`` of the config (FoxML passes its
    training families here). `db`: the warehouse, by default ``<output_dir>/foxwarehouse.duckdb``.

    Non-blocking by default: missing or unusable candidates log one warning and return
    ``fresh=False`` (``stale_plan_path`` names the plan already there, if any). A bad config, a
    failing SQL test or audit, and an export that would overwrite a file foxwarehouse did not write
    (FoxML's own ``globals/training_plan``, say) raise. Calling again with the same candidates and
    config makes no new run: the result is ``unchanged`` and the published plan is current.
    """
    out = plan_dir_for_foxml(output_dir)
    warehouse = Path(db) if db is not None else Path(output_dir) / WAREHOUSE_NAME
    config_arg, notices = _config_with_families(config, model_families, project_dir)
    for notice in notices:
        log.warning(notice)
    with tempfile.TemporaryDirectory(prefix="foxwarehouse-candidates-") as scratch:
        try:
            metrics = _metrics_path(candidates, Path(scratch))
        except InputError as exc:
            if not non_blocking:
                raise
            return _no_new_plan(out, exc, notices)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        result = plan(metrics, config=config_arg, db=warehouse, out=out, project_dir=project_dir,
                      non_blocking=non_blocking, wait=wait, skip_tests=skip_tests, force=force)
    result.warnings[:0] = notices
    return result


def generate_routing_plan_after_feature_selection(
        output_dir: str | os.PathLike[str], targets: Sequence[str], symbols: Sequence[str],
        routing_config_path: str | os.PathLike[str] | None = None, generate_training_plan: bool = True,
        model_families: Sequence[str] | None = None, *, candidates: Any = None,
        db: str | os.PathLike[str] | None = None,
        project_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """FoxML's ``routing_integration.generate_routing_plan_after_feature_selection``, planned by
    foxwarehouse.

    Plans `candidates` (default: ``<output_dir>/globals/routing/routing_candidates.parquet``, where
    FoxML's metrics aggregator saves them) with the config at `routing_config_path` (None: the
    project's default config) and `model_families`, publishes into ``<output_dir>/globals`` and
    returns the routing plan (``globals/routing_plan/routing_plan.json``: ``metadata`` and per-target
    ``targets``), or None when no new plan was made (missing or unusable candidates; one warning).
    `targets` and `symbols` are FoxML's arguments: the candidates are planned as given.

    Unlike FoxML's hook, a bad config and a failing audit raise, and a plan with no jobs is
    published (it trains nothing) rather than reported as a failure. ``generate_training_plan=False``
    raises ValueError: foxwarehouse always publishes the training plan with the routing plan.
    """
    if not generate_training_plan:
        raise ValueError("generate_training_plan=False is not supported: foxwarehouse always publishes "
                         "the training plan together with the routing plan")
    if isinstance(targets, str) or isinstance(symbols, str):
        raise TypeError("targets and symbols are lists of names, not one string")
    if candidates is None:
        candidates = plan_dir_for_foxml(output_dir) / "routing" / CANDIDATES_NAME
    result = plan_for_foxml(output_dir, candidates, routing_config_path, model_families=model_families,
                            db=db, project_dir=project_dir, non_blocking=True)
    if not (result.fresh or result.unchanged):
        return None
    path = plan_dir_for_foxml(output_dir) / "routing_plan" / "routing_plan.json"
    with open(path, encoding="utf-8") as fh:
        routing_plan: dict[str, Any] = json.load(fh)
    log.info("foxwarehouse: training plan %s in %s (%d targets)",
             "published" if result.fresh else "unchanged", plan_dir_for_foxml(output_dir) / "training_plan",
             len(routing_plan.get("targets", {})))
    return routing_plan


# --- helpers ------------------------------------------------------------------------------------

def _config_with_families(config: str | os.PathLike[str] | dict[str, Any] | None,
                          model_families: Sequence[str] | None,
                          project_dir: str | os.PathLike[str] | None
                          ) -> tuple[dict[str, Any], list[str]]:
    """The validated config to plan with, `model_families` in place, and its notices (FoxML-only
    keys and the like), which the hook logs once: a FoxML run has no CLI to print them."""
    overrides: dict[str, Any] | None = None
    if model_families is not None:
        if isinstance(model_families, str) or not all(isinstance(f, str) for f in model_families):
            raise TypeError(f"model_families must be a list of names, got {model_families!r}")
        overrides = {"training_plan.model_families": list(model_families)}
    if isinstance(config, dict):
        return validate_config_with_notices(config, overrides=overrides)
    path = resolve_config_path(config, load_project(project_dir))
    return load_config_with_notices(path, overrides=overrides)


def _metrics_path(candidates: Any, scratch: Path) -> str | os.PathLike[str]:
    """A path the pipeline reads: `candidates` itself, or an in-memory table written as parquet."""
    if isinstance(candidates, (str, os.PathLike)):
        return candidates
    table = _arrow_table(candidates)
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    path = scratch / CANDIDATES_NAME
    try:
        pq.write_table(table, path)
    except Exception as exc:  # noqa: BLE001 - whatever Arrow refuses is unusable input
        raise InputError(f"the candidates table cannot be written as parquet: {exc}") from None
    return path


def _arrow_table(candidates: Any) -> Any:
    import pyarrow as pa

    if isinstance(candidates, pa.Table):
        return candidates
    if isinstance(candidates, pa.RecordBatch):
        return pa.Table.from_batches([candidates])
    if type(candidates).__module__.split(".")[0] == "pandas" and hasattr(candidates, "columns"):
        try:
            return pa.Table.from_pandas(candidates, preserve_index=False)
        except Exception as exc:  # noqa: BLE001 - pandas columns Arrow cannot type are unusable input
            raise InputError(f"the candidates DataFrame cannot be converted to Arrow: {exc}") from None
    if hasattr(candidates, "__arrow_c_stream__"):
        try:
            return pa.table(candidates)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"the candidates table cannot be read as Arrow: {exc}") from None
    raise TypeError("candidates must be a pandas DataFrame, a pyarrow Table or RecordBatch, or a path; "
                    f"got {type(candidates).__name__}")


def _no_new_plan(out: Path, exc: InputError, notices: list[str]) -> PlanResult:
    """What a non-blocking call returns for candidates it cannot use (as ``plan`` does for metrics)."""
    master = out / "training_plan" / "master_training_plan.json"
    stale = master if master.exists() else None
    message = f"no new training plan was made: {exc.message}"
    if stale:
        message += f" (the plan on disk, {stale}, is stale: it is not from this run)"
    log.warning(message)
    return PlanResult(False, warnings=[*notices, message], stale_plan_path=stale)
