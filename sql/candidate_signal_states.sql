-- candidate_signal_states: the signal state of every candidate row on its side (cs for the target's
-- CS row, symbol for a symbol row), with the resolved thresholds and the rule that decided it.
{% set r = config.routing %}
WITH sided AS (
    SELECT
        *,
        CASE WHEN symbol IS NULL THEN 'cs' ELSE 'symbol' END AS side,
        {{ task_class('task_type') }} AS task_class,
        {{ horizon_minutes('target') }} AS horizon_minutes,
        {{ classify_stability('stability', 'mean_overlap', 'std_overlap', 'mean_tau', 'std_tau', 'n_snapshots') }}
            AS classified_stability
    FROM {{ ref('routing_candidates') }}
),
resolved AS (
    SELECT
        target,
        symbol,
        side,
        score,
        sample_size,
        leakage_status,
        task_type,
        task_class,
        horizon_minutes,
        {{ horizon_tier('horizon_minutes') }} AS horizon_tier,
        stability AS input_stability,
        classified_stability AS stability,
        failed_model_families,
        {{ min_sample_size('side', 'sample_size') }} AS min_n,
        {{ stability_allowlist('side', 'sample_size') }} AS allowlist
    FROM sided
),
thresholds AS (
    SELECT
        *,
        CASE WHEN side = 'cs'
            THEN {{ resolve_threshold(r.cross_sectional.min_score, 'task_class', 'horizon_tier') }}
            ELSE {{ resolve_threshold(r.symbol.min_score, 'task_class', 'horizon_tier') }} END AS min_score,
        CASE WHEN side = 'cs'
            THEN {{ resolve_threshold(r.cross_sectional.strong_score, 'task_class', 'horizon_tier') }}
            ELSE {{ resolve_threshold(r.symbol.strong_score, 'task_class', 'horizon_tier') }} END AS strong_score,
{% if r.experimental.min_score is not none %}
        {{ resolve_threshold(r.experimental.min_score, 'task_class', 'horizon_tier') }} AS experimental_min_score
{% else %}
        CAST(NULL AS DOUBLE) AS experimental_min_score
{% endif %}
    FROM resolved
),
decided AS (
    SELECT *, {{ signal_reason_code() }} AS reason_code
    FROM thresholds
)
SELECT
    target,
    symbol,
    side,
    score,
    sample_size,
    leakage_status,
    task_type,
    task_class,
    horizon_minutes,
    horizon_tier,
    input_stability,
    stability,
    min_n,
    allowlist,
    min_score,
    strong_score,
    experimental_min_score,
    failed_model_families,
    {{ signal_state('reason_code') }} AS signal_state,
    reason_code,
    side || ': ' || {{ signal_state('reason_code') }} || ' (' || {{ signal_reason_text('reason_code') }} || ')' AS reason
FROM decided
