{#- Small value helpers shared by models. -#}

{# NULL for NaN and +-inf, so that only finite numbers reach decisions and JSON. #}
{% macro finite_or_null(x) -%}
(CASE WHEN isfinite({{ ident(x) }}) THEN {{ ident(x) }} END)
{%- endmacro %}

{# Text of a number for human reasons ('null' when missing). #}
{% macro num_text(x) -%}
coalesce(CAST({{ ident(x) }} AS VARCHAR), 'null')
{%- endmacro %}

{# Text of a list for human reasons: [A, B]. #}
{% macro list_text(values) -%}
('[' || array_to_string({{ ident(values) }}, ', ') || ']')
{%- endmacro %}

{# A configured family list (a Python list, rendered as a literal), lower-cased, trimmed and
   de-duplicated with the first occurrence's order kept. #}
{% macro normalize_families(family_list) -%}
list_filter(
  list_transform({{ family_list }}, lambda f: lower(trim(f))),
  lambda f, i: f <> '' AND list_position(list_transform({{ family_list }}, lambda g: lower(trim(g))), f) = i
)
{%- endmacro %}
