"""Model docs: descriptions in ``sql/models.yml`` next to the models, and the Markdown catalog.

``foxwarehouse docs`` writes one Markdown file with the model DAG (a Mermaid graph and a text list),
then per model: its description, grain, inputs and consumers, every column with its type and
description, the SQL unit-test cases of ``tests/sql/<model>.yaml`` and the audits declared for it.
Column types come from rendering each model on empty tables in an in-memory DuckDB, so no
warehouse is needed and the catalog always matches the SQL.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .atomic import write_text_atomic
from .errors import FoxError
from .lineage import LineageGraph, compress_keys
from .project import Project, packaged_project
from .warehouse import SOURCES

DOCS_FILE = "models.yml"


@dataclass
class ModelDocs:
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    views: dict[str, str] = field(default_factory=dict)


def load_docs(project: Project) -> ModelDocs:
    """Read sql/models.yml (absent file = no descriptions)."""
    path = project.sql_dir / DOCS_FILE
    if not path.is_file():
        return ModelDocs()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise FoxError(f"{path}: cannot read model docs: {exc}") from None
    if not isinstance(data, dict):
        raise FoxError(f"{path}: expected a mapping with 'models:'")
    models = data.get("models") or {}
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        raise FoxError(f"{path}: 'models' must map each model name to its description and columns")
    for name, spec in models.items():
        columns = spec.get("columns") or {}
        if not isinstance(columns, dict):
            raise FoxError(f"{path}: models.{name}.columns must map column names to descriptions")
    return ModelDocs(models, dict(data.get("sources") or {}), dict(data.get("views") or {}))


def tests_dir(project: Project) -> Path:
    """tests/sql of a project directory; the packaged SQL tests for the packaged project."""
    if project == packaged_project():
        from .sqltest import packaged_tests_dir

        return packaged_tests_dir()
    return project.sql_dir.parent / "tests" / "sql"


def collect_tests(project: Project) -> dict[str, list[tuple[str, str]]]:
    """model -> [(case name, description)] from tests/sql/*.yaml (files that do not parse are skipped)."""
    out: dict[str, list[tuple[str, str]]] = {}
    folder = tests_dir(project)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("cases"), dict):
            continue
        for name, case in data["cases"].items():
            case = case if isinstance(case, dict) else {}
            model = case.get("model") or (None if case.get("macro") else data.get("model"))
            if case.get("macro"):
                model = f"macro:{case['macro']}"
            if model:
                desc = " ".join(str(case.get("description") or "").split())
                out.setdefault(str(model), []).append((f"{path.name}::{name}", desc))
    return out


def collect_audits(project: Project) -> dict[str, list[tuple[str, str]]]:
    """model -> [(audit name, what it checks)] from the project's audits file (foxwarehouse.audits)."""
    from .audits import load_audits

    out: dict[str, list[tuple[str, str]]] = {}
    for audit in load_audits(project):
        text = _one_line(audit.description) or _describe_check(audit.check, audit.spec)
        if audit.where:
            text += f" (where {_one_line(audit.where)})"
        out.setdefault(audit.model, []).append((audit.name, text))
    return out


def _describe_check(check: str, spec: Any) -> str:
    if check in ("unique", "not_null"):
        return f"{check.replace('_', ' ')}: {', '.join(spec)}"
    if check == "accepted_values":
        return f"accepted values of {', '.join(spec['columns'])}: {', '.join(map(str, spec['values']))}"
    if check == "relationships":
        return f"every row has a match in {spec['to']} on " + ", ".join(
            a if a == b else f"{a} = {b}" for a, b in spec["pairs"])
    return "custom SQL check"


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def missing_descriptions(project: Project, config: Mapping[str, Any], graph: LineageGraph | None = None) -> list[str]:
    """Every model and model column without a description in sql/models.yml."""
    graph = graph or LineageGraph(project, config)
    docs = load_docs(project)
    problems = []
    for model in graph.order:
        spec = docs.models.get(model)
        if not spec or not _one_line(spec.get("description")):
            problems.append(f"model {model} has no description")
            spec = spec or {}
        columns = spec.get("columns") or {}
        for column in graph.schema[model]:
            if not _one_line(columns.get(column)):
                problems.append(f"column {model}.{column} has no description")
        for column in columns:
            if column not in graph.schema[model]:
                problems.append(f"column {model}.{column} is documented but the model has no such column")
    for model in docs.models:
        if model not in graph.rendered:
            problems.append(f"model {model} is documented but there is no sql/{model}.sql")
    return problems


def _cell(text: Any) -> str:
    return _one_line(text).replace("|", "\\|")


def catalog_markdown(project: Project, config: Mapping[str, Any]) -> str:
    graph = LineageGraph(project, config)
    docs = load_docs(project)
    tests = collect_tests(project)
    audits = collect_audits(project)
    used_by: dict[str, list[str]] = {}
    for name in graph.order:
        for dep in sorted(set(graph.rendered[name].refs)):
            used_by.setdefault(dep, []).append(name)

    out = ["# Model catalog", "",
           "Generated by `foxwarehouse docs` from `sql/*.sql`, `sql/models.yml`, `tests/sql/*.yaml` and the "
           "audits declared next to the models. Do not edit by hand: edit the sources and run "
           "`foxwarehouse docs` again.", "",
           "Every model table also holds `run_id`, the run that built the row; the `latest_*` views hold the "
           "newest built or exported run without it.", "", "## DAG", "", "```mermaid", "graph LR"]
    for name in graph.order:
        for src in sorted(set(graph.rendered[name].sources)):
            out.append(f"  {SOURCES.get(src, src)}[({SOURCES.get(src, src)})] --> {name}")
        for dep in sorted(set(graph.rendered[name].refs)):
            out.append(f"  {dep} --> {name}")
    out += ["```", "", "In build order:", ""]
    for i, name in enumerate(graph.order, 1):
        reads = [f"source `{SOURCES.get(s, s)}`" for s in sorted(set(graph.rendered[name].sources))]
        reads += [f"`{r}`" for r in sorted(set(graph.rendered[name].refs))]
        out.append(f"{i}. [`{name}`](#{name}) ← {', '.join(reads) or '(nothing)'}")
    if docs.views:
        out += ["", "## Analyst views", "", "| view | description |", "|---|---|"]
        out += [f"| `{v}` | {_cell(d)} |" for v, d in docs.views.items()]
    out += ["", "## Models"]
    for name in graph.order:
        spec = docs.models.get(name, {})
        columns = spec.get("columns") or {}
        out += ["", f"### {name}", "", _one_line(spec.get("description")) or "_(no description)_", ""]
        grain = spec.get("grain")
        if grain is not None:
            out.append(f"- **grain**: {', '.join(f'`{g}`' for g in grain) if grain else 'one row'}")
        reads = [f"`{SOURCES.get(s, s)}`" for s in sorted(set(graph.rendered[name].sources))]
        reads += [f"[`{r}`](#{r})" for r in sorted(set(graph.rendered[name].refs))]
        out.append(f"- **reads**: {', '.join(reads) or '-'}")
        out.append(f"- **used by**: {', '.join(f'[`{u}`](#{u})' for u in used_by.get(name, [])) or '(final)'}")
        keys = compress_keys(graph.read_keys(name), graph.config)
        out.append(f"- **config keys**: {', '.join(f'`{k}`' for k in keys) or '-'}")
        from .analyst import is_view_model

        stored = ("computed when read from the run's stored tables (`-- materialized: view`)"
                  if is_view_model(graph.rendered[name].sql) else f"per run, table `{name}` with `run_id`")
        out.append(f"- **stored**: {stored}")
        out.append(f"- **SQL**: `sql/{name}.sql`")
        out += ["", "| column | type | description |", "|---|---|---|"]
        for column, ctype in graph.schema[name].items():
            out.append(f"| `{column}` | `{ctype}` | {_cell(columns.get(column)) or '_(no description)_'} |")
        cases = tests.get(name, [])
        out += ["", f"**Tests** ({len(cases)} SQL unit test case{'s' if len(cases) != 1 else ''})" + (":" if cases else "")]
        out += [f"- `{case}`" + (f" — {desc}" if desc else "") for case, desc in cases]
        model_audits = audits.get(name, [])
        if model_audits:
            out += ["", f"**Audits** ({len(model_audits)}):"]
            out += [f"- `{a}`" + (f" — {d}" if d else "") for a, d in model_audits]
    out += ["", "## Sources", ""]
    for table in SOURCES.values():
        cols = graph.schema.get(table, {})
        out += [f"### {table}", "", _one_line(docs.sources.get(table)) or "_(no description)_", "",
                "Columns: " + ", ".join(f"`{c}` {t}" for c, t in cols.items()) + " (plus `run_id`, `source_row`).", ""]
    macro_tests = {k: v for k, v in tests.items() if k.startswith("macro:")}
    if macro_tests:
        out += ["## Macro tests", ""]
        for macro, cases in sorted(macro_tests.items()):
            out.append(f"- `{macro.removeprefix('macro:')}`: {len(cases)} case{'s' if len(cases) != 1 else ''}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_catalog(project: Project, config: Mapping[str, Any], out: str | Path = "docs/CATALOG.md") -> Path:
    path = Path(out)
    text = catalog_markdown(project, config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    except OSError as exc:
        raise FoxError(f"cannot write {path}: {exc}") from None
    return path
