"""Rendering SQL models: a sandboxed Jinja environment, ref()/source(), macros, sqlglot checks, the DAG.

Every ``{{ value }}`` in a model or macro renders as a SQL *literal* (strings quoted, numbers typed,
lists as list literals), so a config value can never become SQL text. Only trusted helpers return
raw SQL: ``ref()``, ``source()``, ``ident()`` and macros.
"""
from __future__ import annotations

import functools
import marshal
import math
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import sqlglot
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.tokens import TokenType

from . import rule_text, sqlcache
from .errors import FoxError, ModelError, UsageError, did_you_mean
from .models import declared_views
from .project import Project

RelationResolver = Callable[[str, str], str]  # (kind 'ref'|'source', name) -> SQL relation text
_DUCKDB = DuckDB()


def quote_identifier(name: str) -> str:
    """A DuckDB-quoted identifier (double quotes doubled)."""
    if "\x00" in name:
        raise ModelError(f"identifier contains a NUL character: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """Render a Python value as a DuckDB SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ModelError(f"cannot render non-finite number {value!r} as SQL")
        return f"CAST({value!r} AS DOUBLE)"
    if isinstance(value, str):
        if "\x00" in value:
            raise ModelError(f"cannot render a string containing NUL as SQL: {value[:40]!r}")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        items = ", ".join(sql_literal(v) for v in value)
        if all(isinstance(v, str) for v in value):
            return f"CAST([{items}] AS VARCHAR[])"
        return f"[{items}]"
    raise ModelError(f"cannot render a {type(value).__name__} as a SQL literal: {value!r}")


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # raises UndefinedError naming the missing name
    return Markup(sql_literal(value))


def _make_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=True,
        finalize=_finalize,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["literal"] = lambda v: Markup(sql_literal(v))
    env.globals["ident"] = lambda v: Markup(quote_identifier(str(v)))
    env.globals["rule_sql"] = rule_text.condition_sql    # macros/rules.sql: a rule's condition
    env.globals["rule_text"] = rule_text.condition_text  # ... and its text with the row's values
    env.globals["rule_table"] = rule_text.check_rules      # ... and a stage's table, checked
    return env


@functools.lru_cache(maxsize=1)
def _shared_environment() -> SandboxedEnvironment:
    """The environment renderers share: it holds no per-project state, and sharing it lets a macro
    file compiled once serve every renderer of the process (a command makes several)."""
    return _make_environment()


@functools.lru_cache(maxsize=64)
def _compile_macro_file(env: SandboxedEnvironment, text: str, name: str, filename: str) -> tuple[Any, list[str]]:
    """A macro file's compiled template and the macros it defines (keyed by its text: an edit recompiles)."""
    return _compile_template(env, text, name, filename)


def _compile_template(env: SandboxedEnvironment, text: str, name: str, filename: str) -> tuple[Any, list[str]]:
    """`text` as a template and the macros it defines; the compiled code comes from the machine
    cache (foxwarehouse.sqlcache) when this text was compiled before. A syntax error is raised by
    Jinja itself, as always (only successes are cached)."""
    entry = sqlcache.key("jinja", _CODE_VERSION, name, filename, text)
    data = sqlcache.get(entry)
    if data is not None:
        try:
            code, defined = marshal.loads(data)
            template = env.template_class.from_code(env, code, env.make_globals(None))
            template.name, template.filename = name, filename
            return template, list(defined)
        except Exception:  # noqa: BLE001 - a damaged entry: compile afresh
            pass
    tree = env.parse(text, name=name, filename=filename)
    defined = [node.name for node in tree.find_all(nodes.Macro)]
    code = env.compile(tree, name, filename)
    sqlcache.put(entry, marshal.dumps((code, tuple(defined))))
    template = env.template_class.from_code(env, code, env.make_globals(None))
    template.name, template.filename = name, filename
    return template, defined


@dataclass
class RenderedModel:
    name: str
    path: Path
    sql: str
    refs: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


# How projects made by older versions of `init` mark a view: a comment line in the model's SQL.
# The bundled models declare `materialized: view` in sql/models.yml instead (foxwarehouse.models).
VIEW_MARK = re.compile(r"^\s*--\s*materialized:\s*view\s*$", re.MULTILINE)


def is_view_model(sql: str) -> bool:
    """True for SQL carrying the older ``-- materialized: view`` header line."""
    return VIEW_MARK.search(sql) is not None


def view_models(rendered: Mapping[str, RenderedModel], project: Project | None = None) -> set[str]:
    """The on-demand models of a project; another model may not ref() one (the build has no table for it).

    A model is a view when its entry in the project's sql/models.yml says ``materialized: view``;
    an entry that says ``materialized: table`` is stored; without either, the older header comment
    decides.
    """
    declared = declared_views(project) if project is not None else {}
    views = {name for name, model in rendered.items() if declared.get(name, is_view_model(model.sql))}
    for model in rendered.values():
        for ref in set(model.refs) & views:
            raise ModelError(f"{model.path}: ref('{ref}') names a model marked '-- materialized: view', "
                             f"which the build does not store; compute it from the models it reads instead")
    return views


def projection_of(model: RenderedModel) -> tuple[str, list[str]] | None:
    """(model, columns) when `model` only selects plain columns of one other model, else None.

    Such a view model needs no per-run rows of its own: the warehouse defines it as a view over the
    model it reads, for every run at once (``run_id`` included).
    """
    if model.sources or len(set(model.refs)) != 1:
        return None
    try:
        statement = sqlglot.parse_one(model.sql, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return None
    if not isinstance(statement, exp.Select):
        return None
    args = {key.rstrip("_"): value for key, value in statement.args.items() if value}  # 'from_' in newer sqlglot
    if not isinstance(args.get("from"), exp.From) or not isinstance(args["from"].this, exp.Table):
        return None
    if set(args) - {"expressions", "from", "order"}:
        return None
    columns = []
    for item in statement.expressions:
        if not isinstance(item, exp.Column) or item.table or isinstance(item.this, exp.Star):
            return None
        columns.append(item.name)
    return model.refs[0], columns


def default_resolver(kind: str, name: str) -> str:
    """Plain table names: used by `compile` and lineage."""
    return quote_identifier(name)


class Renderer:
    """Renders the models of one project with one validated config.

    Each ``macros/*.sql`` file is its own Jinja template (read once, compiled once per renderer),
    so a syntax or render error names the macro file and its line. The macros of all files share
    one namespace: a macro may call a macro of another file. Two macros of the same name are an error.
    """

    def __init__(self, project: Project, config: Mapping[str, Any]):
        self.project = project
        self.config = config
        self.env = _shared_environment()
        self._macro_files = self._load_macro_files()
        self._models: dict[str, tuple[RenderedModel, bool]] = {}  # name -> (placeholder rendering, checked)
        self._cached_config = config  # the renderings above are for this config only
        self._token = _PROCESS_TOKEN

    def _load_macro_files(self) -> dict[str, tuple[Path, Any, list[str]]]:
        """template name -> (path, compiled template, macro names it defines)."""
        files: dict[str, tuple[Path, Any, list[str]]] = {}
        owner: dict[str, str] = {}
        for path in self.project.macro_paths():
            name = f"macros/{path.name}"
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ModelError(f"{path}: cannot be read: {exc}", path=path) from None
            try:
                template, defined = _compile_macro_file(self.env, text, name, str(path))
            except TemplateSyntaxError as exc:
                raise ModelError(f"{path}: Jinja syntax error at line {exc.lineno}: {exc.message}", path=path,
                                 line=exc.lineno) from None
            for macro in defined:
                if macro in owner:
                    raise ModelError(
                        f"{path}: macro {macro!r} is already defined in {files[owner[macro]][0]}; "
                        f"macro names must be unique across macros/*.sql"
                    )
                owner[macro] = name
            files[name] = (path, template, defined)
        return files

    def _macro_namespace(self, context: dict[str, Any]) -> dict[str, Any]:
        """Every macro as a callable, each file's module made with `context` and all other macros."""
        modules: dict[str, Any] = {}
        namespace: dict[str, Any] = {}

        def forward(file: str, macro: str) -> Callable[..., Any]:
            # Macros of another file are looked up when called, so files may call each other
            # whatever their order.
            def call(*args: Any, **kwargs: Any) -> Any:
                return getattr(modules[file], macro)(*args, **kwargs)
            return call

        for file, (_, _, defined) in self._macro_files.items():
            for macro in defined:
                namespace[macro] = forward(file, macro)
        for file, (path, template, _) in self._macro_files.items():
            try:
                modules[file] = template.make_module({**context, **namespace})
            except TemplateError as exc:
                raise ModelError(f"{path}: cannot render: {_describe(exc)}", path=path) from None
        return namespace

    def _context(self, resolver: RelationResolver, refs: list[str], sources: list[str]) -> dict[str, Any]:
        def ref(name: str) -> Markup:
            refs.append(name)
            return Markup(resolver("ref", name))

        def source(name: str) -> Markup:
            sources.append(name)
            return Markup(resolver("source", name))

        return {"config": self.config, "ref": ref, "source": source}

    def macros(self, resolver: RelationResolver = default_resolver) -> dict[str, Any]:
        """The macros of macros/*.sql as callables (for macro unit tests)."""
        return self._macro_namespace(self._context(resolver, [], []))

    def render_text(self, name: str, text: str, path: Path, resolver: RelationResolver = default_resolver,
                    check: bool = True) -> RenderedModel:
        """Render one model; `check=False` skips the sqlglot parse (for callers that parse once themselves)."""
        refs: list[str] = []
        sources: list[str] = []
        context = self._context(resolver, refs, sources)
        try:
            template, _ = _compile_template(self.env, text, name, str(path))
        except TemplateSyntaxError as exc:
            raise ModelError(f"{path}: Jinja syntax error at line {exc.lineno}: {exc.message}", model=name, path=path,
                             line=exc.lineno) from None
        macros = self._macro_namespace(context)
        try:
            sql = template.render({**context, **macros})
        except ModelError as exc:
            raise ModelError(f"{_error_place(exc, path)}: {exc.message}", model=name, path=path) from None
        except UndefinedError as exc:
            raise ModelError(f"{_error_place(exc, path)}: undefined name while rendering: {exc.message}",
                             model=name, path=path) from None
        except TemplateError as exc:
            raise ModelError(f"{_error_place(exc, path)}: cannot render: {_describe(exc)}", model=name,
                             path=path) from None
        sql = embeddable(sql)
        if check:
            _check_once(sql, str(path))
        return RenderedModel(name, path, sql, refs, sources)

    def render(self, name: str, resolver: RelationResolver = default_resolver, check: bool = True) -> RenderedModel:
        """One model with `resolver` giving its relations.

        A model is rendered (and parsed, when `check`) once per renderer with placeholder relations;
        each call only puts `resolver`'s relations in, so the build, the audits and the analyst views
        of one command share one rendering.
        """
        cached = self._models.get(name)
        if cached is not None:
            path = cached[0].path
        else:
            paths = self.project.model_paths()
            if name not in paths:
                raise ModelError(f"unknown model {name!r}; models: {', '.join(paths) or '(none)'}", model=name)
            path = paths[name]
        if self.config is not self._cached_config:
            # The config was swapped (lineage renders with a recording stand-in): render afresh.
            return self.render_text(name, path.read_text(encoding="utf-8"), path, resolver, check=check)
        if cached is None or (check and not cached[1]):
            model = self.render_text(name, path.read_text(encoding="utf-8"), path, self._placeholder, check=check)
            cached = self._models[name] = (model, check)
        return self._bind(cached[0], resolver)

    def _placeholder(self, kind: str, name: str) -> str:
        # A quoted identifier no model can contain: the token is random per renderer.
        return quote_identifier(f"fw{self._token}:{kind}:{name}")

    def _bind(self, model: RenderedModel, resolver: RelationResolver) -> RenderedModel:
        sql = model.sql
        for kind, names in (("ref", model.refs), ("source", model.sources)):
            for name in dict.fromkeys(names):
                sql = sql.replace(self._placeholder(kind, name), resolver(kind, name))
        return RenderedModel(model.name, model.path, sql, list(model.refs), list(model.sources))

    def render_all(self, resolver: RelationResolver = default_resolver) -> dict[str, RenderedModel]:
        return {name: self.render(name, resolver) for name in self.project.model_paths()}


def embeddable(sql: str) -> str:
    """Rendered model SQL that keeps its meaning wherever it is embedded (``FROM ({sql}) LIMIT 0``,
    ``CREATE VIEW v AS {sql}``): trailing ``;`` removed (comments around them kept) and a newline
    after a last line that may end in a ``--`` comment, so nothing appended after it is swallowed."""
    sql = sql.strip()
    if ";" in sql:  # without one there is no semicolon token to remove: nothing to tokenize
        # The answer for a text seen before on this machine comes from the machine cache; the
        # process's placeholder token is kept out of the key (and put back) as NUL, which no
        # rendered SQL holds (sql_literal and quote_identifier refuse it).
        entry = None
        cached = None
        if "\x00" not in sql:
            entry = sqlcache.key("embed", sqlglot.__version__, sql.replace(_PROCESS_TOKEN, "\x00"))
            cached = sqlcache.get(entry)
        if cached is not None:
            sql = cached.decode("utf-8", "surrogatepass").replace("\x00", _PROCESS_TOKEN)
        else:
            sql = _without_trailing_semicolons(sql)
            if entry is not None:
                sqlcache.put(entry, sql.replace(_PROCESS_TOKEN, "\x00").encode("utf-8", "surrogatepass"))
    # (also for a cached text: the cache holds the text without its semicolons, not this newline)
    if "--" in sql.rsplit("\n", 1)[-1]:
        sql += "\n"
    return sql


def _without_trailing_semicolons(sql: str) -> str:
    try:
        tokens = _DUCKDB.tokenize(sql)
    except sqlglot.errors.SqlglotError:
        tokens = []  # check_sql reports it
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        semicolon = tokens.pop()
        sql = (sql[:semicolon.start] + sql[semicolon.end + 1:]).strip()
    return sql


def _describe(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _error_place(exc: BaseException, model_path: Path) -> str:
    """'FILE, line N' of the innermost template frame of a render error (a macro file or the model).

    Jinja rewrites tracebacks so that template frames carry the template's file name and line.
    """
    place = str(model_path)
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".sql") and not filename.endswith(".py"):
            place = f"{filename}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return place


# What the compiled Jinja code depends on besides the template text: Jinja and Python (marshal),
# and this module, which sets up the environment (its size and time stamp stand for its content).
_CODE_VERSION = "|".join([jinja2.__version__, sys.implementation.cache_tag or "", *(
    str(v) for v in (lambda st: (st.st_size, st.st_mtime_ns))(os.stat(__file__)))])

# The placeholder token of this process's renderers: unguessable for a model's text, and the same for
# every renderer, so a model rendered again renders the same text and is not parsed again.
_PROCESS_TOKEN = secrets.token_hex(6)


@functools.lru_cache(maxsize=256)
def _check_once(sql: str, path: str) -> None:
    """check_sql, once per text (an error is raised every time: exceptions are not cached).

    A text that parsed before on this machine (the machine cache, foxwarehouse.sqlcache) is not
    parsed again. The placeholder token differs per process and is left out of the key: which
    quoted name a relation has does not change whether the SQL parses.
    """
    entry = sqlcache.key("sqlok", sqlglot.__version__, sql.replace(_PROCESS_TOKEN, "TOKEN"))
    if sqlcache.get(entry) is not None:
        return
    check_sql(sql, Path(path))
    sqlcache.put(entry, b"")


def check_sql(sql: str, path: Path) -> exp.Query:
    """Parse rendered SQL with sqlglot; a syntax error names the model file and line."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line, col = first.get("line"), first.get("col")
        desc = first.get("description") or str(exc)
        text = sql.splitlines()[line - 1].strip() if line and line <= len(sql.splitlines()) else ""
        raise ModelError(f"{path}: SQL syntax error at line {line}, column {col}: {desc} (in: {text[:120]})",
                         path=path, line=line, column=col) from None
    except sqlglot.errors.TokenError as exc:
        raise ModelError(f"{path}: SQL syntax error: {exc}", path=path) from None
    if len(statements) != 1:
        raise ModelError(f"{path}: a model must be exactly one SELECT statement, found {len(statements)}", path=path)
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise ModelError(f"{path}: a model must be a SELECT query, found {statement.key.upper()}", path=path)
    return statement


def model_order(rendered: Mapping[str, RenderedModel]) -> list[str]:
    """Topological order of models from their refs (ties broken by name); cycles and unknown refs fail."""
    for model in rendered.values():
        for ref in model.refs:
            if ref not in rendered:
                raise ModelError(f"{model.path}: ref('{ref}') names no model; models: {', '.join(sorted(rendered))}")
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, stack: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = stack[stack.index(name):] + [name]
            raise ModelError(f"model dependency cycle: {' -> '.join(cycle)}")
        state[name] = 1
        for dep in sorted(set(rendered[name].refs)):
            visit(dep, stack + [name])
        state[name] = 2
        order.append(name)

    for name in sorted(rendered):
        visit(name, [])
    return order


_REF_CALL = re.compile(r"""\bref\(\s*['"]([^'"]+)['"]\s*\)""")


def model_graph(renderer: Renderer) -> dict[str, list[str]]:
    """Model -> the models it ref()s, for every model of the renderer's project.

    A model that does not render contributes the ref() calls written in its file, so a selection
    still works on a project with a broken model (whose tests then report the error).
    """
    graph: dict[str, list[str]] = {}
    for name, path in renderer.project.model_paths().items():
        try:
            refs = renderer.render(name, check=False).refs
        except FoxError:
            refs = _REF_CALL.findall(path.read_text(encoding="utf-8", errors="replace"))
        graph[name] = list(dict.fromkeys(refs))
    return graph


def select_models(graph: Mapping[str, Any], selectors: Iterable[str]) -> list[str]:
    """The models a selection names, each once: ``MODEL``; ``MODEL+`` with every model downstream of
    it; ``+MODEL`` with every model upstream of it (``+MODEL+`` both). Selectors may be separated by
    commas. `graph` maps each model to the models it reads (its refs), or is the rendered models.
    Explicit names keep their order; what a ``+`` adds follows in dependency order. An unknown
    model is a UsageError naming the nearest one.
    """
    reads: dict[str, list[str]] = {
        name: list(node.refs) if isinstance(node, RenderedModel) else list(node) for name, node in graph.items()}
    readers: dict[str, list[str]] = {name: [] for name in reads}
    for name, refs in reads.items():
        for ref in refs:
            readers.setdefault(ref, []).append(name)
    order = _topological(reads)
    chosen: list[str] = []
    for selector in (part.strip() for text in selectors for part in str(text).split(",")):
        if not selector:
            continue
        up, down = selector.startswith("+"), selector.endswith("+")
        name = selector.strip("+").strip()
        if name not in reads:
            raise UsageError(f"unknown model {name!r}{did_you_mean(name, sorted(reads), 'models')}", model=name)
        found = {name}
        for enabled, edges in ((up, reads), (down, readers)):
            stack = [name] if enabled else []
            while stack:
                for other in edges.get(stack.pop(), []):
                    if other not in found and other in reads:
                        found.add(other)
                        stack.append(other)
        for model in [name] + [m for m in order if m in found and m != name]:
            if model not in chosen:
                chosen.append(model)
    return chosen


def _topological(reads: Mapping[str, list[str]]) -> list[str]:
    """Models in dependency order (ties by name), tolerating unknown refs and cycles."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in sorted(set(reads.get(name, []))):
            if dep in reads:
                visit(dep)
        order.append(name)

    for name in sorted(reads):
        visit(name)
    return order


def transpile(sql: str, dialect: str) -> str:
    """Rendered DuckDB SQL as `dialect`, without a trailing semicolon.

    Spark gets exactly the SQL the Spark engine runs (foxwarehouse.spark.transpile). Any other
    dialect gets sqlglot's transpile, checked: a construct sqlglot cannot write in that dialect, or
    output that sqlglot cannot read back in it, is a ModelError naming the construct.
    """
    name = dialect.lower()
    if name == "spark":
        from .spark.transpile import to_spark

        return to_spark(sql)
    try:
        statements = sqlglot.transpile(sql, read="duckdb", write=name, pretty=True,
                                       unsupported_level=sqlglot.ErrorLevel.RAISE)
    except ValueError as exc:
        raise ModelError(f"unknown SQL dialect {dialect!r}: {exc}") from None
    except sqlglot.errors.UnsupportedError as exc:
        construct = str(exc).strip().splitlines()[0]
        raise ModelError(f"cannot transpile to {name}: no {name} equivalent for a construct of the model "
                         f"({construct}{_UNSUPPORTED_HINTS.get(construct, '')})") from None
    except sqlglot.errors.SqlglotError as exc:
        raise ModelError(f"cannot transpile to {name}: {exc}") from None
    out = ";\n".join(statements)
    try:
        sqlglot.parse(out, read=name)
    except sqlglot.errors.SqlglotError as exc:
        raise ModelError(f"cannot transpile to {name}: sqlglot's {name} output does not read back as {name} "
                         f"({str(exc).strip().splitlines()[0]})") from None
    return out


# sqlglot's words for a construct it cannot write, with the DuckDB construct of the models they mean
_UNSUPPORTED_HINTS = {
    "Unsupported filter condition": ": list_filter with a lambda",
    "MAP_FROM_ENTRIES unsupported": ": map_from_entries",
}
