-- plan_decisions(r): every routing decision of run `r` in one shape, on the grain (target, symbol):
--   kind 'pair' one row per (target, symbol) from routing_decisions (route = ROUTE_*),
--   kind 'cs'   one row per target from cs_decisions, symbol NULL (route = ENABLED / DISABLED).
-- Decision columns: route, cs_state, local_state, reason_codes. Input columns (what routing read):
-- score, stability (as classified), sample_size, leakage_status.
CREATE OR REPLACE MACRO plan_decisions(r) AS TABLE
SELECT
    'pair' AS kind, target, symbol, route, cs_state, local_state, reason_codes,
    score, stability, sample_size, leakage_status
FROM routing_decisions
WHERE run_id = r
UNION ALL
SELECT
    'cs' AS kind, d.target, CAST(NULL AS VARCHAR) AS symbol, d.route, d.cs_state,
    CAST(NULL AS VARCHAR) AS local_state, [d.reason_code] AS reason_codes,
    d.score, d.stability, d.sample_size, s.leakage_status
FROM cs_decisions AS d
LEFT JOIN candidate_signal_states AS s
    ON s.run_id = d.run_id AND s.target = d.target AND s.side = 'cs'
WHERE d.run_id = r;

-- plan_decision_diff(a, b): the decisions of run `a` against run `b`, full outer join on
-- (kind, target, symbol) with NULL-safe keys. One row per decision that was added (only in b),
-- removed (only in a) or changed (route, cs_state, local_state or reason_codes differ).
-- `changed_columns` names the decision columns that differ; `moved_inputs` the inputs that moved
-- (score, stability, sample_size, leakage_status) — for a changed decision, why it may have changed.
--
--   SELECT * FROM plan_decision_diff('latest-run-id-a', 'latest-run-id-b') WHERE route_a <> route_b;
CREATE OR REPLACE MACRO plan_decision_diff(a, b) AS TABLE
WITH joined AS (
    SELECT
        coalesce(db.kind, da.kind) AS kind,
        coalesce(db.target, da.target) AS target,
        CASE WHEN db.target IS NOT NULL THEN db.symbol ELSE da.symbol END AS symbol,
        da.target IS NOT NULL AS in_a,
        db.target IS NOT NULL AS in_b,
        da.route AS route_a,                   db.route AS route_b,
        da.cs_state AS cs_state_a,             db.cs_state AS cs_state_b,
        da.local_state AS local_state_a,       db.local_state AS local_state_b,
        da.reason_codes AS reason_codes_a,     db.reason_codes AS reason_codes_b,
        da.score AS score_a,                   db.score AS score_b,
        da.stability AS stability_a,           db.stability AS stability_b,
        da.sample_size AS sample_size_a,       db.sample_size AS sample_size_b,
        da.leakage_status AS leakage_status_a, db.leakage_status AS leakage_status_b
    FROM plan_decisions(a) AS da
    FULL OUTER JOIN plan_decisions(b) AS db
        ON da.kind = db.kind AND da.target = db.target AND da.symbol IS NOT DISTINCT FROM db.symbol
),
flagged AS (
    SELECT
        *,
        CASE WHEN in_a AND in_b THEN list_filter([
            CASE WHEN route_a IS DISTINCT FROM route_b THEN 'route' END,
            CASE WHEN cs_state_a IS DISTINCT FROM cs_state_b THEN 'cs_state' END,
            CASE WHEN local_state_a IS DISTINCT FROM local_state_b THEN 'local_state' END,
            CASE WHEN reason_codes_a IS DISTINCT FROM reason_codes_b THEN 'reason_codes' END
        ], lambda c: c IS NOT NULL) ELSE CAST([] AS VARCHAR[]) END AS changed_columns,
        CASE WHEN in_a AND in_b THEN list_filter([
            CASE WHEN score_a IS DISTINCT FROM score_b THEN 'score' END,
            CASE WHEN stability_a IS DISTINCT FROM stability_b THEN 'stability' END,
            CASE WHEN sample_size_a IS DISTINCT FROM sample_size_b THEN 'sample_size' END,
            CASE WHEN leakage_status_a IS DISTINCT FROM leakage_status_b THEN 'leakage_status' END
        ], lambda c: c IS NOT NULL) ELSE CAST([] AS VARCHAR[]) END AS moved_inputs
    FROM joined
)
SELECT
    kind,
    target,
    symbol,
    CASE WHEN NOT in_a THEN 'added' WHEN NOT in_b THEN 'removed' ELSE 'changed' END AS change,
    changed_columns,
    moved_inputs,
    route_a, route_b,
    cs_state_a, cs_state_b,
    local_state_a, local_state_b,
    reason_codes_a, reason_codes_b,
    score_a, score_b,
    stability_a, stability_b,
    sample_size_a, sample_size_b,
    leakage_status_a, leakage_status_b
FROM flagged
WHERE NOT (in_a AND in_b) OR len(changed_columns) > 0;

-- route_transitions(decision_diff): the route transition matrix of a materialised
-- plan_decision_diff result (a table name): one row per (kind, route_a, route_b) whose route
-- differs, with its count; route NULL = the decision is absent on that side. Largest first.
CREATE OR REPLACE MACRO route_transitions(decision_diff) AS TABLE
SELECT kind, route_a, route_b, count(*) AS n
FROM query_table(decision_diff)
WHERE route_a IS DISTINCT FROM route_b
GROUP BY kind, route_a, route_b
ORDER BY n DESC, kind DESC, route_a NULLS FIRST, route_b NULLS FIRST;

-- plan_route_transitions(a, b): the same matrix straight from two run ids.
--   SELECT * FROM plan_route_transitions('run-a', 'run-b');   -- ROUTE_BOTH -> ROUTE_SYMBOL_SPECIFIC: 12
CREATE OR REPLACE MACRO plan_route_transitions(a, b) AS TABLE
SELECT kind, route_a, route_b, count(*) AS n
FROM plan_decision_diff(a, b)
WHERE route_a IS DISTINCT FROM route_b
GROUP BY kind, route_a, route_b
ORDER BY n DESC, kind DESC, route_a NULLS FIRST, route_b NULLS FIRST;

-- plan_decision_grain(r): rows and distinct (kind, target, symbol) keys of run `r`'s decisions;
-- the grain of a decision diff is unique when the two counts are equal.
CREATE OR REPLACE MACRO plan_decision_grain(r) AS TABLE
SELECT count(*) AS n_rows, count(DISTINCT (kind, target, symbol)) AS n_keys
FROM plan_decisions(r);
