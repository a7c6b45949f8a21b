-- plan_summary: one row of counts for the plan's summary block. total_blocked counts
-- ROUTE_BLOCKED pairs (decisions), whether or not blocked jobs are emitted.
{% set tp = config.training_plan %}
WITH jobs AS (
    SELECT * FROM {{ ref('training_jobs') }}
),
by_route AS (
    SELECT map_from_entries(list({'key': route, 'value': n} ORDER BY route)) AS m
    FROM (SELECT route, count(*) AS n FROM jobs GROUP BY route)
),
by_type AS (
    SELECT map_from_entries(list({'key': training_type, 'value': n} ORDER BY training_type)) AS m
    FROM (SELECT training_type, count(*) AS n FROM jobs GROUP BY training_type)
),
by_priority AS (
    SELECT map_from_entries(list({'key': CAST(priority AS VARCHAR), 'value': n} ORDER BY priority DESC)) AS m
    FROM (SELECT priority, count(*) AS n FROM jobs GROUP BY priority)
)
SELECT
    (SELECT count(*) FROM jobs) AS total_jobs,
    coalesce((SELECT m FROM by_route), MAP {}) AS by_route,
    coalesce((SELECT m FROM by_type), MAP {}) AS by_type,
    coalesce((SELECT m FROM by_priority), MAP {}) AS by_priority,
    (SELECT count(*) FROM jobs WHERE training_type = 'cross_sectional') AS total_cs_jobs,
    (SELECT count(*) FROM jobs WHERE training_type = 'symbol_specific') AS total_symbol_jobs,
    (SELECT count(*) FROM {{ ref('routing_decisions') }} WHERE route = 'ROUTE_BLOCKED') AS total_blocked,
    (SELECT count(*) FROM {{ ref('job_expansion') }} WHERE NOT has_families) AS skipped_no_families,
    (SELECT count(*) FROM {{ ref('cs_decisions') }}) AS total_targets,
    (SELECT count(*) FROM {{ ref('routing_decisions') }}) AS total_pairs,
    {{ normalize_families(tp.model_families) }} AS model_families
