-- job_expansion: every job the plan could hold (SPEC §5) with its model families resolved.
-- A CS or symbol job whose family list ends up empty is kept here with has_families = false; it
-- is not emitted by training_jobs and is counted as skipped_no_families by plan_summary.
{% set tp = config.training_plan %}
WITH cs_jobs AS (
    SELECT
        'cs_' || target AS job_id,
        target,
        CAST(NULL AS VARCHAR) AS symbol,
        'ROUTE_CROSS_SECTIONAL' AS route,
        'cross_sectional' AS training_type,
        CASE WHEN cs_state = 'EXPERIMENTAL' THEN 1 ELSE 2 END AS priority,
        sample_size AS estimated_samples,
        reason,
        failed_model_families,
        FALSE AS needs_cs_ensemble,
        cs_state,
        CAST(NULL AS VARCHAR) AS local_state,
        score,
        task_class,
        horizon_tier
    FROM {{ ref('cs_decisions') }}
    WHERE cs_state <> 'DISALLOWED'
),
symbol_jobs AS (
    SELECT
        CASE WHEN route = 'ROUTE_BLOCKED' THEN 'blocked_' ELSE 'sym_' END || target || '_' || symbol AS job_id,
        target,
        symbol,
        route,
        CASE WHEN route = 'ROUTE_BLOCKED' THEN 'blocked' ELSE 'symbol_specific' END AS training_type,
        CASE route WHEN 'ROUTE_BOTH' THEN 3 WHEN 'ROUTE_SYMBOL_SPECIFIC' THEN 2 WHEN 'ROUTE_EXPERIMENTAL_ONLY' THEN 1 ELSE 0 END
            AS priority,
        sample_size AS estimated_samples,
        array_to_string(reasons, '; ') AS reason,
        failed_model_families,
        route = 'ROUTE_BOTH' AS needs_cs_ensemble,
        cs_state,
        local_state,
        score,
        task_class,
        horizon_tier
    FROM {{ ref('routing_decisions') }}
    WHERE route IN ('ROUTE_SYMBOL_SPECIFIC', 'ROUTE_BOTH', 'ROUTE_EXPERIMENTAL_ONLY')
{% if tp.include_blocked %}
       OR route = 'ROUTE_BLOCKED'
{% endif %}
),
all_jobs AS (
    SELECT * FROM cs_jobs
    UNION ALL
    SELECT * FROM symbol_jobs
),
with_families AS (
    SELECT
        *,
        CASE WHEN training_type = 'blocked' THEN CAST([] AS VARCHAR[])
             ELSE {{ job_families('route', 'failed_model_families') }} END AS model_families
    FROM all_jobs
)
SELECT
    job_id,
    target,
    symbol,
    route,
    training_type,
    model_families,
    priority,
    estimated_samples,
    reason,
    {
        'needs_cs_ensemble': needs_cs_ensemble,
        'cs_state': cs_state,
        'local_state': local_state,
        'score': score,
        'task_class': task_class,
        'horizon_tier': horizon_tier
    } AS metadata,
    training_type = 'blocked' OR len(model_families) > 0 AS has_families
FROM with_families
