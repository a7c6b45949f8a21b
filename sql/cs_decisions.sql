-- cs_decisions: one row per target: its cross-sectional state (DISALLOWED with NO_CS_METRICS when
-- the target has no CS row) and whether cross-sectional training is ENABLED.
WITH targets AS (
    SELECT DISTINCT target FROM {{ ref('candidate_signal_states') }}
),
cs_rows AS (
    SELECT * FROM {{ ref('candidate_signal_states') }} WHERE side = 'cs'
)
SELECT
    t.target,
    coalesce(cs.signal_state, 'DISALLOWED') AS cs_state,
    CASE WHEN coalesce(cs.signal_state, 'DISALLOWED') <> 'DISALLOWED' THEN 'ENABLED' ELSE 'DISABLED' END AS route,
    coalesce(cs.reason_code, 'NO_CS_METRICS') AS reason_code,
    coalesce(cs.reason, 'cs: DISALLOWED (no cross-sectional metrics row for this target)') AS reason,
    cs.score,
    cs.sample_size,
    cs.stability,
    cs.task_class,
    cs.horizon_tier,
    cs.failed_model_families
FROM targets AS t
LEFT JOIN cs_rows AS cs ON cs.target = t.target
