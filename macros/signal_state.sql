{#- Signal state of a candidate row on one side (SPEC §4 "Signal state"), rules in order. -#}

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

{# The rule that decides a row's state: SCORE_MISSING, SAMPLE_SIZE, LEAKAGE_BLOCKED, SCORE_STRONG,
   SCORE_OK, EXPERIMENTAL_LANE, then STABILITY_NOT_ALLOWED or SCORE_BELOW_MIN. Columns expected:
   score, sample_size, leakage_status, stability (classified), min_n, allowlist, min_score,
   strong_score, experimental_min_score. #}
{% macro signal_reason_code() -%}
{%- set r = config.routing -%}
(CASE
  WHEN score IS NULL THEN 'SCORE_MISSING'
  WHEN sample_size < min_n THEN 'SAMPLE_SIZE'
  WHEN {{ r.block_on_leakage }} AND leakage_status = 'BLOCKED' THEN 'LEAKAGE_BLOCKED'
  WHEN score >= strong_score AND list_contains(allowlist, stability) THEN 'SCORE_STRONG'
  WHEN score >= min_score AND list_contains(allowlist, stability) THEN 'SCORE_OK'
{% if r.enable_experimental_lane %}
  WHEN score >= experimental_min_score AND list_contains({{ r.experimental.allowed_stabilities }}, stability) THEN 'EXPERIMENTAL_LANE'
{% endif %}
  WHEN score >= min_score THEN 'STABILITY_NOT_ALLOWED'
  ELSE 'SCORE_BELOW_MIN'
END)
{%- endmacro %}

{% macro signal_state(reason_code) -%}
(CASE {{ ident(reason_code) }}
  WHEN 'SCORE_STRONG' THEN 'STRONG'
  WHEN 'SCORE_OK' THEN 'WEAK_BUT_OK'
  WHEN 'EXPERIMENTAL_LANE' THEN 'EXPERIMENTAL'
  ELSE 'DISALLOWED'
END)
{%- endmacro %}

{# A human reason naming the compared values and thresholds. #}
{% macro signal_reason_text(reason_code) -%}
(CASE {{ ident(reason_code) }}
  WHEN 'SCORE_MISSING' THEN 'score is missing'
  WHEN 'SAMPLE_SIZE' THEN 'sample_size ' || sample_size || ' < min_sample_size ' || min_n
  WHEN 'LEAKAGE_BLOCKED' THEN 'leakage_status BLOCKED and block_on_leakage is on'
  WHEN 'SCORE_STRONG' THEN 'score ' || {{ num_text('score') }} || ' >= strong_score ' || {{ num_text('strong_score') }}
    || ', stability ' || stability || ' in ' || {{ list_text('allowlist') }}
  WHEN 'SCORE_OK' THEN 'score ' || {{ num_text('score') }} || ' >= min_score ' || {{ num_text('min_score') }}
    || ' (< strong_score ' || {{ num_text('strong_score') }} || '), stability ' || stability || ' in ' || {{ list_text('allowlist') }}
  WHEN 'EXPERIMENTAL_LANE' THEN 'score ' || {{ num_text('score') }} || ' >= experimental.min_score ' || {{ num_text('experimental_min_score') }}
    || ', stability ' || stability || ' in experimental.allowed_stabilities'
    || CASE WHEN score >= min_score THEN ' (stability not in ' || {{ list_text('allowlist') }} || ')'
       ELSE ' (score < min_score ' || {{ num_text('min_score') }} || ')' END
  WHEN 'STABILITY_NOT_ALLOWED' THEN 'stability ' || stability || ' not in ' || {{ list_text('allowlist') }}
    || ' (score ' || {{ num_text('score') }} || ' >= min_score ' || {{ num_text('min_score') }} || ')'
  ELSE 'score ' || {{ num_text('score') }} || ' < min_score ' || {{ num_text('min_score') }}
{% if config.routing.enable_experimental_lane %}
    || CASE WHEN score >= experimental_min_score THEN ' (stability ' || stability || ' not in experimental.allowed_stabilities)'
       ELSE ' and < experimental.min_score ' || {{ num_text('experimental_min_score') }} END
{% endif %}
END)
{%- endmacro %}
