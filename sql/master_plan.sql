-- master_plan: the final view the exporter writes as master_training_plan.json, one row per job
-- in plan order.
SELECT
    plan_order,
    job_id,
    target,
    symbol,
    route,
    training_type,
    model_families,
    priority,
    estimated_samples,
    reason,
    metadata
FROM {{ ref('training_jobs') }}
ORDER BY plan_order
