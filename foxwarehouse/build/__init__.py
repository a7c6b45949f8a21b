"""The build stage: materialising the SQL models of one run and auditing the result.

``builder`` renders and materialises the models in dependency order for a run (``prepare_run``,
``build``); ``audits`` runs the post-build checks declared in ``sql/models.yml`` (``run_audits``).
"""
from __future__ import annotations

from .audits import Audit, AuditFailure, check_audits, load_audits, run_audits
from .builder import PLAN_MODEL, BuildResult, build, prepare_run

__all__ = [
    "PLAN_MODEL", "Audit", "AuditFailure", "BuildResult", "build", "check_audits", "load_audits", "prepare_run",
    "run_audits",
]
