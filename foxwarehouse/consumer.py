"""The trainer-side view of a training plan (SPEC §8). Standard library only.

A trainer calls :func:`load_plan` once and asks the returned :class:`TrainingPlan` what to train::

    from foxwarehouse.consumer import load_plan

    plan = load_plan("METRICS/training_plan")        # the folder, or the master JSON file
    targets = plan.filter_targets(all_targets)       # cross-sectional targets the plan lists
    for target in targets:
        for family in plan.model_families(target):
            ...
    symbols = plan.filter_symbols("fwd_ret_15m", all_symbols)
    if plan.should_train("fwd_ret_15m", "AAPL", family="lightgbm"):
        ...

Rules:

* No plan on disk (the path does not exist, or the folder has no ``master_training_plan.json``):
  a plan that allows everything, and one warning on the ``foxwarehouse.consumer`` logger. This keeps
  trainers that ran before plans existed working.
* A plan that exists but is corrupt (empty, truncated, not JSON, not an object), does not match
  the schema, or has an unknown ``metadata.schema_version``: :class:`~foxwarehouse.errors.PlanError`
  naming the file and the field. Never a silent "train everything".
* A plan that exists is authoritative: a target, ``(target, symbol)`` pair or model family it does
  not list is not trained. Blocked jobs (``training_type == "blocked"``) never train.

``symbol=None`` always means the cross-sectional job of a target.
"""
from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import PlanError
from .vocabulary import ROUTES, TRAINING_TYPES
from .plan_schema import (
    KNOWN_SCHEMA_VERSIONS,
    MASTER_PLAN_FILENAME,
    read_plan_document,
    resolve_plan_path,
    validate_plan_document,
)

__all__ = ["KNOWN_SCHEMA_VERSIONS", "PlanError", "TrainingPlan", "load_plan"]

logger = logging.getLogger("foxwarehouse.consumer")

_FILTER_TYPES = ("cross_sectional", "symbol_specific", None)


class TrainingPlan:
    """A loaded master training plan, indexed for O(1) look-ups.

    Build one with :func:`load_plan`, :meth:`from_document` or :meth:`allow_all`. The object is
    read-only after construction; the accessors return copies.
    """

    __slots__ = (
        "_doc",
        "_path",
        "_allow_all",
        "_jobs",
        "_cs",
        "_sym",
        "_sym_targets",
        "_trainable_targets",
    )

    def __init__(self, document: Mapping[str, Any] | None, path: str | os.PathLike | None = None, *, validate: bool = True):
        """``document`` is a parsed master plan; ``None`` makes an allow-all plan.

        With ``validate=True`` (the default) the document is checked against the schema first and
        a :class:`PlanError` is raised when it does not match.
        """
        self._path = Path(os.fspath(path)) if path is not None else None
        self._allow_all = document is None
        self._doc: dict[str, Any] = {}
        self._jobs: list[dict[str, Any]] = []
        self._cs: dict[str, dict[str, Any]] = {}
        self._sym: dict[tuple[str, str], dict[str, Any]] = {}
        self._sym_targets: set[str] = set()
        self._trainable_targets: set[str] = set()
        if document is None:
            return
        if validate:
            errors = validate_plan_document(document)
            if errors:
                raise PlanError(_invalid_message(self._path, errors))
        self._doc = document  # type: ignore[assignment]
        self._jobs = document["jobs"]
        cs, sym, sym_targets, trainable = self._cs, self._sym, self._sym_targets, self._trainable_targets
        for job in self._jobs:
            ttype = job["training_type"]
            if ttype == "blocked":
                continue
            target = job["target"]
            trainable.add(target)
            if ttype == "cross_sectional":
                cs[target] = job
            else:
                sym[(target, job["symbol"])] = job
                sym_targets.add(target)

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def allow_all(cls, path: str | os.PathLike | None = None) -> "TrainingPlan":
        """A plan that allows every target, symbol and family (what a missing plan means).

        ``path`` is only recorded (the place a plan was looked for), for diagnostics.
        """
        return cls(None, path)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], path: str | os.PathLike | None = None) -> "TrainingPlan":
        """Validate a parsed plan and index it; :class:`PlanError` when it is invalid."""
        return cls(document, path, validate=True)

    # -- properties -------------------------------------------------------------------------------

    @property
    def is_allow_all(self) -> bool:
        """True when no plan was found and everything is allowed."""
        return self._allow_all

    @property
    def path(self) -> Path | None:
        """The master plan file read (for an allow-all plan: where one was looked for, or None)."""
        return self._path

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the plan's ``metadata`` object ({} for an allow-all plan)."""
        return copy.deepcopy(self._doc.get("metadata", {}))

    @property
    def summary(self) -> dict[str, Any]:
        """A copy of the plan's ``summary`` object ({} for an allow-all plan)."""
        return copy.deepcopy(self._doc.get("summary", {}))

    def __len__(self) -> int:
        """Number of jobs in the plan (blocked ones included); 0 for an allow-all plan."""
        return len(self._jobs)

    def __repr__(self) -> str:
        if self._allow_all:
            return f"TrainingPlan.allow_all(path={str(self._path) if self._path else None!r})"
        return f"TrainingPlan(path={str(self._path) if self._path else None!r}, jobs={len(self._jobs)})"

    # -- questions a trainer asks -----------------------------------------------------------------

    def filter_targets(self, targets: Iterable[str], training_type: str | None = "cross_sectional") -> list[str]:
        """The targets the plan trains, in input order.

        ``training_type="cross_sectional"``: targets with a cross-sectional job;
        ``"symbol_specific"``: targets with at least one symbol-specific job;
        ``None``: targets with any job that is not blocked. An allow-all plan keeps every target.
        Logs ``Training plan filter applied: N → M targets`` at INFO.
        """
        if training_type not in _FILTER_TYPES:
            raise ValueError(
                f"training_type must be 'cross_sectional', 'symbol_specific' or None, got {training_type!r}"
            )
        targets = list(targets)
        if self._allow_all:
            kept = targets
        else:
            if training_type == "cross_sectional":
                allowed: Any = self._cs
            elif training_type == "symbol_specific":
                allowed = self._sym_targets
            else:
                allowed = self._trainable_targets
            kept = [t for t in targets if _hashable(t) and t in allowed]
        logger.info("Training plan filter applied: %d → %d targets", len(targets), len(kept))
        return kept

    def filter_symbols(self, target: str, symbols: Iterable[str]) -> list[str]:
        """The symbols that have a symbol-specific job for ``target``, in input order.

        An allow-all plan keeps every symbol.
        """
        symbols = list(symbols)
        if self._allow_all:
            return symbols
        sym = self._sym
        return [s for s in symbols if _hashable(s) and (target, s) in sym]

    def model_families(self, target: str, symbol: str | None = None) -> list[str]:
        """Model families of the job for ``target`` (its cross-sectional job when ``symbol`` is None).

        ``[]`` when the plan has no such job, the job is blocked, or the plan is allow-all (which
        knows no families: use your own defaults then).
        """
        job = self._job_for(target, symbol)
        return list(job["model_families"]) if job is not None else []

    def should_train(self, target: str, symbol: str | None = None, family: str | None = None) -> bool:
        """Whether to train ``target`` (cross-sectionally when ``symbol`` is None) or the pair.

        With ``family``, also whether that model family is listed for the job (case-insensitive).
        Always True for an allow-all plan; False for anything the plan does not list or blocks.
        """
        if self._allow_all:
            return True
        job = self._job_for(target, symbol)
        if job is None:
            return False
        if family is None:
            return True
        if not isinstance(family, str):
            return False
        return family.lower() in job["model_families"] or family in job["model_families"]

    def jobs(
        self,
        route: str | None = None,
        training_type: str | None = None,
        target: str | None = None,
        symbol: str | None = None,
        min_priority: int | None = None,
    ) -> list[dict[str, Any]]:
        """Jobs in plan order (copies), optionally filtered; every given filter must match.

        ``route`` and ``training_type`` must be known values (a typo raises ValueError).
        ``symbol=None`` does not filter; use ``training_type="cross_sectional"`` for CS jobs.
        ``min_priority`` keeps jobs with priority >= it. An allow-all plan has no jobs.
        """
        if route is not None and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {', '.join(ROUTES)}")
        if training_type is not None and training_type not in TRAINING_TYPES:
            raise ValueError(f"unknown training_type {training_type!r}; expected one of {', '.join(TRAINING_TYPES)}")
        out = []
        for job in self._jobs:
            if route is not None and job["route"] != route:
                continue
            if training_type is not None and job["training_type"] != training_type:
                continue
            if target is not None and job["target"] != target:
                continue
            if symbol is not None and job["symbol"] != symbol:
                continue
            if min_priority is not None and job["priority"] < min_priority:
                continue
            out.append(_copy_job(job))
        return out

    # -- internals --------------------------------------------------------------------------------

    def _job_for(self, target: Any, symbol: Any) -> dict[str, Any] | None:
        if not _hashable(target) or not _hashable(symbol):
            return None
        if symbol is None:
            return self._cs.get(target)
        return self._sym.get((target, symbol))


def _copy_job(job: dict[str, Any]) -> dict[str, Any]:
    """A copy the caller may modify without touching the plan's indexes (cheaper than deepcopy)."""
    out = dict(job)
    out["model_families"] = list(job["model_families"])
    out["metadata"] = copy.deepcopy(job["metadata"])
    return out


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _invalid_message(file: Path | None, errors: list[str]) -> str:
    where = f"training plan {file}" if file is not None else "training plan"
    if len(errors) == 1:
        return f"invalid {where}: {errors[0]}"
    return f"invalid {where}:\n  " + "\n  ".join(errors)


def load_plan(path: str | os.PathLike) -> TrainingPlan:
    """Load the training plan at ``path`` (a training_plan folder or the master JSON file).

    A missing plan gives :meth:`TrainingPlan.allow_all` and one warning. A plan that exists but
    cannot be read, parsed or validated raises :class:`PlanError` naming the file and the field.
    """
    file = resolve_plan_path(path)
    if file is None:
        where = Path(os.fspath(path)).expanduser()
        if where.is_dir():
            detail = f"no {MASTER_PLAN_FILENAME} in {where}"
        else:
            detail = f"{where} does not exist"
        logger.warning("No training plan found (%s): training all targets, symbols and families", detail)
        return TrainingPlan.allow_all(where)
    doc, errors = read_plan_document(file)
    if errors:
        raise PlanError(_invalid_message(file, errors))
    errors = validate_plan_document(doc)
    if errors:
        raise PlanError(_invalid_message(file, errors))
    return TrainingPlan(doc, file, validate=False)
