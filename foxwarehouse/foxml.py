"""FoxML's training-plan consumer functions, under FoxML's names and signatures. Standard library only.

A trainer written for FoxML's ``TRAINING.orchestration.training_plan_consumer`` switches by changing
its import::

    from foxwarehouse.foxml import (
        apply_training_plan_filter,
        get_model_families_for_job,
        load_training_plan,
    )

Every function has FoxML's parameters (names, order, defaults) and return shapes, and answers on
top of :mod:`foxwarehouse.consumer` (one plan reader, one set of rules):

* ``load_training_plan`` returns the plan as a dict (FoxML's shape), or None when nothing is at the
  path (one warning; every function then allows everything, as FoxML does for None). A damaged plan
  raises :class:`~foxwarehouse.errors.PlanError` where FoxML logs and returns None. Plans written by
  FoxML's own generator load too (as legacy plans, with one warning).
* A plan is authoritative: a target or ``(target, symbol)`` pair without a job is not trained, and
  blocked jobs never train. ``fail_open=True`` (keyword-only, on the five functions that decide)
  gives FoxML's answers where the plan has no job: no job of the type asked for → every target; a
  target without symbol-specific jobs → every symbol; no job for a pair → the plan's metadata
  families; a blocked job → should train.
* The functions take what ``load_training_plan`` returns, a plan dict read some other way (checked
  like a file: :class:`PlanError` when it is not a valid plan), a :class:`TrainingPlan`, or None.
  Job lists are copies.

See docs/FOXML.md for every difference from FoxML, each with an example.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from .consumer import TrainingPlan, load_plan
from .errors import PlanError
from .plan_schema import is_legacy_plan_document, validate_legacy_plan_document, validate_plan_document

__all__ = [
    "PlanError",
    "apply_training_plan_filter",
    "filter_symbols_by_training_plan",
    "filter_targets_by_training_plan",
    "get_cs_jobs",
    "get_jobs_for_symbol",
    "get_jobs_for_target",
    "get_model_families_for_job",
    "get_symbol_jobs",
    "get_training_jobs_for_target_symbol",
    "get_training_plan_summary",
    "load_training_plan",
    "should_train_target_symbol",
    "validate_training_plan",
]

logger = logging.getLogger("foxwarehouse.foxml")

PlanLike = Mapping[str, Any] | TrainingPlan | None


class _LoadedPlan(dict):
    """The plan dict ``load_training_plan`` returns, carrying its indexed :class:`TrainingPlan`."""

    __slots__ = ("_plan",)

    _plan: TrainingPlan


# --------------------------------------------------------------------------------------------------
# loading


def load_training_plan(training_plan_dir: str | os.PathLike | None) -> dict[str, Any] | None:
    """The training plan at ``training_plan_dir`` (a training_plan folder, the folder holding one, or
    the master JSON file) as a dict, or None when there is no plan.

    None, or nothing at all at the path: None and one warning (train everything). Anything else that
    is not a valid plan raises :class:`PlanError`. A plan FoxML's generator wrote loads as a legacy
    plan with one warning. Treat the returned dict as read-only.
    """
    if training_plan_dir is None:
        logger.warning("No training plan directory given: training all targets, symbols and families")
        return None
    plan = load_plan(training_plan_dir)
    if plan.is_allow_all:
        return None
    return _wrap(plan)


def _wrap(plan: TrainingPlan) -> _LoadedPlan:
    loaded = _LoadedPlan(plan.document)
    loaded._plan = plan
    return loaded


def _plan(training_plan: Any) -> TrainingPlan | None:
    """The indexed plan behind a FoxML-style argument; None means "no plan: allow everything"."""
    if training_plan is None:
        return None
    if isinstance(training_plan, TrainingPlan):
        return None if training_plan.is_allow_all else training_plan
    if isinstance(training_plan, _LoadedPlan):
        cached = getattr(training_plan, "_plan", None)
        # Still the document it was indexed from (a caller may have replaced its jobs or metadata)?
        if cached is not None and all(training_plan.get(k) is cached.document.get(k)
                                      for k in ("metadata", "jobs", "summary")):
            if len(training_plan["jobs"]) == len(cached):
                return cached
    if isinstance(training_plan, Mapping):
        return TrainingPlan.from_document(dict(training_plan))
    raise TypeError(f"training_plan must be a plan dict (from load_training_plan), a TrainingPlan or None, "
                    f"got {type(training_plan).__name__}")


def _names(values: Iterable[Any], what: str) -> list[Any]:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a list of names, not one string: {values!r}")
    return list(values)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


# --------------------------------------------------------------------------------------------------
# the answers a trainer asks for


def filter_targets_by_training_plan(
    targets: Iterable[str],
    training_plan: PlanLike,
    training_type: str | None = "cross_sectional",
    *,
    fail_open: bool = False,
) -> list[str]:
    """The targets with a job of ``training_type`` in the plan, in input order.

    ``training_type`` is ``"cross_sectional"``, ``"symbol_specific"`` or None (any job that is not
    blocked). No plan: every target. A plan without such jobs: no target, or with ``fail_open=True``
    every target (FoxML's answer). Logs ``Training plan filter applied: N → M targets``.
    """
    targets = _names(targets, "targets")
    plan = _plan(training_plan)
    if plan is None:
        return targets
    if not targets:
        return []
    kept = plan.filter_targets(targets, training_type=training_type)
    if not plan.has_jobs(training_type):
        kind = training_type or "trainable"
        if fail_open:
            logger.warning("Training plan has no %s jobs: keeping all %d targets (fail_open)", kind, len(targets))
            return targets
        logger.warning("Training plan has no %s jobs: no target is trained this way", kind)
    return kept


def filter_symbols_by_training_plan(
    target: str,
    symbols: Iterable[str],
    training_plan: PlanLike,
    *,
    fail_open: bool = False,
) -> list[str]:
    """The symbols with a symbol-specific job for ``target``, in input order.

    No plan: every symbol. A target without symbol-specific jobs: no symbol, or with
    ``fail_open=True`` every symbol (FoxML's answer).
    """
    symbols = _names(symbols, "symbols")
    plan = _plan(training_plan)
    if plan is None:
        return symbols
    kept = plan.filter_symbols(target, symbols) if _is_name(target) else []
    if fail_open and not plan.has_jobs("symbol_specific", target):
        return symbols
    return kept


def get_model_families_for_job(
    training_plan: PlanLike,
    target: str,
    symbol: str | None = None,
    training_type: str | None = None,
    *,
    fail_open: bool = False,
) -> list[str] | None:
    """The model families of the job for ``target`` (its cross-sectional job when ``symbol`` is None).

    ``training_type``, when given, must be the job's. No plan: None (use your own defaults). No such
    job, or a blocked one: ``[]`` (train nothing), or with ``fail_open=True`` the plan's
    ``metadata.model_families_normalized`` or ``metadata.model_families`` (None when both are empty),
    as FoxML answers.
    """
    plan = _plan(training_plan)
    if plan is None:
        return None
    if fail_open and not _is_name(target):
        return None
    job = plan.job(target, symbol) if _is_name(target) else None
    if job is not None and training_type and job["training_type"] != training_type:
        job = None
    if job is not None and (job["model_families"] or not fail_open):
        return job["model_families"]
    if not fail_open:
        return []
    meta = plan.metadata
    families = meta.get("model_families_normalized") or meta.get("model_families")
    return list(families) if families and isinstance(families, list) else None


def should_train_target_symbol(
    training_plan: PlanLike,
    target: str,
    symbol: str | None = None,
    training_type: str | None = None,
    *,
    fail_open: bool = False,
) -> bool:
    """Whether to train ``target`` (cross-sectionally when ``symbol`` is None) or the pair.

    No plan: True. A job that is not blocked (of ``training_type`` when given): True; anything else
    False. With ``fail_open=True`` a blocked job counts too, as FoxML counts it.
    """
    plan = _plan(training_plan)
    if plan is None:
        return True
    job = plan.job(target, symbol, include_blocked=fail_open)
    return job is not None and (not training_type or job["training_type"] == training_type)


def apply_training_plan_filter(
    targets: Iterable[str],
    symbols: Iterable[str],
    training_plan_dir: str | os.PathLike | None,
    use_cs_plan: bool = True,
    use_symbol_plan: bool = True,
    *,
    fail_open: bool = False,
) -> tuple[list[str], dict[str, list[str]]]:
    """Load the plan at ``training_plan_dir`` and filter: ``(targets, {target: symbols})``.

    The targets are those with a cross-sectional job (all given targets with ``use_cs_plan=False``);
    the mapping gives, for each of them, the symbols with a symbol-specific job (all symbols with
    ``use_symbol_plan=False``). No plan (None, or nothing at the path): everything, one warning. A
    damaged plan raises :class:`PlanError`, in both modes. A warning names the targets that have
    only symbol-specific jobs, which the cross-sectional filter leaves out (as FoxML's does).
    """
    targets = _names(targets, "targets")
    symbols = _names(symbols, "symbols")
    plan = load_training_plan(training_plan_dir)
    if plan is None:
        return targets, {t: list(symbols) for t in targets if _is_name(t)}
    if use_cs_plan:
        kept = filter_targets_by_training_plan(targets, plan, "cross_sectional", fail_open=fail_open)
        indexed, kept_set = _plan(plan), set(kept)
        dropped = [t for t in targets if t not in kept_set and indexed is not None
                   and indexed.has_jobs("symbol_specific", t)]
        if dropped:
            logger.warning("Training plan: %d target(s) with only symbol-specific jobs left out by the "
                           "cross-sectional filter (use_cs_plan=True), their symbol jobs not trained: %s",
                           len(dropped), ", ".join(dropped[:10]) + (" …" if len(dropped) > 10 else ""))
    else:
        kept = targets
    by_target: dict[str, list[str]] = {}
    for target in kept:
        if use_symbol_plan:
            by_target[target] = filter_symbols_by_training_plan(target, symbols, plan, fail_open=fail_open)
        else:
            by_target[target] = list(symbols)
    logger.info("Applied training plan filter: %d targets → %d targets", len(targets), len(kept))
    return kept, by_target


# --------------------------------------------------------------------------------------------------
# job lists (copies; blocked jobs included where FoxML includes them)


def get_training_jobs_for_target_symbol(
    training_plan: PlanLike, target: str, symbol: str | None = None
) -> list[dict[str, Any]]:
    """The jobs of ``target`` with exactly this ``symbol`` (None: its cross-sectional jobs), blocked ones included."""
    plan = _plan(training_plan)
    if plan is None or not _is_name(target):
        return []
    return [j for j in plan.jobs(target=target) if j["symbol"] == symbol]


def get_cs_jobs(training_plan: PlanLike) -> list[dict[str, Any]]:
    """Every cross-sectional job, in plan order ([] without a plan)."""
    plan = _plan(training_plan)
    return [] if plan is None else plan.jobs(training_type="cross_sectional")


def get_symbol_jobs(training_plan: PlanLike) -> list[dict[str, Any]]:
    """Every symbol-specific job, in plan order ([] without a plan)."""
    plan = _plan(training_plan)
    return [] if plan is None else plan.jobs(training_type="symbol_specific")


def get_jobs_for_target(training_plan: PlanLike, target: str) -> list[dict[str, Any]]:
    """Every job of ``target``, blocked ones included, in plan order ([] without a plan)."""
    plan = _plan(training_plan)
    if plan is None or not _is_name(target):
        return []
    return plan.jobs(target=target)


def get_jobs_for_symbol(training_plan: PlanLike, symbol: str | None) -> list[dict[str, Any]]:
    """Every job of ``symbol`` across targets, blocked ones included (None: the cross-sectional jobs)."""
    plan = _plan(training_plan)
    if plan is None:
        return []
    if symbol is None:
        return plan.jobs(training_type="cross_sectional")
    return plan.jobs(symbol=symbol)


# --------------------------------------------------------------------------------------------------
# checking and reporting


def validate_training_plan(training_plan: Any) -> tuple[bool, list[str]]:
    """``(is_valid, problems)``: the plan checked against the full schema (or, for a plan FoxML's
    generator wrote, the shape FoxML writes). Never raises for a bad plan."""
    if training_plan is None:
        return False, ["Training plan is None"]
    if isinstance(training_plan, TrainingPlan):
        if training_plan.is_allow_all:
            return False, ["Training plan is None"]
        training_plan = training_plan.document
    if not isinstance(training_plan, Mapping):
        return False, [f"Training plan is not a dict, got {type(training_plan).__name__}"]
    doc = dict(training_plan)
    if is_legacy_plan_document(doc):
        problems = validate_legacy_plan_document(doc)
    else:
        problems = validate_plan_document(doc)
    return not problems, problems


def get_training_plan_summary(training_plan: PlanLike) -> dict[str, Any]:
    """Counts for logging: ``total_jobs``, ``cs_jobs``, ``symbol_jobs``, ``by_route``, ``by_type``,
    ``generated_at``, ``run_id`` (the first five, zero, without a plan)."""
    plan = _plan(training_plan)
    if plan is None:
        return {"total_jobs": 0, "cs_jobs": 0, "symbol_jobs": 0, "by_route": {}, "by_type": {}}
    meta, summary = plan.metadata, plan.summary
    return {
        "total_jobs": meta.get("total_jobs", 0),
        "cs_jobs": summary.get("total_cs_jobs", 0),
        "symbol_jobs": summary.get("total_symbol_jobs", 0),
        "by_route": summary.get("by_route", {}),
        "by_type": summary.get("by_type", {}),
        "generated_at": meta.get("generated_at", "unknown"),
        "run_id": meta.get("run_id", "unknown"),
    }
