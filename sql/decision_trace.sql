-- (`materialized: view` in sql/models.yml: computed when read, from the run's stored tables and
-- config; the build does not store ~20 rows per pair. `foxwarehouse explain` and the
-- latest_decision_trace view read it.)
--
-- decision_trace: every rule of SPEC §4 evaluated for every candidate row and pair, in order, with
-- the compared values and thresholds. One row per (target, symbol, side, step):
--   side 'cs' / 'symbol': stage 'stability' (classification), 'threshold' (resolved thresholds),
--                         'signal' (signal-state rules 1-7; rule 0 = no CS row for the target)
--   side 'pair':          stage 'route' (route rules 1-5) and, for experimental pairs, 'cap'
-- `decided` marks the rule that gave the stage's `result`; `result` and `reason_code` are copied
-- from candidate_signal_states / cs_decisions / routing_decisions, so the trace is built from the
-- decision itself and `explain` (which prints this model) cannot disagree with it.
{% set r = config.routing %}
{% set sc = config.routing.stability_classification %}
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
        coalesce(CAST(s.score AS VARCHAR), 'null') AS score_t,
        '[' || array_to_string(s.allowlist, ', ') || ']' AS allowlist_t,
        CASE s.reason_code
            WHEN 'SCORE_MISSING' THEN 1 WHEN 'SAMPLE_SIZE' THEN 2 WHEN 'LEAKAGE_BLOCKED' THEN 3
            WHEN 'SCORE_STRONG' THEN 4 WHEN 'SCORE_OK' THEN 5 WHEN 'EXPERIMENTAL_LANE' THEN 6 ELSE 7
        END AS decided_rule
    FROM {{ ref('candidate_signal_states') }} AS s
    LEFT JOIN {{ ref('routing_candidates') }} AS c
        ON c.target = s.target AND c.symbol IS NOT DISTINCT FROM s.symbol
),
row_checks AS (
    SELECT
        target, symbol, side, signal_state AS result, reason_code, decided_rule,
        unnest([
            {'stage': 'stability', 'rule': 0, 'check_name': 'STABILITY',
             'condition': 'an UNKNOWN stability is classified from the snapshot metrics (routing.stability_classification)',
             'observed': 'stability = ' || input_stability
                 || CASE WHEN input_stability = 'UNKNOWN' THEN
                        ', n_snapshots = ' || coalesce(CAST(n_snapshots AS VARCHAR), 'null')
                        || ', mean_overlap = ' || coalesce(CAST(mean_overlap AS VARCHAR), 'null')
                        || ', std_overlap = ' || coalesce(CAST(std_overlap AS VARCHAR), 'null')
                        || ', mean_tau = ' || coalesce(CAST(mean_tau AS VARCHAR), 'null')
                        || ', std_tau = ' || coalesce(CAST(std_tau AS VARCHAR), 'null')
                    ELSE ' (given)' END,
             'threshold': CASE
                 WHEN input_stability <> 'UNKNOWN' THEN 'given in the input'
                 WHEN mean_overlap IS NULL OR mean_tau IS NULL THEN 'no snapshot metrics: stays UNKNOWN'
                 WHEN n_snapshots IS NOT NULL AND n_snapshots < {{ sc.min_snapshots_for_stability }}
                     THEN 'n_snapshots < min_snapshots_for_stability ' || CAST({{ sc.min_snapshots_for_stability }} AS VARCHAR) || ': stays UNKNOWN'
                 WHEN coalesce(std_overlap > {{ sc.max_std_overlap }}, FALSE) OR coalesce(std_tau > {{ sc.max_std_tau }}, FALSE)
                     THEN 'std_overlap > max_std_overlap ' || CAST({{ sc.max_std_overlap }} AS VARCHAR)
                          || ' or std_tau > max_std_tau ' || CAST({{ sc.max_std_tau }} AS VARCHAR) || ': DIVERGED'
                 WHEN mean_overlap >= {{ sc.stable_overlap_min }} AND mean_tau >= {{ sc.stable_tau_min }}
                     THEN 'mean_overlap >= stable_overlap_min ' || CAST({{ sc.stable_overlap_min }} AS VARCHAR)
                          || ' and mean_tau >= stable_tau_min ' || CAST({{ sc.stable_tau_min }} AS VARCHAR) || ': STABLE'
                 WHEN mean_overlap >= {{ sc.drifting_overlap_min }} AND mean_tau >= {{ sc.drifting_tau_min }}
                     THEN 'mean_overlap >= drifting_overlap_min ' || CAST({{ sc.drifting_overlap_min }} AS VARCHAR)
                          || ' and mean_tau >= drifting_tau_min ' || CAST({{ sc.drifting_tau_min }} AS VARCHAR) || ': DRIFTING'
                 ELSE 'below drifting_overlap_min ' || CAST({{ sc.drifting_overlap_min }} AS VARCHAR)
                      || ' / drifting_tau_min ' || CAST({{ sc.drifting_tau_min }} AS VARCHAR) || ': stays UNKNOWN'
             END,
             'applies': input_stability = 'UNKNOWN', 'outcome': stability},
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
             'outcome': coalesce(CAST(experimental_min_score AS VARCHAR), 'null')},
            {'stage': 'signal', 'rule': 1, 'check_name': 'SCORE_MISSING', 'condition': 'score is missing',
             'observed': 'score = ' || score_t, 'threshold': '', 'applies': score IS NULL, 'outcome': 'DISALLOWED'},
            {'stage': 'signal', 'rule': 2, 'check_name': 'SAMPLE_SIZE', 'condition': 'sample_size < min_n',
             'observed': 'sample_size = ' || CAST(sample_size AS VARCHAR), 'threshold': 'min_n = ' || CAST(min_n AS VARCHAR),
             'applies': coalesce(sample_size < min_n, FALSE), 'outcome': 'DISALLOWED'},
            {'stage': 'signal', 'rule': 3, 'check_name': 'LEAKAGE_BLOCKED',
             'condition': 'block_on_leakage and leakage_status = BLOCKED',
             'observed': 'leakage_status = ' || leakage_status,
             'threshold': 'block_on_leakage = ' || {{ 'true' if r.block_on_leakage else 'false' }},
             'applies': {{ r.block_on_leakage }} AND leakage_status = 'BLOCKED', 'outcome': 'DISALLOWED'},
            {'stage': 'signal', 'rule': 4, 'check_name': 'SCORE_STRONG',
             'condition': 'score >= strong_score and stability in allowlist',
             'observed': 'score = ' || score_t || ', stability = ' || stability,
             'threshold': 'strong_score = ' || coalesce(CAST(strong_score AS VARCHAR), 'null') || ', allowlist = ' || allowlist_t,
             'applies': coalesce(score >= strong_score AND list_contains(allowlist, stability), FALSE), 'outcome': 'STRONG'},
            {'stage': 'signal', 'rule': 5, 'check_name': 'SCORE_OK',
             'condition': 'score >= min_score and stability in allowlist',
             'observed': 'score = ' || score_t || ', stability = ' || stability,
             'threshold': 'min_score = ' || coalesce(CAST(min_score AS VARCHAR), 'null') || ', allowlist = ' || allowlist_t,
             'applies': coalesce(score >= min_score AND list_contains(allowlist, stability), FALSE), 'outcome': 'WEAK_BUT_OK'},
            {'stage': 'signal', 'rule': 6, 'check_name': 'EXPERIMENTAL_LANE',
             'condition': 'enable_experimental_lane and score >= experimental.min_score and stability in experimental.allowed_stabilities',
             'observed': 'score = ' || score_t || ', stability = ' || stability,
             'threshold': 'enable_experimental_lane = ' || {{ 'true' if r.enable_experimental_lane else 'false' }}
                 || ', experimental.min_score = ' || coalesce(CAST(experimental_min_score AS VARCHAR), 'null')
                 || ', allowed_stabilities = [' || array_to_string({{ r.experimental.allowed_stabilities }}, ', ') || ']',
             'applies': coalesce({{ r.enable_experimental_lane }} AND score >= experimental_min_score
                 AND list_contains({{ r.experimental.allowed_stabilities }}, stability), FALSE),
             'outcome': 'EXPERIMENTAL'},
            {'stage': 'signal', 'rule': 7, 'check_name': 'OTHERWISE', 'condition': 'no earlier rule applied',
             'observed': '', 'threshold': '', 'applies': TRUE, 'outcome': 'DISALLOWED'}
        ]) AS c
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
        cs_state IN ('STRONG', 'WEAK_BUT_OK') AS cs_ok,
        local_state IN ('STRONG', 'WEAK_BUT_OK') AS local_ok,
        count(*) FILTER (WHERE route_before_cap = 'ROUTE_EXPERIMENTAL_ONLY') OVER (PARTITION BY target) AS experimental_pairs
    FROM {{ ref('routing_decisions') }}
),
route_checks AS (
    SELECT
        target, symbol, 'pair' AS side, route_before_cap AS result, CAST(NULL AS VARCHAR) AS reason_code,
        CASE WHEN cs_ok AND local_ok THEN 1 WHEN cs_ok THEN 2 WHEN local_ok THEN 3
             WHEN local_state = 'EXPERIMENTAL' THEN 4 ELSE 5 END AS decided_rule,
        unnest([
            {'stage': 'route', 'rule': 1, 'check_name': 'BOTH_OK',
             'condition': 'cs_state and local_state both in [STRONG, WEAK_BUT_OK] -> both_strong_behavior',
             'observed': 'cs_state = ' || cs_state || ', local_state = ' || local_state,
             'threshold': 'both_strong_behavior = ' || {{ r.both_strong_behavior }},
             'applies': cs_ok AND local_ok,
             'outcome': {{ {'ROUTE_BOTH': 'ROUTE_BOTH', 'PREFER_CS': 'ROUTE_CROSS_SECTIONAL', 'PREFER_SYMBOL': 'ROUTE_SYMBOL_SPECIFIC'}[r.both_strong_behavior] }}},
            {'stage': 'route', 'rule': 2, 'check_name': 'CS_OK', 'condition': 'cs_state in [STRONG, WEAK_BUT_OK]',
             'observed': 'cs_state = ' || cs_state, 'threshold': '', 'applies': cs_ok, 'outcome': 'ROUTE_CROSS_SECTIONAL'},
            {'stage': 'route', 'rule': 3, 'check_name': 'LOCAL_OK', 'condition': 'local_state in [STRONG, WEAK_BUT_OK]',
             'observed': 'local_state = ' || local_state, 'threshold': '', 'applies': local_ok, 'outcome': 'ROUTE_SYMBOL_SPECIFIC'},
            {'stage': 'route', 'rule': 4, 'check_name': 'LOCAL_EXPERIMENTAL', 'condition': 'local_state = EXPERIMENTAL',
             'observed': 'local_state = ' || local_state, 'threshold': '', 'applies': local_state = 'EXPERIMENTAL',
             'outcome': 'ROUTE_EXPERIMENTAL_ONLY'},
            {'stage': 'route', 'rule': 5, 'check_name': 'OTHERWISE', 'condition': 'no earlier rule applied',
             'observed': '', 'threshold': '', 'applies': TRUE, 'outcome': 'ROUTE_BLOCKED'}
        ]) AS c
    FROM pairs
),
cap_checks AS (
    SELECT
        target, symbol, 'pair' AS side, route AS result,
        CASE WHEN route <> route_before_cap THEN 'EXPERIMENTAL_CAP' END AS reason_code,
        CASE WHEN experimental_rank <= experimental_cap THEN 1 ELSE 2 END AS decided_rule,
        unnest([
            {'stage': 'cap', 'rule': 1, 'check_name': 'WITHIN_CAP', 'condition': 'experimental_rank <= experimental_cap',
             'observed': 'experimental_rank = ' || CAST(experimental_rank AS VARCHAR) || ' of ' || CAST(experimental_pairs AS VARCHAR)
                 || ' experimental pairs (by score desc, symbol asc)',
             'threshold': 'experimental_cap = ' || CAST(experimental_cap AS VARCHAR) || ' = floor('
                 || CAST({{ r.experimental.max_fraction_symbols_per_target }} AS VARCHAR) || ' x '
                 || CAST(symbol_rows AS VARCHAR) || ' symbol rows)',
             'applies': experimental_rank <= experimental_cap, 'outcome': 'ROUTE_EXPERIMENTAL_ONLY'},
            {'stage': 'cap', 'rule': 2, 'check_name': 'EXPERIMENTAL_CAP', 'condition': 'experimental_rank > experimental_cap',
             'observed': 'experimental_rank = ' || CAST(experimental_rank AS VARCHAR),
             'threshold': 'experimental_cap = ' || CAST(experimental_cap AS VARCHAR),
             'applies': experimental_rank > experimental_cap, 'outcome': 'ROUTE_BLOCKED'}
        ]) AS c
    FROM pairs
    WHERE route_before_cap = 'ROUTE_EXPERIMENTAL_ONLY'
),
all_checks AS (
    SELECT * FROM row_checks
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
        WHEN 'stability' THEN 1
        WHEN 'threshold' THEN 2 + list_position(
            ['task_class', 'horizon_tier', 'min_n', 'allowlist', 'min_score', 'strong_score', 'experimental_min_score'],
            c.check_name) - 1
        WHEN 'signal' THEN 10 + c.rule
        WHEN 'route' THEN 20 + c.rule
        ELSE 30 + c.rule
    END AS INTEGER) AS step,
    CAST(c.rule AS INTEGER) AS rule,
    c.check_name AS check_name,
    c.condition AS condition,
    c.observed AS observed,
    c.threshold AS threshold,
    c.applies AS applies,
    c.stage IN ('stability', 'threshold') OR c.rule <= decided_rule AS reached,
    c.stage IN ('stability', 'threshold') OR c.rule = decided_rule AS decided,
    c.outcome AS outcome,
    CASE WHEN c.stage IN ('stability', 'threshold') THEN c.outcome ELSE result END AS result,
    CASE WHEN c.stage IN ('signal', 'cap') THEN reason_code END AS reason_code
FROM all_checks
