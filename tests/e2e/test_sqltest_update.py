"""`foxwarehouse test --update`: failed cases get the model's (or macro's) actual output as their
expectation, and nothing else of their test file changes."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import run_cli

RULE_OLD = "leakage_status = 'BLOCKED'\""
RULE_NEW = "leakage_status IN ('BLOCKED', 'SUSPECT')\""


def _content_end(node: yaml.Node) -> int:
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        return _content_end(last[1] if isinstance(node, yaml.MappingNode) else last)
    return int(node.end_mark.index)


def _outside_expects(text: str, names: set[str]) -> list[str]:
    """The file's text with the `expect` values of the named cases cut out (the pieces between)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    cases = next(v for k, v in root.value if k.value == "cases")
    spans = sorted((v.start_mark.index, _content_end(v)) for name, spec in cases.value if name.value in names
                   for k, v in spec.value if k.value == "expect")
    pieces, at = [], 0
    for start, end in spans:
        pieces.append(text[at:start])
        at = end
    return pieces + [text[at:]]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    assert run_cli(["init", root]).code == 0
    monkeypatch.chdir(root)
    return root


def _snapshot(root: Path) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted((root / "tests" / "sql").glob("*.yaml"))}


@pytest.mark.slow  # ~15 s: runs with the slow sweep of .ci/run
def test_update_accepts_a_changed_rule_and_keeps_the_rest_of_each_file(project: Path) -> None:
    rules = project / "macros" / "rules.sql"
    assert RULE_OLD in rules.read_text(encoding="utf-8")
    rules.write_text(rules.read_text(encoding="utf-8").replace(RULE_OLD, RULE_NEW), encoding="utf-8")
    before = _snapshot(project)

    failing = run_cli(["test", "-q"])
    assert failing.code == 1 and "5 failed" in failing.out, failing.out

    updated = run_cli(["test", "-q", "--update"])
    assert updated.code == 0, updated.out + updated.err
    ids = [line.split(" ", 1)[1] for line in updated.out.splitlines() if line.startswith("updated tests/")]
    assert len(ids) == 5
    assert "updated 5 case(s) in 2 file(s); run again: 5 passed, 0 failed" in updated.out
    assert "+- [ret, BBB, DISALLOWED, LEAKAGE_BLOCKED]" in updated.out.replace("    ", "")  # what changed

    after = run_cli(["test", "-q"])
    assert after.code == 0 and "0 failed" in after.out, after.out

    names: dict[str, set[str]] = {}
    for case_id in ids:
        file, case = case_id.split("::")
        names.setdefault(Path(file).name, set()).add(case)
    for path, (old_bytes, _) in before.items():
        new_bytes = path.read_bytes()
        if path.name not in names:
            assert new_bytes == old_bytes, path
            continue
        old_text, new_text = old_bytes.decode(), new_bytes.decode()
        assert _outside_expects(old_text, names[path.name]) == _outside_expects(new_text, names[path.name])
        old_data, new_data = yaml.safe_load(old_text), yaml.safe_load(new_text)
        for name, case in old_data["cases"].items():
            if name not in names[path.name]:
                assert new_data["cases"][name] == case, name
            else:  # the compared columns stay the ones the case expected
                assert new_data["cases"][name]["expect"]["columns"] == case["expect"]["columns"]
        # only the rows whose values changed are rewritten: a handful of lines, comments intact
        changed = [(a, b) for a, b in zip(old_text.splitlines(), new_text.splitlines()) if a != b]
        assert len(old_text.splitlines()) == len(new_text.splitlines()) and 1 <= len(changed) <= 3
        assert all("BLOCKED" in b for _, b in changed)


@pytest.mark.slow  # runs the whole SQL suite twice: with the slow sweep
def test_update_on_a_passing_suite_writes_nothing(project: Path) -> None:
    before = _snapshot(project)
    result = run_cli(["test", "-q", "--update"])
    assert result.code == 0, result.out
    assert "updated 0 case(s) in 0 file(s)" in result.out
    assert _snapshot(project) == before


EXTRA = '''\
# extra cases for --update (this comment stays)
model: routing_candidates
key: [target, symbol]
cases:
  quoting:
    description: "values that need quoting"
    given:
      source:routing_candidates:
        columns: [target, symbol, score]
        rows:
          - ["a[1]", "k: v", 0.5]
          - ["#hash", "it's \\"q\\"", 0.25]
          - ["  lead", "null", 0.125]
          - ["x, y", "{z}", 0.1234567891]
    expect:
      columns: [target, symbol, score]
      rows:
        - [wrong, wrong, 0.5]   # a trailing comment
  # a comment between cases
  from_nothing:
    given:
      source:routing_candidates: [{target: t, symbol: A, score: 0.3}]
    expect: []
  mapping_style:
    given:
      source:routing_candidates: [{target: t, symbol: A, score: 0.3}]
    expect:
      - {target: t, symbol: A, score: 0.9}
    tolerance: 0.0
  already_passing:
    given:
      source:routing_candidates: [{target: t, symbol: A, score: 0.3}]
    expect: [{target: t, symbol: "A", score: 0.3}]   # untouched
  macro_value:
    macro: horizon_minutes
    args: [target]
    given_row: {target: fwd_ret_15m}
    expect: 99   # wrong
  macro_values:
    macro: horizon_minutes
    args: [target]
    given_rows: [{target: fwd_ret_15m}, {target: ret_2h_1d}]
    expect: [15, 7]
'''


def test_update_rewrites_model_and_macro_cases_and_quotes_values(project: Path) -> None:
    path = project / "tests" / "sql" / "extra.yaml"
    path.write_text(EXTRA, encoding="utf-8")
    assert run_cli(["test", str(path), "-q"]).code == 1

    result = run_cli(["test", str(path), "-q", "--update"])
    assert result.code == 0, result.out + result.err
    assert result.out.count("updated tests/sql/extra.yaml::") == 5
    assert run_cli(["test", str(path), "-q"]).code == 0

    text = path.read_text(encoding="utf-8")
    assert text.startswith("# extra cases for --update (this comment stays)\n")
    assert "  # a comment between cases\n" in text and "# untouched" in text
    cases = yaml.safe_load(text)["cases"]
    rows = cases["quoting"]["expect"]["rows"]
    assert cases["quoting"]["expect"]["columns"] == ["target", "symbol", "score"]
    assert sorted(rows) == sorted([["a[1]", "k: v", 0.5], ["#hash", "it's \"q\"", 0.25], ["  lead", "null", 0.125],
                                   ["x, y", "{z}", 0.1234567891]])
    assert rows == sorted(rows)  # no row matches the old one (on the key): a stable, sorted order
    assert cases["from_nothing"]["expect"] == [{"target": "t", "symbol": "A"}]  # the compared (key) columns
    assert "    expect:\n      - {target: t, symbol: A}\n" in text
    assert cases["mapping_style"]["expect"] == [{"target": "t", "symbol": "A", "score": 0.3}]
    assert "      - {target: t, symbol: A, score: 0.3}\n    tolerance: 0.0\n" in text
    assert cases["already_passing"] == yaml.safe_load(EXTRA)["cases"]["already_passing"]
    assert cases["macro_value"]["expect"] == 15
    assert "    expect: 15   # wrong\n" in text
    assert "    expect: [15, 1440]\n" in text


def test_update_leaves_erroring_and_sql_cases_alone(project: Path) -> None:
    path = project / "tests" / "sql" / "broken.yaml"
    original = '''\
model: routing_candidates
cases:
  unknown_column:
    given:
      source:routing_candidates: [{target: t, symbol: A, score: 0.3}]
    expect: [{target: t, no_such_column: 1}]
  sql_expectation:
    given:
      source:routing_candidates: [{target: t, symbol: A, score: 0.3}]
    expect: {sql: "SELECT 'u' AS target"}
'''
    path.write_text(original, encoding="utf-8")
    result = run_cli(["test", str(path), "-q", "--update"])
    assert result.code == 1
    assert "not updated tests/sql/broken.yaml::sql_expectation: its expectation is SQL" in result.out
    assert "updated 0 case(s) in 0 file(s)" in result.out
    assert path.read_text(encoding="utf-8") == original


def test_update_refuses_a_selection_that_matches_nothing(project: Path) -> None:
    before = _snapshot(project)
    result = run_cli(["test", "--update", "-k", "no_such_case_anywhere"])
    assert result.code == 2
    assert _snapshot(project) == before
