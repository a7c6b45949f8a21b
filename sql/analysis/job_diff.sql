-- plan_job_diff(a, b): the jobs of run `a` against the jobs of run `b`, joined on their grain
-- `job_id` (full outer join). One row per job that is
--   added    only in b,
--   removed  only in a,
--   changed  in both, with at least one compared column different.
-- Compared columns: target, symbol, route, training_type, model_families (as a list: order and
-- content), priority, estimated_samples; NULL-safe (IS DISTINCT FROM). Unchanged jobs are not
-- returned. `changed_columns` lists the differing columns of a changed job (empty otherwise).
-- jobs_a / jobs_b name the relation holding a side's jobs (default training_jobs); `foxwarehouse
-- diff` points them at a temp table loaded from a master_training_plan.json file.
--
--   SELECT * FROM plan_job_diff('20260101T000000000000-abc123', '20260102T000000000000-def456');
CREATE OR REPLACE MACRO plan_job_diff(a, b, jobs_a := 'training_jobs', jobs_b := 'training_jobs') AS TABLE
WITH side_a AS (
    SELECT job_id, target, symbol, route, training_type, model_families, priority, estimated_samples
    FROM query_table(jobs_a)
    WHERE run_id = a
),
side_b AS (
    SELECT job_id, target, symbol, route, training_type, model_families, priority, estimated_samples
    FROM query_table(jobs_b)
    WHERE run_id = b
),
joined AS (
    SELECT
        coalesce(sb.job_id, sa.job_id) AS job_id,
        sa.job_id IS NOT NULL AS in_a,
        sb.job_id IS NOT NULL AS in_b,
        sa.target AS target_a,                       sb.target AS target_b,
        sa.symbol AS symbol_a,                       sb.symbol AS symbol_b,
        sa.route AS route_a,                         sb.route AS route_b,
        sa.training_type AS training_type_a,         sb.training_type AS training_type_b,
        sa.model_families AS model_families_a,       sb.model_families AS model_families_b,
        sa.priority AS priority_a,                   sb.priority AS priority_b,
        sa.estimated_samples AS estimated_samples_a, sb.estimated_samples AS estimated_samples_b
    FROM side_a AS sa
    FULL OUTER JOIN side_b AS sb ON sa.job_id = sb.job_id
),
flagged AS (
    SELECT
        *,
        CASE WHEN in_a AND in_b THEN list_filter([
            CASE WHEN target_a IS DISTINCT FROM target_b THEN 'target' END,
            CASE WHEN symbol_a IS DISTINCT FROM symbol_b THEN 'symbol' END,
            CASE WHEN route_a IS DISTINCT FROM route_b THEN 'route' END,
            CASE WHEN training_type_a IS DISTINCT FROM training_type_b THEN 'training_type' END,
            CASE WHEN model_families_a IS DISTINCT FROM model_families_b THEN 'model_families' END,
            CASE WHEN priority_a IS DISTINCT FROM priority_b THEN 'priority' END,
            CASE WHEN estimated_samples_a IS DISTINCT FROM estimated_samples_b THEN 'estimated_samples' END
        ], lambda c: c IS NOT NULL) ELSE CAST([] AS VARCHAR[]) END AS changed_columns
    FROM joined
)
SELECT
    job_id,
    CASE WHEN NOT in_a THEN 'added' WHEN NOT in_b THEN 'removed' ELSE 'changed' END AS change,
    coalesce(target_b, target_a) AS target,
    CASE WHEN in_b THEN symbol_b ELSE symbol_a END AS symbol,
    changed_columns,
    route_a, route_b,
    training_type_a, training_type_b,
    model_families_a, model_families_b,
    priority_a, priority_b,
    estimated_samples_a, estimated_samples_b,
    target_a, target_b,
    symbol_a, symbol_b
FROM flagged
WHERE NOT (in_a AND in_b) OR len(changed_columns) > 0;

-- plan_job_grain(a, jobs := 'training_jobs'): rows and distinct job_ids of run `a`; the grain
-- of a job diff is unique when the two counts are equal.
CREATE OR REPLACE MACRO plan_job_grain(a, jobs := 'training_jobs') AS TABLE
SELECT count(*) AS n_rows, count(DISTINCT job_id) AS n_keys
FROM query_table(jobs)
WHERE run_id = a;
