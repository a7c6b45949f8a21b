-- routing_decisions: the route of every (target, symbol) pair (SPEC §4 "Route"), with the
-- experimental cap applied per target as a window: of the ROUTE_EXPERIMENTAL_ONLY pairs, the
-- floor(max_fraction_symbols_per_target x symbol rows) best by (score desc, symbol asc) keep it.
{% set r = config.routing %}
WITH pairs AS (
    SELECT
        s.target,
        s.symbol,
        cs.cs_state,
        cs.reason_code AS cs_reason_code,
        cs.reason AS cs_reason,
        s.signal_state AS local_state,
        s.reason_code AS local_reason_code,
        s.reason AS local_reason,
        s.score,
        s.sample_size,
        s.stability,
        s.leakage_status,
        s.task_class,
        s.horizon_tier,
        s.failed_model_families
    FROM {{ ref('candidate_signal_states') }} AS s
    JOIN {{ ref('cs_decisions') }} AS cs ON cs.target = s.target
    WHERE s.side = 'symbol'
),
routed AS (
    SELECT
        *,
        CASE
            WHEN cs_state IN ('STRONG', 'WEAK_BUT_OK') AND local_state IN ('STRONG', 'WEAK_BUT_OK')
                THEN {{ {'ROUTE_BOTH': 'ROUTE_BOTH', 'PREFER_CS': 'ROUTE_CROSS_SECTIONAL', 'PREFER_SYMBOL': 'ROUTE_SYMBOL_SPECIFIC'}[r.both_strong_behavior] }}
            WHEN cs_state IN ('STRONG', 'WEAK_BUT_OK') THEN 'ROUTE_CROSS_SECTIONAL'
            WHEN local_state IN ('STRONG', 'WEAK_BUT_OK') THEN 'ROUTE_SYMBOL_SPECIFIC'
            WHEN local_state = 'EXPERIMENTAL' THEN 'ROUTE_EXPERIMENTAL_ONLY'
            ELSE 'ROUTE_BLOCKED'
        END AS route_before_cap,
        count(*) OVER (PARTITION BY target) AS symbol_rows
    FROM pairs
),
ranked AS (
    SELECT
        *,
        -- The fraction as the decimal number written in the config (its shortest repr), so that
        -- floor(0.57 x 100) is 57 and not floor(56.99999999999999) as in binary floating point.
        CAST(floor(CAST(CAST({{ r.experimental.max_fraction_symbols_per_target }} AS VARCHAR) AS DECIMAL(38, 20))
                   * symbol_rows) AS BIGINT) AS experimental_cap,
        CASE WHEN route_before_cap = 'ROUTE_EXPERIMENTAL_ONLY' THEN
            row_number() OVER (
                PARTITION BY target, route_before_cap = 'ROUTE_EXPERIMENTAL_ONLY'
                ORDER BY score DESC, symbol ASC
            )
        END AS experimental_rank
    FROM routed
),
capped AS (
    SELECT
        *,
        CASE WHEN route_before_cap = 'ROUTE_EXPERIMENTAL_ONLY' AND experimental_rank > experimental_cap
            THEN 'ROUTE_BLOCKED' ELSE route_before_cap END AS route
    FROM ranked
)
SELECT
    target,
    symbol,
    route,
    route_before_cap,
    cs_state,
    local_state,
    list_concat(
        [cs_reason_code, local_reason_code],
        CASE WHEN route <> route_before_cap THEN ['EXPERIMENTAL_CAP'] ELSE CAST([] AS VARCHAR[]) END
    ) AS reason_codes,
    list_concat(
        [cs_reason, local_reason],
        CASE
            WHEN route <> route_before_cap THEN
                ['route: ROUTE_BLOCKED (EXPERIMENTAL_CAP: experimental rank ' || experimental_rank
                 || ' > cap ' || experimental_cap || ' = floor(' || CAST({{ r.experimental.max_fraction_symbols_per_target }} AS VARCHAR)
                 || ' x ' || symbol_rows || ' symbols))']
            ELSE ['route: ' || route] END
    ) AS reasons,
    experimental_rank,
    experimental_cap,
    symbol_rows,
    score,
    sample_size,
    stability,
    leakage_status,
    task_class,
    horizon_tier,
    failed_model_families
FROM capped
