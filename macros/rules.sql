{#- The routing rules, each written once (docs/ROUTING.md, "Rule tables").

Every decision stage is an ordered table of rules; the first rule whose `when` holds decides.
From each table the macros below generate the decision (a plain CASE), the outcome of each rule
code, the human reason and the checks of the decision_trace model that `foxwarehouse explain`
prints. Edit a rule here and all of them follow.

A rule:
  code         the reason code stored with the decision (unique within the stage)
  when         a SQL condition over the stage's columns (the model's columns and the stage's
               named `settings`); the last rule of a stage has no `when`: it decides when no
               earlier rule applied
  outcome      what the rule gives (or `outcome_sql`: a SQL expression over the columns)
  show         (last rule only, optional) a condition whose values the reason prints
  note         (optional) a setting the rule depends on, shown by explain
  other keys   extra outcome columns of the stage (the job stage: priority, needs_cs_ensemble)

The human reason of a rule is its `when` printed with the row's values, every comparison with the
operator that holds for the row, e.g. `score 0.0642 >= strong_score 0.06 and stability STABLE in
allowlist [STABLE, DRIFTING]`; so it is true for the row whatever the rule says.
-#}
{# The rule table and the named settings of a stage; `what` says what to generate from them (the
   macros below). The config is read only here, for the stage asked for. #}
{% macro rules_of(stage, what, code=none, key='outcome', default=none) -%}
{%- set r = config.routing -%}
{%- if stage == 'stability' -%}
{%- set sc = config.routing.stability_classification -%}
{%- set settings = {
    'min_snapshots_for_stability': sc.min_snapshots_for_stability,
    'max_std_overlap': sc.max_std_overlap,
    'max_std_tau': sc.max_std_tau,
    'stable_overlap_min': sc.stable_overlap_min,
    'stable_tau_min': sc.stable_tau_min,
    'drifting_overlap_min': sc.drifting_overlap_min,
    'drifting_tau_min': sc.drifting_tau_min,
  } -%}
{%- set rules = [
    {'code': 'GIVEN', 'outcome_sql': 'input_stability', 'when': "input_stability <> 'UNKNOWN'"},
    {'code': 'NO_SNAPSHOT_METRICS', 'outcome': 'UNKNOWN', 'when': 'mean_overlap IS NULL OR mean_tau IS NULL'},
    {'code': 'FEW_SNAPSHOTS', 'outcome': 'UNKNOWN', 'when': 'n_snapshots < min_snapshots_for_stability'},
    {'code': 'STD_ABOVE_MAX', 'outcome': 'DIVERGED', 'when': 'std_overlap > max_std_overlap OR std_tau > max_std_tau'},
    {'code': 'STABLE', 'outcome': 'STABLE', 'when': 'mean_overlap >= stable_overlap_min AND mean_tau >= stable_tau_min'},
    {'code': 'DRIFTING', 'outcome': 'DRIFTING', 'when': 'mean_overlap >= drifting_overlap_min AND mean_tau >= drifting_tau_min'},
    {'code': 'BELOW_DRIFTING', 'outcome': 'UNKNOWN', 'show': 'mean_overlap >= drifting_overlap_min AND mean_tau >= drifting_tau_min'},
  ] -%}

{%- elif stage == 'signal' -%}
{%- set settings = {
    'block_on_leakage': r.block_on_leakage,
    'experimental_allowlist': r.experimental.allowed_stabilities,
  } -%}
{%- set rules = [
    {'code': 'SCORE_MISSING', 'outcome': 'DISALLOWED', 'when': 'score IS NULL'},
    {'code': 'SAMPLE_SIZE', 'outcome': 'DISALLOWED', 'when': 'sample_size < min_n'},
    {'code': 'LEAKAGE_BLOCKED', 'outcome': 'DISALLOWED', 'when': "block_on_leakage AND leakage_status = 'BLOCKED'"},
    {'code': 'SCORE_STRONG', 'outcome': 'STRONG', 'when': 'score >= strong_score AND list_contains(allowlist, stability)'},
    {'code': 'SCORE_OK', 'outcome': 'WEAK_BUT_OK', 'when': 'score >= min_score AND list_contains(allowlist, stability)'},
  ] + ([
    {'code': 'EXPERIMENTAL_LANE', 'outcome': 'EXPERIMENTAL', 'when': 'score >= experimental_min_score AND list_contains(experimental_allowlist, stability)'},
  ] if r.enable_experimental_lane else []) + [
    {'code': 'STABILITY_NOT_ALLOWED', 'outcome': 'DISALLOWED', 'when': 'score >= min_score AND NOT list_contains(allowlist, stability)'},
    {'code': 'SCORE_BELOW_MIN', 'outcome': 'DISALLOWED', 'show': 'score < min_score AND (score < experimental_min_score OR NOT list_contains(experimental_allowlist, stability))' if r.enable_experimental_lane else 'score < min_score'},
  ] -%}

{%- elif stage == 'route' -%}
{%- set both_ok_route = {'ROUTE_BOTH': 'ROUTE_BOTH', 'PREFER_CS': 'ROUTE_CROSS_SECTIONAL',
                        'PREFER_SYMBOL': 'ROUTE_SYMBOL_SPECIFIC'}[r.both_strong_behavior] -%}
{%- set settings = {
    'ok_states': ['STRONG', 'WEAK_BUT_OK'],
  } -%}
{%- set rules = [
    {'code': 'BOTH_OK', 'outcome': both_ok_route, 'note': 'both_strong_behavior = ' ~ r.both_strong_behavior, 'when': 'list_contains(ok_states, cs_state) AND list_contains(ok_states, local_state)'},
    {'code': 'CS_OK', 'outcome': 'ROUTE_CROSS_SECTIONAL', 'when': 'list_contains(ok_states, cs_state)'},
    {'code': 'LOCAL_OK', 'outcome': 'ROUTE_SYMBOL_SPECIFIC', 'when': 'list_contains(ok_states, local_state)'},
    {'code': 'LOCAL_EXPERIMENTAL', 'outcome': 'ROUTE_EXPERIMENTAL_ONLY', 'when': "local_state = 'EXPERIMENTAL'"},
    {'code': 'NOTHING_OK', 'outcome': 'ROUTE_BLOCKED', 'show': "NOT list_contains(ok_states, cs_state) AND NOT list_contains(ok_states, local_state) AND local_state <> 'EXPERIMENTAL'"},
  ] -%}

{%- elif stage == 'cap' -%}
{%- set settings = {} -%}
{%- set rules = [
    {'code': 'WITHIN_CAP', 'outcome': 'ROUTE_EXPERIMENTAL_ONLY', 'when': 'experimental_rank <= experimental_cap'},
    {'code': 'EXPERIMENTAL_CAP', 'outcome': 'ROUTE_BLOCKED', 'show': 'experimental_rank > experimental_cap'},
  ] -%}

{%- elif stage == 'job' -%}
{%- set settings = {} -%}
{%- set rules = [
    {'code': 'CS_EXPERIMENTAL', 'outcome': 'cross_sectional', 'priority': 1, 'when': "side = 'cs' AND cs_state = 'EXPERIMENTAL'"},
    {'code': 'CS', 'outcome': 'cross_sectional', 'priority': 2, 'when': "side = 'cs' AND cs_state <> 'DISALLOWED'"},
    {'code': 'BOTH', 'outcome': 'symbol_specific', 'priority': 3, 'needs_cs_ensemble': true, 'when': "route = 'ROUTE_BOTH'"},
    {'code': 'SYMBOL', 'outcome': 'symbol_specific', 'priority': 2, 'when': "route = 'ROUTE_SYMBOL_SPECIFIC'"},
    {'code': 'SYMBOL_EXPERIMENTAL', 'outcome': 'symbol_specific', 'priority': 1, 'when': "route = 'ROUTE_EXPERIMENTAL_ONLY'"},
  ] + ([
    {'code': 'BLOCKED', 'outcome': 'blocked', 'priority': 0, 'when': "route = 'ROUTE_BLOCKED'"},
  ] if config.training_plan.include_blocked else []) + [
    {'code': 'NO_JOB', 'outcome': none},
  ] -%}

{%- else -%}
{%- set settings, rules = {}, none -%}
{%- endif -%}
{%- set rules = rule_table(stage, rules) -%}
{%- if what == 'settings' -%}
{%- for name, value in settings.items() %}, {{ value }} AS {{ ident(name) }}{% endfor -%}
{%- elif what == 'code' -%}
(CASE
{% for rule in rules[:-1] %}
  WHEN {{ rule_sql(rule.when) }} THEN {{ rule.code }}
{% endfor %}
  ELSE {{ rules[-1].code }}
END)
{%- elif what == 'outcome' -%}
(CASE {{ ident(code) }}
{% for rule in rules %}
  WHEN {{ rule.code }} THEN {% if key == 'outcome' and rule.outcome_sql is not none %}{{ rule_sql(rule.outcome_sql) }}{% else %}{{ rule.get(key, default) }}{% endif %}

{% endfor %}
END)
{%- elif what == 'reason' -%}
(CASE {{ ident(code) }}
{% for rule in rules %}
  WHEN {{ rule.code }} THEN {{ rule_row_text(rule) }}
{% endfor %}
END)
{%- elif what == 'position' -%}
list_position({{ rules | map(attribute='code') | list }}, {{ ident(code) }})
{%- elif what == 'checks' -%}
[
{% for rule in rules %}
  {'stage': {{ stage }}, 'rule': {{ loop.index }}, 'check_name': {{ rule.code }},
   'condition': {{ rule.when if rule.when is not none else 'otherwise (no earlier rule applied)' }},
   'observed': {% if rule.when is not none %}{{ rule_text(rule.when) }}{% elif rule.show is not none %}{{ rule_text(rule.show) }}{% else %}''{% endif %},
   'threshold': {{ rule.note }},
   'applies': {% if rule.when is not none %}coalesce({{ rule_sql(rule.when) }}, FALSE){% else %}TRUE{% endif %},
   'outcome': CAST({% if rule.outcome_sql is not none %}{{ rule_sql(rule.outcome_sql) }}{% else %}{{ rule.outcome }}{% endif %} AS VARCHAR)}{% if not loop.last %},{% endif %}

{% endfor %}
]
{%- endif -%}
{%- endmacro %}

{# --- generated from the tables ------------------------------------------------------------ #}

{# The stage's settings as extra columns: `SELECT *{{ rule_settings('signal') }} FROM ...`. #}
{% macro rule_settings(stage) -%}{{ rules_of(stage, 'settings') }}{%- endmacro %}

{# The code of the first rule of the stage that applies to the row (a plain CASE). #}
{% macro rule_code(stage) -%}{{ rules_of(stage, 'code') }}{%- endmacro %}

{# What the rule named by the column `code` gives: its outcome, or another key of the rule. #}
{% macro rule_outcome(stage, code, key='outcome', default=none) -%}{{ rules_of(stage, 'outcome', code, key, default) }}{%- endmacro %}

{# The human reason of the rule named by the column `code`: its condition with the row's values. #}
{% macro rule_reason(stage, code) -%}{{ rules_of(stage, 'reason', code) }}{%- endmacro %}

{# The position (1-based) of the rule named by the column `code` in its table. #}
{% macro rule_position(stage, code) -%}{{ rules_of(stage, 'position', code) }}{%- endmacro %}

{# Every rule of the stage checked against the row, in order, for `unnest` in decision_trace. #}
{% macro rule_checks(stage) -%}{{ rules_of(stage, 'checks') }}{%- endmacro %}

{# The text of one rule for the row: its condition with the row's values. #}
{% macro rule_row_text(rule) -%}
{%- if rule.when is not none -%}
{{ rule_text(rule.when) }}
{%- elif rule.show is not none -%}
'no earlier rule applied; ' || {{ rule_text(rule.show) }}
{%- else -%}
'no earlier rule applied'
{%- endif -%}
{%- endmacro %}
