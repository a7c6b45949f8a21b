"""The JSON text of one job, built in SQL, shared by the exporter, the feed and the plan fingerprint.

Numbers in a job's metadata are written so that YAML 1.1 readers also take them for numbers: DuckDB
writes doubles like ``1e-7`` and ``1e+21``, which are valid JSON but read as strings by PyYAML, so
they are rewritten as ``1.0e-7`` and ``1.0e+21`` (same value). That lets the YAML mirrors embed the
very same JSON text.
"""
from __future__ import annotations

_METADATA_JSON = (
    "regexp_replace(regexp_replace(to_json(metadata), "
    "'(:-?[0-9]+)([eE])', '\\1.0\\2', 'g'), '(:-?[0-9.]+[eE])([0-9])', '\\1+\\2', 'g')"
)

# Columns of master_plan -> the job object of master_training_plan.json (key order fixed).
JOB_JSON_SQL = f"""(rtrim(to_json({{
    'job_id': job_id,
    'target': target,
    'symbol': symbol,
    'route': route,
    'training_type': training_type,
    'model_families': model_families,
    'priority': priority,
    'estimated_samples': estimated_samples,
    'reason': reason
}}), '}}') || ',"metadata":' || coalesce({_METADATA_JSON}, 'null') || '}}')"""
