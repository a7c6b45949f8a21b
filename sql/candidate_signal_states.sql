-- candidate_signal_states: the signal state of every candidate row on its side (cs for the target's
-- CS row, symbol for a symbol row), with the resolved thresholds and the rules that decided its
-- stability and its state (the stability and signal rule tables of macros/rules.sql).
{% set r = config.routing %}
WITH sided AS (
    SELECT
        * EXCLUDE (stability),
        stability AS input_stability,
        CASE WHEN symbol IS NULL THEN 'cs' ELSE 'symbol' END AS side,
        {{ task_class('task_type') }} AS task_class,
        {{ horizon_minutes('target') }} AS horizon_minutes
    FROM {{ ref('routing_candidates') }}
),
classified AS (
    SELECT *, {{ rule_code('stability') }} AS stability_rule
    FROM (SELECT *{{ rule_settings('stability') }} FROM sided)
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
        input_stability,
        {{ rule_outcome('stability', 'stability_rule') }} AS stability,
        stability_rule,
        failed_model_families,
        {{ min_sample_size('side', 'sample_size') }} AS min_n,
        {{ stability_allowlist('side', 'sample_size') }} AS allowlist
    FROM classified
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
    SELECT *, {{ rule_code('signal') }} AS reason_code
    FROM (SELECT *{{ rule_settings('signal') }} FROM thresholds)
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
    stability_rule,
    min_n,
    allowlist,
    min_score,
    strong_score,
    experimental_min_score,
    failed_model_families,
    {{ rule_outcome('signal', 'reason_code') }} AS signal_state,
    reason_code,
    side || ': ' || {{ rule_outcome('signal', 'reason_code') }} || ' (' || reason_code || ': '
        || {{ rule_reason('signal', 'reason_code') }} || ')' AS reason
FROM decided
