{#- Model-family expansion. -#}

{# `route` and `failed_families` are column names.
   The configured families for a route: model_families_by_route[route] if present, else model_families. #}
{% macro route_families(route) -%}
{%- set by_route = config.training_plan.model_families_by_route -%}
{%- if by_route -%}
(CASE {{ ident(route) }}
{%- for name, families in by_route.items() %}
  WHEN {{ name }} THEN {{ normalize_families(families) }}
{% endfor %}
  ELSE {{ normalize_families(config.training_plan.model_families) }}
END)
{%- else -%}
{{ normalize_families(config.training_plan.model_families) }}
{%- endif -%}
{%- endmacro %}

{# Families of a job: the route's families, less the row's failed families when drop_failed_families. #}
{% macro job_families(route, failed_families) -%}
{%- if config.training_plan.drop_failed_families -%}
list_filter({{ route_families(route) }},
  lambda f: NOT list_contains(list_transform(coalesce({{ ident(failed_families) }}, CAST([] AS VARCHAR[])), lambda g: lower(trim(g))), f))
{%- else -%}
{{ route_families(route) }}
{%- endif -%}
{%- endmacro %}
