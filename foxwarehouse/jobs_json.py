"""The JSON text of one job, built in SQL, shared by the exporter and the plan fingerprint."""
from __future__ import annotations

# Columns of master_plan -> the job object of master_training_plan.json (key order fixed).
JOB_JSON_SQL = """to_json({
    'job_id': job_id,
    'target': target,
    'symbol': symbol,
    'route': route,
    'training_type': training_type,
    'model_families': model_families,
    'priority': priority,
    'estimated_samples': estimated_samples,
    'reason': reason,
    'metadata': metadata
})"""
