{#- Threshold resolution (SPEC §4 "Thresholds"): task class, horizon from the target name, tier. -#}

{# 'classification' when the upper-cased task_type contains CLASSIFICATION, else 'regression' (null included). #}
{% macro task_class(task_type) -%}
(CASE WHEN upper(coalesce({{ ident(task_type) }}, '')) LIKE '%CLASSIFICATION%' THEN 'classification' ELSE 'regression' END)
{%- endmacro %}

{# Minutes of the horizon in a target name: the first of m, d, h (in that order) that matches anywhere. #}
{% macro horizon_minutes(target) -%}
(CASE
  WHEN regexp_matches({{ ident(target) }}, '(\d+)m(?:_|$)') THEN TRY_CAST(regexp_extract({{ ident(target) }}, '(\d+)m(?:_|$)', 1) AS DOUBLE)
  WHEN regexp_matches({{ ident(target) }}, '(\d+)d(?:_|$)') THEN TRY_CAST(regexp_extract({{ ident(target) }}, '(\d+)d(?:_|$)', 1) AS DOUBLE) * 1440
  WHEN regexp_matches({{ ident(target) }}, '(\d+)h(?:_|$)') THEN TRY_CAST(regexp_extract({{ ident(target) }}, '(\d+)h(?:_|$)', 1) AS DOUBLE) * 60
END)
{%- endmacro %}

{# Tier of a horizon in minutes: none -> default, <60 short, <240 medium, <1440 long, else very_long. #}
{% macro horizon_tier(minutes) -%}
(CASE
  WHEN {{ ident(minutes) }} IS NULL THEN 'default'
  WHEN {{ ident(minutes) }} < 60 THEN 'short'
  WHEN {{ ident(minutes) }} < 240 THEN 'medium'
  WHEN {{ ident(minutes) }} < 1440 THEN 'long'
  ELSE 'very_long'
END)
{%- endmacro %}

{# A THRESHOLD from the validated config (always in canonical form) resolved per row. #}
{% macro resolve_threshold(threshold, task_class_expr, tier_expr) -%}
(CASE WHEN {{ ident(task_class_expr) }} = 'classification' THEN {{ threshold.classification }}
  ELSE CASE {{ ident(tier_expr) }}
    WHEN 'short' THEN {{ threshold.regression.short }}
    WHEN 'medium' THEN {{ threshold.regression.medium }}
    WHEN 'long' THEN {{ threshold.regression.long }}
    WHEN 'very_long' THEN {{ threshold.regression.very_long }}
    ELSE {{ threshold.regression.default }}
  END
END)
{%- endmacro %}
