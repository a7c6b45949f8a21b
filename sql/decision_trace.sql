-- (`materialized: view` in sql/models.yml: computed when read, from the run's stored tables and
-- config; the build does not store ~30 rows per pair. `foxwarehouse explain` and the
-- latest_decision_trace view read it.)
--
-- decision_trace: every routing rule evaluated for every candidate row and pair, in order, with the
-- row's values. One row per (target, symbol, side, step):
--   side 'cs' / 'symbol': stage 'stability' (the stability rules), 'threshold' (resolved thresholds),
--                         'signal' (the signal rules; rule 0 = no CS row for the target)
--   side 'pair':          stage 'route' (the route rules) and, for experimental pairs, 'cap'
-- The rules are the rule tables of macros/rules.sql, the same tables the decision models are
-- generated from. `decided` marks the rule named by the decision's stored reason code (stability_rule,
-- reason_code, route_rule, cap_rule); `result` is the decision's own column.
{% set r = config.routing %}
WITH rows_in AS (
    SELECT
        s.*,
        c.mean_overlap,
        c.std_overlap,
        c.mean_tau,
        c.std_tau,
        c.n_snapshots,
        CASE WHEN s.side = 'cs' THEN 'cross_sectional' ELSE 'symbol' END AS side_key,
        CASE WHEN s.task_class = 'classification' THEN 'classification'
             ELSE 'regression.' || s.horizon_tier END AS threshold_key,
        '[' || array_to_string(s.allowlist, ', ') || ']' AS allowlist_t
        {{ rule_settings('stability') }}
        {{ rule_settings('signal') }}
    FROM {{ ref('candidate_signal_states') }} AS s
    LEFT JOIN {{ ref('routing_candidates') }} AS c
        ON c.target = s.target AND c.symbol IS NOT DISTINCT FROM s.symbol
),
stability_checks AS (
    SELECT
        target, symbol, side, stability AS result, stability_rule AS reason_code,
        {{ rule_position('stability', 'stability_rule') }} AS decided_rule,
        unnest({{ rule_checks('stability') }}) AS c
    FROM rows_in
),
threshold_checks AS (
    SELECT
        target, symbol, side, CAST(NULL AS VARCHAR) AS result, CAST(NULL AS VARCHAR) AS reason_code, 0 AS decided_rule,
        unnest([
            {'stage': 'threshold', 'rule': 0, 'check_name': 'task_class',
             'condition': 'classification when upper(task_type) contains CLASSIFICATION, else regression',
             'observed': 'task_type = ' || coalesce(task_type, 'null'), 'threshold': '',
             'applies': TRUE, 'outcome': task_class},
            {'stage': 'threshold', 'rule': 0, 'check_name': 'horizon_tier',
             'condition': 'horizon from the target name: none -> default, <60 short, <240 medium, <1440 long, else very_long',
             'observed': CASE WHEN horizon_minutes IS NULL THEN 'no horizon in the target name'
                              ELSE 'horizon = ' || coalesce(CAST(TRY_CAST(horizon_minutes AS HUGEINT) AS VARCHAR), CAST(horizon_minutes AS VARCHAR))
                                   || ' minutes (from the target name)' END,
             'threshold': '', 'applies': TRUE, 'outcome': horizon_tier},
            {'stage': 'threshold', 'rule': 0, 'check_name': 'min_n',
{% if r.dev_mode %}
             'condition': CASE WHEN side = 'cs'
                 THEN 'dev_mode: min(max(dev_mode_min_sample_size, floor(0.1 x sample_size)), min_sample_size.cross_sectional)'
                 ELSE 'routing.min_sample_size.symbol' END,
             'observed': CASE WHEN side = 'cs' THEN 'sample_size = ' || CAST(sample_size AS VARCHAR) ELSE '' END,
             'threshold': CASE WHEN side = 'cs'
                 THEN 'min(max(' || CAST({{ r.dev_mode_min_sample_size }} AS VARCHAR) || ', ' || CAST(sample_size // 10 AS VARCHAR)
                      || '), ' || CAST({{ r.min_sample_size.cross_sectional }} AS VARCHAR) || ')'
                 ELSE '' END,
{% else %}
             'condition': 'routing.min_sample_size.' || side_key,
             'observed': '', 'threshold': '',
{% endif %}
             'applies': TRUE, 'outcome': CAST(min_n AS VARCHAR)},
            {'stage': 'threshold', 'rule': 0, 'check_name': 'allowlist',
             'condition': 'routing.stability_allowlist.' || side_key,
{% if r.dev_mode %}
             'observed': CASE WHEN side = 'cs' AND sample_size < {{ r.min_sample_size.cross_sectional }}
                 THEN 'dev_mode: UNKNOWN added (sample_size ' || CAST(sample_size AS VARCHAR) || ' < '
                      || CAST({{ r.min_sample_size.cross_sectional }} AS VARCHAR) || ')'
                 ELSE '' END,
{% else %}
             'observed': '',
{% endif %}
             'threshold': '', 'applies': TRUE, 'outcome': allowlist_t},
            {'stage': 'threshold', 'rule': 0, 'check_name': 'min_score',
             'condition': 'routing.' || side_key || '.min_score.' || threshold_key,
             'observed': '', 'threshold': '', 'applies': TRUE, 'outcome': coalesce(CAST(min_score AS VARCHAR), 'null')},
            {'stage': 'threshold', 'rule': 0, 'check_name': 'strong_score',
             'condition': 'routing.' || side_key || '.strong_score.' || threshold_key,
             'observed': '', 'threshold': '', 'applies': TRUE, 'outcome': coalesce(CAST(strong_score AS VARCHAR), 'null')},
            {'stage': 'threshold', 'rule': 0, 'check_name': 'experimental_min_score',
             'condition': 'routing.experimental.min_score.' || threshold_key,
             'observed': '', 'threshold': '', 'applies': TRUE,
             'outcome': coalesce(CAST(experimental_min_score AS VARCHAR), 'null')}
        ]) AS c
    FROM rows_in
),
signal_checks AS (
    SELECT
        target, symbol, side, signal_state AS result, reason_code,
        {{ rule_position('signal', 'reason_code') }} AS decided_rule,
        unnest({{ rule_checks('signal') }}) AS c
    FROM rows_in
),
no_cs_row AS (
    SELECT
        target, CAST(NULL AS VARCHAR) AS symbol, 'cs' AS side, cs_state AS result, reason_code, 0 AS decided_rule,
        {'stage': 'signal', 'rule': 0, 'check_name': 'NO_CS_METRICS',
         'condition': 'the target has no cross-sectional row', 'observed': '', 'threshold': '',
         'applies': TRUE, 'outcome': 'DISALLOWED'} AS c
    FROM {{ ref('cs_decisions') }}
    WHERE reason_code = 'NO_CS_METRICS'
),
pairs AS (
    SELECT
        *,
        count(*) FILTER (WHERE route_before_cap = 'ROUTE_EXPERIMENTAL_ONLY') OVER (PARTITION BY target) AS experimental_pairs
        {{ rule_settings('route') }}
        {{ rule_settings('cap') }}
    FROM {{ ref('routing_decisions') }}
),
route_checks AS (
    SELECT
        target, symbol, 'pair' AS side, route_before_cap AS result, route_rule AS reason_code,
        {{ rule_position('route', 'route_rule') }} AS decided_rule,
        unnest({{ rule_checks('route') }}) AS c
    FROM pairs
),
cap_checks AS (
    SELECT
        target, symbol, 'pair' AS side, route AS result, cap_rule AS reason_code,
        {{ rule_position('cap', 'cap_rule') }} AS decided_rule,
        'experimental_rank ' || CAST(experimental_rank AS VARCHAR) || ' of ' || CAST(experimental_pairs AS VARCHAR)
            || ' experimental pairs (by score desc, symbol asc); experimental_cap = floor('
            || CAST({{ r.experimental.max_fraction_symbols_per_target }} AS VARCHAR) || ' x '
            || CAST(symbol_rows AS VARCHAR) || ' symbol rows)' AS derivation,
        unnest({{ rule_checks('cap') }}) AS c
    FROM pairs
    WHERE cap_rule IS NOT NULL
),
all_checks AS (
    SELECT * FROM stability_checks
    UNION ALL BY NAME
    SELECT * FROM threshold_checks
    UNION ALL BY NAME
    SELECT * FROM signal_checks
    UNION ALL BY NAME
    SELECT * FROM no_cs_row
    UNION ALL BY NAME
    SELECT * FROM route_checks
    UNION ALL BY NAME
    SELECT * FROM cap_checks
)
SELECT
    target,
    symbol,
    side,
    c.stage AS stage,
    CAST(CASE c.stage
        WHEN 'stability' THEN 100 + c.rule
        WHEN 'threshold' THEN 200 + list_position(
            ['task_class', 'horizon_tier', 'min_n', 'allowlist', 'min_score', 'strong_score', 'experimental_min_score'],
            c.check_name)
        WHEN 'signal' THEN 300 + c.rule
        WHEN 'route' THEN 400 + c.rule
        ELSE 500 + c.rule
    END AS INTEGER) AS step,
    CAST(c.rule AS INTEGER) AS rule,
    c.check_name AS check_name,
    c.condition AS condition,
    c.observed AS observed,
    concat_ws('; ', nullif(c.threshold, ''), derivation) AS threshold,
    c.applies AS applies,
    c.stage = 'threshold' OR c.rule <= decided_rule AS reached,
    c.stage = 'threshold' OR c.rule = decided_rule AS decided,
    c.outcome AS outcome,
    CASE WHEN c.stage = 'threshold' THEN c.outcome ELSE result END AS result,
    reason_code
FROM all_checks
