-- (`materialized: view` in sql/models.yml: not stored per run; a plain projection of training_jobs,
-- so the warehouse defines it as the view master_plan over training_jobs, run_id included, and the
-- build adds the run-scoped view.)
--
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
