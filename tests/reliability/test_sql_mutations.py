"""Mutation check of the SQL unit tests: break one routing rule at a time, the suite must notice.

Every mutant changes one spot of one file in sql/*.sql or macros/*.sql of a temp copy of the
project: a comparison (>= to >, > to >=, < to <=, <= to <), a route, state, side or training-type
literal swapped for another, a job priority changed, a sort direction flipped, AND/OR swapped, a
floor turned into a ceil. The SQL unit tests of tests/sql must fail on every mutant (the mutant is
"killed"). Only the cases whose rendered SQL the mutant changes are run, so the sweep takes seconds.

Run ``python tests/reliability/test_sql_mutations.py`` for the per-mutant report and the mutation score.
"""
from __future__ import annotations

import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from foxwarehouse.project import Project  # noqa: E402
from foxwarehouse.sqltest import SqlCase, SqlTestRunner, discover, load_file  # noqa: E402

ROUTES = ["ROUTE_CROSS_SECTIONAL", "ROUTE_SYMBOL_SPECIFIC", "ROUTE_BOTH", "ROUTE_EXPERIMENTAL_ONLY", "ROUTE_BLOCKED"]
STATES = ["STRONG", "WEAK_BUT_OK", "EXPERIMENTAL", "DISALLOWED"]
STABILITIES = ["STABLE", "DRIFTING", "DIVERGED", "UNKNOWN"]
TYPES = ["cross_sectional", "symbol_specific", "blocked"]
COMPARISONS = {">=": ">", ">": ">=", "<=": "<", "<": "<="}

# Models that explain decisions rather than make them; mutating them breaks no routing rule.
NOT_ROUTING = {"decision_trace"}

# Mutants that change nothing a plan means, each with the reason: (file, text of the line, change).
EQUIVALENT = {
    ("sql/plan_summary.sql", "ORDER BY priority DESC", "DESC -> ASC"):
        "orders the entries inside the by_priority MAP; a map (a JSON object) compares by content",
    ("sql/routing_decisions.sql", "AS DECIMAL(38, 20)", "20 -> 21"):
        "a fraction in [0, 1] written in the config is exact at 20 or 21 decimal places",
    # The stability stage's last rule only shows values in explain's trace (no stored reason).
    ("macros/rules.sql", "'code': 'BELOW_DRIFTING'", ">= -> >"): "explain's text of a stability rule, no decision",
    ("macros/rules.sql", "'code': 'BELOW_DRIFTING'", "AND -> OR"): "explain's text of a stability rule, no decision",
    # Whether explain's trace marks a rule as applying; the decision is the generated CASE.
    ("macros/rules.sql", "'applies':", "FALSE -> TRUE"): "explain's trace column, no decision",
    ("macros/rules.sql", "'applies':", "TRUE -> FALSE"): "explain's trace column, no decision",
}


@dataclass
class Mutant:
    path: str          # relative to the project root, e.g. sql/routing_decisions.sql
    line: int
    before: str
    after: str
    text: str          # the whole mutated file
    original: str      # the file before the mutation

    @property
    def label(self) -> str:
        return f"{self.path}:{self.line}: {self.before} -> {self.after}"

    @property
    def equivalent(self) -> str | None:
        line = self.original.splitlines()[self.line - 1]
        for (path, text, change), reason in EQUIVALENT.items():
            if path == self.path and text in line and change == f"{self.before} -> {self.after}":
                return reason
        return None


def mutants_of(rel: str, text: str) -> list[Mutant]:
    masked = re.sub(r"\{#.*?#\}", lambda m: " " * len(m.group()), text, flags=re.S)
    masked = re.sub(r"--[^\n]*", lambda m: " " * len(m.group()), masked)
    out: list[Mutant] = []

    def add(start: int, end: int, replacement: str) -> None:
        line = text.count("\n", 0, start) + 1
        out.append(Mutant(rel, line, text[start:end], replacement, text[:start] + replacement + text[end:], text))

    for m in re.finditer(r"(?<![<>=!|])(>=|<=|>|<)(?![=>|])", masked):
        if masked[m.start() - 1:m.start()] == "-" or masked[m.end():m.end() + 1] == "-":
            continue  # not a comparison (e.g. an arrow)
        add(m.start(), m.end(), COMPARISONS[m.group(1)])
    for group in (ROUTES, STATES, STABILITIES, TYPES, ["cs", "symbol"], ["ENABLED", "DISABLED"]):
        for m in re.finditer(r"'(" + "|".join(map(re.escape, group)) + r")'", masked):
            value = m.group(1)
            other = group[(group.index(value) + 1) % len(group)]
            add(m.start(1), m.end(1), other)
    for m in re.finditer(r"\b(THEN|ELSE) ([0-3])\b", masked):
        add(m.start(2), m.end(2), str((int(m.group(2)) + 1) % 4))
    for m in re.finditer(r"\b(ASC|DESC)\b", masked):
        add(m.start(), m.end(), "DESC" if m.group(1) == "ASC" else "ASC")
    for m in re.finditer(r"\b(AND|OR)\b", masked):
        add(m.start(), m.end(), "OR" if m.group(1) == "AND" else "AND")
    for m in re.finditer(r"\bfloor\(", masked):
        add(m.start(), m.end() - 1, "ceil")
    for m in re.finditer(r"\b(least|greatest)\(", masked):
        add(m.start(1), m.end(1), "greatest" if m.group(1) == "least" else "least")
    for m in re.finditer(r"\bIS NOT DISTINCT FROM\b", masked):
        add(m.start(), m.end(), "=")
    for m in re.finditer(r"\bIS (NOT )?NULL\b", masked):
        add(m.start(), m.end(), "IS NULL" if m.group(1) else "IS NOT NULL")
    for m in re.finditer(r"\b(TRUE|FALSE)\b", masked):
        add(m.start(), m.end(), "FALSE" if m.group(1) == "TRUE" else "TRUE")
    for m in re.finditer(r"(?<![\w.'])(\d+)(?![\w.'])", masked):
        if _in_string(masked, m.start()):
            continue
        add(m.start(), m.end(), str(int(m.group(1)) + 1))
    return out


def _in_string(text: str, pos: int) -> bool:
    """Whether `pos` is inside a '...' literal of its line."""
    line_start = text.rfind("\n", 0, pos) + 1
    return text.count("'", line_start, pos) % 2 == 1


def all_mutants(root: Path) -> list[Mutant]:
    mutants: list[Mutant] = []
    for folder in ("sql", "macros"):
        for path in sorted((root / folder).glob("*.sql")):
            if path.stem in NOT_ROUTING:
                continue
            mutants += mutants_of(f"{folder}/{path.name}", path.read_text(encoding="utf-8"))
    return mutants


def _copy_project(dest: Path) -> Project:
    for part in ("sql", "macros", "config"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("analysis"))
    return Project(dest / "sql", dest / "macros", dest / "config")


def _rendered(runner: SqlTestRunner, case: SqlCase) -> str:
    """What a case executes: the model's SQL, or the macro's expansion, under the case's config."""
    try:
        scope = runner.scope(case.config)
        if case.model:
            return scope.render(case.model).sql
        macros = scope.renderer.macros()
        return str(macros[case.macro](*case.args, **case.kwargs)) if case.macro in macros else "?"
    except Exception as exc:  # noqa: BLE001 - a mutant that cannot even render is noticed
        return f"error: {exc}"


def run_mutations(tmp: Path, write=print) -> tuple[list[Mutant], list[Mutant], float]:
    """(killed, survived, seconds) over every mutant of the packaged models and macros."""
    start = time.perf_counter()
    project = _copy_project(tmp)
    cases = [c for f in discover([ROOT / "tests" / "sql"]) for c in load_file(f).cases
             if c.model not in NOT_ROUTING]
    db = duckdb.connect(":memory:")
    base = SqlTestRunner(project, db=db)
    original = {c.id: _rendered(base, c) for c in cases}
    killed: list[Mutant] = []
    survived: list[Mutant] = []
    killers: dict[str, list[str]] = {}  # file -> cases that killed its earlier mutants: tried first
    for mutant in all_mutants(tmp):
        target = tmp / mutant.path
        saved = target.read_text(encoding="utf-8")
        target.write_text(mutant.text, encoding="utf-8")
        try:
            runner = SqlTestRunner(project, parse_check=False, db=db)
            affected = [c for c in cases if _rendered(runner, c) != original[c.id]]
            first = killers.get(mutant.path, [])
            affected.sort(key=lambda c: first.index(c.id) if c.id in first else len(first))
            failing = next((c for c in affected if not runner.run_case(c).ok), None)
            runner.close()
        finally:
            target.write_text(saved, encoding="utf-8")
        (killed if failing else survived).append(mutant)
        if failing and failing.id not in killers.setdefault(mutant.path, []):
            killers[mutant.path].insert(0, failing.id)
        status = "killed  " if failing else ("equivalent" if mutant.equivalent else "SURVIVED")
        write(f"{status} {mutant.label}"
              + (f"  <- {failing.id}" if failing else f"  ({mutant.equivalent or f'{len(affected)} affected cases'})"))
    base.close()
    db.close()
    return killed, survived, time.perf_counter() - start


@pytest.mark.slow
def test_every_mutant_of_a_routing_rule_is_caught(tmp_path: Path) -> None:
    killed, survived, seconds = run_mutations(tmp_path, write=lambda line: None)
    total = len(killed) + len(survived)
    print(f"\nSQL mutation score: {len(killed)}/{total} killed in {seconds:.1f}s")
    assert total > 100, "the mutation generator found too few mutants"
    missed = [m for m in survived if not m.equivalent]
    assert not missed, "mutants not caught by tests/sql:\n  " + "\n  ".join(m.label for m in missed)
    stale = [m for m in killed if m.equivalent]
    assert not stale, "listed as equivalent but caught (remove from EQUIVALENT): " + ", ".join(m.label for m in stale)


@pytest.mark.parametrize("before,after,case", [
    ("'when': 'score >= strong_score AND", "'when': 'score > strong_score AND",
     "candidate_signal_states.yaml::rule4_strong_at_threshold"),
    ("'PREFER_CS': 'ROUTE_CROSS_SECTIONAL'", "'PREFER_CS': 'ROUTE_BOTH'",
     "routing_decisions.yaml::both_strong_prefer_cs"),
    ("{'code': 'LOCAL_OK', 'outcome': 'ROUTE_SYMBOL_SPECIFIC'",
     "{'code': 'LOCAL_OK', 'outcome': 'ROUTE_CROSS_SECTIONAL'",
     "routing_decisions.yaml::route_rule3_local_ok_only"),
])
@pytest.mark.slow  # each builds a mutated project's tests; with the slow sweep, beside the whole mutation sweep
def test_named_mutations_are_caught_by_their_case(tmp_path: Path, before: str, after: str, case: str) -> None:
    """The issue's examples: '>=' turned into '>' and a swapped route fail the case of that rule,
    with a diff naming the changed column."""
    project = _copy_project(tmp_path)
    for path in list((tmp_path / "sql").glob("*.sql")) + list((tmp_path / "macros").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        if before in text:
            path.write_text(text.replace(before, after), encoding="utf-8")
            break
    else:
        pytest.fail(f"{before!r} not found in the models")
    runner = SqlTestRunner(project)
    results = [runner.run_case(c) for f in discover([ROOT / "tests" / "sql"]) for c in load_file(f).cases]
    failed = {r.case.id.split("/")[-1]: r for r in results if not r.ok}
    assert case in failed, sorted(failed)
    assert all(r.status == "failed" for r in failed.values()), [r.report() for r in failed.values() if r.status != "failed"]
    report = failed[case].report()
    assert "with different values" in report and ("signal_state: expected" in report or "route: expected" in report), report


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        k, s, secs = run_mutations(Path(d))
    eq = [m for m in s if m.equivalent]
    print(f"\nmutation score: {len(k)}/{len(k) + len(s)} killed, {len(eq)} equivalent, "
          f"{len(s) - len(eq)} survived, in {secs:.1f}s")
