"""SQL unit tests: the YAML test-file format (``tests/sql/<model>.yaml``) and its loader.

A file names the model under test and holds named cases; a case gives rows for the relations the
model reads, optional dotted config overrides, and the expected rows (or, for a ``macro:`` case,
arguments, input rows and expected values). Loading checks the structure and reports mistakes with
the file, the case and a "did you mean" where it helps. See docs/SQL_TESTS.md.
"""
from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .compare import DEFAULT_TOLERANCE, SqlTestError

FILE_KEYS = ("model", "description", "key", "config", "cases")
CASE_KEYS = ("description", "model", "macro", "given", "expect", "config", "key", "ordered", "tolerance",
             "args", "kwargs", "given_row", "given_rows", "types")
_CASE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")

# --- loading --------------------------------------------------------------------------------

YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(YamlLoader):  # type: ignore[misc, valid-type]
    """YAML without silently repeated keys (two cases with one name would hide a case)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise SqlTestError(f"line {key_node.start_mark.line + 1}: key {key!r} appears twice")
        seen.add(key)
    return YamlLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class SqlCase:
    path: Path
    name: str
    display: str                      # how the file is named in ids: tests/sql/x.yaml
    model: str | None = None
    macro: str | None = None
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)      # file-level and case overrides
    own_config: dict[str, Any] = field(default_factory=dict)  # the case's own overrides
    given: dict[str, Any] = field(default_factory=dict)
    expect: Any = None
    key: list[str] | None = None
    ordered: bool = False
    tolerance: float = DEFAULT_TOLERANCE
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    given_rows: list[dict[str, Any]] | None = None
    many: bool = False                # given_rows (expect is one value per row) vs given_row
    types: dict[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def id(self) -> str:
        return f"{self.display}::{self.name}"

    @property
    def subject(self) -> str:
        return f"model {self.model}" if self.model else f"macro {self.macro}"


@dataclass
class SqlTestFile:
    path: Path
    cases: list[SqlCase]


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _case_lines(text: str) -> dict[str, int]:
    try:
        root = yaml.compose(text, Loader=YamlLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key, value in root.value:
        if key.value == "cases" and isinstance(value, yaml.MappingNode):
            return {k.value: k.start_mark.line + 1 for k, _ in value.value}
    return {}


def load_file(path: str | Path) -> SqlTestFile:
    """Read and check one test file; a malformed file raises SqlTestError naming file and case."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except SqlTestError as exc:
        raise SqlTestError(f"{path}: {exc.message}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SqlTestError(f"{path}: cannot read the test file: {exc}") from None
    if not isinstance(data, dict) or "cases" not in data:
        raise SqlTestError(f"{path}: a SQL test file is a mapping with 'cases' (and usually 'model')")
    for key in data:
        if key not in FILE_KEYS:
            raise SqlTestError(f"{path}: unknown key {key!r}{suggest(str(key), FILE_KEYS)}; keys: {', '.join(FILE_KEYS)}")
    cases = data["cases"]
    if not isinstance(cases, dict) or not cases:
        raise SqlTestError(f"{path}: 'cases' must be a mapping of case name to case, with at least one case")
    lines = _case_lines(text)
    file_config = _config_overrides(data.get("config"), f"{path}: config")
    out = [_case(path, str(name), spec, data, file_config, lines.get(str(name), 0)) for name, spec in cases.items()]
    return SqlTestFile(path, out)


def _config_overrides(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise SqlTestError(f"{where}: expected a mapping of dotted config keys to values "
                           f"(e.g. routing.both_strong_behavior: PREFER_CS)")
    return dict(value)


def _key_list(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise SqlTestError(f"{where}: key must be a column name or a list of column names")


def _case(path: Path, name: str, spec: Any, top: dict, file_config: dict, line: int) -> SqlCase:
    where = f"{path}::{name}"
    if not _CASE_NAME.fullmatch(name):
        raise SqlTestError(f"{where}: a case name uses letters, digits, '_', '.' and '-' only")
    if not isinstance(spec, dict):
        raise SqlTestError(f"{where}: a case must be a mapping")
    for key in spec:
        if key not in CASE_KEYS:
            raise SqlTestError(f"{where}: unknown key {key!r}{suggest(str(key), CASE_KEYS)}")
    case = SqlCase(path, name, _display(path), line=line)
    case.macro = spec.get("macro")
    case.model = None if case.macro else spec.get("model", top.get("model"))
    if not case.model and not case.macro:
        raise SqlTestError(f"{where}: name the model under test (file-level 'model:') or a 'macro:'")
    case.description = str(spec.get("description") or "").strip()
    case.own_config = _config_overrides(spec.get("config"), f"{where}: config")
    case.config = copy.deepcopy({**file_config, **case.own_config})
    case.key = _key_list(spec.get("key", top.get("key")), f"{where}: key")
    case.ordered = bool(spec.get("ordered", False))
    tolerance = spec.get("tolerance", DEFAULT_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise SqlTestError(f"{where}: tolerance must be a number >= 0")
    case.tolerance = float(tolerance)
    if "expect" not in spec:
        raise SqlTestError(f"{where}: 'expect' is missing")
    case.expect = spec["expect"]
    if case.macro:
        if "given" in spec:
            raise SqlTestError(f"{where}: a macro case takes given_row or given_rows, not given")
        args = spec.get("args", [])
        case.args = list(args) if isinstance(args, list) else [args]
        kwargs = spec.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise SqlTestError(f"{where}: kwargs must be a mapping")
        case.kwargs = dict(kwargs)
        if "given_row" in spec and "given_rows" in spec:
            raise SqlTestError(f"{where}: use given_row or given_rows, not both")
        if "given_rows" in spec:
            case.many = True
            case.given_rows = parse_rows(spec["given_rows"], f"{where}: given_rows")[1]
            if not isinstance(case.expect, list) or len(case.expect) != len(case.given_rows):
                raise SqlTestError(f"{where}: with given_rows, expect is a list of one value per row")
        elif spec.get("given_row") is not None:
            if not isinstance(spec["given_row"], dict):
                raise SqlTestError(f"{where}: given_row must be a mapping of column to value")
            case.given_rows = [dict(spec["given_row"])]
        types = spec.get("types") or {}
        if not isinstance(types, dict):
            raise SqlTestError(f"{where}: types must be a mapping of column to DuckDB type")
        case.types = {str(k): str(v) for k, v in types.items()}
    else:
        for key in ("args", "kwargs", "given_row", "given_rows", "types"):
            if key in spec:
                raise SqlTestError(f"{where}: {key!r} belongs to macro cases")
        given = spec.get("given") or {}
        if not isinstance(given, dict):
            raise SqlTestError(f"{where}: given must map each ref/source name to its rows")
        case.given = dict(given)
    return case


def parse_rows(spec: Any, where: str) -> tuple[list[str] | None, list[dict[str, Any]]]:
    """Rows from a list of mappings, or {columns: [...], rows: [[...], ...]}, or {rows: [...]}."""
    columns = None
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in ("rows", "columns")]
        if unknown:
            raise SqlTestError(f"{where}: unknown key {unknown[0]!r} (use rows, columns or sql)")
        columns = spec.get("columns")
        spec = spec.get("rows") or []
        if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
            raise SqlTestError(f"{where}: columns must be a list of column names")
    if spec is None:
        spec = []
    if not isinstance(spec, list):
        raise SqlTestError(f"{where}: expected a list of rows")
    rows = []
    for index, row in enumerate(spec):
        if isinstance(row, list) and columns is not None:
            if len(row) != len(columns):
                raise SqlTestError(f"{where}, row {index + 1}: {len(row)} values for {len(columns)} columns")
            rows.append(dict(zip(columns, row)))
        elif isinstance(row, dict):
            rows.append({str(k): v for k, v in row.items()})
        else:
            raise SqlTestError(f"{where}, row {index + 1}: a row is a mapping of column to value "
                               f"(or a list, when 'columns' is given)")
    return columns, rows


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Test files under `paths` (directories are searched recursively for *.yaml / *.yml)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise SqlTestError(f"no such test file or directory: {path}")
    return files
