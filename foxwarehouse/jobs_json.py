"""The JSON text of one job, built in SQL, shared by the exporter, the feed and the plan fingerprint.

In a `plan` the text of every job is made once (``materialise``) and both the fingerprint and the
export read it.

Numbers in a job's metadata are written so that YAML 1.1 readers also take them for numbers: DuckDB
writes doubles like ``1e-7`` and ``1e+21``, which are valid JSON but read as strings by PyYAML, so
they are rewritten as ``1.0e-7`` and ``1.0e+21`` (same value). That lets the YAML mirrors embed the
very same JSON text.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import DuckDBEngine

_METADATA_JSON = (
    "regexp_replace(regexp_replace(to_json(metadata), "
    "'(:-?[0-9]+)([eE])', '\\1.0\\2', 'g'), '(:-?[0-9.]+[eE])([0-9])', '\\1+\\2', 'g')"
)

_JOB_FIELDS = """
    'job_id': job_id,
    'target': target,
    'symbol': symbol,
    'route': route,
    'training_type': training_type,
    'model_families': model_families,
    'priority': priority,
    'estimated_samples': estimated_samples,
    'reason': reason"""

# Columns of master_plan -> the job object of master_training_plan.json (key order fixed).
# One to_json of the whole job is the common case. Only a job whose metadata has a number in
# exponent form (what both rewrites of _METADATA_JSON look for: a ':', digits, an 'e') takes the
# slow path that splices the rewritten metadata in; both paths give the same bytes otherwise.
JOB_JSON_SQL = f"""(CASE WHEN regexp_matches(to_json(metadata), ':-?[0-9.]+[eE]')
    THEN rtrim(to_json({{{_JOB_FIELDS}
    }}), '}}') || ',"metadata":' || {_METADATA_JSON} || '}}'
    ELSE to_json({{{_JOB_FIELDS},
    'metadata': metadata
    }}) END)"""

# The temp table one plan's job JSON is made into: the build hashes it, the export writes from it.
JOB_JSON_TABLE = "temp.main.fw_job_json"


def materialise(engine: DuckDBEngine, plan_relation: str, run_id: str | None = None,
                into: str = JOB_JSON_TABLE) -> str:
    """Make the JSON text of every job once, in plan order; returns the table's name.

    The rows are inserted in plan order and the warehouse keeps insertion order, so the export
    writes the plan files from a plain scan of this table (no sort of the text).

    `plan_relation` holds the final view's rows: of one run already, or filtered here to `run_id`.
    """
    where, params = ("WHERE run_id = ? ", [run_id]) if run_id is not None else ("", None)
    engine.create_table_as(
        into,
        f"SELECT plan_order, target, symbol, route, training_type, {JOB_JSON_SQL} AS job_json "
        f"FROM {plan_relation} {where}ORDER BY plan_order",
        params, temporary=True, replace=True,
    )
    return into
