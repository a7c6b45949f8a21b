-- job_expansion: every job the plan could hold, with its model families resolved. Which decision
-- makes which job (its training_type and priority) is the job rule table of macros/rules.sql, applied
-- to each target's CS decision (side 'cs') and each pair's decision (side 'pair').
-- A CS or symbol job whose family list ends up empty is kept here with has_families = false; it
-- is not emitted by training_jobs and is counted as skipped_no_families by plan_summary.
WITH decisions AS (
    SELECT
        'cs' AS side,
        target,
        CAST(NULL AS VARCHAR) AS symbol,
        CAST(NULL AS VARCHAR) AS route,
        cs_state,
        CAST(NULL AS VARCHAR) AS local_state,
        sample_size,
        reason,
        failed_model_families,
        score,
        task_class,
        horizon_tier
    FROM {{ ref('cs_decisions') }}
    UNION ALL
    SELECT
        'pair' AS side,
        target,
        symbol,
        route,
        cs_state,
        local_state,
        sample_size,
        array_to_string(reasons, '; ') AS reason,
        failed_model_families,
        score,
        task_class,
        horizon_tier
    FROM {{ ref('routing_decisions') }}
),
ruled AS (
    SELECT *, {{ rule_code('job') }} AS job_rule
    FROM (SELECT *{{ rule_settings('job') }} FROM decisions)
),
all_jobs AS (
    SELECT
        CASE training_type WHEN 'cross_sectional' THEN 'cs_' WHEN 'blocked' THEN 'blocked_' ELSE 'sym_' END
            || target || coalesce('_' || symbol, '') AS job_id,
        target,
        symbol,
        CASE WHEN side = 'cs' THEN 'ROUTE_CROSS_SECTIONAL' ELSE route END AS route,
        training_type,
        priority,
        sample_size AS estimated_samples,
        reason,
        failed_model_families,
        needs_cs_ensemble,
        cs_state,
        local_state,
        score,
        task_class,
        horizon_tier
    FROM (
        SELECT
            *,
            {{ rule_outcome('job', 'job_rule') }} AS training_type,
            {{ rule_outcome('job', 'job_rule', 'priority') }} AS priority,
            {{ rule_outcome('job', 'job_rule', 'needs_cs_ensemble', false) }} AS needs_cs_ensemble
        FROM ruled
    )
    WHERE training_type IS NOT NULL
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
