"""The SQL of a routing rule's condition, and the human text of that condition for one row.

A rule of ``macros/rules.sql`` is written once, as a DuckDB boolean expression over named columns
(``score >= strong_score AND list_contains(allowlist, stability)``). The decision uses it as is
(:func:`condition_sql`); the human reason and the ``decision_trace`` model use :func:`condition_text`,
a SQL expression that describes the condition with the row's values, e.g.
``score 0.0642 >= strong_score 0.06 and stability STABLE in allowlist [STABLE, DRIFTING]``.

The text is *truthful* whatever the row: every comparison is printed with the operator that holds
for the row (``score 0.02 < strong_score 0.06`` when ``score >= strong_score`` is false), a list
test as ``in`` / ``not in``, and a comparison with a null as ``x null is not compared with y 0.5``. So the reason of the
rule that decided a row reads as the rule's condition with the row's values, and the text of a rule
that did not apply says why. Values are printed as DuckDB casts them to text (lists as ``[A, B]``),
a null as ``null``.

Both functions are Jinja globals of the model renderer (``rule_sql``, ``rule_text``).
"""
from __future__ import annotations

from functools import lru_cache

import sqlglot
from markupsafe import Markup
from sqlglot import exp

from .errors import ModelError

# operator class -> (SQL operator, its negation)
_COMPARISONS: dict[type[exp.Expression], tuple[str, str]] = {
    exp.EQ: ("=", "<>"),
    exp.NEQ: ("<>", "="),
    exp.LT: ("<", ">="),
    exp.LTE: ("<=", ">"),
    exp.GT: (">", "<="),
    exp.GTE: (">=", "<"),
}
# list-membership functions: name -> (index of the list argument, index of the element argument)
_MEMBERSHIP = {"LIST_CONTAINS": (0, 1), "ARRAY_CONTAINS": (0, 1), "LIST_HAS": (0, 1), "ARRAY_HAS": (0, 1)}


@lru_cache(maxsize=512)
def _parse(condition: str) -> exp.Expression:
    if not isinstance(condition, str) or not condition.strip():
        raise ModelError(f"a rule's condition must be a SQL boolean expression, got {condition!r}")
    try:
        statements = sqlglot.parse(f"SELECT {condition}", read="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise ModelError(f"rule condition {condition!r} is not valid SQL: {exc}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Select) or len(statements[0].expressions) != 1:
        raise ModelError(f"rule condition {condition!r} must be one SQL expression")
    node = statements[0].expressions[0]
    if isinstance(node, exp.Alias) or node.find(exp.Query) is not None:
        raise ModelError(f"rule condition {condition!r} must be one SQL expression (no alias, no subquery)")
    return node


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect="duckdb")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value(node: exp.Expression) -> str:
    """SQL text of a value: 'null' when null; lists as [A, B]; numbers and text as DuckDB prints them."""
    return f"coalesce(CAST(({_sql(node)}) AS VARCHAR), 'null')"


def _operand(node: exp.Expression) -> str:
    """SQL text naming an operand with its value: 'score 0.0642', a literal as written ('BLOCKED', '3')."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Literal):
        return _quote(node.this)
    if isinstance(node, exp.Boolean):
        return _quote("true" if node.this else "false")
    if isinstance(node, exp.Null):
        return _quote("null")
    if isinstance(node, exp.Array) and all(isinstance(e, exp.Literal) for e in node.expressions):
        return _quote("[" + ", ".join(e.this for e in node.expressions) + "]")
    label = node.name if isinstance(node, exp.Column) else f"({_sql(node)})"
    return f"{_quote(label + ' ')} || {_value(node)}"


def _truthful(cond: str, when_true: str, when_false: str, when_null: str) -> str:
    return f"(CASE {cond} WHEN TRUE THEN {when_true} WHEN FALSE THEN {when_false} ELSE {when_null} END)"


def _compare(cond: str, left: str, right: str, op: str, negated: str) -> str:
    """'left op right' with the operator that holds; 'left is not compared with right' for a null."""
    word = _truthful(cond, _quote(f" {op} "), _quote(f" {negated} "), "' is not compared with '")
    return f"{left} || {word} || {right}"


def _text(node: exp.Expression, parent: type[exp.Expression] | None = None) -> str:
    if isinstance(node, exp.Paren):
        return _text(node.this, parent)
    if isinstance(node, (exp.And, exp.Or)):
        word = " and " if isinstance(node, exp.And) else " or "
        inner = f"{_text(node.this, type(node))} || {_quote(word)} || {_text(node.expression, type(node))}"
        if parent is not None and parent is not type(node):
            return f"'(' || {inner} || ')'"
        return inner
    if isinstance(node, exp.Not):
        # The text of the inner condition is true for the row whichever way it came out.
        return _text(node.this, parent)
    cond = f"({_sql(node)})"
    for kind, (op, negated) in _COMPARISONS.items():
        if type(node) is kind:
            lhs, rhs = node.this, node.expression
            left, right = _operand(lhs), _operand(rhs)
            if kind is exp.EQ and isinstance(lhs, exp.Column) and isinstance(rhs, exp.Literal):
                # `leakage_status = 'BLOCKED'` that holds reads `leakage_status = BLOCKED`
                return _truthful(cond, _quote(f"{lhs.name} = {rhs.this}"),
                                 f"{left} || {_quote(f' {negated} ')} || {right}",
                                 f"{left} || ' is not compared with ' || {right}")
            return _compare(cond, left, right, op, negated)
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        subject = node.this
        name = subject.name if isinstance(subject, exp.Column) else f"({_sql(subject)})"
        return _truthful(cond, _quote(f"{name} is null"), f"{_operand(subject)} || ' is not null'", "'null'")
    if isinstance(node, exp.In) and node.args.get("expressions") and not node.args.get("query"):
        items = node.args["expressions"]
        listed = "'[' || " + " || ', ' || ".join(_value(i) for i in items) + " || ']'"
        subject = _operand(node.this)
        return _compare(cond, subject, listed, "in", "not in")
    membership = _membership(node)
    if membership is not None:
        container, element = membership
        return _compare(cond, _operand(element), _operand(container), "in", "not in")
    if isinstance(node, exp.Boolean):
        return _quote("true" if node.this else "false")
    if isinstance(node, exp.Column):
        return _operand(node)
    # Any other boolean expression: the expression, its outcome, and the values of the columns it reads.
    columns = list(dict.fromkeys(c.name for c in node.find_all(exp.Column)))
    values = " || ', ' || ".join(
        f"{_quote(c + ' ')} || coalesce(CAST({exp.to_identifier(c).sql(dialect='duckdb')} AS VARCHAR), 'null')"
        for c in columns)
    suffix = f" || ' (' || {values} || ')'" if columns else ""
    text = _quote(_sql(node))
    return _truthful(cond, text, f"'not ' || {text}", f"{text} || ' is null'") + suffix


def _membership(node: exp.Expression) -> tuple[exp.Expression, exp.Expression] | None:
    """(list, element) of a list_contains(list, element) call, else None."""
    if isinstance(node, exp.ArrayContains):
        return node.this, node.expression
    if isinstance(node, exp.Anonymous) and node.name.upper() in _MEMBERSHIP and len(node.expressions) == 2:
        i, j = _MEMBERSHIP[node.name.upper()]
        return node.expressions[i], node.expressions[j]
    return None


def condition_sql(condition: str) -> Markup:
    """A rule's condition as SQL (parsed and re-written by sqlglot, so it is one expression)."""
    return Markup(f"({_sql(_parse(condition))})")


def condition_text(condition: str) -> Markup:
    """A SQL expression giving the text of `condition` with the row's values (see the module doc)."""
    return Markup(_text(_parse(condition)))


def condition_columns(condition: str) -> list[str]:
    """The column names a condition reads, in order of first use."""
    return list(dict.fromkeys(c.name for c in _parse(condition).find_all(exp.Column)))


def check_rules(stage: str, rules: object) -> list[dict[str, object]]:
    """A stage's rule table, checked: each rule a mapping with a unique text `code`, an `outcome`
    (or `outcome_sql`) and a `when` condition, except the last rule, which has none (it decides
    when no earlier rule applied; its optional `show` condition only adds the row's values to its
    text). Returns the rules with the optional keys filled in (None)."""
    if not isinstance(rules, (list, tuple)) or not rules:
        raise ModelError(f"rule table {stage!r} must be a non-empty list of rules")
    checked: list[dict[str, object]] = []
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        last = i == len(rules) - 1
        if not isinstance(rule, dict):
            raise ModelError(f"rule {i + 1} of rule table {stage!r} must be a mapping, got {rule!r}")
        code = rule.get("code")
        where = f"rule {i + 1} ({code}) of rule table {stage!r}"
        if not isinstance(code, str) or not code:
            raise ModelError(f"rule {i + 1} of rule table {stage!r} needs a text 'code'")
        if code in seen:
            raise ModelError(f"{where}: the code {code!r} is used twice; codes name rules and must be unique")
        seen.add(code)
        if "outcome" not in rule and "outcome_sql" not in rule:
            raise ModelError(f"{where} needs an 'outcome'")
        when = rule.get("when")
        if last and when is not None:
            raise ModelError(f"{where}: the last rule of a stage applies when no earlier rule did and has no "
                             f"'when' (use 'show' to print values in its reason); add a rule after it")
        if not last and when is None:
            raise ModelError(f"{where} needs a 'when' condition (only the last rule of a stage has none)")
        for key in ("when", "show", "outcome_sql"):
            if rule.get(key) is not None:
                _parse(str(rule[key]))
        checked.append({"when": None, "show": None, "note": "", "outcome": None, "outcome_sql": None, **rule})
    return checked
