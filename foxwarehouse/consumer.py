"""The trainer-side view of a training plan (what a trainer reads and how it falls back). Standard library only.

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

* Nothing at all at the path (no file, folder or link): a plan that allows everything, and one
  warning on the ``foxwarehouse.consumer`` logger. This keeps trainers that ran before plans existed
  working.
* Anything else that is not a valid plan (a dangling or looping link, an empty folder, a file that
  is corrupt, truncated, not JSON, has duplicate keys, does not match the schema, or whose
  ``metadata.total_jobs`` disagrees with its jobs, an unknown ``metadata.schema_version``):
  :class:`~foxwarehouse.errors.PlanError` naming the file and the field. Never a silent "train
  everything". A folder holding only the ``training_plan.json`` mirror loads it, with a warning.
* A plan written by FoxML's own generator (``metadata`` without ``schema_version``) loads as a
  legacy plan, checked against the shape FoxML writes, with one warning (``is_legacy``). A plan
  whose ``schema_version`` is present but not a known version is an error, never legacy.
* A plan that exists is authoritative: a target, ``(target, symbol)`` pair or model family it does
  not list is not trained. Blocked jobs (``training_type == "blocked"``) never train.

``symbol=None`` always means the cross-sectional job of a target.
"""
from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterable, Mapping
from itertools import compress, repeat
from operator import eq, itemgetter
from pathlib import Path
from typing import Any

from .errors import PlanError
from .plan_schema import (
    COPY_HINT,
    KNOWN_SCHEMA_VERSIONS,
    MASTER_PLAN_FILENAME,
    index_plan_jobs,
    is_legacy_plan_document,
    locate_plan,
    paused_gc,
    read_plan_document,
    validate_legacy_plan_document,
    validate_plan_document,
)
from .vocabulary import ROUTES, TRAINING_TYPES

__all__ = ["KNOWN_SCHEMA_VERSIONS", "PlanError", "TrainingPlan", "load_plan"]

logger = logging.getLogger("foxwarehouse.consumer")

_FILTER_TYPES = ("cross_sectional", "symbol_specific", None)
_NONE: dict[str, Any] = {}  # what a target without symbol jobs has (never modified)


class TrainingPlan:
    """A loaded master training plan, indexed for O(1) look-ups.

    Build one with :func:`load_plan`, :meth:`from_document` or :meth:`allow_all`. The object is
    read-only after construction; the accessors return copies.
    """

    __slots__ = (
        "_doc",
        "_path",
        "_allow_all",
        "_legacy",
        "_jobs",
        "_cs",
        "_sym",
        "_blocked",
        "_sym_targets",
        "_trainable_targets",
    )

    def __init__(self, document: Mapping[str, Any] | None, path: str | os.PathLike | None = None, *, validate: bool = True,
                 _index: dict[str, dict[str | None, dict[str, Any]]] | None = None):
        """``document`` is a parsed master plan; ``None`` makes an allow-all plan.

        With ``validate=True`` (the default) the document is checked against the schema first and
        a :class:`PlanError` is raised when it does not match. A legacy plan (FoxML's generator, no
        ``metadata.schema_version``) is checked against the shape FoxML writes; no warning here
        (:func:`load_plan` gives one).
        """
        self._path = Path(os.fspath(path)) if path is not None else None
        self._allow_all = document is None
        self._legacy = document is not None and is_legacy_plan_document(document)
        self._doc: dict[str, Any] = {}
        self._jobs: list[dict[str, Any]] = []
        self._cs: dict[str, dict[str, Any]] = {}
        # target -> {symbol: job} of the symbol-specific jobs: no (target, symbol) tuple per job to
        # make, keep and have the garbage collector walk, and no tuple per should_train call
        self._sym: dict[str, dict[str, dict[str, Any]]] = {}
        self._blocked: dict[tuple[str, str], dict[str, Any]] = {}
        self._sym_targets: set[str] = set()
        self._trainable_targets: set[str] = set()
        if document is None:
            return
        if validate:
            errors = _document_errors(document, self._legacy)
            if errors:
                raise PlanError(_invalid_message(self._path, errors, self._legacy))
        self._doc = document  # type: ignore[assignment]
        self._jobs = document["jobs"]
        if _index is not None:
            self._index_from(_index)
            return
        cs, sym, sym_targets, trainable = self._cs, self._sym, self._sym_targets, self._trainable_targets
        for job in self._jobs:
            ttype = job["training_type"]
            target = job["target"]
            if ttype == "blocked":
                self._blocked[(target, job["symbol"])] = job
                continue
            trainable.add(target)
            if ttype == "cross_sectional":
                if target in cs:  # only a legacy plan (FoxML's dev-mode fallback): one job per family
                    cs[target] = _merged(cs[target], job)
                else:
                    cs[target] = job
            else:
                sym.setdefault(target, {})[job["symbol"]] = job
                sym_targets.add(target)

    def _index_from(self, index: dict[str, dict[str | None, dict[str, Any]]]) -> None:
        """The indexes from ``plan_schema.index_plan_jobs``' target -> {symbol: job} of a consistent plan.

        Without a Python step per job: the symbol-specific jobs stay where they are; only the few
        cross-sectional and blocked ones are moved out.
        """
        jobs = self._jobs
        types = list(map(itemgetter("training_type"), jobs))
        for kind in set(types) - {"symbol_specific"}:
            for job in compress(jobs, map(eq, types, repeat(kind))):
                target, symbol = job["target"], job["symbol"]
                moved = index[target].pop(symbol)
                if kind == "blocked":
                    self._blocked[(target, symbol)] = moved
                else:
                    self._cs[target] = moved
        self._sym = {target: by_symbol for target, by_symbol in index.items() if by_symbol}  # type: ignore[misc]
        self._sym_targets = set(self._sym)
        self._trainable_targets = self._sym_targets | set(self._cs)

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def allow_all(cls, path: str | os.PathLike | None = None) -> TrainingPlan:
        """A plan that allows every target, symbol and family (what a missing plan means).

        ``path`` is only recorded (the place a plan was looked for), for diagnostics.
        """
        return cls(None, path)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], path: str | os.PathLike | None = None) -> TrainingPlan:
        """Validate a parsed plan and index it; :class:`PlanError` when it is invalid."""
        return cls(document, path, validate=True)

    # -- properties -------------------------------------------------------------------------------

    @property
    def is_allow_all(self) -> bool:
        """True when no plan was found and everything is allowed."""
        return self._allow_all

    @property
    def is_legacy(self) -> bool:
        """True for a plan written by FoxML's own generator (no ``metadata.schema_version``)."""
        return self._legacy

    @property
    def document(self) -> dict[str, Any]:
        """The parsed plan itself, not a copy ({} for an allow-all plan): read it, never modify it.

        What :mod:`foxwarehouse.foxml` hands to code written for FoxML's plan dicts.
        """
        return self._doc

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
        sym = self._sym.get(target, {}) if _hashable(target) else {}
        return [s for s in symbols if _hashable(s) and s in sym]

    def targets_to_train(self, targets: Iterable[str] | None = None) -> list[str]:
        """The targets to train at all: those with a job of any training type, in the given order.

        Use this to pick the targets a trainer loops over. :meth:`filter_targets` keeps by default
        only targets with a *cross-sectional* job, so a loop over its result silently skips the
        symbol-specific jobs of targets without one; use it only for a cross-sectional-only stage.
        Each given target is kept once. ``targets=None`` means the plan's own targets, in plan
        order. An allow-all plan keeps every given target (and, knowing no targets of its own,
        raises ValueError for ``None``). Logs ``Training plan filter applied: N → M targets``.
        """
        if targets is None:
            if self._allow_all:
                raise ValueError("an allow-all plan (no plan on disk) lists no targets; pass the targets to train")
            names = [job["target"] for job in self._jobs if job["training_type"] != "blocked"]
        else:
            names = _names(targets, "targets")
        return self.filter_targets(_unique(names), training_type=None)

    def pairs_to_train(
        self, targets: Iterable[str], symbols: Iterable[str] | Mapping[str, Iterable[str]]
    ) -> list[tuple[str, str | None]]:
        """Every job to train, as ``(target, symbol)``; ``symbol`` None is the target's cross-sectional job.

        The one loop a trainer needs, covering both training types::

            for target, symbol in plan.pairs_to_train(all_targets, all_symbols):
                families = plan.model_families(target, symbol)

        ``symbols`` is one collection for every target, or a mapping target -> its symbols (a
        target missing from the mapping has none). Order is deterministic: targets in the given
        order, each with its cross-sectional job first and then its symbol jobs in the given symbol
        order; every pair once. Blocked jobs are left out, and so are jobs whose target or symbol
        is not among those given (a warning says how many: data the trainer does not have cannot
        be trained). An allow-all plan gives every given target's cross-sectional pair and every
        given ``(target, symbol)``.
        """
        target_list = _unique(_names(targets, "targets"))
        if isinstance(symbols, Mapping):
            per_target = {t: _unique(_names(symbols.get(t, ()), f"symbols[{t!r}]")) for t in target_list
                          if _hashable(t)}
        else:
            shared = _unique(_names(symbols, "symbols"))
            per_target = {t: shared for t in target_list if _hashable(t)}
        pairs: list[tuple[str, str | None]] = []
        for target in target_list:
            if not _hashable(target):
                continue
            if self._allow_all or target in self._cs:
                pairs.append((target, None))
            pairs.extend((target, s) for s in per_target[target]
                         if self._allow_all or (_hashable(s) and s in self._sym.get(target, {})))
        if not self._allow_all:
            # Jobs the plan has but the caller's names do not reach: most likely a missing symbol
            # list or a name spelled differently, which would otherwise go unnoticed.
            missed = len(self._cs) + sum(map(len, self._sym.values())) - len(pairs)
            if missed:
                logger.warning("Training plan: %d planned job(s) not among the given targets/symbols; not trained",
                               missed)
        logger.info("Training plan: %d job(s) to train for %d target(s)", len(pairs), len(target_list))
        return pairs

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
        try:  # (inlined _job_for: a trainer may call this once per job, millions of times)
            job = self._cs.get(target) if symbol is None else self._sym.get(target, _NONE).get(symbol)
        except TypeError:  # an unhashable name: no plan lists it
            return False
        if job is None:
            return False
        if family is None:
            return True
        if not isinstance(family, str):
            return False
        families = job["model_families"]
        return family.lower() in families or family in families

    def has_jobs(self, training_type: str | None = None, target: str | None = None) -> bool:
        """Whether the plan has a job that is not blocked (of ``training_type``, for ``target`` when given).

        ``training_type`` is ``"cross_sectional"``, ``"symbol_specific"`` or None (either). False for
        an allow-all plan, which has no jobs.
        """
        if training_type not in _FILTER_TYPES:
            raise ValueError(
                f"training_type must be 'cross_sectional', 'symbol_specific' or None, got {training_type!r}"
            )
        allowed: Any
        if training_type == "cross_sectional":
            allowed = self._cs
        elif training_type == "symbol_specific":
            allowed = self._sym_targets
        else:
            allowed = self._trainable_targets
        if target is None:
            return bool(allowed)
        return _hashable(target) and target in allowed

    def job(self, target: str, symbol: str | None = None, include_blocked: bool = False) -> dict[str, Any] | None:
        """A copy of the job for ``target`` (its cross-sectional job when ``symbol`` is None) or the pair.

        None when the plan has no such job, or it is blocked and ``include_blocked`` is False, or the
        plan is allow-all. A legacy plan with several cross-sectional jobs for one target (FoxML's
        dev-mode fallback) gives the first, with the model families of all of them.
        """
        job = self._job_for(target, symbol)
        if job is None and include_blocked and symbol is not None and _hashable(target) and _hashable(symbol):
            job = self._blocked.get((target, symbol))
        return _copy_job(job) if job is not None else None

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
        return self._sym.get(target, _NONE).get(symbol)


def _names(values: Iterable[Any], what: str) -> list[Any]:
    """A list of names; one string is refused (iterating it would give its characters)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a collection of names, not one string: {values!r}")
    return list(values)


def _unique(values: list[Any]) -> list[Any]:
    """`values` in order, each once (unhashable ones are kept: no plan lists them anyway)."""
    seen: set[Any] = set()
    out = []
    for value in values:
        if _hashable(value):
            if value in seen:
                continue
            seen.add(value)
        out.append(value)
    return out


def _merged(first: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """`first` with the model families of `other` added (a legacy plan's extra CS job for a target)."""
    out = dict(first)
    out["model_families"] = list(first["model_families"]) + [
        f for f in other["model_families"] if f not in first["model_families"]]
    return out


def _document_errors(document: Any, legacy: bool) -> list[str]:
    return validate_legacy_plan_document(document) if legacy else validate_plan_document(document)


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


def _invalid_message(file: Path | None, errors: list[str], legacy: bool = False) -> str:
    where = f"training plan {file}" if file is not None else "training plan"
    if legacy:
        where += " (a legacy FoxML plan: no metadata.schema_version)"
    if len(errors) == 1:
        return f"invalid {where}: {errors[0]}"
    return f"invalid {where}:\n  " + "\n  ".join(errors)


def load_plan(path: str | os.PathLike) -> TrainingPlan:
    """Load the training plan at ``path`` (a training_plan folder or the master JSON file).

    Nothing at all at ``path`` gives :meth:`TrainingPlan.allow_all` and one warning. Anything else
    that is not a valid plan (a dangling or looping link, an empty folder, a file that cannot be
    read, parsed or validated) raises :class:`PlanError` naming the file and the field. A folder
    holding only the ``training_plan.json`` mirror loads it, with a warning. A plan written by FoxML's
    own generator (no ``metadata.schema_version``) loads as a legacy plan, with one warning.
    """
    where = Path(os.fspath(path)).expanduser()
    file, kind = locate_plan(where)
    if kind == "missing":
        # Only when nothing at all is at the path: a trainer that ran before plans existed.
        logger.warning("No training plan found (%s does not exist): training all targets, symbols and families",
                       where)
        return TrainingPlan.allow_all(where)
    if kind == "broken":
        raise PlanError(f"invalid training plan {where}: {file} is a link that leads nowhere (a dangling or "
                        f"looping symlink, e.g. a plan copied without the files it links to); {COPY_HINT}")
    if kind == "empty" or file is None:
        raise PlanError(f"invalid training plan {where}: a folder without {MASTER_PLAN_FILENAME} (empty or "
                        f"incomplete; refusing to train everything); {COPY_HINT}")
    if kind == "mirror":
        logger.warning("Training plan %s has no %s; loading its mirror %s", file.parent, MASTER_PLAN_FILENAME,
                       file.name)
    with paused_gc():  # millions of new containers and no garbage: see plan_schema.paused_gc
        doc, errors = read_plan_document(file)
        if errors:
            raise PlanError(_invalid_message(file, errors))
        legacy = is_legacy_plan_document(doc)
        index = None
        if not legacy:
            # The schema first, then the consistency rules in the same pass that builds the index;
            # only a plan that fails them is checked job by job, to name the job.
            columns: dict = {}
            errors = validate_plan_document(doc, consistency=False, columns=columns)
            if not errors:
                index = index_plan_jobs(doc, columns=columns)
            del columns
        if index is None:
            errors = _document_errors(doc, legacy)
            if errors:
                raise PlanError(_invalid_message(file, errors, legacy))
        if legacy:
            logger.warning("Training plan %s was written by FoxML's own generator (no metadata.schema_version): "
                           "loading it as a legacy plan; export it again with foxwarehouse for a versioned, "
                           "fingerprinted plan", file)
        return TrainingPlan(doc, file, validate=False, _index=index)
