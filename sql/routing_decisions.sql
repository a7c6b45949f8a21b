-- routing_decisions: the route of every (target, symbol) pair (the route rule table of
-- macros/rules.sql), then the experimental cap (the cap rule table) for ROUTE_EXPERIMENTAL_ONLY
-- pairs, ranked per target as a window: experimental_cap = floor(max_fraction_symbols_per_target x
-- symbol rows), experimental_rank by (score desc, symbol asc).
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
-- The symbol rows of each target (the pairs above, counted without their wide columns): a
-- count(*) OVER (PARTITION BY target) would carry every pair's reasons through its sort.
pair_counts AS (
    SELECT s.target, count(*) AS symbol_rows
    FROM {{ ref('candidate_signal_states') }} AS s
    JOIN {{ ref('cs_decisions') }} AS cs ON cs.target = s.target
    WHERE s.side = 'symbol'
    GROUP BY s.target
),
routed AS (
    SELECT
        r.*,
        {{ rule_outcome('route', 'route_rule') }} AS route_before_cap,
        n.symbol_rows
    FROM (
        SELECT *, {{ rule_code('route') }} AS route_rule
        FROM (SELECT *{{ rule_settings('route') }} FROM pairs)
    ) AS r
    JOIN pair_counts AS n ON n.target = r.target
),
-- The rank among a target's ROUTE_EXPERIMENTAL_ONLY pairs, computed over their keys and scores
-- only and joined back: a window over every pair would carry all of its reasons through the sort.
experimental_ranks AS (
    SELECT
        target,
        symbol,
        row_number() OVER (PARTITION BY target ORDER BY score DESC, symbol ASC) AS experimental_rank
    FROM routed
    WHERE route_before_cap = 'ROUTE_EXPERIMENTAL_ONLY'
),
ranked AS (
    SELECT
        r.*,
        -- The fraction as the decimal number written in the config (its shortest repr), so that
        -- floor(0.57 x 100) is 57 and not floor(56.99999999999999) as in binary floating point.
        CAST(floor(CAST(CAST({{ r.experimental.max_fraction_symbols_per_target }} AS VARCHAR) AS DECIMAL(38, 20))
                   * r.symbol_rows) AS BIGINT) AS experimental_cap,
        k.experimental_rank
    FROM routed AS r
    LEFT JOIN experimental_ranks AS k ON k.target = r.target AND k.symbol = r.symbol
),
cap_decided AS (
    SELECT
        *,
        CASE WHEN route_before_cap = 'ROUTE_EXPERIMENTAL_ONLY' THEN {{ rule_code('cap') }} END AS cap_rule
    FROM (SELECT *{{ rule_settings('cap') }} FROM ranked)
),
capped AS (
    SELECT
        *,
        CASE WHEN cap_rule IS NULL THEN route_before_cap ELSE {{ rule_outcome('cap', 'cap_rule') }} END AS route
    FROM cap_decided
)
SELECT
    target,
    symbol,
    route,
    route_before_cap,
    cs_state,
    local_state,
    route_rule,
    cap_rule,
    list_concat(
        [cs_reason_code, local_reason_code],
        CASE WHEN route <> route_before_cap THEN [cap_rule] ELSE CAST([] AS VARCHAR[]) END
    ) AS reason_codes,
    list_concat(
        [cs_reason, local_reason,
         'route: ' || route_before_cap || ' (' || route_rule || ': ' || {{ rule_reason('route', 'route_rule') }} || ')'],
        CASE WHEN cap_rule IS NOT NULL THEN
            ['cap: ' || route || ' (' || cap_rule || ': ' || {{ rule_reason('cap', 'cap_rule') }}
             || '; experimental_cap = floor(' || CAST({{ r.experimental.max_fraction_symbols_per_target }} AS VARCHAR)
             || ' x ' || symbol_rows || ' symbol rows))']
        ELSE CAST([] AS VARCHAR[]) END
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
