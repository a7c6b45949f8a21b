-- routing_candidates: one row per CS row and per (target, symbol) row, in the shape of the routing-candidates input.
-- Reads the 2a source as is, and aggregates the 2b raw sources (feature selection, stability
-- snapshots, leakage) into the same shape. Defaults: stability UNKNOWN, sample_size 0, leakage UNKNOWN.
WITH snapshot_stats AS (
    SELECT
        target,
        symbol,
        count(*) AS n_snapshots,
        -- ORDER BY inside the aggregates fixes the summation order, so results do not depend on
        -- how DuckDB splits the work across threads (byte-identical plans).
        avg(overlap ORDER BY snapshot_id, overlap) AS mean_overlap,
        stddev_pop(overlap ORDER BY snapshot_id, overlap) AS std_overlap,
        avg(tau ORDER BY snapshot_id, tau) AS mean_tau,
        stddev_pop(tau ORDER BY snapshot_id, tau) AS std_tau
    FROM {{ source('stability_snapshots') }}
    GROUP BY target, symbol
),
leakage_flags AS (
    SELECT
        target,
        symbol,
        CASE WHEN leakage_status = 'BLOCKED' AND coalesce(quarantine_confirmed, FALSE) THEN 'SUSPECT'
             ELSE leakage_status END AS leakage_status
    FROM {{ source('leakage') }}
),
aggregated AS (
    SELECT
        fs.target,
        fs.symbol,
        CASE WHEN fs.symbol IS NULL THEN 'CROSS_SECTIONAL' ELSE 'SYMBOL_SPECIFIC' END AS mode,
        fs.score,
        fs.score_ci_low,
        fs.score_ci_high,
        CAST(NULL AS VARCHAR) AS stability,
        fs.sample_size,
        lk.leakage_status,
        fs.feature_set_id,
        fs.metric_name,
        fs.failed_model_families,
        fs.model_status,
        fs.task_type,
        st.mean_overlap,
        st.std_overlap,
        st.mean_tau,
        st.std_tau,
        st.n_snapshots
    FROM {{ source('feature_selection') }} AS fs
    LEFT JOIN snapshot_stats AS st
        ON st.target = fs.target AND st.symbol IS NOT DISTINCT FROM fs.symbol
    LEFT JOIN leakage_flags AS lk
        ON lk.target = fs.target AND lk.symbol IS NOT DISTINCT FROM fs.symbol
),
given AS (
    SELECT
        target, symbol, mode, score, score_ci_low, score_ci_high, stability, sample_size,
        leakage_status, feature_set_id, metric_name, failed_model_families, model_status,
        task_type, mean_overlap, std_overlap, mean_tau, std_tau, n_snapshots
    FROM {{ source('routing_candidates') }}
),
all_rows AS (
    SELECT * FROM given
    UNION ALL
    SELECT * FROM aggregated
)
SELECT
    target,
    symbol,
    mode,
    {{ finite_or_null('score') }} AS score,
    {{ finite_or_null('score_ci_low') }} AS score_ci_low,
    {{ finite_or_null('score_ci_high') }} AS score_ci_high,
    coalesce(stability, 'UNKNOWN') AS stability,
    coalesce(sample_size, 0) AS sample_size,
    coalesce(leakage_status, 'UNKNOWN') AS leakage_status,
    feature_set_id,
    metric_name,
    failed_model_families,
    model_status,
    task_type,
    CASE WHEN isnan(mean_overlap) THEN NULL ELSE mean_overlap END AS mean_overlap,
    CASE WHEN isnan(std_overlap) THEN NULL ELSE std_overlap END AS std_overlap,
    CASE WHEN isnan(mean_tau) THEN NULL ELSE mean_tau END AS mean_tau,
    CASE WHEN isnan(std_tau) THEN NULL ELSE std_tau END AS std_tau,
    n_snapshots
FROM all_rows
