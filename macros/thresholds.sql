{#- Threshold resolution: task class, horizon from the target name, tier. -#}

{# 'classification' when the upper-cased task_type contains CLASSIFICATION, else 'regression' (null included). #}
{% macro task_class(task_type) -%}
(CASE WHEN upper(coalesce({{ ident(task_type) }}, '')) LIKE '%CLASSIFICATION%' THEN 'classification' ELSE 'regression' END)
{%- endmacro %}

{# Minutes of the horizon in a target name. Without routing.horizon_extraction: the first of m, d, h
   (in that order) that matches anywhere. With it (FoxML's block): a special text contained in the
   name, then each pattern in order (group 1 times its multiplier), then the bare-number suffix;
   case-insensitive through a leading (?i) unless case_insensitive is false. Every regex and text
   from the config is rendered as a SQL string literal. #}
{% macro horizon_minutes(target) -%}
{%- set h = config.routing.get('horizon_extraction') -%}
{%- if h is none -%}
(CASE
  WHEN regexp_matches({{ ident(target) }}, '(\d+)m(?:_|$)') THEN TRY_CAST(regexp_extract({{ ident(target) }}, '(\d+)m(?:_|$)', 1) AS DOUBLE)
  WHEN regexp_matches({{ ident(target) }}, '(\d+)d(?:_|$)') THEN TRY_CAST(regexp_extract({{ ident(target) }}, '(\d+)d(?:_|$)', 1) AS DOUBLE) * 1440
  WHEN regexp_matches({{ ident(target) }}, '(\d+)h(?:_|$)') THEN TRY_CAST(regexp_extract({{ ident(target) }}, '(\d+)h(?:_|$)', 1) AS DOUBLE) * 60
END)
{%- else -%}
{%- set flag = '(?i)' if h.case_insensitive else '' -%}
{%- set name = ('lower(' ~ ident(target) ~ ')') if h.case_insensitive else ident(target) -%}
(CASE
{% for s in h.special %}
  WHEN strpos({{ name }}, {{ literal(s.text | lower if h.case_insensitive else s.text) }}) > 0 THEN {{ literal(s.minutes) }}
{% endfor %}
{% for p in h.patterns %}
  WHEN regexp_matches({{ ident(target) }}, {{ literal(flag ~ p.regex) }}) THEN TRY_CAST(regexp_extract({{ ident(target) }}, {{ literal(flag ~ p.regex) }}, 1) AS DOUBLE) * {{ literal(p.multiplier) }}
{% endfor %}
  WHEN regexp_matches({{ ident(target) }}, {{ literal(flag ~ h.bare_number_suffix) }}) THEN TRY_CAST(regexp_extract({{ ident(target) }}, {{ literal(flag ~ h.bare_number_suffix) }}, 1) AS DOUBLE)
END)
{%- endif -%}
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

{# Minimum sample size on a side; the CS side is relaxed in dev_mode. #}
{% macro min_sample_size(side, sample_size) -%}
{%- set r = config.routing -%}
{%- if r.dev_mode -%}
(CASE WHEN {{ ident(side) }} = 'cs'
  THEN least(greatest({{ r.dev_mode_min_sample_size }}, {{ ident(sample_size) }} // 10), {{ r.min_sample_size.cross_sectional }})
  ELSE {{ r.min_sample_size.symbol }} END)
{%- else -%}
(CASE WHEN {{ ident(side) }} = 'cs' THEN {{ r.min_sample_size.cross_sectional }} ELSE {{ r.min_sample_size.symbol }} END)
{%- endif -%}
{%- endmacro %}

{# The stability allowlist of a side; in dev_mode UNKNOWN joins the CS list below the CS sample floor. #}
{% macro stability_allowlist(side, sample_size) -%}
{%- set r = config.routing -%}
(CASE WHEN {{ ident(side) }} = 'cs' THEN
{% if r.dev_mode %}
  CASE WHEN {{ ident(sample_size) }} < {{ r.min_sample_size.cross_sectional }}
    THEN {{ r.stability_allowlist.cross_sectional if 'UNKNOWN' in r.stability_allowlist.cross_sectional else r.stability_allowlist.cross_sectional + ['UNKNOWN'] }}
    ELSE {{ r.stability_allowlist.cross_sectional }} END
{% else %}
  {{ r.stability_allowlist.cross_sectional }}
{% endif %}
  ELSE {{ r.stability_allowlist.symbol }} END)
{%- endmacro %}
