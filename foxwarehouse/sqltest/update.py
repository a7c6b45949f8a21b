"""`foxwarehouse test --update`: accept what the models give now as the expectation of failing cases.

For every failed case (not a case that errors) the ``expect`` of the case is rewritten in its test
file with what its model (or macro) gives on the case's fixtures, and nothing else of the file
changes: the text range of the ``expect`` value is found with ``yaml.compose`` node marks and only
that range is replaced, so comments, other cases, key order and formatting stay byte for byte.

The new expectation keeps the case's compared columns (only those), is written in the style of
``create-test`` (``columns:`` + ``rows:`` of flow-style rows; a list of row mappings stays one), and
keeps a stable row order: rows that still match an expected row (on all columns, else on the key)
keep its place, new rows follow in a sorted order; ``ordered: true`` cases take the model's order.
A float that is within the case's tolerance of its expected value keeps the expected value, others
are written short (6 significant digits) when that is within the tolerance. An ``expect: {sql: ...}``
case is not rewritten (its SQL is the point of the case). Each file is checked to read back with
only the updated expectations changed before it is written (atomically), then the updated cases run
again.
"""
from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..atomic import write_text_atomic
from ..errors import FoxError
from .compare import FLOAT_TYPES, SqlTestError, duck_type
from .files import SqlCase, _StrictLoader, load_file, parse_rows
from .runner import ActualOutput, CaseResult, SqlTestRunner
from .yamltext import flow, plain, short


@dataclass
class UpdateResult:
    rerun: list[CaseResult] = field(default_factory=list)    # the updated cases, run again
    skipped: list[str] = field(default_factory=list)         # failed cases left as they are, why
    files: int = 0

    @property
    def passed(self) -> int:
        return sum(r.ok for r in self.rerun)


# --- values -----------------------------------------------------------------------------------

def _same(a: Any, b: Any) -> bool:
    """Equal as the comparison sees it (NaN equals NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _within(expected: Any, actual: Any, tolerance: float) -> bool:
    """The comparison's float rule: |actual - expected| <= tolerance * max(1, |expected|)."""
    if _same(expected, actual):
        return True
    if not (isinstance(expected, (int, float)) and isinstance(actual, (int, float))) \
            or isinstance(expected, bool) or isinstance(actual, bool):
        return False
    if not (math.isfinite(expected) and math.isfinite(actual)):
        return False
    return abs(actual - expected) <= tolerance * max(1.0, abs(expected))


class _Values:
    """Written values for one case: its float columns, tolerance and expected rows."""

    def __init__(self, out: ActualOutput, tolerance: float):
        self.floats = [duck_type(t).id in FLOAT_TYPES for _, t in out.columns]
        self.tolerance = tolerance

    def same(self, i: int, expected: Any, actual: Any) -> bool:
        return _within(expected, actual, self.tolerance) if self.floats[i] else _same(expected, actual)

    def write(self, i: int, actual: Any, expected: Any = None, paired: bool = False) -> Any:
        if paired and self.same(i, expected, actual):
            return expected
        if self.floats[i] and isinstance(actual, float):
            if actual.is_integer() and abs(actual) < 2 ** 53:  # 15, not 15.0: the column's type applies
                return int(actual)
            shortened = short(actual)
            if _within(shortened, actual, self.tolerance):
                return shortened
        return actual


def _sort_key(row: list[Any]) -> tuple:
    def one(v: Any) -> tuple:
        if v is None:
            return (0, 0)
        if isinstance(v, (bool, int, float)) and not (isinstance(v, float) and math.isnan(v)):
            return (1, v)
        if isinstance(v, str):
            return (2, v)
        return (3, json.dumps(v, sort_keys=True, default=str))
    return tuple(one(v) for v in row)


Cell = tuple[str, Any]  # (YAML text, value) of one written value


def _cell(value: Any) -> Cell:
    return flow([value])[1:-1], value  # written inside a flow sequence: quoted as a row cell needs


def new_rows(out: ActualOutput, case: SqlCase, texts: list[dict[str, str]]) -> list[list[Cell]]:
    """The actual rows of the compared columns as they are written: stable order; a cell whose value
    is unchanged keeps its text and value from the file."""
    values = _Values(out, case.tolerance)
    expected = [plain(r) for r in out.expected]
    actual = [plain(r) for r in out.actual]
    width = range(len(out.columns))
    names = [c for c, _ in out.columns]
    written = _written_rows(case, names)
    key = [names.index(k) for k in out.key if k in names]
    pairs: dict[int, int] = {}
    used: set[int] = set()
    # Rows that still match an expected row keep it; then rows that match one on the key.
    for match in ([*width], key):
        if not match:
            continue
        for a, row in enumerate(actual):
            if a in pairs:
                continue
            for e, exp_row in enumerate(expected):
                if e not in used and all(values.same(i, exp_row[i], row[i]) for i in match):
                    pairs[a] = e
                    used.add(e)
                    break
    order = list(range(len(actual)))
    if not case.ordered:
        order.sort(key=lambda a: (pairs.get(a, len(expected)), _sort_key(actual[a]) if a not in pairs else ()))
    rows = []
    for a in order:
        paired = pairs.get(a)
        cells = []
        for i in width:
            if paired is not None and values.same(i, expected[paired][i], actual[a][i]):
                name = names[i]
                original = written[paired].get(name, expected[paired][i]) if paired < len(written) \
                    else expected[paired][i]
                text = texts[paired].get(name) if paired < len(texts) else None
                cells.append((text, original) if text is not None else _cell(original))
            else:
                cells.append(_cell(values.write(i, actual[a][i])))
        rows.append(cells)
    return rows


def _written_rows(case: SqlCase, names: list[str]) -> list[dict[str, Any]]:
    """The expected rows as the file writes them (before the cast to the column types)."""
    try:
        return parse_rows(case.expect, "expect")[1]
    except SqlTestError:  # pragma: no cover - the case ran, so its rows parse
        return []


def new_macro_cells(out: ActualOutput, case: SqlCase, texts: list[dict[str, str]]) -> list[Cell]:
    values = _Values(out, case.tolerance)
    expected = [plain(r)[0] for r in out.expected]
    actual = [plain(r)[0] for r in out.actual]
    written = case.expect if case.many else [case.expect]
    cells = []
    for i, a in enumerate(actual):
        if i < len(expected) and values.same(0, expected[i], a):
            text = texts[i].get("value") if i < len(texts) else None
            cells.append((text, written[i]) if text is not None else _cell(written[i]))
        else:
            cells.append(_cell(values.write(0, a)))
    return cells


def cell_texts(text: str, node: yaml.Node, names: list[str], macro: bool) -> list[dict[str, str]]:
    """Per expected row (or macro value), the file's text of each cell written on one line."""
    def one_line(cell: yaml.Node) -> str | None:
        if isinstance(cell, yaml.ScalarNode) and cell.style in ("|", ">"):
            return None
        if cell.start_mark.line != cell.end_mark.line:
            return None
        return text[cell.start_mark.index:cell.end_mark.index]

    if macro:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        return [{"value": t} if (t := one_line(item)) is not None else {} for item in items]
    rows = next((v for k, v in node.value if k.value == "rows"), None) if isinstance(node, yaml.MappingNode) else node
    if not isinstance(rows, yaml.SequenceNode):
        return []
    out: list[dict[str, str]] = []
    for item in rows.value:
        pairs: list[tuple[str, yaml.Node]] = []
        if isinstance(item, yaml.SequenceNode) and item.flow_style and len(item.value) == len(names):
            pairs = list(zip(names, item.value))
        elif isinstance(item, yaml.MappingNode) and item.flow_style:
            pairs = [(str(k.value), v) for k, v in item.value]
        out.append({name: t for name, cell in pairs if (t := one_line(cell)) is not None})
    return out


# --- text -------------------------------------------------------------------------------------

def _content_end(node: yaml.Node) -> int:
    """Where a node's own text ends (a block collection's end mark lies after trailing comments)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1])
    return int(node.end_mark.index)


def expect_nodes(text: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """Case name -> (the `expect` key node, its value node)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)  # pure-Python marks: indexes are characters
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if key.value == "cases" and isinstance(value, yaml.MappingNode):
            for name, spec in value.value:
                if isinstance(spec, yaml.MappingNode):
                    for k, v in spec.value:
                        if k.value == "expect":
                            out[str(name.value)] = (k, v)
    return out


def _lines(cells: Any, case: SqlCase, out: ActualOutput) -> tuple[Any, list[str]]:
    """(the new expect value, its YAML lines); one line is written where the old value was."""
    if case.macro:
        if case.many:
            return [v for _, v in cells], ["[" + ", ".join(t for t, _ in cells) + "]"]
        return (cells[0][1], [cells[0][0]]) if cells else (None, ["null"])
    names = [c for c, _ in out.columns]
    if isinstance(case.expect, list):  # a list of row mappings stays one
        if not cells:
            return [], ["[]"]
        keys = [flow([n])[1:-1] for n in names]
        return ([{n: v for n, (_, v) in zip(names, row)} for row in cells],
                ["- {" + ", ".join(f"{k}: {t}" for k, (t, _) in zip(keys, row)) + "}" for row in cells])
    lines = [f"columns: {flow(names)}"]
    if cells:
        lines += ["rows:"] + ["  - [" + ", ".join(t for t, _ in row) + "]" for row in cells]
    else:
        lines.append("rows: []")
    return {"columns": names, "rows": [[v for _, v in row] for row in cells]}, lines


def _replacement(text: str, key: yaml.Node, node: yaml.Node, lines: list[str]) -> tuple[int, int, str]:
    start, end = int(node.start_mark.index), _content_end(node)
    newline = "\r\n" if "\r\n" in text else "\n"
    if len(lines) == 1 and not lines[0].startswith("- "):  # a flow value or scalar: where the old one was
        return start, end, lines[0]
    if node.start_mark.line == key.start_mark.line:  # `expect: []` -> a block below the key
        indent = key.start_mark.column + 2
        while start > 0 and text[start - 1] in " \t":  # no trailing blank after `expect:`
            start -= 1
        return start, end, newline + newline.join(" " * indent + line for line in lines)
    indent = node.start_mark.column
    return start, end, (newline + " " * indent).join(lines)


# --- the command --------------------------------------------------------------------------------

def update_failed(failed: Iterable[tuple[CaseResult, SqlTestRunner]], write: Callable[[str], None] = print
                  ) -> UpdateResult:
    """Rewrite the expectation of every failed case, then run those cases again."""
    result = UpdateResult()
    by_file: dict[Path, list[tuple[SqlCase, SqlTestRunner]]] = {}
    for case_result, runner in failed:
        if case_result.status != "failed":
            continue
        case = case_result.case
        if isinstance(case.expect, dict) and "sql" in case.expect:
            result.skipped.append(f"{case.id}: its expectation is SQL (expect: {{sql: ...}}); edit it by hand")
            continue
        by_file.setdefault(case.path, []).append((case, runner))
    for path, cases in by_file.items():
        done = _update_file(path, cases, result, write)
        if not done:
            continue
        result.files += 1
        fresh = {c.name: c for c in load_file(path).cases}
        runner_of = {case.name: runner for case, runner in cases}
        for name in done:
            result.rerun.append(runner_of[name].run_case(fresh[name]))
    for rerun in result.rerun:
        if not rerun.ok:
            write(("FAIL  " if rerun.status == "failed" else "ERROR ") + "after --update: " + rerun.report())
    for line in result.skipped:
        write(f"not updated {line}")
    failed_after = len(result.rerun) - result.passed
    write(f"updated {len(result.rerun)} case(s) in {result.files} file(s); run again: {result.passed} passed, "
          f"{failed_after} failed" + (f"; {len(result.skipped)} failed case(s) not updated" if result.skipped else ""))
    return result


def _update_file(path: Path, cases: list[tuple[SqlCase, SqlTestRunner]], result: UpdateResult,
                 write: Callable[[str], None]) -> list[str]:
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    try:
        nodes = expect_nodes(text)
    except yaml.YAMLError as exc:  # pragma: no cover - the file loaded a moment ago
        result.skipped += [f"{case.id}: the file no longer parses: {exc}" for case, _ in cases]
        return []
    edits: list[tuple[int, int, str, SqlCase, Any]] = []
    for case, runner in cases:
        if case.name not in nodes:
            result.skipped.append(f"{case.id}: its 'expect' was not found in the file")
            continue
        try:
            out = runner.actual_output(case)
        except FoxError as exc:
            result.skipped.append(f"{case.id}: {exc.message}")
            continue
        key, node = nodes[case.name]
        texts = cell_texts(text, node, [c for c, _ in out.columns], bool(case.macro))
        cells = new_macro_cells(out, case, texts) if case.macro else new_rows(out, case, texts)
        written, lines = _lines(cells, case, out)
        start, end, new = _replacement(text, key, node, lines)
        edits.append((start, end, new, case, written))
    if not edits:
        return []
    new_text = text
    for start, end, new, _, _ in sorted(edits, key=lambda e: e[0], reverse=True):
        new_text = new_text[:start] + new + new_text[end:]
    _check(path, text, new_text, {case.name: written for _, _, _, case, written in edits})
    if new_text != text:
        write_text_atomic(path, new_text)
    for start, end, new, case, _ in sorted(edits, key=lambda e: e[0]):
        write(f"updated {case.id}")
        old_lines, new_lines = text[start:end].splitlines(), new.strip("\r\n").splitlines()
        diff = [line for line in difflib.unified_diff([s.strip() for s in old_lines], [s.strip() for s in new_lines],
                                                      lineterm="", n=0)
                if not line.startswith(("---", "+++", "@@"))]
        write("\n".join("    " + line for line in diff) if diff else "    (expect text unchanged)")
    return [case.name for _, _, _, case, _ in edits]


def _check(path: Path, old: str, new: str, expected: dict[str, Any]) -> None:
    """The new text reads back with the new expectations and everything else as before."""
    try:
        before = yaml.load(old, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        after = yaml.load(new, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, FoxError) as exc:
        raise SqlTestError(f"{path}: the updated file would not parse ({exc}); nothing written", path=path) from None
    wrong = [name for name, value in expected.items() if repr(after["cases"][name]["expect"]) != repr(value)]
    for name in expected:
        before["cases"][name]["expect"] = after["cases"][name]["expect"]
    if wrong or repr(before) != repr(after):
        what = f"case {wrong[0]} would not read back as written" if wrong else "other parts of the file would change"
        raise SqlTestError(f"{path}: updating the expectations failed: {what}; nothing written", path=path)
