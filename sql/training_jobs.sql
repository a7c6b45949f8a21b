-- training_jobs: the jobs of the plan, in plan order: priority desc, then job_id asc (byte order).
SELECT
    CAST(row_number() OVER (ORDER BY priority DESC, job_id ASC) AS BIGINT) AS plan_order,
    job_id,
    target,
    symbol,
    route,
    training_type,
    model_families,
    CAST(priority AS INTEGER) AS priority,
    CAST(estimated_samples AS BIGINT) AS estimated_samples,
    reason,
    metadata
FROM {{ ref('job_expansion') }}
WHERE has_families
