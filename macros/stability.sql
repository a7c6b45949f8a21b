{#- Stability classification (SPEC §4 "Stability"): labels UNKNOWN rows from snapshot metrics. -#}

{% macro classify_stability(stability, mean_overlap, std_overlap, mean_tau, std_tau, n_snapshots) -%}
{%- set rules = config.routing.stability_classification -%}
(CASE
  WHEN {{ ident(stability) }} <> 'UNKNOWN' THEN {{ ident(stability) }}
  WHEN {{ ident(mean_overlap) }} IS NULL OR {{ ident(mean_tau) }} IS NULL THEN 'UNKNOWN'
  WHEN {{ ident(n_snapshots) }} IS NOT NULL AND {{ ident(n_snapshots) }} < {{ rules.min_snapshots_for_stability }} THEN 'UNKNOWN'
  WHEN coalesce({{ ident(std_overlap) }} > {{ rules.max_std_overlap }}, FALSE)
    OR coalesce({{ ident(std_tau) }} > {{ rules.max_std_tau }}, FALSE) THEN 'DIVERGED'
  WHEN {{ ident(mean_overlap) }} >= {{ rules.stable_overlap_min }} AND {{ ident(mean_tau) }} >= {{ rules.stable_tau_min }} THEN 'STABLE'
  WHEN {{ ident(mean_overlap) }} >= {{ rules.drifting_overlap_min }} AND {{ ident(mean_tau) }} >= {{ rules.drifting_tau_min }} THEN 'DRIFTING'
  ELSE 'UNKNOWN'
END)
{%- endmacro %}
